"""The training configuration: one flat dataclass shared by the Python API and the CLI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

# Every task's own defaults and rules (the papers' settings) live on its class in img2img/tasks:
# ``Task.defaults``, ``configure``, ``finish_config`` and ``default_best_metric`` (see CONTRIBUTING.md).
# Fields left unset fall back to these when a task says nothing.
GENERIC_DEFAULTS: dict[str, Any] = {
    "warmup_steps": 0,
    "lr_schedule": "linear",
    "gan_mode": "vanilla",
    "channels_last": False,
}

# Fields that only some tasks take (a constructor argument of theirs): set for another task, an error.
TASK_ONLY_FIELDS = ("arch", "latent_dim", "condition", "n_critic", "content_loss", "class_names")

# ``steps`` while a run with a time budget (``minutes``) has not yet measured its speed.
PLANNED_STEPS = 10**9

# Step counts that default to a fraction of ``steps`` (re-derived when a time budget plans the steps).
# Derived in this order: ``warmup_steps`` is a fraction of the steps (srgan only: the other tasks'
# other tasks' defaults say 0), ``decay_steps`` a fraction of the steps after the warm-up.
STEP_FRACTIONS: dict[str, float] = {"warmup_steps": 0.5, "decay_steps": 0.5}

# What decides RUN/best (higher is better): validation PSNR, SSIM, the sharpness ratio's closeness
# to 1 (texture like the target's), CycleGAN's round-trip PSNR, or "last" (best = the latest model).
# The GAN lab's: the inception score, class coverage or conditional accuracy of its samples by the
# run's classifier (img2img.classifier).
BEST_METRICS = ("psnr", "ssim", "sharpness", "cycle_psnr", "inception", "coverage", "accuracy", "last")

# Options that may change when a run is resumed; every other option comes from the saved run.
RESUMABLE_OVERRIDES = frozenset(
    {
        "steps",
        "minutes",
        "num_workers",
        "device",
        "log_every",
        "sample_every",
        "checkpoint_every",
        "val_every",
        "on_bad",
        "progress",
        "lr",
        "grad_clip",
        "max_bad_steps",
        "d_lr",
    }
)


@dataclass
class TrainConfig:
    """Everything a training run needs. Unset task-dependent fields take the task's ``defaults``.

    Data: ``data`` is a folder (see README "Folder formats"); ``size`` is the training crop
    (the HR crop for SRGAN), ``load_size`` the size the shorter side is resized to before the
    random crop (default ``size * 286 / 256``). Schedule: Adam(``lr``, ``beta1``, ``beta2``),
    constant for ``steps - decay_steps`` steps, then (``lr_schedule``) linear to 0 (pix2pix,
    CycleGAN: 2e-4, beta1 0.5) or x0.1 (SRGAN: 1e-4, beta1 0.9); ``decay_steps`` defaults to
    ``decay_fraction`` (half) of the steps after the warm-up (``warmup_steps``: SRGAN's pixel-loss
    stage, ``warmup_fraction``: half the steps).
    """

    task: str = "pix2pix"
    data: str = ""
    out: str = ""
    init_from: str | None = None  # fine-tuning: the model folder a new run starts from (recorded as its absolute path)
    init_from_name: str | None = None  # the init_from source as given: a run or model folder, or a shipped model's name
    steps: int | None = None
    minutes: float | None = None
    batch_size: int | None = None
    size: int | None = None
    load_size: int | None = None
    scale: int = 4
    direction: str = "AtoB"
    in_channels: int = 3
    out_channels: int = 3
    color_space: str = "rgb"
    hints: bool = False  # pix2pix: colour hints drawn from the target as extra input channels (img2img.hints)
    recipe: str | None = None
    recipe_options: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None
    # nets
    generator: str | None = None
    generator_kwargs: dict[str, Any] = field(default_factory=dict)
    discriminator_kwargs: dict[str, Any] = field(default_factory=dict)
    # losses
    gan_mode: str | None = None
    lambda_l1: float = 100.0
    pixel_loss: str | None = None  # pix2pix reconstruction term, weighted by lambda_l1: "l1" (the paper), "l2", "psnr"
    lambda_color: float | None = (
        None  # pix2pix with a colour head: weight of its own loss in the generator's (default 0)
    )
    color_replay: int | None = (
        None  # pix2pix with a colour head: its own updates per step from replayed crop statistics
    )
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_gp: float = 10.0
    pool_size: int = 50
    adv_weight: float | None = None  # weight of the generator's GAN term: pix2pix 1, srgan 1e-3; 0 = no GAN
    warmup_steps: int | None = None  # srgan: steps * warmup_fraction (0 = no warm-up); other tasks: 0
    warmup_fraction: float | None = None  # srgan: the warm-up's share of the steps when warmup_steps is unset (0.5)
    feature_matching_weight: float = 1.0  # srgan "l1+fm" content loss: weight of the discriminator feature matching
    pixel_weight: float = 1.0  # srgan: weight of the L1 pixel loss (the warm-up's and the "l1+fm" content loss's)
    perceptual_weight: float = 1.0  # srgan "vgg" content loss: weight of the VGG feature MSE
    vgg_weights: str | None = None  # srgan; else $IMG2IMG_VGG19_WEIGHTS (never the torch cache)
    content_loss: str | None = None  # srgan: "vgg" (with VGG19 weights) or "l1+fm"; resolved and recorded
    # optimisation
    lr: float | None = None
    d_lr: float | None = None  # the discriminators' learning rate (default: lr; the GAN lab's mlp: 2e-4)
    beta1: float | None = None
    beta2: float | None = None  # Adam beta2 (default: 0.999; gan with wgangp 0.9)
    decay_steps: int | None = None
    decay_fraction: float | None = None  # share of the steps after the warm-up when decay_steps is unset (0.5)
    lr_schedule: str | None = None  # "linear" (pix2pix, cyclegan) or "step" (srgan), see optimization.lr_factor
    grad_clip: float | None = None
    ema: float = 0.0  # decay of the generators' weight average that is validated and saved (0 = off), img2img.averaging
    max_bad_steps: int = 20
    precision: str = "fp32"
    channels_last: bool | None = None  # default off; the restore recipe's cpu profile on (measured 40% more steps)
    seed: int = 0
    device: str = "auto"
    # data loading and augmentation
    num_workers: int | None = None  # CPU data workers (default 2; the GAN lab's built-in sets, in memory: 0)
    hflip: bool | None = None  # random horizontal flips (default: on; off for the digits set)
    vflip: bool = False
    crop_scale: float | None = None
    affine_degrees: float = 0.0
    affine_translate: float = 0.0
    affine_scale: float = 0.0
    jitter: float = 0.0
    recolor: bool | None = None  # recipe folders: shuffle the photo's channels before the damage
    vary_photos: float | None = None  # recipe folders: tone curve and hue turn before the damage (restore profile: 1)
    on_bad: str = "error"
    # logging
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    val_every: int = 1000
    val_max_images: int = 50  # validation scores at most this many val images
    best_metric: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # resumes that changed options, by step
    auto_steps: list[str] = field(default_factory=list)  # fields derived from steps, re-derived by plan_steps
    # True when ``minutes`` plans the steps (no --steps given); with --steps the budget only stops the run
    steps_from_budget: bool | None = None
    progress: bool = True
    # the GAN lab (task "gan")
    arch: str | None = None  # "mlp" (the classic lab) or "dcgan" -> the generator preset (tasks.gan.ARCH_SETTINGS)
    latent_dim: int | None = None  # noise size (default: mlp 2, dcgan 100)
    condition: str | None = None  # None, "class" (conditional GAN) or "acgan"
    class_names: list[str] = field(default_factory=list)  # the data's classes (found in the data, recorded)
    n_critic: int | None = None  # discriminator steps per generator step (default 1; wgangp 5)

    def __post_init__(self) -> None:
        from .tasks import TASKS

        task = TASKS.get(self.task)
        if task is None:
            raise ValueError(f"unknown task {self.task!r}; available: {', '.join(sorted(TASKS))}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        unknown = sorted(task.config_fields() - {f.name for f in fields(self)})
        if unknown:  # a constructor argument no option sets would silently keep its default
            raise ValueError(
                f"the {self.task} task ({task.__module__}.{task.__qualname__}) takes {', '.join(unknown)}, which "
                "no training option sets: a task's keyword-only constructor arguments are TrainConfig fields (add "
                "the field to img2img/config.py and its flag to img2img/cli.py, or make it a plain attribute)"
            )
        # these fields default to None (or []), so a saved or hand-built config shows what was given
        check_task_options(self.task, {k: getattr(self, k) for k in TASK_ONLY_FIELDS})
        task.configure(self)  # settings that follow from other options, before the defaults
        if self.steps is None:  # with a time budget the loop plans the steps from the measured speed
            self.steps = PLANNED_STEPS if self.minutes is not None else 10_000
            self.steps_from_budget = self.minutes is not None
        elif self.steps_from_budget is None:  # the user's --steps: kept (a budget only stops the run early)
            self.steps_from_budget = False
        if self.steps_from_budget and self.minutes is None:
            raise ValueError("steps_from_budget needs minutes (a time budget)")
        from .presets import apply_recipe_profile

        apply_recipe_profile(self)
        for key, value in {**GENERIC_DEFAULTS, **task.defaults}.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        task.finish_config(self)  # the task's derived values and checks
        if self.warmup_fraction is not None and not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction is a share of the steps, 0 <= f < 1, got {self.warmup_fraction}")
        if self.decay_fraction is not None and not 0.0 <= self.decay_fraction <= 1.0:
            raise ValueError(
                f"decay_fraction is a share of the steps after the warm-up, 0 <= f <= 1, got {self.decay_fraction}"
            )
        for name in STEP_FRACTIONS:  # unset step counts derive from steps (see plan_steps)
            if getattr(self, name) is None:
                self.auto_steps = sorted({*self.auto_steps, name})
                setattr(self, name, self._derived_step_count(name))
        if self.num_workers is None:
            self.num_workers = 2
        if self.hflip is None:
            self.hflip = True
        if self.beta2 is None:
            self.beta2 = 0.999
        if self.direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {self.direction!r}")
        if self.recipe is not None:
            if self.recipe not in ("sketch", "colorize", "restore", "sr"):
                raise ValueError(f"unknown --task recipe {self.recipe!r}; available: sketch, colorize, restore, sr")
            wanted = "sr" if self.recipe == "sr" else "paired"  # what the recipe makes: LR/HR or A/B pairs
            if task.dataset != wanted:
                raise ValueError(
                    f"the {self.recipe} recipe makes {'super-resolution' if wanted == 'sr' else 'paired'} data, "
                    f"which the {self.task} task does not read (it reads {task.dataset!r} data)"
                )
            if self.recipe == "colorize":
                self.color_space = "lab"
            if self.recipe == "sr":
                self.recipe_options = {**self.recipe_options, "scale": self.scale}
        if self.color_space not in ("rgb", "lab"):
            raise ValueError(f"color_space must be 'rgb' or 'lab', got {self.color_space!r}")
        if self.color_space == "lab" and "color_space" not in task.config_fields():
            raise ValueError(f"color_space 'lab' (colorization) is not an option of the {self.task} task (pix2pix)")
        if self.hints and "hints" not in task.config_fields():
            raise ValueError(f"colour hints (--hints) are an option of pix2pix (colorize, sketch), not of {self.task}")
        if self.on_bad not in ("error", "skip"):
            raise ValueError(f"on_bad must be 'error' or 'skip', got {self.on_bad!r}")
        self._resolve_losses()
        if self.best_metric is None:
            self.best_metric = task.default_best_metric(self)
        if self.best_metric not in task.best_metrics:  # RUN/best would never be written (a task may add its own)
            raise ValueError(
                f"the {self.task} task does not score {self.best_metric!r} (its --best-metric values: "
                f"{', '.join(task.best_metrics)})"
            )
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be 0 (off) or a decay in (0, 1) such as 0.999, got {self.ema}")
        if self.vary_photos is not None and not self.vary_photos >= 0:
            raise ValueError(f"vary_photos must be >= 0 (0 = off), got {self.vary_photos}")
        for name in ("steps", "batch_size", "size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def _resolve_losses(self) -> None:
        """Resolve the schedule and the discriminator norm, so that RUN/config.json records what the
        run uses (the task checks the combinations again when it is built)."""
        from .nets.patchgan import patchgan_kwargs
        from .optimization import LR_SCHEDULES
        from .tasks import TASKS

        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        for name in ("warmup_steps", "decay_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        # the discriminator's norm, by the task (PatchGAN: batch; CycleGAN instance, as the paper); a
        # WGAN-GP critic defaults to instance norm and refuses batch norm
        norm = TASKS[self.task].discriminator_norm(self)
        if norm is not None:
            self.discriminator_kwargs = patchgan_kwargs(
                self.discriminator_kwargs, gan_mode=self.gan_mode, default_norm=norm
            )

    @property
    def steps_planned(self) -> bool:
        """False while a time-budget run still has to measure its speed and plan its steps."""
        return self.steps != PLANNED_STEPS

    def plan_steps(self, steps: int, *, done: int = 0) -> None:
        """Set the total steps (from a time budget) and re-derive the step counts that follow it.

        ``done`` steps are already trained: a boundary they have passed stays where it was (a
        finished warm-up is not restarted, a learning-rate decay that has begun keeps its start and
        now ends at the new last step), so a late plan never turns the schedule back.
        """
        if steps <= 0:
            raise ValueError(f"steps must be positive, got {steps}")
        decay_start = self.steps - self.decay_steps if self.decay_steps else None
        self.steps = int(steps)
        for name in STEP_FRACTIONS:  # in derivation order: decay_steps follows warmup_steps
            if name not in self.auto_steps:
                continue
            if name == "warmup_steps" and self.warmup_steps and done >= self.warmup_steps:
                continue  # the warm-up is over
            if name == "decay_steps" and decay_start is not None and done >= decay_start:
                self.decay_steps = max(1, self.steps - decay_start)  # the decay has begun
                continue
            setattr(self, name, self._derived_step_count(name))

    def _derived_step_count(self, name: str) -> int:
        """The default of a step count: ``STEP_FRACTIONS[name]`` of the steps (``warmup_fraction``
        for the warm-up when set; for ``decay_steps``, ``decay_fraction`` when set, of the steps after
        the warm-up: SRGAN's x0.1 covers the second half of its adversarial stage)."""
        base = max(0, self.steps - self.warmup_steps) if name == "decay_steps" else self.steps
        chosen = {"warmup_steps": self.warmup_fraction, "decay_steps": self.decay_fraction}[name]
        return int(base * (STEP_FRACTIONS[name] if chosen is None else chosen))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
        if "lr_schedule" not in data:  # saved before per-task schedules and D norms: keep what the run used
            data = {
                **data,
                "lr_schedule": "linear",
                "discriminator_kwargs": {"norm": "batch", **data.get("discriminator_kwargs", {})},
            }
        if "auto_steps" not in data and data.get("task") == "pix2pix":  # saved before pix2pix's adv_weight and
            data = {**data, "adv_weight": 1.0}  # its instance-norm U-Net default
            if str(data.get("generator") or "unet").startswith("unet"):
                data["generator_kwargs"] = {"norm": "batch", **data.get("generator_kwargs", {})}
        if "color_replay" not in data and data.get("task") == "pix2pix":  # saved before the replayed colour head,
            data = {**data, "color_replay": 0}  # the vignette and the detail-only U-Net: keep the net it trained
            if (data.get("generator_kwargs") or {}).get("global_color"):
                data["generator_kwargs"] = {"global_vignette": False, "detail_sigma": 0.0, **data["generator_kwargs"]}
        if "steps_from_budget" not in data:  # saved before: a budget run planned its steps, --steps or not
            data = {**data, "steps_from_budget": data.get("minutes") is not None}
        kwargs = data.get("generator_kwargs") or {}
        if kwargs.get("global_vignette") and "vignette_scale" not in kwargs:  # saved before the scale: as predicted
            data = {**data, "generator_kwargs": {**kwargs, "vignette_scale": 1.0}}
        return cls(**data)

    def task_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the task's constructor: its keyword-only arguments named like
        fields of this config (``Task.config_kwargs``)."""
        from .tasks import TASKS

        return TASKS[self.task].config_kwargs(self)


# Fields every task's run reads (the data, the nets, the loop), whichever task's constructor names them.
SHARED_FIELDS = frozenset(
    {
        "size",
        "scale",
        "in_channels",
        "out_channels",
        "generator",
        "generator_kwargs",
        "discriminator_kwargs",
        "gan_mode",
        "lambda_gp",
    }
)


def check_task_options(task: str, given: dict[str, Any]) -> None:
    """Options that only other tasks use (``lambda_l1`` for CycleGAN, ``pool_size`` for pix2pix,
    ...) are an error naming them: the run would ignore them without a word.

    ``given`` is what the caller gave: a new run's options (``train()``), or, for every config
    (``TrainConfig``, saved ones included), the :data:`TASK_ONLY_FIELDS`, whose defaults are empty.
    """
    from .tasks import TASKS

    if task not in TASKS:
        return  # TrainConfig names the unknown task
    own = TASKS[task].config_fields()
    others = set().union(*(t.config_fields() for t in TASKS.values())) - own - SHARED_FIELDS
    foreign = sorted(k for k, v in given.items() if k in others and v not in (None, [], {}))
    if foreign:
        users = {k: sorted(n for n, t in TASKS.items() if k in t.config_fields()) for k in foreign}
        listed = "; ".join(f"{k} (--{k.replace('_', '-')}), an option of {', '.join(users[k])}" for k in foreign)
        raise ValueError(f"the {task} task does not use {listed}")
