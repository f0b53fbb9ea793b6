"""The PSNR of two uint8 images in numpy: the one PSNR of everything that is not torch.

img2img's torch metrics (``img2img.metrics.psnr``/``ssim``) wrap kornia's; this function is what
the runtime (int8 quantization's quality check), the benchmarks, the tests and
``img2img.metrics.psnr_uint8`` (a re-export) use on arrays. numpy only.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["psnr_uint8"]


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (data range 255), computed in float64.

    Args:
        a: image, ``H x W x C`` (or ``H x W``, or any shape) ``uint8``.
        b: reference image, same shape and dtype.

    Returns:
        ``10 * log10(255^2 / MSE)`` over all values; ``inf`` for identical images.

    Raises:
        ValueError: the shapes differ or an array is not uint8.

    Example:
        >>> a = np.zeros((4, 4, 3), np.uint8)
        >>> round(psnr_uint8(a, a + 5), 4)  # 10 * log10(255^2 / 25)
        34.1514
    """
    if a.shape != b.shape:
        raise ValueError(f"psnr_uint8: shapes differ, {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"psnr_uint8: expected uint8 arrays, got {a.dtype} and {b.dtype}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)
