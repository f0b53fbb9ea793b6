"""A plain-dict model registry.

Two tables:

* presets, by name (``"unet_256"``): small functions registered with :func:`register_model`,
  built with :func:`create_model`, listed with :func:`list_models`;
* architectures, by ``arch`` key (``"unet"``): classes registered with :func:`register_arch`, so
  :func:`build_model` can rebuild any net from the ``config`` dict it carries.

Example:
    >>> net = create_model("unet_256", base_channels=32)
    >>> same = build_model(net.config)  # what a checkpoint loader does
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, TypeVar

from torch import nn

KINDS = ("generator", "discriminator")

_PRESETS: dict[str, tuple[Callable[..., nn.Module], type[nn.Module]]] = {}
_ARCHS: dict[str, type[nn.Module]] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])
C = TypeVar("C", bound=type)


def register_arch(cls: C) -> C:
    """Class decorator: register an architecture under its ``arch`` class attribute.

    The class must also have a ``kind`` class attribute (``"generator"`` or ``"discriminator"``)
    and set ``self.config = {"arch": ..., **constructor kwargs}``.
    """
    key = getattr(cls, "arch", None)
    if not isinstance(key, str) or getattr(cls, "kind", None) not in KINDS:
        raise TypeError(f"{cls.__name__} needs class attributes `arch` (str) and `kind` (one of {KINDS})")
    if key in _ARCHS:
        raise ValueError(f"architecture {key!r} is already registered (by {_ARCHS[key].__name__})")
    _ARCHS[key] = cls
    return cls


def register_model(fn: F) -> F:
    """Decorator: register a preset function under its ``__name__``.

    The preset takes keyword overrides and returns a net; its return annotation names the net's
    class, which tells :func:`list_models` the preset's kind without building it::

        @register_model
        def unet_256(**overrides: Any) -> UNetGenerator:
            return UNetGenerator(**{"num_downs": 8, **overrides})

    Raises:
        ValueError: a preset with that name is already registered.
        TypeError: the return annotation is not a class with a ``kind``.
    """
    name = fn.__name__
    if name in _PRESETS:
        raise ValueError(f"model {name!r} is already registered")
    try:
        cls = inspect.signature(fn, eval_str=True).return_annotation
    except NameError as err:
        raise TypeError(f"preset {name!r}: cannot resolve its return annotation ({err})") from err
    if not (isinstance(cls, type) and getattr(cls, "kind", None) in KINDS):
        raise TypeError(f"preset {name!r} must annotate its return type with a model class that has a `kind`")
    _PRESETS[name] = (fn, cls)
    return fn


def _lookup(name: str) -> tuple[Callable[..., nn.Module], type[nn.Module]]:
    if name not in _PRESETS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _PRESETS[name]


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the preset ``name``, with constructor keyword ``overrides`` on top of its defaults.

    Raises:
        ValueError: unknown name (the message lists the available ones).
    """
    fn, _ = _lookup(name)
    return fn(**overrides)


def get_model_class(name: str) -> type[nn.Module]:
    """The class a preset builds, without building it (e.g. to see which kwargs it takes)."""
    return _lookup(name)[1]


def list_models(kind: str | None = None) -> list[str]:
    """Sorted preset names, optionally only those of ``kind`` (``"generator"`` or ``"discriminator"``)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS} or None")
    return sorted(name for name, (_, cls) in _PRESETS.items() if kind is None or cls.kind == kind)


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """Rebuild a net from its ``config`` (``{"arch": key, **constructor kwargs}``).

    ``build_model(net.config)`` has the same architecture and state_dict keys as ``net``.

    Raises:
        ValueError: no ``arch`` key, or an unknown one (the message lists the available ones).
    """
    kwargs = dict(config)
    arch = kwargs.pop("arch", None)
    if arch not in _ARCHS:
        raise ValueError(f"unknown or missing arch {arch!r} in config; available: {', '.join(sorted(_ARCHS))}")
    return _ARCHS[arch](**kwargs)
