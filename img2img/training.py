"""The one training loop for every task.

``train("pix2pix", data="DIR", out="RUN", steps=2000)`` builds the task and the folder dataset,
then loops: uint8 batch -> device -> ``[-1, 1]`` -> augmentation -> ``Task.training_step``.
It owns seeds, device choice, precision, learning-rate schedule, ``torchrun`` data parallelism,
the progress bar, sample grids, validation with best-model keeping, health warnings and atomic
checkpoints that resume exactly.

Run folder::

    RUN/config.json              the TrainConfig (human readable)
    RUN/checkpoints/last.pt      everything needed to resume (torch.load(weights_only=True))
    RUN/model/                   exportable model folder of the latest weights
    RUN/best/                    model folder that scored best on the val split by ``best_metric``
                                 (when there is a val split; GAN warm-up steps are not candidates)
    RUN/samples/step_000500.png  input | output | target rows
    RUN/log.jsonl                losses, learning rate and validation metrics
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from img2img_runtime.folder import output_lock

from .checkpoint import (
    CHECKPOINT_FORMAT,
    CONFIG_NAME,
    ModelConfigError,
    _read_json,
    append_jsonl,
    clean_run_folder,
    load_checkpoint,
    load_pretrained,
    read_jsonl,
    resolve_model_dir,
    save_checkpoint,
    save_pretrained,
    validate_model_config,
    write_json,
    write_jsonl,
)
from .config import RESUMABLE_OVERRIDES, TrainConfig, check_task_options
from .data.augment import DeviceAugment, to_model_range
from .data.files import find_split_root
from .data.labeled import labeled_images
from .data.paired import PairedFolder
from .data.recipe_folder import RecipeFolder
from .data.recipes import Recipe
from .data.sampler import ResumableSampler
from .data.sr_folder import SRFolder
from .data.unpaired import UnpairedFolder
from .devices import pick_device
from .divergence import (
    LR_BACKOFF,
    MAX_ROLLBACKS,
    WEIGHT_CHECK_EVERY,
    LossWatch,
    TrainingDiverged,
    all_finite,
    restore,
    snapshot,
    weight_norm,
)
from .monitor import HealthMonitor, evaluate, sample_grid, selection_score
from .nets import create_model, get_model_class, list_models
from .optimization import NonFiniteLossError, Optimization, broadcast_state, distributed_world, lr_factor
from .options import GENERATOR_FLAGS, INIT_FROM_WITH_RESUME, family_of_recipe, normalize_train_kwargs
from .tasks import TASKS, Task, build_task

# steps between in-memory copies of the last good state (what a rollback returns to); every save is one too
GOOD_STATE_EVERY = 50
# steps (past the prefetched batches) after which a run logs its measured speed and expected time
SPEED_PROBE_STEPS = 10


def _duration(seconds: float) -> str:
    """``"42 s"``, ``"12 min"``, ``"3.5 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What :func:`train` returns: the run folder, the trained task (on its device) and figures.

    ``metrics`` are the latest validation's (the model in ``RUN/model``); ``best`` describes
    ``RUN/best`` (its metrics, ``best_step``, ``best_metric`` and ``best_score``), empty when
    there is no val split or no candidate yet.
    """

    run_dir: Path
    task: Task
    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    best: dict[str, Any] = field(default_factory=dict)
    total_steps: int | None = None  # the run's schedule (step < total_steps: stopped early, resumable)

    def __repr__(self) -> str:  # one line: the task (a network) would print ~100
        steps = (
            f"{self.step} of {self.total_steps}"
            if self.total_steps and self.total_steps != self.step
            else f"{self.step}"
        )
        best = (
            f", best={self.best.get('best_metric')} {self.best['best_score']:.4g} at step {self.best.get('best_step')}"
            if isinstance(self.best.get("best_score"), (int, float))
            else ""
        )
        return f"TrainResult(task={getattr(self.task, 'name', type(self.task).__name__)!r}, run_dir='{self.run_dir}', step={steps}{best})"


def build_dataset(cfg: TrainConfig, split: str, *, train: bool | None = None, verify: bool = True) -> Dataset | None:
    """The folder dataset of ``cfg.task`` for ``split`` ("train" or "val"; None when there is no val split).

    ``train`` (default: ``split == "train"``) selects random crops; otherwise centre crops.
    """
    train = split == "train" if train is None else train
    kind = TASKS[cfg.task].dataset  # the task says what it reads: "paired", "unpaired", "sr" or "images"
    if kind == "images":  # the GAN lab: a built-in set (digits, faces) or a folder, class sub-folders = labels
        return labeled_images(
            cfg.data,
            split=split,
            size=cfg.size,
            channels=cfg.out_channels,
            classes=list(cfg.class_names) or None,
            on_bad=cfg.on_bad,
            seed=cfg.seed,
            train=train,
            verify=verify,
        )
    if split == "val" and find_split_root(cfg.data, "val") is None:
        return None
    common = dict(split=split, on_bad=cfg.on_bad, seed=cfg.seed, train=train, verify=verify)
    if kind == "sr":  # HR photos (LR made on the fly, --task sr --realistic for real-world damage) or prepared pairs
        return SRFolder(
            cfg.data, size=cfg.size, scale=cfg.scale, realistic=bool(cfg.recipe_options.get("realistic")), **common
        )
    channels = (cfg.in_channels, cfg.out_channels) if cfg.direction == "AtoB" else (cfg.out_channels, cfg.in_channels)
    if cfg.recipe is not None:  # plain photos; the recipe makes A on the CPU workers
        recipe = Recipe(cfg.recipe, dict(cfg.recipe_options))
        return RecipeFolder(
            cfg.data,
            recipe,
            size=cfg.size,
            load_size=cfg.load_size,
            channels_a=channels[0],
            channels_b=channels[1],
            recolor=bool(cfg.recolor),
            vary=cfg.vary_photos or 0.0,
            **common,
        )
    cls = PairedFolder if kind == "paired" else UnpairedFolder
    return cls(
        cfg.data, size=cfg.size, load_size=cfg.load_size, channels_a=channels[0], channels_b=channels[1], **common
    )


def prepare_batch(
    batch: dict[str, Any], cfg: TrainConfig, device: torch.device, augment: DeviceAugment | None
) -> dict[str, torch.Tensor]:
    """uint8 CPU batch -> float ``[-1, 1]`` on ``device``, direction applied, augmented. A batch
    of single images (the GAN lab: ``B`` and ``label``, no ``A``) keeps its labels (on ``device``)."""
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format

    def images(x: torch.Tensor) -> torch.Tensor:
        return to_model_range(x.to(device, non_blocking=True)).contiguous(memory_format=memory_format)

    if "A" not in batch:
        b = images(batch["B"])
        out = {"B": augment.single(b) if augment is not None else b}
        if "label" in batch:
            out["label"] = batch["label"].to(device, non_blocking=True)
        return out
    a, b = batch["A"], batch["B"]
    if cfg.direction == "BtoA":
        a, b = b, a
    a, b = images(a), images(b)
    if augment is not None:
        a, b = augment(a, b)
    return {"A": a, "B": b}


def _resolve_config(task: str | None, resume: bool, kwargs: dict[str, Any]) -> tuple[TrainConfig, dict | None]:
    out = kwargs.get("out")
    if not out:
        raise ValueError("an output run folder is required (out=... / --out RUN)")
    ckpt_path = Path(out) / "checkpoints" / "last.pt"
    if not resume:
        if ckpt_path.exists():
            raise FileExistsError(
                f"{out} already holds a run; pass resume=True (--resume) to continue it, or choose another --out"
            )
        task = task or kwargs.pop("task", "pix2pix")
        options = {k: v for k, v in kwargs.items() if k != "task"}
        check_task_options(task, options)
        if options.get("data") and Path(options["data"]).exists():  # a resume from another directory finds it
            options["data"] = str(Path(options["data"]).resolve())
        if options.get("init_from") is not None:  # fine-tuning: the architecture comes from the model
            adopt_init_from(task, options)
        return TrainConfig(task=task, **options), None
    if not ckpt_path.exists():
        raise FileNotFoundError(f"cannot resume: no checkpoint at {ckpt_path}")
    state = load_checkpoint(ckpt_path)
    saved = dict(state["config"])
    given = kwargs.get("data")
    if given is not None and saved.get("data") is not None and given != saved["data"]:
        if _same_folder(saved["data"], given):  # the same folder, named from another directory or otherwise
            kwargs = {**kwargs, "data": saved["data"]}
        elif not Path(str(saved["data"])).exists() and Path(str(given)).is_dir():  # the data moved: say where
            moved = str(Path(given).resolve())
            step = int(state["step"])
            saved["history"] = [*saved.get("history", []), {"step": step, "changed": {"data": [saved["data"], moved]}}]
            saved["data"] = moved
            kwargs = {**kwargs, "data": moved}
    changed = {
        key: [saved[key], value]
        for key, value in kwargs.items()
        if key in RESUMABLE_OVERRIDES and key in saved and value is not None and saved[key] != value
    }
    if changed:  # the run's history: what each resume changed, from which step
        saved["history"] = [*saved.get("history", []), {"step": int(state["step"]), "changed": changed}]
    for key, value in kwargs.items():
        if key in ("out", "task") or key in RESUMABLE_OVERRIDES:
            saved[key] = value
        elif key in saved and saved[key] != value and value is not None and not _given_as_saved(value, saved[key]):
            raise ValueError(f"cannot change {key!r} when resuming ({saved[key]!r} in {out}, {value!r} given)")
    if task and task != saved["task"]:
        raise ValueError(f"{out} is a {saved['task']} run, not {task}")
    if kwargs.get("steps") is not None and kwargs["steps"] < int(state["step"]):
        raise ValueError(
            f"steps={kwargs['steps']} is below the step {int(state['step'])} that {out} has reached: give more steps "
            "(or none, to keep the run's)"
        )
    if kwargs.get("steps") is not None:  # the user's steps from now on: a budget only stops the run early
        saved["steps_from_budget"] = False
    saved["decay_steps"] = state["config"]["decay_steps"]
    return TrainConfig.from_dict(saved), state


def _same_folder(saved: Any, given: Any) -> bool:
    """The saved data path and the given one name the same folder (``data/x``, ``./data/x/`` and
    the absolute path, from the directory the resume runs in)."""
    try:
        return Path(str(saved)).exists() and os.path.samefile(str(saved), str(given))
    except OSError:
        return False


def _given_as_saved(given: Any, saved: Any) -> bool:
    """A resume repeating the first command: network flags (a dict) name some of the saved keys
    with their saved values; the run filled in the rest with defaults."""
    return (
        isinstance(given, dict)
        and isinstance(saved, dict)
        and all(k in saved and saved[k] == v for k, v in given.items())
    )


# ------------------------------------------------------------------------------------ fine-tuning (--init-from)
def _init_error(given: str, problem: str) -> ValueError:
    return ValueError(f"--init-from {given}: {problem}")


def source_run(model_dir: str | os.PathLike) -> Path | None:
    """The run folder a model folder belongs to (``RUN/model``, ``RUN/best`` beside
    ``RUN/checkpoints/last.pt``, which holds the discriminators), or None for a model folder on its own."""
    model_dir = Path(model_dir)
    if model_dir.name in ("model", "best") and (model_dir.parent / "checkpoints" / "last.pt").is_file():
        return model_dir.parent
    return None


def _describe_task(task: str | None, recipe: str | None) -> str:
    return f"task {recipe!r} ({task})" if recipe else f"task {task!r}"


def _generator_name(given: str, net: dict[str, Any], chosen: str | None, recorded: str | None) -> str:
    """The generator preset that builds exactly the net ``net`` (a model folder's net config) when
    given all of its arguments: the user's ``--generator`` (refused when it builds another net),
    else the name the source run recorded, else a preset of the net's class (its own settings first)."""
    kwargs = {k: v for k, v in net.items() if k != "arch"}

    def builds(name: str) -> bool:
        try:
            with torch.device("meta"):
                return create_model(name, **kwargs).config == net
        except (ValueError, TypeError):
            return False

    if chosen is not None:
        if not builds(chosen):
            raise _init_error(
                given,
                f"its generator is a {net['arch']!r} net, and --generator {chosen} is another architecture: leave out "
                "--generator (the architecture comes from the model), or leave out --init-from",
            )
        return chosen
    same = [n for n in list_models("generator") if getattr(get_model_class(n), "arch", None) == net["arch"]]
    presets = {n: getattr(get_model_class(n), "presets", {}).get(n, {}) for n in same}
    same.sort(key=lambda n: sum(net.get(k) != v for k, v in presets[n].items()))  # its own settings first
    for name in ([recorded] if recorded in same else []) + same:
        if builds(name):
            return name
    raise _init_error(given, f"no generator preset builds its {net['arch']!r} net")


def adopt_init_from(task: str, options: dict[str, Any]) -> None:
    """A new run with ``init_from`` (a run folder, a model folder or a shipped model's name): check
    the source model against the run and take its architecture into ``options``.

    The source's generator (preset name and every constructor argument) replaces the recipe's and
    the profile's; an explicit ``generator`` or ``generator_kwargs`` that builds another net is an
    error, as is a source of another task (family or recipe). Its channels and scale are taken
    unless given. A run folder's discriminator arguments (``RUN/config.json``) are taken too, the
    user's winning (the discriminator then starts fresh, see :func:`load_init_weights`).
    ``init_from`` becomes the model folder's absolute path, ``init_from_name`` keeps it as given.
    """
    given = str(options["init_from"])
    if TASKS[task].dataset == "images":
        raise _init_error(given, f"the {task} task (noise -> image) does not fine-tune; leave out --init-from")
    try:
        directory = resolve_model_dir(given).resolve()
        config = _read_json(directory / CONFIG_NAME, ModelConfigError)
        validate_model_config(config, directory)
    except ValueError as err:
        raise _init_error(given, str(err)) from None
    except FileNotFoundError as err:
        raise FileNotFoundError(f"--init-from {given}: {err}") from None
    source_task, source_recipe = config.get("task"), (config.get("training") or {}).get("recipe")
    recipe = options.get("recipe")
    if (source_task is not None and source_task != task) or (source_recipe and recipe and source_recipe != recipe):
        this_run = f"{task} --task {recipe}" if recipe else task
        raise _init_error(
            given,
            f"its model is {_describe_task(source_task, source_recipe)}, but this run is {this_run}; fine-tune it "
            "in a run of its own task, or leave out --init-from",
        )
    directions = config["directions"]
    net = dict(directions["AtoB" if "AtoB" in directions else next(iter(directions))]["net"])
    run = source_run(directory)
    saved = {}
    if run is not None:
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads((run / "config.json").read_text())
    kwargs = {k: v for k, v in net.items() if k not in ("arch", "in_channels", "out_channels")}
    if "scale" in TASKS[task].config_fields() and "scale" in kwargs:  # the task passes the scale itself
        scale = kwargs.pop("scale")
        options["scale"] = scale if options.get("scale") is None else options["scale"]
    if "lab" not in str(config.get("input", {}).get("color_space", "")):  # (lab: 1 -> 2 channels from 3 -> 3)
        for key in ("in_channels", "out_channels"):
            if key in net and options.get(key) is None:
                options[key] = net[key]
    for key, value in (options.get("generator_kwargs") or {}).items():
        if key not in kwargs or kwargs[key] != value:
            flag = f"--{key.replace('_', '-')}" if key in GENERATOR_FLAGS else "--generator-kwargs"
            has = f"has {key}={kwargs[key]!r}" if key in kwargs else f"has no {key!r}"
            raise _init_error(
                given,
                f"its generator {has}, but {flag} gives {key}={value!r}: leave it out (the architecture comes from "
                "the model), or leave out --init-from",
            )
    options["generator"] = _generator_name(given, net, options.get("generator"), saved.get("generator"))
    options["generator_kwargs"] = kwargs
    if isinstance(saved.get("discriminator_kwargs"), dict):
        options["discriminator_kwargs"] = {
            **saved["discriminator_kwargs"],
            **(options.get("discriminator_kwargs") or {}),
        }
    options["init_from"], options["init_from_name"] = str(directory), given


def _named_state(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(prefix + ".")}


def _load_weights(module: torch.nn.Module, state: dict[str, Any], what: str, given: str) -> None:
    """``module.load_state_dict(state)``, or one line naming what does not fit (not torch's report)."""
    own = module.state_dict()
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or extra or shapes:
        raise _init_error(
            given,
            f"the weights of its {what} do not fit this run's (missing {missing[:3]}, unexpected {extra[:3]}, "
            f"shapes {shapes[:3]})",
        )
    module.load_state_dict(state)


def _check_same_net(given: str, direction: str, source: dict[str, Any], own: dict[str, Any]) -> None:
    """The source's generator and the run's are the same net (config), else one line saying how they differ."""
    if source == own:
        return
    channels = [(net.get("in_channels"), net.get("out_channels")) for net in (source, own)]
    if channels[0] != channels[1]:
        raise _init_error(
            given,
            f"its {direction} generator maps {channels[0][0]} -> {channels[0][1]} channels, this run's "
            f"{channels[1][0]} -> {channels[1][1]} (--in-channels, --out-channels, --color-space): give the model's",
        )
    scales = [int(net.get("scale", 1)) for net in (source, own)]
    if scales[0] != scales[1]:
        raise _init_error(
            given, f"its generator upscales x{scales[0]}, this run's x{scales[1]}: give --scale {scales[0]}"
        )
    differ = [f"{k} {source.get(k)!r} != {own.get(k)!r}" for k in {**source, **own} if source.get(k) != own.get(k)]
    raise _init_error(given, f"its {direction} generator is another net than this run's ({', '.join(differ[:3])})")


def load_init_weights(net: Task, cfg: TrainConfig) -> str:
    """Fine-tuning: put the weights of ``cfg.init_from`` into a freshly built task; returns the line to log.

    The generators (their colour heads included) come from the model folder. The discriminators
    come from the source run's ``checkpoints/last.pt`` when the model folder is a run's (``RUN/model``,
    ``RUN/best``) and this run's discriminator arguments are the saved ones; otherwise they start
    fresh (a model folder holds generators only). Called before the weight average and the
    optimizers are made: the run starts at step 0 with a fresh optimizer and schedule.
    """
    given = cfg.init_from_name or str(cfg.init_from)
    try:
        _, sources = load_pretrained(cfg.init_from)
    except ValueError as err:
        raise _init_error(given, str(err)) from None
    for direction, generator in net.generators().items():
        if direction not in sources:
            raise _init_error(given, f"it has no {direction} generator (it has {', '.join(sources)})")
        _check_same_net(given, direction, sources[direction].config, generator.config)
        _load_weights(generator, sources[direction].state_dict(), f"{direction} generator", given)
    said = (
        f"fine-tuning from {given} ({cfg.init_from}): generator(s) {', '.join(net.generators())} from its model folder"
    )
    discriminators = net.discriminators()
    if not discriminators:
        return said
    run = source_run(cfg.init_from)
    if run is None:
        return f"{said}; the discriminator starts fresh (a model folder holds the generators only)"
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    saved = state.get("config", {})
    if saved.get("task") != cfg.task or saved.get("discriminator_kwargs") != cfg.discriminator_kwargs:
        return (
            f"{said}; the discriminator starts fresh (this run's discriminator options differ from those of {run}: "
            f"{saved.get('discriminator_kwargs')} -> {cfg.discriminator_kwargs})"
        )
    names = {id(module): name for name, module in net.named_modules()}
    for module in discriminators:
        name = names[id(module)]
        _load_weights(module, _named_state(state["task"], name), f"discriminator {name!r}", given)
    return f"{said}, the discriminator from {run / 'checkpoints' / 'last.pt'} (step {int(state['step'])})"


def _setup_distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    rank, world = distributed_world()
    return rank, world, int(os.environ.get("LOCAL_RANK", "0"))


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _collate(dataset: Dataset, indices: range) -> dict[str, torch.Tensor]:
    items = [dataset[i] for i in indices]
    return {key: torch.stack([item[key] for item in items]) for key in items[0] if key in ("A", "B", "label")}


def train(
    task: str | None = None, *, resume: bool = False, stop_after: int | None = None, **kwargs: Any
) -> TrainResult:
    """Train a model family (``task``: pix2pix, cyclegan, srgan, gan or a registered task) on a folder.

    Every other keyword is a :class:`~img2img.config.TrainConfig` field or the name of an
    ``img2img train`` flag (``base_channels=32``, ``skip_bad=True``, ``preset="heavy"``...; see
    :mod:`img2img.options`). Like the CLI's ``--task``, ``task`` may also name a recipe (restore,
    colorize, sketch, sr): ``train(task="restore", data="photos", out="RUN")`` trains pix2pix
    on inputs the restore recipe makes from the photos. With ``resume=True`` the family comes
    from the run folder.

    ``init_from`` (a run folder, a model folder or a shipped model's name) fine-tunes: a new run
    (step 0, fresh optimizers and schedule) starts from that model's weights and architecture (see
    :func:`adopt_init_from` and :func:`load_init_weights`); it cannot be combined with ``resume``.

    ``stop_after`` ends this call at that step of the run (with a checkpoint) without changing
    the schedule, e.g. to train in chunks; resume later with ``resume=True`` and the same
    ``steps`` (bit-exact on the same device and thread count). Ctrl-C also saves a checkpoint
    before stopping.

    Example:
        >>> from img2img import train
        >>> result = train("pix2pix", data="facades", out="runs/facades", steps=20_000)
        >>> result = train(out="runs/facades", resume=True, steps=40_000)  # continue, longer
        >>> result = train(task="restore", init_from="restore", data="my_scans", out="runs/scans", minutes=5)

    Returns:
        :class:`TrainResult` with the run folder and the trained task.
    """
    options = normalize_train_kwargs({**kwargs, **({"task": task} if task is not None else {})})
    family = options.pop("task", None)
    if family is None and not resume and options.get("recipe"):
        family = family_of_recipe(options["recipe"])
    if stop_after is not None and stop_after <= 0:
        raise ValueError(f"stop_after must be positive, got {stop_after}")
    if resume and options.get("init_from") is not None:
        raise ValueError(INIT_FROM_WITH_RESUME)
    cfg, state = _resolve_config(family, resume, options)
    # one process writes a run folder: a second `--resume` (or a new run into it) is refused while
    # this one trains (rank 0 writes; the other ranks of a multi-process run write nothing there)
    writes = int(os.environ.get("RANK", "0")) == 0
    existed = Path(cfg.out).exists()
    try:
        with output_lock(cfg.out) if writes else contextlib.nullcontext():
            return Trainer(cfg, state).fit(stop_after=stop_after)
    except BaseException:
        if writes and not existed:  # a run that failed to start (e.g. bad data) leaves no empty folder
            with contextlib.suppress(OSError):
                Path(cfg.out).rmdir()  # only when empty
        raise


class Trainer:
    """One run: builds the task, data and optimizers from a config (and a checkpoint), then
    :meth:`fit` loops. Only rank 0 writes the run folder."""

    def __init__(self, cfg: TrainConfig, state: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        self.rank, self.world, local_rank = _setup_distributed()
        self.is_main = self.rank == 0
        self.device = device = pick_device(cfg.device, local_rank)
        self.run_dir = Path(cfg.out)

        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        net = build_task(cfg.task, **cfg.task_kwargs())
        fine_tuning = load_init_weights(net, cfg) if cfg.init_from and state is None else None
        if cfg.ema:  # before the checkpoint is loaded: it holds the average (fine-tuning: after the weights)
            net.average_weights(cfg.ema)
        multiple = max(g.size_multiple for g in net.generators().values())
        if cfg.size % multiple:
            raise ValueError(
                f"--size {cfg.size} is not a multiple of {multiple}, which generator {cfg.generator!r} needs; "
                f"use --size {max(multiple, cfg.size // multiple * multiple)} or a shallower generator (e.g. --num-downs)"
            )
        memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.net = net = net.to(device, memory_format=memory_format)
        broadcast_state(net)
        # discriminators ("D", "D_A", ...) may learn at their own rate (--d-lr)
        self.base_lr = {
            name: cfg.d_lr if name.startswith("D") and cfg.d_lr is not None else cfg.lr
            for name in net.parameter_groups()
        }
        optimizers = {
            name: torch.optim.Adam(params, lr=self.base_lr[name], betas=(cfg.beta1, cfg.beta2))
            for name, params in net.parameter_groups().items()
        }
        self.opt = Optimization(
            optimizers, device=device, precision=cfg.precision, grad_clip=cfg.grad_clip, max_bad_steps=cfg.max_bad_steps
        )
        self.monitor = HealthMonitor(total_steps=cfg.steps)
        self.watch = LossWatch()  # explosion without NaN (img2img.divergence)
        self.lr_scale = 1.0  # halved by every rollback
        self.rollbacks = 0
        self.step = 0
        self.train_seconds = 0.0  # wall time spent in fit() over the whole run (for --minutes)
        self.best: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}
        torch.manual_seed(cfg.seed + 7919 * self.rank)  # augmentation/dropout streams differ per rank
        if state is not None:
            self._restore(state)
        self._set_base_lr()  # the configured lr (a resume may change it) under the rollbacks' backoff
        self._good = snapshot(net, optimizers) if all_finite(net) else None  # the state a rollback returns to
        self.watch.observe_weights(weight_norm(net))  # the reference norm (kept from the run's start on resume)
        self._good_step = self.step
        self._finite_at: int | None = None  # the step whose weights _ensure_finite checked last
        self._rolled_back_at: int | None = None  # the step of the latest rollback

        self.train_set = build_dataset(cfg, "train")
        self.val_set = build_dataset(cfg, "val")
        saved_items = (state or {}).get("train_items")
        if saved_items is not None and saved_items != len(self.train_set) and self.is_main:
            log.warning(
                "the training data changed since the checkpoint (%d items, now %d): the run continues on the new data, "
                "in another order than the uninterrupted run's",
                saved_items,
                len(self.train_set),
            )
        sampler = ResumableSampler(
            len(self.train_set), seed=cfg.seed, rank=self.rank, world_size=self.world, start=self.step * cfg.batch_size
        )
        self.loader = DataLoader(
            self.train_set,
            batch_size=cfg.batch_size,
            sampler=sampler,
            num_workers=cfg.num_workers,
            pin_memory=device.type == "cuda",
            persistent_workers=cfg.num_workers > 0,
            generator=torch.Generator().manual_seed(cfg.seed),  # keeps the global RNG untouched
            worker_init_fn=_worker_init,
        )
        self.augment = DeviceAugment(
            hflip=cfg.hflip,
            vflip=cfg.vflip,
            crop_scale=cfg.crop_scale,
            degrees=cfg.affine_degrees,
            translate=cfg.affine_translate,
            scale=cfg.affine_scale,
            jitter=cfg.jitter,
            paired=TASKS[cfg.task].dataset != "unpaired",
        ).to(device)
        source = self.val_set if self.val_set is not None else build_dataset(cfg, "train", train=False, verify=False)
        if len(source) < 2 and source is self.val_set:  # diversity (mode collapse) needs two or more outputs
            source = build_dataset(cfg, "train", train=False, verify=False)
        self.preview = prepare_batch(_collate(source, range(min(4, len(source)))), cfg, device, None)
        net.prepare(self.run_dir if self.is_main else None, self.train_set, self.val_set)
        if self.is_main:
            self._start_run_folder()
            if fine_tuning:
                log.info("%s", fine_tuning)
            log.info("%s", self.summary())

    def summary(self) -> str:
        """One start-up line: data found, device, model sizes, batch and schedule."""
        cfg = self.cfg
        counts = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
        nets = ", ".join(f"G {name} {counts(g) / 1e6:.2f}M" for name, g in self.net.generators().items())
        discriminators = sum(counts(d) for d in self.net.discriminators())
        nets += f", D {discriminators / 1e6:.2f}M parameters" if discriminators else " parameters"
        data = f"{len(self.train_set)} training item(s)" + (f" ({cfg.recipe} recipe)" if cfg.recipe else "")
        data += f", {len(self.val_set)} for validation" if self.val_set is not None else ", no val split"
        plan = f"{cfg.minutes:g}-minute budget" if cfg.minutes else f"{cfg.steps} steps"
        where = f"from step {self.step}, " if self.step else ""
        processes = f"{self.world} processes, " if self.world > 1 else ""
        return (
            f"{cfg.task} on {self.device} ({processes}{cfg.precision}): {data}; {nets}; "
            f"batch {cfg.batch_size} of {cfg.size} px; {where}{plan}"
        )

    def _restore(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["task"])
        self.net.load_extra_state(state.get("task_extra", {}))
        self.opt.load_state_dict(state["optimization"])
        self.step = int(state["step"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        divergence = state.get("divergence", {})
        self.lr_scale = float(divergence.get("lr_scale", 1.0))
        self.rollbacks = int(divergence.get("rollbacks", 0))
        self.watch.load_state_dict(divergence.get("watch", {}))
        self.monitor.load_state_dict(state.get("health", {}))
        self.best = dict(state.get("best", {}))
        ranks = state.get("rng_ranks") or []
        if self.world == 1:
            _set_rng_state(state["rng"], self.device)
        elif len(ranks) == self.world:  # every rank's stream was saved: the resumed run is the uninterrupted one
            _set_rng_state(ranks[self.rank], self.device)
        else:  # saved by another number of processes: other ranks continue on a fresh, step-dependent stream
            torch.manual_seed(self.cfg.seed + 7919 * self.rank + self.step)
        if self.is_main:
            log.info("resumed %s at step %d", self.run_dir, self.step)

    def _start_run_folder(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        clean_run_folder(self.run_dir)  # temp files and folders of writes killed in an earlier run
        write_json(self.run_dir / "config.json", self.cfg.to_dict())
        _truncate_log(self.run_dir / "log.jsonl", self.step)
        if self.step and _model_step(self.run_dir / "model") != self.step:  # killed between last.pt and the model/ swap
            self._save_model("model", self.best)
        skipped = list(getattr(self.train_set, "skipped", []))
        val_skipped = list(getattr(self.val_set, "skipped", [])) if self.val_set is not None else []
        if skipped:
            log.warning("skipped %d bad training files (listed in %s)", len(skipped), self.run_dir / "skipped.txt")
        if skipped or val_skipped:  # the validation files the val split left out too, marked as such
            lines = [f"{p}\t{why}\n" for p, why in skipped] + [f"{p}\t(validation) {why}\n" for p, why in val_skipped]
            (self.run_dir / "skipped.txt").write_text("".join(lines))

    # ------------------------------------------------------------------ the loop
    def fit(self, *, stop_after: int | None = None) -> TrainResult:
        cfg = self.cfg
        budget = TimeBudget(
            cfg.minutes, self.train_seconds, skip=2 + 2 * cfg.num_workers
        )  # past the prefetched batches
        progress = None
        if self.is_main and cfg.progress:
            from tqdm.auto import tqdm

            progress = tqdm(
                total=cfg.steps if cfg.steps_planned else None, initial=self.step, desc=cfg.task, dynamic_ncols=True
            )
        self.net.train()
        with _opencv_threads_stopped():  # the persistent workers are forked here
            batches = iter(self.loader)
        started, started_step = time.perf_counter(), self.step
        with _interrupt_at_step_boundary() as interrupted, _logs_above(progress):
            spent = self._agree(budget.spent())  # a resumed run may have spent its budget already
            plans = budget.seconds is not None and bool(cfg.steps_from_budget)  # else --steps rules, the budget stops
            if plans and self.step and self.train_seconds > 0 and not spent:
                # a resumed budget run (a larger --minutes, or the rest of its own) plans from the time left at
                # the run's average speed so far, then again at the budget's marks with the speed measured here
                self._plan_steps(budget, 0, per_step=self.train_seconds / self.step)
                if progress is not None:
                    progress.total = cfg.steps
            while self.step < (cfg.steps if stop_after is None else min(cfg.steps, stop_after)) and not spent:
                losses = self.train_step(next(batches))
                self.train_seconds = budget.elapsed()
                # every rank plans at the same step (its broadcast is a collective), whichever clock says so first
                if plans and self._agree(budget.plan_due(self.step - started_step, cfg.steps_planned)):
                    self._plan_steps(budget, self.step - started_step)
                    if progress is not None:
                        progress.total = cfg.steps
                if (
                    self.is_main
                    and self.step - started_step == SPEED_PROBE_STEPS + 2 * cfg.num_workers
                    and not cfg.minutes
                ):
                    per_step = (time.perf_counter() - started) / (self.step - started_step)
                    log.info(
                        "%.3g s/step measured: %d steps to go, about %s",
                        per_step,
                        cfg.steps - self.step,
                        _duration(per_step * (cfg.steps - self.step)),
                    )
                end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
                spent = self._agree(budget.spent())  # every rank stops at the same step
                if spent and plans and not cfg.steps_planned:  # spent before its speed was measured: the run
                    cfg.plan_steps(self.step, done=self.step)  # is the steps made (not the planning placeholder)
                    self.monitor.set_total_steps(cfg.steps)
                    if self.is_main:
                        write_json(self.run_dir / "config.json", cfg.to_dict())
                last = self.step >= end or spent  # this session's last step: it saves
                final = self.step >= cfg.steps or spent  # the run's: also samples and validates, as every run
                # (not at a stop_after step: the uninterrupted run does not sample, validate or log there)
                if progress is not None:  # the postfix first: drawn with this step's losses, not the last step's
                    progress.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
                    if last:  # the final bar is drawn once, by close(), before the last validation and save
                        progress.n = self.step
                        progress.close()
                        progress = None
                    else:
                        progress.update(1)
                if self.is_main and (self.step % cfg.log_every == 0 or final):
                    elapsed = time.perf_counter() - started
                    self._log(
                        {
                            "step": self.step,
                            "lr": self.opt.learning_rates()["G"],
                            **losses,
                            "s_per_step": elapsed / max(1, self.step - started_step),
                        }
                    )
                if self.step % cfg.sample_every == 0 or final or self.step % cfg.val_every == 0:
                    self._ensure_finite()  # nothing is sampled, scored, chosen as best or saved from NaN statistics
                if self.step % cfg.sample_every == 0 or final:
                    self.write_samples()
                if self.step % cfg.val_every == 0 or final:
                    self.validate()
                if self.step % cfg.checkpoint_every == 0 or last:
                    self.save()
                if self._agree(interrupted()):  # the CLI prints one line: what was saved and the command that resumes
                    self.save()
                    raise TrainingInterrupted(self.step, self.run_dir)
        if progress is not None:
            progress.close()
        if budget.spent() and self.step < cfg.steps and self.is_main:
            log.info(
                "the %.4g-minute budget is spent at step %d of %d; continue with --resume --minutes M (a larger budget)",
                cfg.minutes,
                self.step,
                cfg.steps,
            )
        if self.world > 1:
            broadcast_state(self.net, buffers_only=True)
        if self.step == started_step:  # nothing to do (already complete): make sure outputs exist
            self.save()
        if self.opt.skipped_total and self.is_main:
            log.warning("%d updates were skipped because of non-finite losses or gradients", self.opt.skipped_total)
        if self.world > 1:
            dist.barrier()
        return TrainResult(
            run_dir=self.run_dir,
            task=self.net,
            step=self.step,
            metrics=dict(self.metrics),
            best=dict(self.best),
            total_steps=cfg.steps if cfg.steps_planned else None,
        )

    def _agree(self, flag: bool) -> bool:
        """Whether any rank says yes (e.g. Ctrl-C reached one process first): every rank stops at
        the same step, so the checkpoint's collectives (and the last save) are met by all."""
        if self.world == 1:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def _plan_steps(self, budget: "TimeBudget", measured_steps: int, per_step: float | None = None) -> None:
        """A time-budget run has measured its speed (or knows it, ``per_step``, from its earlier
        sessions): fix the total steps so the schedule fits the budget."""
        cfg = self.cfg
        if per_step is None:
            per_step = budget.seconds_per_step()
            budget.planned()
        steps = self.step + max(1, int(budget.remaining() * budget.usable / per_step))
        if self.world > 1:  # every rank must agree on the schedule
            planned = torch.tensor([steps], device=self.device)
            dist.broadcast(planned, 0)
            steps = int(planned.item())
        cfg.plan_steps(steps, done=self.step)
        self.monitor.set_total_steps(cfg.steps)
        if hasattr(self.net, "warmup_steps"):  # the task copied the placeholder at construction
            self.net.warmup_steps = cfg.warmup_steps
        if self.is_main:
            log.info(
                "time budget %.4g min: %.3g s/step at step %d (%d made in this session) -> %d steps in all",
                cfg.minutes,
                per_step,
                self.step,
                measured_steps,
                cfg.steps,
            )
            write_json(self.run_dir / "config.json", cfg.to_dict())

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimisation step on a CPU batch; returns the losses."""
        cfg = self.cfg
        self.opt.set_lr_factor(lr_factor(self.step, cfg.steps, cfg.decay_steps, cfg.lr_schedule))
        batch = prepare_batch(batch, cfg, self.device, self.augment)
        if self.world > 1:  # like DDP: every rank starts the step with rank 0's BN statistics
            broadcast_state(self.net, buffers_only=True)
        losses = self.net.training_step(batch, self.opt, self.step)
        reason = None
        try:
            self.opt.end_iteration()
        except NonFiniteLossError as error:
            reason = str(error).split(";")[0]
        self.step += 1
        reason = reason or self.watch.observe(losses)
        if not reason and self.step % WEIGHT_CHECK_EVERY == 0:
            reason = self.watch.observe_weights(weight_norm(self.net))
        if self.world > 1:  # every rank rolls back, or none
            flag = torch.tensor([1.0 if reason else 0.0], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            reason = reason or ("another rank diverged" if flag.item() > 0 else None)
        if reason:
            self._roll_back(reason)
        else:
            average = self.net.weight_average
            if average is not None and any(not name.startswith("D") for name in self.opt.last_stepped):
                average.update(self.net.generators())  # per generator update (--n-critic: not per critic step)
            if self.step % GOOD_STATE_EVERY == 0 and all_finite(self.net):  # absolute steps: a resume keeps them
                self._keep_good_state()
        self.monitor.check_losses(losses, self.step, cfg.gan_mode)
        if self.is_main:
            for event in self.monitor.take_events():
                self._log(event)
        return losses

    def _keep_good_state(self) -> None:
        """This step's state is what a rollback returns to (in-memory copy)."""
        self._good, self._good_step = snapshot(self.net, self.opt.optimizers), self.step

    def _set_base_lr(self) -> None:
        """Every optimizer's schedule starts from its configured lr times the rollbacks' backoff."""
        for name, opt in self.opt.optimizers.items():
            for group in opt.param_groups:
                group["initial_lr"] = self.base_lr[name] * self.lr_scale

    def _roll_back(self, reason: str) -> None:
        """Return to the last good state with a lower learning rate, or give up (see img2img.divergence)."""
        self.rollbacks += 1
        if self._good is None or self.rollbacks > MAX_ROLLBACKS:
            last = self.run_dir / "checkpoints" / "last.pt"
            kept = (
                f"the last good checkpoint is {last} (--resume accepts a new --lr)"
                if last.is_file()
                else "no checkpoint was saved yet: start again"
            )
            raise TrainingDiverged(
                f"training diverged at step {self.step} ({reason}) and still diverges after {self.rollbacks - 1} "
                f"rollback(s) with the learning rate lowered to {self.cfg.lr * self.lr_scale:.3g}; {kept}. Try a "
                "lower --lr, --grad-clip 1.0, --precision fp32, or another --gan-mode (lsgan and hinge are more "
                "stable than vanilla)."
            )
        restore(self.net, self.opt.optimizers, self._good)
        self._rolled_back_at = self.step
        self.lr_scale *= LR_BACKOFF
        self._set_base_lr()
        self.opt.bad_steps = 0
        self.watch.reset()
        message = (
            f"step {self.step}: training diverged ({reason}); rolled back to the state of step {self._good_step} "
            f"with the learning rate x{self.lr_scale:g} (rollback {self.rollbacks} of {MAX_ROLLBACKS})"
        )
        log.warning(message)
        if self.is_main:
            self._log(
                {
                    "step": self.step,
                    "event": "rollback",
                    "reason": reason,
                    "rollback": {"to_step": self._good_step, "lr_scale": self.lr_scale, "count": self.rollbacks},
                }
            )

    # ------------------------------------------------------------------ outputs
    def _save_model(self, folder: str, training: dict[str, Any], before_commit: Any = None) -> None:
        """A model folder; its ``training`` summary always holds the training crop (``size``), which
        inference uses as the tile of encoder-decoder nets (``suggested_tile``)."""
        cfg = self.cfg
        training = {"steps": self.step, "task": cfg.task, "data": str(cfg.data), "size": cfg.size, **training}
        if len(self.net.served_generators()) == 1:  # which folder side it maps: BtoA = B images in, A out
            training["direction"] = cfg.direction
        if cfg.recipe:  # what the model does (e.g. the browser page opens a drawing pad for sketch models)
            training["recipe"] = cfg.recipe
        if cfg.init_from:  # fine-tuned from this model (as given: a shipped model's name, a run or model folder)
            training["init_from"] = cfg.init_from_name or cfg.init_from
        save_pretrained(
            self.net.served_generators(),
            self.run_dir / folder,
            task=cfg.task,
            io_spec=self.net.io_spec(),
            default_direction=self.net.default_direction,
            training=training,
            before_commit=before_commit,
        )

    def _ensure_finite(self) -> None:
        """Roll back (every rank alike) when a weight or batch-norm statistic is not finite, e.g.
        the running statistics of a NaN forward pass, which the optimizer's guard does not see.
        Once per step: the samples, the validation and the save of one step share the check."""
        if self._finite_at == self.step:
            return
        if self._agree(not all_finite(self.net)):
            self._roll_back("non-finite weights or batch-norm statistics")
        self._finite_at = self.step

    def save(self) -> None:
        """The model folder and the resumable checkpoint (rank 0; every rank's random stream in it)."""
        self._ensure_finite()  # every rank calls save() at the same steps: the rollback happens on all
        if self._good_step != self.step and self._rolled_back_at != self.step:
            # a saved state is a good state, as the resumed run's first one is (it starts from this checkpoint):
            # a rollback after a resume returns to the same state as in the uninterrupted run
            self._keep_good_state()
        rng_ranks: list[Any] = []
        if self.world > 1:  # every rank calls save() at the same steps
            rng_ranks = [None] * self.world
            dist.all_gather_object(rng_ranks, _rng_state(self.device))
        if not self.is_main:
            return
        cfg = self.cfg
        # last.pt is written once the new model/ is complete and before it is swapped in (one rename):
        # model/ is never ahead of last.pt, and a failed write (e.g. a full disk) leaves both as they were
        self._save_model(
            "model",
            self.best,
            before_commit=lambda: save_checkpoint(
                self.run_dir / "checkpoints" / "last.pt",
                {
                    "format": CHECKPOINT_FORMAT,
                    "config": cfg.to_dict(),
                    "step": self.step,
                    "task": self.net.state_dict(),
                    "task_extra": self.net.extra_state(),
                    "optimization": self.opt.state_dict(),
                    "rng": _rng_state(self.device),
                    "rng_ranks": rng_ranks,  # data parallelism: each rank's stream (augmentation, dropout)
                    "best": self.best,
                    "train_seconds": self.train_seconds,
                    "train_items": len(self.train_set),  # a resume on other data says so
                    "divergence": {
                        "lr_scale": self.lr_scale,
                        "rollbacks": self.rollbacks,
                        "watch": self.watch.state_dict(),
                    },
                    "health": self.monitor.state_dict(),
                },
            ),
        )

    def validate(self) -> dict[str, float]:
        """PSNR/SSIM on the val split; keeps the best model in ``RUN/best`` (rank 0)."""
        if not self.is_main or (self.val_set is None and not self.net.scores_itself):
            return {}
        self.net.eval()
        batches = _val_batches(self.val_set, self.cfg, self.device) if self.val_set is not None else iter(())
        with self.net.serving():
            self.metrics = evaluate(self.net, batches)
        self.net.train()
        self.monitor.check_coverage(self.metrics, self.step)
        for event in self.monitor.take_events():
            self._log(event)
        score = selection_score({"step": self.step, **self.metrics}, self.cfg.best_metric)
        scored = all(math.isfinite(v) for v in self.metrics.values() if isinstance(v, float))  # no NaN model is best
        if score is not None and scored and self._may_be_best() and score > self.best.get("best_score", float("-inf")):
            self.best = {
                **self.metrics,
                "best_step": self.step,
                "best_metric": self.cfg.best_metric,
                "best_score": score,
            }
            self._save_model("best", self.best)
        self._log({"step": self.step, **self.metrics})
        return self.metrics

    def _may_be_best(self) -> bool:
        """A GAN run's pixel-loss warm-up is not a candidate for ``best/`` (it would win on PSNR and
        silently serve the pixel-loss model from a "GAN" run)."""
        warmup = getattr(self.net, "warmup_steps", 0)
        adversarial = getattr(self.net, "adv_weight", 0) > 0
        return not (adversarial and self.step <= warmup)

    def write_samples(self) -> None:
        """``RUN/samples/step_N.png`` from the fixed preview batch; checks output diversity (rank 0)."""
        if not self.is_main:
            return
        from img2img_runtime.io import write_image

        self.net.eval()
        with self.net.serving():
            rows, diversity = sample_grid(self.net, self.preview)
        self.net.train()
        write_image(self.run_dir / "samples" / f"step_{self.step:06d}.png", rows)
        self.monitor.check_diversity(diversity, self.step)
        for event in self.monitor.take_events():
            self._log(event)

    def _log(self, record: dict[str, Any]) -> None:
        append_jsonl(self.run_dir / "log.jsonl", record)  # one write per whole line


class TimeBudget:
    """The ``--minutes`` budget of a run: wall time of ``fit`` summed over resumes.

    The first steps measure the speed (after ``skip`` warm-up steps, until ``probe_steps`` steps
    or ``probe_seconds`` have passed); the loop then plans the run's total steps so that the
    learning-rate schedule and the warm-up fit ``usable`` of the remaining time, plans again at
    the ``replan_at`` fractions of the budget (data loading can fall behind once the prefetched
    batches are used up, and the machine may get busier or idler), each time with the speed since
    the previous plan (or since the probe began, when fewer than ``probe_steps`` steps were made
    since), and stops, saves and validates when the time is spent. The late plans only move the
    end of the decay a little, so a run that slows down still reaches the end of its schedule.
    """

    skip, probe_steps, probe_seconds, usable = 2, 12, 20.0, 0.95
    replan_at = (0.1, 0.25, 0.45, 0.65, 0.8, 0.9)

    def __init__(self, minutes: float | None, already: float = 0.0, *, skip: int | None = None) -> None:
        self.seconds = None if minutes is None else 60.0 * minutes
        self.already = already
        self.started = time.perf_counter()
        if skip is not None:
            self.skip = skip
        self._probe_start: float | None = None
        self._probe_steps = 0
        self._mark: tuple[float, int] | None = None  # (clock, probe steps) at the last plan
        self._replans = [self.already + f * self.seconds for f in self.replan_at] if self.seconds else []

    def plan_due(self, steps_done: int, planned: bool) -> bool:
        """Called after every step of this ``fit``: time to plan (or plan again) the total steps?"""
        known = self.speed_known(steps_done)
        if not planned:
            return known
        if known and self._replans and self.elapsed() >= self._replans[0]:
            while self._replans and self.elapsed() >= self._replans[0]:
                self._replans.pop(0)
            return True
        return False

    def elapsed(self) -> float:
        return self.already + time.perf_counter() - self.started

    def remaining(self) -> float:
        return float("inf") if self.seconds is None else max(0.0, self.seconds - self.elapsed())

    def spent(self) -> bool:
        return self.seconds is not None and self.elapsed() >= self.seconds

    def speed_known(self, steps_done: int) -> bool:
        """Called after every step of this ``fit``; True once the probe is long enough."""
        if steps_done == self.skip:
            self._probe_start = time.perf_counter()
        if self._probe_start is None or steps_done <= self.skip:
            return False
        self._probe_steps = steps_done - self.skip
        waited = time.perf_counter() - self._probe_start
        return self._probe_steps >= self.probe_steps or (waited >= self.probe_seconds and self._probe_steps >= 2)

    def seconds_per_step(self) -> float:
        """The speed since the last :meth:`planned` (at least ``probe_steps`` steps), else since the probe began."""
        now = time.perf_counter()
        if self._mark is not None and self._probe_steps - self._mark[1] >= self.probe_steps:
            return (now - self._mark[0]) / (self._probe_steps - self._mark[1])
        return (now - self._probe_start) / max(1, self._probe_steps)

    def planned(self) -> None:
        """The loop has planned with :meth:`seconds_per_step`: the next plan measures from here."""
        self._mark = (time.perf_counter(), self._probe_steps)


@contextlib.contextmanager
def _opencv_threads_stopped():
    """Stop OpenCV's worker threads while the data workers are forked, then restore them.

    OpenCV's thread pool does not survive ``fork``: a worker that inherits a started pool (the
    parent's OpenCV calls start it, e.g. when the image files are verified) hangs for ever the
    first time it touches the pool, inside ``cv2.setNumThreads``. With one thread there is no pool.
    """
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def _worker_init(worker_id: int) -> None:  # noqa: ARG001
    """One thread per data worker for OpenCV and torch: the workers are the parallelism."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: the run was saved at ``step`` in ``run_dir`` (resume with ``resume=True``)."""

    def __init__(self, step: int, run_dir: str | os.PathLike) -> None:
        super().__init__(
            f"interrupted at step {step}: checkpoint saved in {run_dir}; continue with resume=True (--resume)"
        )
        self.step, self.run_dir = step, Path(run_dir)


@contextlib.contextmanager
def _interrupt_at_step_boundary():
    """Turn the first Ctrl-C into a flag checked between steps (so the saved state is exact)."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def handler(signum, frame):  # noqa: ARG001
        if flag["set"]:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        flag["set"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: flag["set"]
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _logs_above(progress: Any):
    """While a progress bar is drawn, log lines print above it instead of through it (which
    left a torn bar line, and the bar drawn again below the log line)."""
    if progress is None:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield


def _val_batches(dataset: Dataset, cfg: TrainConfig, device: torch.device):
    count = min(len(dataset), cfg.val_max_images)
    for start in range(0, count, cfg.batch_size):
        yield prepare_batch(_collate(dataset, range(start, min(start + cfg.batch_size, count))), cfg, device, None)


def _truncate_log(path: Path, step: int) -> None:
    """On resume, drop records written after the checkpoint (they will be written again).

    A torn last line (a kill during a write) is dropped with a warning; a damaged line elsewhere is
    an error naming the file and the line. The log is replaced atomically."""
    if not path.exists():
        return
    write_jsonl(path, [record for record in read_jsonl(path) if record["step"] <= step])


def _model_step(folder: Path) -> int | None:
    """The step a model folder was saved at (None when it is missing or unreadable)."""
    try:
        return int(json.loads((folder / "config.json").read_text())["training"]["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
