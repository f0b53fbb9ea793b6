"""Recipe defaults that work: per-recipe training settings for a CPU and for a GPU.

``img2img train pix2pix --data PHOTOS --task restore`` (a recipe run) fills every option the user
did not set from ``RECIPE_PROFILES[recipe][profile]``, where the profile is ``"cpu"`` or
``"gpu"``, chosen from the training device unless given (``--profile``). The chosen profile and
the resulting values are written to ``RUN/config.json`` like every other option.

Why these values (measured with ``bench/quality.py``, see README "Quality"):

* restore and sr predict a correction to their input (a global residual: the U-Net adds its
  output to the input, SRResNet to the bicubically upscaled input, and the last conv starts at
  zero), so a model starts exactly at the trivial baseline and training can only move it away
  from there by lowering the loss;
* on a CPU, small nets on small crops with several images per step make thousands of updates in
  a quarter of an hour; full-size nets make a few dozen, which is worse than none;
* SRGAN starts with a pixel-loss warm-up (the SRResNet stage of the paper) and then a small
  adversarial weight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import TrainConfig

PROFILES = ("cpu", "gpu")

# The restore U-Net has no normalisation: batch statistics of training crops (or instance statistics
# of a crop) differ from a full photo's at inference, and with the residual start it trains without.
# Colorize and sketch nets start from nothing (no residual); without normalisation the sketch net
# collapsed to a constant output, so they keep pix2pix's instance norm. The restore U-Net first
# corrects the photo's colours as a whole (global_color: fading and casts are photo-wide 3 x 4
# colour transforms, read from the photo's histograms; measured +1.25 dB in a 5-minute run). Its
# reconstruction loss is the per-image PSNR (pixel_loss "psnr"), the benchmark's own measure: a
# photo with little damage then weighs as much as a badly damaged one, so the net learns to leave
# it alone (measured: 23.96 vs 23.83 dB in 5 minutes; the demo's photos 21.69/23.53 vs 21.56/23.17).
# The head also undoes a vignette (global_vignette: a darkening towards the corners, which no colour
# transform undoes; an oracle with radial terms is worth 1.6 dB more on the held-out photos) and is
# trained on its own loss, apart from the U-Net, from a replay of the last 8192 crops (color_replay:
# 4 updates per step). Inside the generator's updates (lambda_color) it reached 23.62 dB alone after
# 15 minutes; replayed, 24.4 dB in 5 minutes (colour only). With the better head the U-Net made the
# held-out photos worse (24.47 vs the head alone 24.76 dB in 5 minutes), mostly by changing their
# tone, so its correction is high-passed (detail_sigma 4: 24.83 vs 24.87). The U-Net has no normalisation, so pix2pix gives it Kaiming weights instead of the
# paper's N(0, 0.02), which shrank the signal 200-fold by the innermost level (24.07 vs 23.96 dB).
# channels_last makes a CPU step about 40% faster for this net (1106 vs 638 steps in 5 minutes).
# At inference the head judges a photo's colour from 4 x 4 windows the size of training crops or
# larger (color_window: the crop size), a trimmed mean of their predictions (img2img.nets.color_head;
# measured +0.21 dB on average over four damage seeds of the held-out photos, the demo's photos
# 22.86/23.33 vs 23.08/23.27 dB). RUN/best is the last model (best_metric "last"): the validation
# crops (one 128 px crop of each held-out photo) ranked a model of step 1000 first in two 5-minute
# runs of 2694 and 2820 steps, whose last models scored better on the whole photos (24.84/21.14 vs
# 24.49/20.99 dB, 25.54/21.13 vs 25.18/21.19 dB, two damage seeds): with a PSNR loss, no GAN term
# and the learning rate decayed to 0, the last step is the most trained one.
# The head's predicted vignette is undone at 3/4 of its strength at inference (vignette_scale 0.75):
# learnt from crops, it takes a whole photo's bright centre for a vignette. Gain over the damaged
# input on 10 held-out photos, five 15-minute runs on three splits, at scales 0.5 / 0.75 / 1:
# +3.46 / +4.12 / +4.16, +3.82 / +3.23 / +2.49, +4.05 / +3.73 / +3.16, +3.04 / +3.78 / +3.99,
# +3.21 / +3.37 / +3.28 dB (0.75 the best mean, +3.65, and worst case, +3.23, of 0, 0.25, 0.5,
# 0.75, 1; img2img.nets.color_head).
# The training photos are varied before the damage is made (vary_photos: a random hue turn, any
# angle, and tone curve, gamma exp(+-0.3); img2img.data.recipe_folder.vary_photo): the head then
# learns what damage does to any palette instead of taking 40 photos' colours for the undamaged
# look. In a simulation of the head alone (16000 damaged crops, two seeds each, held-out photos):
# 24.93 dB without, tone only 25.16, hue +-30 degrees and tone 25.43, +-60 25.56, any hue 25.81;
# scaling the saturation as well hurt (24.47 alone, 25.33 with hue and tone). Real 5-minute run:
# 26.18 vs 25.54 dB (same seed).
_UNET_SMALL = {"num_downs": 6, "base_channels": 32, "upsample": "resize", "norm": "instance"}
_UNET_GPU = {"num_downs": 8, "base_channels": 64, "upsample": "resize", "norm": "instance"}
_NO_NORM = {"norm": "none", "residual": True, "global_color": True, "global_vignette": True, "detail_sigma": 4.0}

# Colorize and sketch: a U-Net with instance norm that starts from nothing (no residual), a small GAN term.
_FROM_NOTHING: dict[str, dict[str, Any]] = {
    "cpu": {
        "generator": "unet_256",
        "generator_kwargs": dict(_UNET_SMALL),
        "discriminator_kwargs": {"base_channels": 32},
        "size": 128,
        "batch_size": 4,
        "lr": 5e-4,
        "adv_weight": 0.01,
    },
    "gpu": {
        "generator": "unet_256",
        "generator_kwargs": dict(_UNET_GPU),
        "size": 256,
        "batch_size": 8,
        "lr": 2e-4,
        "adv_weight": 0.01,
    },
}

RECIPE_PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "restore": {
        "cpu": {
            "generator": "unet_256",
            "generator_kwargs": {**_UNET_SMALL, **_NO_NORM, "color_window": 128, "vignette_scale": 0.75},
            "discriminator_kwargs": {"base_channels": 32},
            "size": 128,
            "batch_size": 4,
            "lr": 5e-4,
            "adv_weight": 0.0,
            "pixel_loss": "psnr",
            "color_replay": 4,
            "best_metric": "last",
            "channels_last": True,
            "vary_photos": 1.0,
        },
        "gpu": {
            "generator": "unet_256",
            "generator_kwargs": {**_UNET_GPU, **_NO_NORM, "color_window": 256, "vignette_scale": 0.75},
            "size": 256,
            "batch_size": 8,
            "lr": 2e-4,
            "adv_weight": 0.0,
            "pixel_loss": "psnr",
            "color_replay": 4,
            "best_metric": "last",
            "vary_photos": 1.0,
        },
    },
    "colorize": _FROM_NOTHING,
    "sketch": _FROM_NOTHING,
    "sr": {
        "cpu": {
            # a 3x3 last conv instead of the paper's 9x9: at x4 it runs at the output resolution, where
            # a 9x9 conv to 3 channels runs slowly on a CPU (bench/train_speed.py on 2 cores: pixel-loss
            # steps 0.118 vs 0.225 s, GAN steps 0.239 vs 0.341 s; inference 0.67-0.88 vs 1.66 s per
            # output megapixel). 15-minute quality runs: PSNR-oriented 31.66 dB (31.70 with 9x9 on a
            # faster machine), GAN sharpness 1.18 / 0.56 on the two splits (0.58 with 9x9 the same day)
            "generator_kwargs": {"base_channels": 32, "num_blocks": 6, "residual": True, "head_kernel": 3},
            "discriminator_kwargs": {"base_channels": 32},
            "size": 96,
            "batch_size": 8,
            # a CPU budget leaves the GAN stage a few thousand steps: a stronger adversarial term than
            # the paper's 1e-3 and a shorter warm-up. 15-minute runs on 2 cores, sharpness ratio on
            # the 10 held-out photos of two splits of the development photos (bench/quality.py
            # --seed 0 / --seed 2; target 0.7-1.3): half the steps warm-up with 1e-3 0.70 / -,
            # 3e-3 0.75 / -, 1e-2 1.00 / 0.45; a fixed 2000-step warm-up with 2e-2 1.33 / 0.66;
            # these values (2e-2, 30% of the planned steps) 1.07 / 0.74, in the target for both
            # (PSNR-Y +0.04 / -0.56 dB from bicubic).
            # --adv-weight 0 (PSNR-oriented) is the user's and wins.
            "adv_weight": 2e-2,
            "warmup_fraction": 0.3,
        },
        "gpu": {"generator_kwargs": {"residual": True}, "size": 96, "batch_size": 16},
    },
}


def resolve_profile(profile: str | None, device: str) -> str:
    """``profile`` if given, else ``"gpu"`` when training will run on CUDA, else ``"cpu"``."""
    if profile is not None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        return profile
    if device.startswith("cuda"):
        return "gpu"
    if device == "auto":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return "cpu"


def apply_recipe_profile(cfg: TrainConfig) -> None:
    """Fill the options the user left unset (``None``, or empty kwargs) from the recipe's profile.

    Generator and discriminator keyword arguments are merged, the user's winning; a user who
    names another ``generator`` gets none of the profile's generator arguments.
    """
    if cfg.recipe is None:
        return
    cfg.profile = resolve_profile(cfg.profile, cfg.device)
    values = RECIPE_PROFILES[cfg.recipe][cfg.profile]
    own_generator = cfg.generator is not None and cfg.generator != values.get("generator")
    own_window = "color_window" in cfg.generator_kwargs
    own_scale = "vignette_scale" in cfg.generator_kwargs
    for key, value in values.items():
        if key == "generator_kwargs":
            if not own_generator:
                cfg.generator_kwargs = {**value, **cfg.generator_kwargs}
        elif key == "discriminator_kwargs":
            cfg.discriminator_kwargs = {**value, **cfg.discriminator_kwargs}
        elif getattr(cfg, key) is None:
            setattr(cfg, key, value)
    if "color_window" in cfg.generator_kwargs and not own_window:  # the crop size the colour head learns from
        if cfg.generator_kwargs.get("global_color"):
            cfg.generator_kwargs["color_window"] = cfg.size
        else:  # no colour head (--no-global-color): nothing to window
            del cfg.generator_kwargs["color_window"]
    kwargs = cfg.generator_kwargs
    if (
        "vignette_scale" in kwargs
        and not own_scale
        and not (kwargs.get("global_color") and kwargs.get("global_vignette"))
    ):
        del kwargs["vignette_scale"]  # no vignette (--no-global-vignette): nothing to scale
