"""Line drawings from photos: the input side of the sketch -> photo task.

:func:`sketch` turns a ``uint8`` RGB (or gray) photo into ``uint8 H x W x 1`` "pencil on paper":
white paper (255) with dark lines. It is deterministic (no randomness), so a sketch is a pure
function of the photo and the arguments.

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

``thickness`` > 1 widens the dark lines (a grayscale erosion of the white paper, i.e. a dilation
of the lines, with a ``thickness x thickness`` elliptical kernel).

Example:
    >>> lines = sketch(photo)                                   # (h, w, 1) uint8
    >>> bold = sketch(photo, method="canny", thickness=3)
    >>> rgb = sketch_to_rgb(lines)                              # (h, w, 3) for viewers
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["SKETCH_METHODS", "sketch", "sketch_to_rgb"]

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
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(thickness), int(thickness)))
        out = cv2.erode(out, kernel, borderType=cv2.BORDER_REPLICATE)  # grows the dark lines
    return np.ascontiguousarray(out[:, :, None])


def sketch_to_rgb(lines: np.ndarray) -> np.ndarray:
    """Replicates a ``H x W x 1`` (or ``H x W``) sketch to ``H x W x 3`` for viewers and RGB nets."""
    if lines.ndim == 3 and lines.shape[2] == 1:
        lines = lines[:, :, 0]
    if lines.ndim != 2:
        raise ValueError(f"expected an H x W or H x W x 1 sketch, got shape {lines.shape}")
    return np.repeat(lines[:, :, None], 3, axis=2)
