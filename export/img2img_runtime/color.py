"""CIE Lab (D65, 2 degree observer) <-> sRGB in numpy, the same formulas as kornia.color.

Training converts colours with kornia on the device; inference and the torch-free runtime use
these functions; they agree to about 1e-4 (tested), so a colorization model sees the same
numbers in both. L is in [0, 100]; a and b roughly in [-110, 110] for sRGB colours.
"""

from __future__ import annotations

import numpy as np

_RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]], dtype=np.float64
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_EPS = 0.008856


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB float in [0, 1], ``H x W x 3`` -> Lab float32 ``H x W x 3``."""
    rgb = np.asarray(rgb, dtype=np.float64)
    linear = np.where(rgb > 0.04045, ((np.clip(rgb, 0, None) + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _EPS, np.cbrt(np.maximum(xyz, _EPS)), 7.787 * xyz + 4.0 / 29.0)
    lab = np.stack(
        [116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1
    )
    return lab.astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab ``H x W x 3`` -> sRGB float32 in [0, 1] (out-of-gamut colours clipped)."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([lab[..., 1] / 500.0 + fy, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > 6.0 / 29.0, f**3, (f - 4.0 / 29.0) / 7.787) * _WHITE
    linear = np.clip(xyz @ _XYZ_TO_RGB.T, 0, None)
    rgb = np.where(linear > 0.0031308, 1.055 * linear ** (1 / 2.4) - 0.055, 12.92 * linear)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)
