"""Watching a GAN train: validation metrics, sample grids and warnings for the known failures.

GAN losses do not say when a model is good, so the loop measures PSNR/SSIM on held-out images
and keeps the best model; it also warns when the discriminator has won (its loss stays near
zero, so the generator gets no signal) and when outputs for different inputs become nearly
identical (mode collapse). Non-finite losses are handled by :mod:`img2img.optimization`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from .data.augment import to_uint8
from .metrics import psnr, sharpness_ratio, ssim
from .tasks import Task

log = logging.getLogger(__name__)


def selection_score(metrics: dict[str, float], best_metric: str) -> float | None:
    """How good a validation result is for choosing ``RUN/best`` (higher is better; None: not scored).

    ``psnr``, ``ssim`` and ``cycle_psnr`` are the metrics themselves; ``sharpness`` prefers the
    sharpness ratio closest to 1 (``-|log ratio|``: an output with the target's amount of texture,
    neither blurrier nor noisier), which suits GAN models that PSNR would rank below blurry ones;
    ``last`` scores every validation by its step, so the latest model is kept.
    """
    if best_metric == "last":
        return float(metrics.get("step", 0))
    if best_metric == "sharpness":
        ratio = metrics.get("val_sharpness")
        return None if ratio is None or not ratio > 0 or math.isinf(ratio) else -abs(math.log(ratio))
    return metrics.get(f"val_{best_metric}")


@torch.no_grad()
def evaluate(task: Task, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
    """Mean PSNR/SSIM of ``task`` over prepared validation batches (in ``[-1, 1]``, on device).

    Paired tasks compare the output with the target; CycleGAN, which has no targets, scores
    the reconstruction after a round trip (A -> B -> A and B -> A -> B).
    """
    sums: dict[str, float] = {}
    count = 0
    for batch in batches:
        a, b = batch["A"], batch["B"]
        if task.name == "cyclegan":
            g = task.generators()
            scores = {
                "val_cycle_psnr": 0.5 * (psnr(g["BtoA"](g["AtoB"](a)).float(), a, reduction="none")
                                         + psnr(g["AtoB"](g["BtoA"](b)).float(), b, reduction="none")),
            }
        else:
            out = task.translate(a).float()
            scores = {"val_psnr": psnr(out, b, reduction="none"), "val_ssim": ssim(out, b, reduction="none"),
                      "val_sharpness": _sharpness_ratios(out, b)}
        for key, values in scores.items():
            sums[key] = sums.get(key, 0.0) + float(values.sum())
        count += a.shape[0]
    return {key: value / max(count, 1) for key, value in sums.items()}


def _sharpness_ratios(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image :func:`~img2img.metrics.sharpness_ratio` of outputs and targets in ``[-1, 1]``."""
    outs, targets = (to_uint8(t[:, :3]).permute(0, 2, 3, 1).cpu().numpy() for t in (out, target))
    return torch.tensor([min(sharpness_ratio(o, t), 1e6) for o, t in zip(outs, targets)], dtype=torch.float64)


def _to_rgb_uint8(images: torch.Tensor, height: int) -> np.ndarray:
    if images.shape[-2] != height:  # e.g. the low-resolution input of super-resolution
        images = F.interpolate(images.float(), size=(height, images.shape[-1] * height // images.shape[-2]), mode="nearest")
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return to_uint8(images[:, :3]).permute(0, 2, 3, 1).cpu().numpy()  # (n, h, w, 3)


def _mean_pairwise_l1(images: torch.Tensor) -> float:
    flat = images.float().flatten(1)
    if flat.shape[0] < 2:
        return float("nan")
    return float(torch.cdist(flat, flat, p=1).sum() / (flat.shape[0] * (flat.shape[0] - 1) * flat.shape[1]))


@torch.no_grad()
def sample_grid(task: Task, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, float]:
    """An image of rows ``input | output | target`` (CycleGAN: ``A | G_AB(A) | G_BA(G_AB(A))``
    and the same from B), and the output diversity ratio used to detect mode collapse."""
    a, b = batch["A"], batch["B"]
    if task.name == "cyclegan":
        g = task.generators()
        fake_b, fake_a = g["AtoB"](a), g["BtoA"](b)
        columns_rows = [[a, fake_b, g["BtoA"](fake_b)], [b, fake_a, g["AtoB"](fake_a)]]
        diversity = _mean_pairwise_l1(fake_b) / max(_mean_pairwise_l1(b), 1e-8)
    else:
        out = task.translate(a)
        columns_rows = [[a, out, b]]
        diversity = _mean_pairwise_l1(out) / max(_mean_pairwise_l1(b), 1e-8)
    height = max(t.shape[-2] for cols in columns_rows for t in cols)
    blocks = []
    for cols in columns_rows:
        parts = [_to_rgb_uint8(t, height) for t in cols]
        blocks.append(np.concatenate([np.concatenate(list(row), axis=1) for row in zip(*parts)], axis=0))
    return np.concatenate(blocks, axis=0), diversity


class HealthMonitor:
    """Warns once per condition: the discriminator has won, or the outputs have collapsed."""

    def __init__(self, *, d_win_steps: int = 500, d_win_threshold: float = 1e-3, collapse_ratio: float = 0.05,
                 collapse_after: int = 1000) -> None:
        self.d_win_steps = d_win_steps
        self.collapse_after = collapse_after  # a fresh generator's outputs are nearly constant: not collapse
        self.d_win_threshold = d_win_threshold
        self.collapse_ratio = collapse_ratio
        self._d_small = 0
        self.warnings: list[str] = []
        self._warned: set[str] = set()

    def _warn(self, condition: str, message: str) -> None:
        if condition not in self._warned:
            self._warned.add(condition)
            self.warnings.append(message)
            log.warning(message)

    def check_losses(self, losses: dict[str, float], step: int, gan_mode: str) -> None:
        if gan_mode == "wgangp":
            return
        d_total = sum(v for k, v in losses.items() if k.startswith("D_") and not k.endswith("gp"))
        has_d = any(k.startswith("D_") for k in losses)
        self._d_small = self._d_small + 1 if has_d and d_total < self.d_win_threshold else 0
        if self._d_small >= self.d_win_steps:
            self._warn(
                "discriminator_won",
                f"step {step}: the discriminator loss has stayed below {self.d_win_threshold} for {self._d_small} steps; "
                "it has won and the generator gets no useful gradient. Try --gan-mode lsgan or hinge, "
                "--spectral-norm, or fewer discriminator layers."
            )

    def check_diversity(self, ratio: float, step: int) -> None:
        if step >= self.collapse_after and ratio == ratio and ratio < self.collapse_ratio:  # not NaN
            self._warn(
                "mode_collapse",
                f"step {step}: outputs for different inputs differ {ratio:.1%} as much as the targets do; "
                "this looks like mode collapse. Try a larger reconstruction weight, --gan-mode lsgan, or a lower --lr."
            )
