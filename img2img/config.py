"""The training configuration: one flat dataclass shared by the Python API and the CLI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Per-task defaults that differ from the dataclass defaults (the papers' settings).
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "pix2pix": {"generator": "unet_256", "gan_mode": "vanilla", "size": 256, "batch_size": 1},
    "cyclegan": {"generator": "resnet_9blocks", "gan_mode": "lsgan", "size": 256, "batch_size": 1},
    "srgan": {"generator": "srresnet_x4", "gan_mode": "vanilla", "size": 96, "batch_size": 16},
}

# Options that may change when a run is resumed; every other option comes from the saved run.
RESUMABLE_OVERRIDES = frozenset(
    {"steps", "num_workers", "device", "log_every", "sample_every", "checkpoint_every", "val_every", "on_bad", "progress"}
)


@dataclass
class TrainConfig:
    """Everything a training run needs. Unset task-dependent fields take ``TASK_DEFAULTS``.

    Data: ``data`` is a folder (see README "Folder formats"); ``size`` is the training crop
    (the HR crop for SRGAN), ``load_size`` the size the shorter side is resized to before the
    random crop (default ``size * 286 / 256``). Schedule: Adam(``lr``, ``beta1``, ``beta2``),
    constant for ``steps - decay_steps`` steps then linear to 0 (``decay_steps`` defaults to half).
    """

    task: str = "pix2pix"
    data: str = ""
    out: str = ""
    steps: int = 10_000
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
    # nets
    generator: str | None = None
    generator_kwargs: dict[str, Any] = field(default_factory=dict)
    discriminator_kwargs: dict[str, Any] = field(default_factory=dict)
    # losses
    gan_mode: str | None = None
    lambda_l1: float = 100.0
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_gp: float = 10.0
    pool_size: int = 50
    adv_weight: float = 1e-3
    warmup_steps: int = 0
    feature_matching_weight: float = 1.0
    vgg_weights: str | None = None
    # optimisation
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_steps: int | None = None
    grad_clip: float | None = None
    max_bad_steps: int = 20
    precision: str = "fp32"
    channels_last: bool = False
    seed: int = 0
    device: str = "auto"
    # data loading and augmentation
    num_workers: int = 2
    hflip: bool = True
    vflip: bool = False
    crop_scale: float | None = None
    affine_degrees: float = 0.0
    affine_translate: float = 0.0
    affine_scale: float = 0.0
    jitter: float = 0.0
    on_bad: str = "error"
    # logging
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    val_every: int = 1000
    val_max_images: int = 50
    progress: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASK_DEFAULTS:
            raise ValueError(f"unknown task {self.task!r}; available: {', '.join(TASK_DEFAULTS)}")
        for key, value in TASK_DEFAULTS[self.task].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.decay_steps is None:
            self.decay_steps = self.steps // 2
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
        if self.task == "srgan" and (self.crop_scale or self.affine_degrees or self.affine_translate or self.affine_scale):
            raise ValueError("super-resolution pairs differ in size: use flips only (no crop_scale or affine)")
        if self.on_bad not in ("error", "skip"):
            raise ValueError(f"on_bad must be 'error' or 'skip', got {self.on_bad!r}")
        for name in ("steps", "batch_size", "size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
        return cls(**data)

    def task_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the task's constructor."""
        common = dict(
            generator=self.generator, generator_kwargs=dict(self.generator_kwargs),
            discriminator_kwargs=dict(self.discriminator_kwargs), gan_mode=self.gan_mode,
            lambda_gp=self.lambda_gp, in_channels=self.in_channels, out_channels=self.out_channels,
        )
        if self.task == "pix2pix":
            return {**common, "lambda_l1": self.lambda_l1, "color_space": self.color_space}
        if self.task == "cyclegan":
            return {**common, "lambda_cycle": self.lambda_cycle, "lambda_identity": self.lambda_identity, "pool_size": self.pool_size}
        return {**common, "scale": self.scale, "adv_weight": self.adv_weight, "warmup_steps": self.warmup_steps,
                "feature_matching_weight": self.feature_matching_weight, "vgg_weights": self.vgg_weights}
