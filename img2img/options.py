"""One vocabulary for training options: the CLI's flag names are the Python keywords.

``img2img train pix2pix --base-channels 32 --skip-bad --task restore`` and
``img2img.train(task="restore", base_channels=32, skip_bad=True)`` go through the same mapping,
:func:`normalize_train_kwargs`, to :class:`~img2img.config.TrainConfig` fields (the CLI passes its
flags to :func:`img2img.train`, which normalizes them), so the two cannot drift apart.

A keyword is either a ``TrainConfig`` field (``steps``, ``lr``, ``generator_kwargs``...) or one of
the names below, which stand for part of a field:

* generator options (:data:`GENERATOR_FLAGS`): ``base_channels=32`` -> ``generator_kwargs={"base_channels": 32}``;
* discriminator options (:data:`DISCRIMINATOR_FLAGS`): ``d_channels=32`` -> ``discriminator_kwargs={"base_channels": 32}``;
* recipe options (:data:`RECIPE_FLAGS`): ``preset="heavy"`` -> ``recipe_options={"preset": "heavy"}``;
* switches (:data:`SWITCHES`): ``skip_bad=True`` -> ``on_bad="skip"``, ``no_flip=True`` -> ``hflip=False``,
  ``no_progress=True`` -> ``progress=False``;
* ``task``: a model family (``pix2pix``, ``cyclegan``, ``srgan``) or, like the CLI's ``--task``, a
  recipe (``restore``, ``colorize``, ``sketch``, ``sr``) -> ``recipe`` (the family then follows the
  recipe: ``srgan`` for ``sr``, else ``pix2pix``).
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable

from .config import TrainConfig


def _task_modules() -> tuple[str, ...]:
    """The task modules of ``img2img/tasks`` (one per built-in task, named like it), listed without
    importing them: building the CLI's parser must not load torch."""
    import importlib.util
    import pkgutil

    spec = importlib.util.find_spec(f"{__package__}.tasks")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return tuple(m.name for m in pkgutil.iter_modules(locations) if m.name != "base")


FAMILIES = _task_modules()  # the built-in tasks: cyclegan, gan, pix2pix, srgan
RECIPES = ("sketch", "colorize", "restore", "sr")

# flag / keyword -> generator constructor keyword (in TrainConfig.generator_kwargs)
GENERATOR_FLAGS: dict[str, str] = {
    name: name
    for name in (
        "base_channels",
        "num_downs",
        "num_blocks",
        "head_kernel",
        "norm",
        "dropout",
        "upsample",
        "residual",
        "global_context",
        "global_color",
        "global_vignette",
        "detail_sigma",
        "zero_start",
        "color_window",
        "vignette_scale",
    )
}
# flag / keyword -> discriminator (PatchGAN) constructor keyword (in TrainConfig.discriminator_kwargs)
DISCRIMINATOR_FLAGS: dict[str, str] = {
    "d_layers": "num_layers",
    "d_channels": "base_channels",
    "d_norm": "norm",
    "d_scales": "num_scales",
    "spectral_norm": "spectral_norm",
}
# flag / keyword -> recipe option (in TrainConfig.recipe_options)
RECIPE_FLAGS: dict[str, str] = {"preset": "preset", "realistic": "realistic"}
# flag / keyword -> (TrainConfig field, the field's value for the flag's value)
SWITCHES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "skip_bad": ("on_bad", lambda on: "skip" if on else "error"),
    "no_flip": ("hflip", lambda on: not on),
    "no_progress": ("progress", lambda on: not on),
    "gan_loss": ("gan_mode", lambda mode: mode),  # the GAN lab's name for --gan-mode
}
# --init-from (init_from=) starts a new run from trained weights; --resume (resume=True) continues one
INIT_FROM_WITH_RESUME = (
    "--init-from starts a new run from trained weights (step 0, fresh optimizer) and --resume continues the run "
    "in --out: give one of them"
)
# keywords of img2img.train() itself (not TrainConfig fields)
TRAIN_PARAMETERS = ("task", "resume", "stop_after")

