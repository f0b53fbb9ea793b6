"""Line drawings from photos: the input side of the sketch -> photo task.

:func:`sketch` turns a ``uint8`` RGB (or gray) photo into ``uint8 H x W x 1`` "pencil on paper":
white paper (255) with dark lines. It is deterministic (no randomness), so a sketch is a pure
function of the photo and the arguments; :func:`sketch_random` draws the arguments (and the ink
and paper levels) from a generator.

Methods:
    ``"xdog"``: eXtended Difference of Gaussians (Winnemoeller et al., "XDoG: An eXtended
        difference-of-Gaussians compendium including advanced image stylization", 2012) on the
        perceptual lightness ``L`` (CIE L*, 0-100; on a 0-1 scale the classic defaults below
        would draw almost nothing): ``D = G_sigma(L) - gamma * G_{k sigma}(L)``, then the soft
        threshold ``T = 1`` where ``D >= epsilon`` and ``1 + tanh(phi * (D - epsilon))`` elsewhere.
        Flat areas give ``D = (1 - gamma) L >= epsilon`` (white); the dark side of an edge gives
        ``D < epsilon`` (a dark line whose sharpness grows with ``phi``). ``threshold`` in (0, 1)
        binarises ``T`` (0 below, 255 at or above).
    ``"canny"``: ``cv2.Canny`` on the luminance blurred by ``sigma``, with hysteresis thresholds
        ``0.66 m`` and ``1.33 m`` around its median ``m`` (at least 10 and 20), inverted so that
        edges are dark (0) on white.

``thickness`` > 1 widens the dark lines, centred on where they were: an odd width is a grayscale
erosion of the white paper (a dilation of the lines) with a ``thickness x thickness`` elliptical
kernel; an even width is the mean of the two neighbouring odd widths (full ink in the middle, a
half-tone rim on both sides), as an even kernel would move every line by half a pixel.

Lines sit where the photo has edges: Canny lines on the edge itself (centred within ~0.05 px on
average over a photo), XDoG lines on the dark side of each edge (1-2 px in), by design of XDoG.

Training in many styles: people draw with thin pens and thick markers, clean or sketchy, and a
model trained on one style fails on the others. :func:`sketch_random` draws each training item
in a style chosen by the item's ``rng`` (:func:`random_sketch_style`; the ``sketch`` recipe with
no options uses it)::

    method     XDoG or Canny, 1/2 each
    XDoG       sigma 0.5..1.2, phi 10..300 (log-uniform), epsilon -0.5..-0.1; soft lines, or
               with probability 1/2 binarised at threshold 0.3..0.7
    Canny      sigma 0.6..1.6 (1 px lines)
    width      thin (1 px) with probability 1/2, else thick: 2, 3 or 4 px (XDoG: 2 or 3, as its
               texture dots would merge into blots)
    ink        the darkest line level 0..60 (pencil to marker) ...
    paper      ... on paper of level 235..255 (never gray enough to pass for ink)

Example:
    >>> lines = sketch(photo)                                   # (h, w, 1) uint8
    >>> bold = sketch(photo, method="canny", thickness=3)
    >>> varied = sketch_random(photo, np.random.default_rng([seed, epoch, index]))
    >>> rgb = sketch_to_rgb(lines)                              # (h, w, 3) for viewers
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

__all__ = ["SKETCH_METHODS", "random_sketch_style", "sketch", "sketch_random", "sketch_to_rgb"]

SKETCH_METHODS = ("xdog", "canny")


def _rgb(image: np.ndarray) -> np.ndarray:
    """A uint8 ``H x W``, ``H x W x 1`` or ``H x W x 3`` image as contiguous RGB ``H x W x 3``."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"sketch expects a uint8 image, got {got}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim == 3 and image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    raise ValueError(f"sketch expects an H x W, H x W x 1 or H x W x 3 image, got shape {image.shape}")


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def sketch(
    image: np.ndarray,
    *,
    method: str = "xdog",
    sigma: float = 0.8,
    k: float = 1.6,
    gamma: float = 0.98,
    phi: float = 200.0,
    epsilon: float = -0.1,
    threshold: float | None = None,
    thickness: int = 1,
) -> np.ndarray:
    """A line drawing of ``image``: dark lines on white paper.

    Args:
        image: ``uint8`` RGB ``H x W x 3`` (or gray ``H x W`` / ``H x W x 1``).
        method: ``"xdog"`` or ``"canny"``.
        sigma: scale of the inner Gaussian (xdog), or of the pre-blur (canny), in pixels; > 0.
        k: ratio of the outer to the inner Gaussian (xdog); > 1.
        gamma: weight of the outer Gaussian (xdog), in (0, 1]; flat areas have ``D = (1 - gamma) L``,
            so with a positive ``epsilon`` the areas darker than ``epsilon / (1 - gamma)`` fill in.
        phi: steepness of the soft threshold (xdog); > 0.
        epsilon: threshold level of the difference of Gaussians (xdog); lower means fewer lines.
        threshold: ``None`` for soft lines, or a level in (0, 1) that binarises them (xdog).
        thickness: line width in pixels (integer >= 1); > 1 dilates the lines.

    Returns:
        ``uint8 H x W x 1``: 255 is paper, 0 is ink.

    Shape:
        ``H x W x 3`` -> ``H x W x 1``.
    """
    if method not in SKETCH_METHODS:
        raise ValueError(f"unknown sketch method {method!r}; available: {', '.join(SKETCH_METHODS)}")
    _check_positive("sigma", sigma)
    _check_positive("k", k)
    _check_positive("phi", phi)
    if k <= 1:
        raise ValueError(f"k (outer/inner Gaussian ratio) must be > 1, got {k}")
    if not (isinstance(gamma, (int, float)) and 0 < gamma <= 1):
        raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon)):
        raise ValueError(f"epsilon must be a finite number, got {epsilon!r}")
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0 < threshold < 1):
        raise ValueError(f"threshold must be None or in (0, 1), got {threshold!r}")
    if isinstance(thickness, bool) or not isinstance(thickness, (int, np.integer)) or thickness < 1:
        raise ValueError(f"thickness must be an integer >= 1, got {thickness!r}")
    rgb = _rgb(image)

    if method == "xdog":
        lum = cv2.cvtColor(rgb.astype(np.float32) * (1 / 255), cv2.COLOR_RGB2Lab)[:, :, 0]  # L* in [0, 100]
        inner = cv2.GaussianBlur(lum, (0, 0), sigma)
        outer = cv2.GaussianBlur(lum, (0, 0), sigma * k)
        dog = inner - gamma * outer
        soft = np.where(dog >= epsilon, 1.0, 1.0 + np.tanh(phi * (dog - epsilon)))
        if threshold is not None:
            out = np.where(soft >= threshold, 255, 0).astype(np.uint8)
        else:
            out = np.clip(soft * 255 + 0.5, 0, 255).astype(np.uint8)
    else:
        blurred = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (0, 0), sigma)  # BT.601 luma
        median = float(np.median(blurred))
        low = max(10.0, 0.66 * median)
        high = max(20.0, min(255.0, 1.33 * median), low)
        out = 255 - cv2.Canny(blurred, low, high, L2gradient=True)

    if thickness > 1:
        out = _widen(out, int(thickness))
    return np.ascontiguousarray(out[:, :, None])


