"""A plain-dict model registry: every net declares itself once, in its own module.

Two tables:

* architectures, by ``arch`` key (``"unet"``): classes registered with :func:`register_arch`, so
  :func:`build_model` can rebuild any net from the ``config`` dict it carries. The decorator
  records that ``config`` from the constructor's own arguments (defaults applied), so a net
  never writes it by hand;
* presets, by name (``"unet_256"``): the class's ``presets`` attribute (data: name -> constructor
  overrides), or a function registered with :func:`register_model`; built with
  :func:`create_model`, listed with :func:`list_models`.

A new net is one module in ``img2img/nets/`` (``img2img.nets`` imports every module of the
package, so nothing else names it)::

    @register_arch
    class TinyNet(nn.Module):
        arch = "tiny"
        kind = "generator"
        presets = {"tiny_x2": {"scale": 2}}

        def __init__(self, *, in_channels: int = 3, out_channels: int = 3, scale: int = 2) -> None:
            ...

Example:
    >>> net = create_model("unet_256", base_channels=32)
    >>> net.config["base_channels"], net.config["num_downs"]
    (32, 8)
    >>> same = build_model(net.config)  # what a checkpoint loader does
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from torch import nn

KINDS = ("generator", "discriminator", "sampler")  # sampler: noise (and a class label) -> image

_PRESETS: dict[str, tuple[Callable[..., nn.Module], type[nn.Module]]] = {}
_ARCHS: dict[str, type[nn.Module]] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])
C = TypeVar("C", bound=type)


def rename_deprecated(cls: type, kwargs: Mapping[str, Any], *, warn: bool = True) -> dict[str, Any]:
    """``kwargs`` with the class's deprecated keywords (``cls.renamed_arguments``: old -> new)
    replaced by the new ones, with a ``DeprecationWarning`` for each when ``warn``.

    Raises:
        TypeError: both the old and the new keyword are given.
    """
    out = dict(kwargs)
    for old, new in getattr(cls, "renamed_arguments", {}).items():
        if old not in out:
            continue
        if new in out:
            raise TypeError(f"{cls.__name__}: got both {old!r} and {new!r}; {old!r} is the deprecated name of {new!r}")
        if warn:
            warnings.warn(f"{cls.__name__}: {old!r} is deprecated, use {new!r}", DeprecationWarning, stacklevel=3)
        out[new] = out.pop(old)
    return out


class UnknownArgumentError(TypeError, ValueError):
    """A keyword the net's constructor does not take: a ``TypeError`` as Python raises for any
    call, and a ``ValueError`` so that the command line reports it as a bad option."""


def _record_config(cls: type) -> None:
    """Wrap ``cls.__init__`` so that every instance gets ``config = {"arch": ..., **arguments}``:
    the bound constructor arguments, defaults applied, in signature order."""
    init = cls.__init__
    signature = inspect.signature(init)
    var = [str(p) for p in signature.parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if var:
        raise TypeError(f"{cls.__name__}.__init__ takes {var[0]}: a config is rebuilt from named arguments only")
    positional = [name for name, p in list(signature.parameters.items())[1:] if p.kind is not p.KEYWORD_ONLY]
    if positional:
        raise TypeError(
            f"{cls.__module__}.{cls.__qualname__}.__init__ takes {positional[0]!r} by position: a net's arguments "
            "are keyword-only (def __init__(self, *, ...)), so saved configs rebuild it by name"
        )

    @functools.wraps(init)
    def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        kwargs = rename_deprecated(cls, kwargs)
        unknown = sorted(set(kwargs) - set(signature.parameters))
        if unknown:
            takes = ", ".join(list(signature.parameters)[1:])
            raise UnknownArgumentError(f"{cls.__name__} takes no argument {unknown[0]!r}; its arguments: {takes}")
        bound = signature.bind(self, *args, **kwargs)  # TypeError on missing arguments
        bound.apply_defaults()
        init(self, *args, **kwargs)
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(signature.parameters)))  # self
        self.config = {"arch": cls.arch, **arguments}  # after init: a registered subclass's wins

    cls.__init__ = __init__


def register_arch(cls: C) -> C:
    """Class decorator: register an architecture under its ``arch`` class attribute, record each
    instance's ``config`` from its constructor arguments, and register its ``presets``.

    Class attributes:
        arch: the key in saved configs (``"unet"``).
        kind: ``"generator"`` (image -> image), ``"discriminator"`` or ``"sampler"`` (noise -> image, the GAN lab).
        presets: optional ``{name: {constructor keyword: value}}``; ``create_model(name, **kw)``
            builds ``cls(**{**presets[name], **kw})``.
        renamed_arguments: optional ``{old keyword: new keyword}``; the old one still works, with a
            ``DeprecationWarning`` (saved configs that use it load silently, see :func:`build_model`).

    Raises:
        TypeError: no ``arch``/``kind``, ``*args``/``**kwargs`` or positional arguments in the
            constructor, or a preset that sets an argument the constructor does not take.
        ValueError: the ``arch`` or a preset name is already registered.
    """
    key = getattr(cls, "arch", None)
    if not isinstance(key, str) or getattr(cls, "kind", None) not in KINDS:
        raise TypeError(f"{cls.__name__} needs class attributes `arch` (str) and `kind` (one of {KINDS})")
    if key in _ARCHS:
        raise ValueError(f"architecture {key!r} is already registered (by {_ARCHS[key].__name__})")
    presets: Mapping[str, Mapping[str, Any]] = getattr(cls, "presets", {})
    taken = sorted(set(presets) & set(_PRESETS))
    if taken:
        raise ValueError(f"model {taken[0]!r} is already registered")
    params = inspect.signature(cls.__init__).parameters
    for name, overrides in presets.items():
        unknown = sorted(set(overrides) - set(params))
        if unknown:
            raise TypeError(f"preset {name!r} sets {unknown}, not arguments of {cls.__name__}")
    _record_config(cls)
    _ARCHS[key] = cls
    for name, overrides in presets.items():
        _PRESETS[name] = (functools.partial(_build_preset, cls, dict(overrides)), cls)
    return cls


def _build_preset(cls: type[nn.Module], defaults: dict[str, Any], **overrides: Any) -> nn.Module:
    return cls(**{**defaults, **rename_deprecated(cls, overrides)})


def register_model(fn: F) -> F:
    """Decorator: register a preset function under its ``__name__`` (for presets that are more
    than constructor overrides; plain ones are the class's ``presets`` data).

    The preset takes keyword overrides and returns a net; its return annotation names the net's
    class, which tells :func:`list_models` the preset's kind without building it::

        @register_model
        def unet_64(**overrides: Any) -> UNetGenerator:
            return UNetGenerator(**{"num_downs": 6, **overrides})

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
        UnknownArgumentError: an override the class does not take (see :func:`register_arch`).
    """
    fn, _ = _lookup(name)
    return fn(**overrides)


def get_model_class(name: str) -> type[nn.Module]:
    """The class a preset builds, without building it (e.g. to see which kwargs it takes)."""
    return _lookup(name)[1]


def list_models(kind: str | None = None) -> list[str]:
    """Sorted preset names, optionally only those of ``kind`` (``"generator"``, ``"discriminator"`` or ``"sampler"``)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS} or None")
    return sorted(name for name, (_, cls) in _PRESETS.items() if kind is None or cls.kind == kind)


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """Rebuild a net from its ``config`` (``{"arch": key, **constructor kwargs}``).

    ``build_model(net.config)`` has the same architecture and state_dict keys as ``net``. Configs
    saved with a since-renamed keyword (PatchGAN's ``n_layers``) load without a warning.

    Raises:
        ValueError: no ``arch`` key, or an unknown one (the message lists the available ones).
    """
    kwargs = dict(config)
    arch = kwargs.pop("arch", None)
    if arch not in _ARCHS:
        raise ValueError(f"unknown or missing arch {arch!r} in config; available: {', '.join(sorted(_ARCHS))}")
    cls = _ARCHS[arch]
    return cls(**rename_deprecated(cls, kwargs, warn=False))