_NESTED = {
    "generator_kwargs": GENERATOR_FLAGS,
    "discriminator_kwargs": DISCRIMINATOR_FLAGS,
    "recipe_options": RECIPE_FLAGS,
}


def config_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(TrainConfig))


def keyword_names() -> list[str]:
    """Every keyword :func:`img2img.train` accepts."""
    names = [*TRAIN_PARAMETERS, *config_fields(), *SWITCHES]
    for flags in _NESTED.values():
        names += list(flags)
    return sorted(set(names))


def keyword_field(name: str) -> str:
    """Where a keyword goes: ``"steps"``, ``"generator_kwargs['base_channels']"``, ``"on_bad"``..."""
    for field, flags in _NESTED.items():
        if name in flags:
            return f"{field}[{flags[name]!r}]"
    if name in SWITCHES:
        return SWITCHES[name][0]
    if name == "task":
        return "task (a model family) or recipe (a recipe name)"
    return name


def family_of_recipe(recipe: str) -> str:
    """The model family a recipe trains: ``srgan`` for ``sr``, else ``pix2pix``."""
    return "srgan" if recipe == "sr" else "pix2pix"


def _suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, candidates, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _put(out: dict[str, Any], key: str, value: Any, given_as: str) -> None:
    """Set ``out[key]`` unless another keyword already set it to something else."""
    if key in out and out[key] != value:
        raise ValueError(f"{given_as}={value!r} contradicts {key}={out[key]!r}; give one of them")
    out[key] = value


def _registered_tasks() -> set[str]:
    """Task names registered with ``img2img.tasks.register_task`` (imports the tasks: torch)."""
    from .tasks import TASKS

    return set(TASKS)


def normalize_train_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keywords in the CLI's vocabulary (see the module docstring) -> ``TrainConfig`` fields.

    ``task`` stays ``task`` when it names a model family and becomes ``recipe`` when it names a
    recipe. Unknown keywords raise ``TypeError`` naming close matches; contradictory ones (e.g.
    ``skip_bad=True, on_bad="error"``) raise ``ValueError``.
    """
    fields = set(config_fields())
    unknown = [
        k
        for k in kwargs
        if k not in fields and k not in SWITCHES and k != "task" and not any(k in flags for flags in _NESTED.values())
    ]
    if unknown:
        names = keyword_names()
        raise TypeError(
            "; ".join(f"unknown training option {k!r}{_suggest(k, names)}" for k in unknown)
            + " (the options are TrainConfig's fields and the CLI's flag names, see README 'Training options')"
        )
    out: dict[str, Any] = {k: v for k, v in kwargs.items() if k in fields}
    for key in _NESTED:  # copies: the caller's dicts are never changed
        if out.get(key) is not None:
            out[key] = dict(out[key])
    task = kwargs.get("task")
    if task is not None:
        if task in RECIPES:
            _put(out, "recipe", task, "task")
            out.pop("task", None)
        elif task in FAMILIES or task in _registered_tasks():
            out["task"] = task
        else:
            raise ValueError(
                f"unknown task {task!r}: a model family ({', '.join(FAMILIES)}) or a recipe "
                f"({', '.join(RECIPES)}){_suggest(str(task), [*FAMILIES, *RECIPES])}"
            )
    for name, (field, convert) in SWITCHES.items():
        if name in kwargs:
            _put(out, field, convert(kwargs[name]), name)
    for field, flags in _NESTED.items():
        given = {flags[name]: kwargs[name] for name in flags if name in kwargs}
        if field == "discriminator_kwargs" and given.get("spectral_norm") is False:
            del given["spectral_norm"]  # off is the default (and how a run without the flag is saved)
        if field == "recipe_options" and given.get("realistic") is False:
            del given["realistic"]  # likewise
        if not given:
            continue
        nested = out[field] = out.get(field) or {}
        for key, value in given.items():
            name = next(n for n in flags if flags[n] == key)
            if key in nested and nested[key] != value:
                raise ValueError(f"{name}={value!r} contradicts {field}[{key!r}]={nested[key]!r}; give one of them")
            nested[key] = value
    return out
