"""Colour hints drawn from the target: training, validation and ``img2img eval --hints``.

A hint model learns from random hints revealed from its target, as in Zhang et al. 2017
("Real-Time User-Guided Image Colorization with Learned Deep Priors"): each hint is a square
patch (:func:`img2img_runtime.hints.patch_box`) filled with the target's mean colour over it.

=============  ==============================================================================
count          geometric: ``P(n) = p (1 - p)^n`` for n = 0, 1, 2, ... with ``p = 1/8`` (mean 7;
               1 in 8 items has no hint, so the automatic mode keeps working), at most 64
place          uniform over the crop
size           1 to 9 pixels square, uniform (a person's click covers a few pixels; a stroke
               is many of them)
=============  ==============================================================================

Validation scores a hint model with :data:`VAL_HINTS` hints per image drawn from a fixed seed,
so the scores of two validations compare. ``img2img eval --hints 0,1,5,20`` draws its points
with :func:`sample_points` from a seed per image and count, and scores the non-learned baseline
:func:`spread_hints` (joint-bilateral spreading of the same points) beside the model.

How people's points and strokes become input channels is the runtime's part
(:mod:`img2img_runtime.hints`), shared by every way of running a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from img2img_runtime.color import lab_to_rgb, rgb_to_lab
from img2img_runtime.hints import patch_box

HINT_COUNT_P = 1.0 / 8.0  # the geometric distribution of the number of hints per training item
MAX_HINTS = 64
HINT_SIZES = (1, 9)  # patch sides, inclusive
VAL_HINTS = 10  # hints per validation image
VAL_SEED = 20170503


def draw_count(rng: np.random.Generator) -> int:
    """A training item's number of hints (0 with probability :data:`HINT_COUNT_P`)."""
    return min(int(rng.geometric(HINT_COUNT_P)) - 1, MAX_HINTS)


def draw_places(
    rng: np.random.Generator, height: int, width: int, count: int | None = None
) -> list[tuple[int, int, int]]:
    """``count`` (default :func:`draw_count`) hint places ``(x, y, size)`` in a ``height`` x ``width`` image."""
    n = draw_count(rng) if count is None else int(count)
    if n < 0:
        raise ValueError(f"the number of hints must be >= 0, got {n}")
    xs = rng.integers(0, width, n)
    ys = rng.integers(0, height, n)
    sizes = rng.integers(HINT_SIZES[0], HINT_SIZES[1] + 1, n)
    return [(int(x), int(y), int(s)) for x, y, s in zip(xs, ys, sizes)]


def random_hint_planes(target: torch.Tensor, rng: np.random.Generator, count: int | None = None) -> torch.Tensor:
    """Hint channels for a batch, revealed from its target: ``N x (C + 1) x H x W``.

    Args:
        target: ``N x C x H x W``, already in the model's hint encoding (``ab / ab_scale`` for Lab
            models, RGB in ``[-1, 1]`` otherwise): each hint is the target's mean over its patch.
        rng: draws the count, places and sizes (seed it for reproducible hints).
        count: hints per image (default: :func:`draw_count` per image).
    """
    n, c, h, w = target.shape
    planes = torch.zeros(n, c + 1, h, w, dtype=target.dtype, device=target.device)
    for i in range(n):
        for x, y, size in draw_places(rng, h, w, count):
            top, bottom, left, right = patch_box(x, y, size, h, w)
            patch = target[i, :, top:bottom, left:right]
            planes[i, :c, top:bottom, left:right] = patch.mean(dim=(1, 2), keepdim=True)
            planes[i, c, top:bottom, left:right] = 1.0
    return planes


def sample_points(
    target: np.ndarray, count: int, rng: np.random.Generator
) -> list[tuple[int, int, tuple[int, int, int], int]]:
    """``count`` hint points ``(x, y, (r, g, b), size)`` revealed from a uint8 RGB target (the
    mean colour of each patch, rounded): what ``img2img eval --hints`` gives the model."""
    h, w = target.shape[:2]
    points = []
    for x, y, size in draw_places(rng, h, w, count):
        top, bottom, left, right = patch_box(x, y, size, h, w)
        mean = target[top:bottom, left:right, :3].reshape(-1, 3).mean(axis=0)
        points.append((x, y, tuple(int(v) for v in np.rint(mean)), size))
    return points


# spread_hints: Gaussian weights in position (sigma a fraction of the image's diagonal) and in
# the guide's lightness (levels of L, 0-100), and the weight of "no hint" (the guide's own colour).
SPREAD_SIGMA_XY = 0.15
SPREAD_SIGMA_L = 10.0
SPREAD_PRIOR = 0.05


def spread_hints(guide: np.ndarray, points: Sequence[Any], *, space: str) -> np.ndarray:
    """The non-learned baseline: each pixel takes a blend of the hints' colours, weighted by a
    Gaussian of its distance to each hint and of its lightness difference from the hint's place
    (a joint-bilateral, edge-aware spreading of the points).

    Args:
        guide: uint8 ``H x W x C``: the gray photo (colorize) or the line drawing (sketch).
        points: ``(x, y, (r, g, b)[, size])`` as :func:`sample_points` gives.
        space: ``"ab"``: the guide's own lightness keeps, and the hints' a, b spread (pixels far
            from every hint stay gray); ``"rgb"``: the hints' RGB colours spread over a mid-gray
            canvas (the line drawing carries no colour), the lines drawn over them.

    Returns:
        uint8 ``H x W x 3``.
    """
    g = guide[:, :, :3] if guide.shape[2] >= 3 else np.repeat(guide, 3, axis=2)
    lightness = rgb_to_lab(g.astype(np.float32) / 255.0)[:, :, 0]
    h, w = lightness.shape
    prior = SPREAD_PRIOR
    if space == "ab":
        base = np.zeros((h, w, 2), np.float32)  # gray: a = b = 0
    else:
        base = np.full((h, w, 3), 128.0, np.float32)
    if not points:
        return g.copy() if space == "ab" else np.minimum(base, g).astype(np.uint8)
    colours = np.array([p[2] for p in points], np.float64)
    if space == "ab":
        values = rgb_to_lab((colours / 255.0).reshape(-1, 1, 3)).reshape(-1, 3)[:, 1:]
    else:
        values = colours.astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sigma = SPREAD_SIGMA_XY * float(np.hypot(h, w))
    total = np.full((h, w), prior, np.float32)
    acc = base * prior
    for (x, y, *_), value in zip(points, values):
        weight = np.exp(
            -((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)
            - (lightness - lightness[int(y), int(x)]) ** 2 / (2 * SPREAD_SIGMA_L**2)
        )
        acc += weight[:, :, None] * value[None, None, :]
        total += weight
    spread = acc / total[:, :, None]
    if space == "ab":
        lab = np.concatenate([lightness[:, :, None], spread], axis=2)
        return np.rint(lab_to_rgb(lab) * 255.0).astype(np.uint8)
    return np.minimum(np.rint(spread), g.astype(np.float32)).astype(np.uint8)  # the lines over the colours
