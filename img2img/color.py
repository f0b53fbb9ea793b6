"""Lab colour on the training device (kornia), for colorization models.

A colorization generator sees lightness and predicts colour: input ``L / 50 - 1`` (1 channel in
``[-1, 1]``), output ``ab / AB_SCALE`` (2 channels). The image is the input's own L joined with
the predicted ab, so luminance is kept exactly. The torch-free runtime does the same with
:mod:`img2img_runtime.color` (same formulas; the two agree to about 1e-4).
"""

from __future__ import annotations

import torch
from kornia.color import lab_to_rgb, rgb_to_lab

AB_SCALE = 110.0  # |a|, |b| of sRGB colours stay below ~110


def split_lab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB ``N x 3 x H x W`` in ``[-1, 1]`` -> (lightness in ``[-1, 1]``, ab / AB_SCALE)."""
    lab = rgb_to_lab((rgb.float() + 1.0) / 2.0)  # (n, 3, h, w): L in [0, 100], ab in ~[-110, 110]
    return lab[:, :1] / 50.0 - 1.0, lab[:, 1:] / AB_SCALE


def join_lab(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(lightness in ``[-1, 1]``, ab / AB_SCALE) -> RGB in ``[-1, 1]`` (out-of-gamut clipped)."""
    lab = torch.cat([(lightness.float() + 1.0) * 50.0, ab.float() * AB_SCALE], dim=1)
    return lab_to_rgb(lab, clip=True) * 2.0 - 1.0
