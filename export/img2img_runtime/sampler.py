"""Generating images from noise (the GAN lab's models): the noise, the labels and the pictures.

One implementation for the torch models (``img2img sample``) and the exported ones
(``Model(path).sample(n)``): a model's metadata ``latent`` entry gives ``dim`` (noise size, drawn
from a standard normal), ``num_classes`` and ``class_names`` (conditional models take an int64
``label`` per image). Outputs are ``[-1, 1]`` float ``N x C x H x W``, returned as uint8
``N x H x W x C`` arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np


def latent_spec(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``latent`` entry of a model's config or metadata (None: an image-to-image model)."""
    latent = config.get("latent")
    return dict(latent) if isinstance(latent, Mapping) else None


def noise(n: int, dim: int, seed: int | None = None) -> np.ndarray:
    """``n`` standard-normal noise vectors, float32 ``(n, dim)``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)


def labels(latent: Mapping[str, Any], n: int, label: int | str | Sequence[int] | None, seed: int | None = None):
    """int64 ``(n,)`` class indices for a conditional model, or None for an unconditional one.

    ``label``: an index, a class name, a sequence of ``n`` indices, or None (random classes; for a
    grid, :func:`class_rows` gives one row per class). A string is a class name when the model has
    a class of that name (class folders named ``1/``, ``2/``, ...), else an index; an int is an index.

    Raises:
        ValueError: a label for an unconditional model, or one outside its classes.
    """
    num_classes = int(latent.get("num_classes") or 0)
    if not num_classes:
        if label is not None:
            raise ValueError("this model is unconditional: it takes no label")
        return None
    names = [str(c) for c in latent.get("class_names") or []]
    if label is None:
        return np.random.default_rng(None if seed is None else seed + 1).integers(0, num_classes, n).astype(np.int64)
    if isinstance(label, str):  # a class name first (class folders may be named 0/ 1/ ...), else an index
        if label in names:
            label = names.index(label)
        elif not label.lstrip("-").isdigit():
            raise ValueError(f"unknown class {label!r}; the model's classes: {', '.join(names)}")
    if isinstance(label, (str, int, np.integer)):
        out = np.full(n, int(label), np.int64)
    else:
        out = np.asarray(label, np.int64).reshape(-1)
        if len(out) != n:
            raise ValueError(f"expected {n} labels, got {len(out)}")
    bad = out[(out < 0) | (out >= num_classes)]
    if len(bad):
        raise ValueError(f"label {int(bad[0])} is not a class of this model (0..{num_classes - 1}: {', '.join(names)})")
    return out


def to_images(output: np.ndarray) -> np.ndarray:
    """Generator output float ``N x C x H x W`` in ``[-1, 1]`` -> uint8 ``N x H x W x C``."""
    out = np.clip((np.asarray(output, np.float32) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1))


def grid(images: np.ndarray, columns: int, *, gap: int = 2, scale: int = 1) -> np.ndarray:
    """uint8 ``N x H x W x C`` -> one ``rows x columns`` picture (RGB), ``gap`` white pixels between
    cells, each cell enlarged ``scale`` times (nearest neighbour: small digits stay crisp)."""
    images = np.asarray(images)
    if images.ndim != 4 or not len(images):
        raise ValueError(f"expected N x H x W x C images, got shape {images.shape}")
    if images.shape[3] == 1:
        images = np.repeat(images, 3, axis=3)
    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, _ = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    canvas = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image
    return canvas


def walk_noise(dim: int, steps: int, seed: int | None = None) -> np.ndarray:
    """``steps x steps`` noise vectors on a plane of the latent space, row by row, float32.

    A 2-D latent is covered evenly in probability: the grid of the normal quantiles of
    ``0.05 .. 0.95`` in each coordinate (the whole learned manifold in one picture, as in Kingma &
    Welling's figures). A larger latent walks the plane through the origin spanned by two random
    orthonormal directions, over the same quantiles, times ``sqrt(dim)`` (a typical noise's norm).
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    quantiles = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, steps)], np.float32)
    ys, xs = np.meshgrid(quantiles[::-1], quantiles, indexing="ij")  # rows: the second coordinate, top = high
    if dim == 2:
        return np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    basis, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, 2)))
    radius = np.sqrt(dim) / max(abs(quantiles).max(), 1e-6)
    plane = np.stack([xs.ravel(), ys.ravel()], 1) * radius / np.sqrt(2)
    return (plane @ basis.T).astype(np.float32)


__all__ = ["grid", "labels", "latent_spec", "noise", "to_images", "walk_noise"]