def _widen(lines: np.ndarray, width: int) -> np.ndarray:
    """Dark lines on white (uint8 H x W) widened to ``width`` px, centred (see the module doc)."""

    def erode(size: int) -> np.ndarray:  # grows the dark lines; odd sizes keep them centred
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        return cv2.erode(lines, kernel, borderType=cv2.BORDER_REPLICATE) if size > 1 else lines

    if width % 2:
        return erode(width)
    return ((erode(width - 1).astype(np.uint16) + erode(width + 1) + 1) // 2).astype(np.uint8)


def random_sketch_style(rng: np.random.Generator) -> dict[str, Any]:
    """A style drawn from ``rng`` (see the module doc): :func:`sketch` keyword arguments, plus
    ``ink`` (the darkest line level) and ``paper`` (the paper level), both 0-255."""
    style: dict[str, Any]
    if rng.random() < 0.5:
        style = {
            "method": "xdog",
            "sigma": float(rng.uniform(0.5, 1.2)),
            "phi": float(np.exp(rng.uniform(np.log(10), np.log(300)))),
            "epsilon": float(rng.uniform(-0.5, -0.1)),
        }
        if rng.random() < 0.5:
            style["threshold"] = float(rng.uniform(0.3, 0.7))
    else:
        style = {"method": "canny", "sigma": float(rng.uniform(0.6, 1.6))}
    thickest = 3 if style["method"] == "xdog" else 4
    style["thickness"] = 1 if rng.random() < 0.5 else int(rng.integers(2, thickest + 1))
    style["ink"], style["paper"] = float(rng.uniform(0, 60)), float(rng.uniform(235, 255))
    return style


def sketch_random(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A line drawing of ``image`` in a random style drawn from ``rng`` (:func:`random_sketch_style`).

    The same generator state gives the same drawing; different items get different methods,
    scales, line widths, ink and paper levels. The ``sketch`` recipe without options uses it.

    Returns:
        ``uint8 H x W x 1``: paper 235-255, the darkest lines 0-60.
    """
    style = random_sketch_style(rng)
    ink, paper = style.pop("ink"), style.pop("paper")
    lines = sketch(image, **style).astype(np.float32) * (1 / 255)  # 1 paper, 0 ink
    return np.clip(ink + (paper - ink) * lines + 0.5, 0, 255).astype(np.uint8)


def sketch_to_rgb(lines: np.ndarray) -> np.ndarray:
    """Replicates a ``H x W x 1`` (or ``H x W``) sketch to ``H x W x 3`` for viewers and RGB nets."""
    if lines.ndim == 3 and lines.shape[2] == 1:
        lines = lines[:, :, 0]
    if lines.ndim != 2:
        raise ValueError(f"expected an H x W or H x W x 1 sketch, got shape {lines.shape}")
    return np.repeat(lines[:, :, None], 3, axis=2)
