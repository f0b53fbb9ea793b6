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
    """Mean validation scores of ``task`` over prepared batches (in ``[-1, 1]``, on device): what
    :meth:`Task.validation_summary` measures (output against target by PSNR, SSIM and sharpness;
    CycleGAN, which has no targets, the round trips; the GAN lab its samples' class scores)."""
    return task.validation_summary(batches)


def _to_rgb_uint8(images: torch.Tensor, height: int) -> np.ndarray:
    if images.shape[-2] != height:  # e.g. the low-resolution input of super-resolution
        images = F.interpolate(
            images.float(), size=(height, images.shape[-1] * height // images.shape[-2]), mode="nearest"
        )
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
    """An image of the rows :meth:`Task.sample_rows` gives (``input | output | target``; CycleGAN:
    ``A | G_AB(A) | G_BA(G_AB(A))`` and the same from B), and the output diversity ratio used to
    detect mode collapse."""
    columns_rows, outputs, references = task.sample_rows(batch.get("A"), batch["B"])
    diversity = _mean_pairwise_l1(outputs) / max(_mean_pairwise_l1(references), 1e-8)
    height = max(t.shape[-2] for cols in columns_rows for t in cols)
    blocks = []
    for cols in columns_rows:
        parts = [_to_rgb_uint8(t, height) for t in cols]
        blocks.append(np.concatenate([np.concatenate(list(row), axis=1) for row in zip(*parts)], axis=0))
    return np.concatenate(blocks, axis=0), diversity


class HealthMonitor:
    """Warns once per condition: a discriminator has won, or the outputs have collapsed.

    Thresholds adapt to the run's length (``total_steps``): a discriminator must have won for
    ``min(500, max(20, total_steps // 20))`` steps in a row, and collapse is only judged after
    ``min(1000, max(20, total_steps // 10))`` steps (a fresh generator's outputs are nearly
    constant). Each discriminator is watched on its own (CycleGAN's ``D_A`` and ``D_B``: one
    of them winning is enough). Every warning is also returned by :meth:`take_events` for the
    run's ``log.jsonl``, and the state (counters, warnings given) is saved in checkpoints.
    """

    def __init__(
        self,
        *,
        total_steps: int = 10_000,
        d_win_threshold: float = 1e-3,
        collapse_ratio: float = 0.05,
        d_win_steps: int | None = None,
        collapse_after: int | None = None,
    ) -> None:
        self._fixed = (d_win_steps, collapse_after)
        self.set_total_steps(total_steps)
        self.d_win_threshold = d_win_threshold
        self.collapse_ratio = collapse_ratio
        self._d_small: dict[str, int] = {}
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._events: list[dict[str, object]] = []

    def set_total_steps(self, total_steps: int) -> None:
        """Adapt the thresholds to the run's length (a time-budget run knows it once it has measured its speed)."""
        d_win_steps, collapse_after = self._fixed
        self.d_win_steps = d_win_steps if d_win_steps is not None else min(500, max(20, total_steps // 20))
        self.collapse_after = collapse_after if collapse_after is not None else min(1000, max(20, total_steps // 10))

    def _warn(self, condition: str, message: str, step: int) -> None:
        if condition not in self._warned:
            self._warned.add(condition)
            self.warnings.append(message)
            self._events.append({"step": step, "event": "health", "condition": condition, "message": message})
            log.warning(message)

    def take_events(self) -> list[dict[str, object]]:
        """Warnings given since the last call, as ``log.jsonl`` records."""
        events, self._events = self._events, []
        return events

    @staticmethod
    def discriminator_losses(losses: dict[str, float]) -> dict[str, float]:
        """Total loss per discriminator: ``D_real + D_fake`` -> ``{"D": ...}``; CycleGAN's
        ``D_A_real``, ``D_B_fake``, ... -> ``{"D_A": ..., "D_B": ...}`` (gradient penalties left out)."""
        totals: dict[str, float] = {}
        for key, value in losses.items():
            if key.startswith("D_") and not key.endswith("gp"):
                name = key.rsplit("_", 1)[0]
                totals[name] = totals.get(name, 0.0) + value
        return totals

    def check_losses(self, losses: dict[str, float], step: int, gan_mode: str) -> None:
        if gan_mode == "wgangp":  # a critic's loss is not a probability: "near zero" means nothing
            return
        for name, total in self.discriminator_losses(losses).items():
            self._d_small[name] = self._d_small.get(name, 0) + 1 if total < self.d_win_threshold else 0
            if self._d_small[name] >= self.d_win_steps:
                self._warn(
                    f"discriminator_won:{name}",
                    f"step {step}: the loss of discriminator {name} has stayed below {self.d_win_threshold} for "
                    f"{self._d_small[name]} steps; it has won and the generator gets no useful gradient. "
                    "Try --gan-mode lsgan or hinge, --spectral-norm, or fewer discriminator layers.",
                    step,
                )

    def check_diversity(self, ratio: float, step: int) -> None:
        if step >= self.collapse_after and ratio == ratio and ratio < self.collapse_ratio:  # not NaN
            self._warn(
                "mode_collapse",
                f"step {step}: outputs for different inputs differ {ratio:.1%} as much as the targets do; "
                "this looks like mode collapse. Try a larger reconstruction weight, --gan-mode lsgan, or a lower --lr.",
                step,
            )

    def check_coverage(self, metrics: dict[str, float], step: int) -> None:
        """A GAN lab model whose samples leave out classes (``val_coverage`` below one half: most
        samples fall in a few classes, e.g. a digit GAN that draws only ones) has collapsed."""
        coverage = metrics.get("val_coverage")
        if coverage is not None and step >= self.collapse_after and coverage < 0.5:
            self._warn(
                "mode_collapse",
                f"step {step}: the samples cover only {coverage:.0%} of the classes (the judge's histogram "
                f"entropy is {metrics.get('val_entropy', float('nan')):.2f}); this is mode collapse. Try "
                "--gan-mode wgangp or lsgan, or a lower --lr; an unconditional digit GAN often collapses "
                "where a conditional one (--condition class) does not.",
                step,
            )

    def state_dict(self) -> dict[str, object]:
        return {"d_small": dict(self._d_small), "warned": sorted(self._warned), "warnings": list(self.warnings)}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self._d_small = dict(state.get("d_small", {}))  # type: ignore[arg-type]
        self._warned = set(state.get("warned", []))  # type: ignore[arg-type]
        self.warnings = list(state.get("warnings", []))  # type: ignore[arg-type]
