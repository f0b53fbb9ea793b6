"""The training configuration: one flat dataclass shared by the Python API and the CLI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Per-task defaults that differ from the dataclass defaults (the papers' settings).
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "pix2pix": {
        "generator": "unet_256",
        "gan_mode": "vanilla",
        "size": 256,
        "batch_size": 1,
        "lr": 2e-4,
        "beta1": 0.5,
        "lr_schedule": "linear",
        "warmup_steps": 0,
        "adv_weight": 1.0,
        "pixel_loss": "l1",
    },
    "cyclegan": {
        "generator": "resnet_9blocks",
        "gan_mode": "lsgan",
        "size": 256,
        "batch_size": 1,
        "lr": 2e-4,
        "beta1": 0.5,
        "lr_schedule": "linear",
        "warmup_steps": 0,
    },
    # SRGAN (Ledig et al. 2017): Adam(1e-4, beta1 0.9), x0.1 for the second half of the adversarial stage;
    # its warm-up (the PSNR-oriented SRResNet stage) is half the steps, see STEP_FRACTIONS
    "srgan": {
        "generator": "srresnet_x4",
        "gan_mode": "vanilla",
        "size": 96,
        "batch_size": 16,
        "lr": 1e-4,
        "beta1": 0.9,
        "lr_schedule": "step",
        "adv_weight": 1e-3,
    },
    # the GAN lab (noise -> image): the rest depends on --arch, --gan-mode and the data (see _resolve_gan)
    "gan": {
        "gan_mode": "vanilla",
        "batch_size": 64,
        "beta1": 0.5,
        "lr_schedule": "linear",
        "warmup_steps": 0,
        "decay_steps": 0,  # a constant learning rate, as the lab's papers train
        "adv_weight": 1.0,
    },
}

# The GAN lab's settings by --arch: the generator preset, the latent size and Adam's learning rates
# (the classic lab: generator 1e-3, discriminator 2e-4; DCGAN: 2e-4 for both). WGAN-GP overrides the
# optimiser with the paper's: Adam(1e-4, betas (0, 0.9)) and 5 critic steps per generator step.
GAN_ARCHS: dict[str, dict[str, Any]] = {
    "mlp": {"generator": "mlp_generator", "latent_dim": 2, "lr": 1e-3, "d_lr": 2e-4},
    "dcgan": {"generator": "dcgan_generator", "latent_dim": 100, "lr": 2e-4, "d_lr": 2e-4},
}
GAN_WGANGP = {"lr": 1e-4, "d_lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5}
GAN_BUILTIN_SIZES = {"digits": 28, "faces": 32}  # the faces (25 px) are resized to a DCGAN size

# ``steps`` while a run with a time budget (``minutes``) has not yet measured its speed.
PLANNED_STEPS = 10**9

# Step counts that default to a fraction of ``steps`` (re-derived when a time budget plans the steps).
# Derived in this order: ``warmup_steps`` is a fraction of the steps (srgan only: the other tasks'
# TASK_DEFAULTS say 0), ``decay_steps`` a fraction of the steps after the warm-up.
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
    """Everything a training run needs. Unset task-dependent fields take ``TASK_DEFAULTS``.

    Data: ``data`` is a folder (see README "Folder formats"); ``size`` is the training crop
    (the HR crop for SRGAN), ``load_size`` the size the shorter side is resized to before the
    random crop (default ``size * 286 / 256``). Schedule: Adam(``lr``, ``beta1``, ``beta2``),
    constant for ``steps - decay_steps`` steps, then (``lr_schedule``) linear to 0 (pix2pix,
    CycleGAN: 2e-4, beta1 0.5) or x0.1 (SRGAN: 1e-4, beta1 0.9); ``decay_steps`` defaults to half
    of the steps after the warm-up (``warmup_steps``: SRGAN's pixel-loss stage, half the steps).
    """

    task: str = "pix2pix"
    data: str = ""
    out: str = ""
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
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_gp: float = 10.0
    pool_size: int = 50
    adv_weight: float | None = None  # weight of the generator's GAN term: pix2pix 1, srgan 1e-3; 0 = no GAN
    warmup_steps: int | None = None  # srgan: steps // 2 (0 = no warm-up); other tasks: 0
    feature_matching_weight: float = 1.0  # srgan "l1+fm" content loss: weight of the discriminator feature matching
    vgg_weights: str | None = None  # srgan; else $IMG2IMG_VGG19_WEIGHTS (never the torch cache)
    content_loss: str | None = None  # srgan: "vgg" (with VGG19 weights) or "l1+fm"; resolved and recorded
    # optimisation
    lr: float | None = None
    d_lr: float | None = None  # the discriminators' learning rate (default: lr; the GAN lab's mlp: 2e-4)
    beta1: float | None = None
    beta2: float | None = None  # Adam beta2 (default: 0.999; gan with wgangp 0.9)
    decay_steps: int | None = None
    lr_schedule: str | None = None  # "linear" (pix2pix, cyclegan) or "step" (srgan), see optimization.lr_factor
    grad_clip: float | None = None
    max_bad_steps: int = 20
    precision: str = "fp32"
    channels_last: bool = False
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
    recolor: bool | None = None  # recipe folders: shuffle the photo's channels before the damage (restore profile: on)
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
    progress: bool = True
    # the GAN lab (task "gan")
    arch: str | None = None  # "mlp" (the classic lab) or "dcgan" -> the generator preset (GAN_ARCHS)
    latent_dim: int | None = None  # noise size (default: mlp 2, dcgan 100)
    condition: str | None = None  # None, "class" (conditional GAN) or "acgan"
    class_names: list[str] = field(default_factory=list)  # the data's classes (found in the data, recorded)
    n_critic: int | None = None  # discriminator steps per generator step (default 1; wgangp 5)

    def __post_init__(self) -> None:
        task_defaults = TASK_DEFAULTS.get(self.task)
        if task_defaults is None:  # a task registered outside the package (img2img.tasks.register_task)
            from .tasks import TASKS

            if self.task not in TASKS:
                raise ValueError(
                    f"unknown task {self.task!r}; available: {', '.join(sorted({*TASK_DEFAULTS, *TASKS}))}"
                )
            task_defaults = {
                "warmup_steps": 0,
                "lr_schedule": "linear",
                "gan_mode": "vanilla",
                **TASKS[self.task].defaults,
            }
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if self.task == "gan":
            self._resolve_gan()
        elif self.arch is not None or self.condition is not None or self.latent_dim is not None:
            raise ValueError("arch, condition and latent_dim are options of the gan task (img2img train gan)")
        if self.steps is None:  # with a time budget the loop plans the steps from the measured speed
            self.steps = PLANNED_STEPS if self.minutes is not None else 10_000
        from .presets import apply_recipe_profile

        apply_recipe_profile(self)
        for key, value in task_defaults.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.task == "pix2pix" and self.generator.startswith("unet") and "norm" not in self.generator_kwargs:
            # The paper trains with batch norm on batches of 1 and normalises test images by their own
            # statistics; instance norm is exactly that, in training and at inference (and in ONNX).
            # Batch norm with running statistics at inference measured 0.7 dB worse (README "Networks").
            self.generator_kwargs = {**self.generator_kwargs, "norm": "instance"}
        for name in STEP_FRACTIONS:  # unset step counts derive from steps (see plan_steps)
            if getattr(self, name) is None:
                self.auto_steps = sorted({*self.auto_steps, name})
                setattr(self, name, self._derived_step_count(name))
        if self.num_workers is None:  # in-memory sets need no worker processes (they would only take cores)
            self.num_workers = 0 if self.task == "gan" and self.data in GAN_BUILTIN_SIZES else 2
        if self.hflip is None:
            self.hflip = not (self.task == "gan" and self.data == "digits")  # a flipped digit is no digit
        if self.beta2 is None:
            self.beta2 = 0.999
        if self.direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {self.direction!r}")
        if self.recipe is not None:
            if self.recipe not in ("sketch", "colorize", "restore", "sr"):
                raise ValueError(f"unknown --task recipe {self.recipe!r}; available: sketch, colorize, restore, sr")
            if (self.recipe == "sr") != (self.task == "srgan"):
                raise ValueError("the sr recipe goes with srgan, and srgan takes only the sr recipe")
            if self.recipe == "colorize":
                self.color_space = "lab"
            if self.recipe == "sr":
                self.recipe_options = {**self.recipe_options, "scale": self.scale}
        if self.color_space not in ("rgb", "lab"):
            raise ValueError(f"color_space must be 'rgb' or 'lab', got {self.color_space!r}")
        if self.color_space == "lab" and self.task != "pix2pix":
            raise ValueError("color_space 'lab' (colorization) is a pix2pix option")
        if self.task == "srgan" and (
            self.crop_scale or self.affine_degrees or self.affine_translate or self.affine_scale
        ):
            raise ValueError("super-resolution pairs differ in size: use flips only (no crop_scale or affine)")
        if self.on_bad not in ("error", "skip"):
            raise ValueError(f"on_bad must be 'error' or 'skip', got {self.on_bad!r}")
        self._resolve_losses()
        if self.best_metric is None:  # a GAN super-resolution run is chosen for texture like the target's
            gan_sr = self.task == "srgan" and (self.adv_weight or 0) > 0
            self.best_metric = "cycle_psnr" if self.task == "cyclegan" else "sharpness" if gan_sr else "psnr"
            if self.task == "gan":  # scored by the classifier when the data has classes
                self.best_metric = "inception" if len(self.class_names) >= 2 else "last"
        if self.best_metric not in BEST_METRICS:
            raise ValueError(f"best_metric must be one of {', '.join(BEST_METRICS)}, got {self.best_metric!r}")
        for name in ("steps", "batch_size", "size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def _resolve_gan(self) -> None:
        """The GAN lab's settings from --arch, --gan-mode and the data (recorded in config.json)."""
        from .data.labeled import BUILTIN_SETS, class_names

        if self.recipe is not None:
            raise ValueError("the gan task trains on images as they are: no --task recipe")
        if self.arch is None:
            self.arch = "mlp" if self.generator == "mlp_generator" else "dcgan"
        if self.arch not in GAN_ARCHS:
            raise ValueError(f"arch must be one of {', '.join(GAN_ARCHS)}, got {self.arch!r}")
        if self.condition is not None and self.condition not in ("class", "acgan"):
            raise ValueError(f"condition must be 'class' or 'acgan', got {self.condition!r}")
        chosen = {**GAN_ARCHS[self.arch], **(GAN_WGANGP if self.gan_mode == "wgangp" else {})}
        if self.generator is not None and self.generator != chosen["generator"]:
            raise ValueError(f"--arch {self.arch} trains the {chosen['generator']} generator, not {self.generator!r}")
        for key, value in chosen.items():
            if getattr(self, key, None) is None:
                setattr(self, key, value)
        if self.n_critic is None:
            self.n_critic = 1
        if self.data in BUILTIN_SETS:
            self.out_channels = 1
            if self.size is None:
                self.size = GAN_BUILTIN_SIZES[self.data]
        if self.size is None:
            self.size = 64
        if self.data and not self.class_names:
            self.class_names = class_names(self.data)
        if self.condition and len(self.class_names) < 2:
            raise ValueError(
                f"--condition {self.condition} needs labelled images: the digits set, or a folder with one "
                f"sub-folder per class ({self.data} has {len(self.class_names)} classes)"
            )

    def _resolve_losses(self) -> None:
        """Resolve the schedule, discriminator norm and SRGAN content loss, so that RUN/config.json
        records what the run uses (the task checks the combinations again when it is built)."""
        import os

        from .losses import VGG19_WEIGHTS_ENV
        from .nets.patchgan import patchgan_kwargs
        from .optimization import LR_SCHEDULES

        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        for name in ("warmup_steps", "decay_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        # the PatchGAN's norm: instance for CycleGAN (the paper), batch for pix2pix and SRGAN; a WGAN-GP
        # critic defaults to instance norm and refuses batch norm
        if not (self.task == "gan" and self.arch == "mlp"):  # the lab's MLP discriminator has no norm
            self.discriminator_kwargs = patchgan_kwargs(
                self.discriminator_kwargs,
                gan_mode=self.gan_mode,
                default_norm="instance" if self.task == "cyclegan" else "batch",
            )
        if self.task != "srgan":
            if self.content_loss is not None:
                raise ValueError(f"content_loss is an srgan option, not a {self.task} one")
            return
        # VGG only when asked for: --vgg-weights, else $IMG2IMG_VGG19_WEIGHTS (recorded as vgg_weights)
        if self.content_loss != "l1+fm" and not self.vgg_weights:
            self.vgg_weights = os.environ.get(VGG19_WEIGHTS_ENV) or None
        if self.content_loss is None:
            self.content_loss = "vgg" if self.vgg_weights else "l1+fm"

    @property
    def steps_planned(self) -> bool:
        """False while a time-budget run still has to measure its speed and plan its steps."""
        return self.steps != PLANNED_STEPS

    def plan_steps(self, steps: int) -> None:
        """Set the total steps (from a time budget) and re-derive the step counts that follow it."""
        if steps <= 0:
            raise ValueError(f"steps must be positive, got {steps}")
        self.steps = int(steps)
        for name in STEP_FRACTIONS:  # in derivation order: decay_steps follows warmup_steps
            if name in self.auto_steps:
                setattr(self, name, self._derived_step_count(name))

    def _derived_step_count(self, name: str) -> int:
        """The default of a step count: ``STEP_FRACTIONS[name]`` of the steps (for ``decay_steps``,
        of the steps after the warm-up: SRGAN's x0.1 covers the second half of its adversarial stage)."""
        base = max(0, self.steps - self.warmup_steps) if name == "decay_steps" else self.steps
        return int(base * STEP_FRACTIONS[name])

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
        return cls(**data)

    def task_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the task's constructor: its keyword-only arguments named like
        fields of this config (``Task.config_kwargs``)."""
        from .tasks import TASKS

        return TASKS[self.task].config_kwargs(self)
