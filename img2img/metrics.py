"""Image-quality metrics: PSNR and SSIM on batched tensors (any device), PSNR on uint8 arrays.

Images in img2img live in ``[-1, 1]``, so the tensor metrics default to ``data_range=2.0``;
pass ``data_range=1.0`` for ``[0, 1]`` images or ``255.0`` for uint8 values cast to float.
The metrics are plain differentiable tensor code; wrap evaluation in ``torch.no_grad()``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["psnr", "ssim", "psnr_uint8"]

_REDUCTIONS = ("mean", "none")


def _check_pair(x: Tensor, y: Tensor, reduction: str, name: str) -> tuple[Tensor, Tensor]:
    if x.shape != y.shape:
        raise ValueError(
            f"{name}: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.dim() == 3:  # one C x H x W image
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"{name}: expected N x C x H x W (or C x H x W) tensors, got shape {tuple(x.shape)}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return x.float(), y.float()


def psnr(x: Tensor, y: Tensor, *, data_range: float = 2.0, reduction: str = "mean") -> Tensor:
    """Peak signal-to-noise ratio in dB, per image: ``10 * log10(data_range^2 / MSE)``.

    The MSE is taken over each image's channels and pixels; ``reduction="mean"`` then averages
    the per-image PSNRs (not the MSEs). Identical images have MSE 0 and PSNR ``inf`` (no epsilon
    is added, so finite values are exact); one identical pair makes the mean ``inf`` too.

    Args:
        x: images, e.g. the generator output.
        y: reference images, same shape.
        data_range: max minus min of the value range (2.0 for ``[-1, 1]``).
        reduction: ``"mean"`` (scalar) or ``"none"`` (one value per image).

    Returns:
        float32 tensor, shape :math:`()` or :math:`(N,)`.

    Shape:
        - x, y: :math:`(N, C, H, W)` or :math:`(C, H, W)`.

    Example:
        >>> x = torch.zeros(1, 3, 8, 8)
        >>> psnr(x, x + 0.1)  # 10 * log10(4 / 0.01)
        tensor(26.0206)
    """
    x, y = _check_pair(x, y, reduction, "psnr")
    mse = (x - y).pow(2).flatten(1).mean(dim=1)  # (n,)
    values = 10.0 * torch.log10(data_range**2 / mse)
    return values.mean() if reduction == "mean" else values


def _gaussian_window(window_size: int, sigma: float, device: torch.device) -> Tensor:
    coords = torch.arange(window_size, dtype=torch.float32, device=device) - (window_size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2.0 * sigma**2))
    return g / g.sum()


def ssim(
    x: Tensor,
    y: Tensor,
    *,
    data_range: float = 2.0,
    window_size: int = 11,
    sigma: float = 1.5,
    reduction: str = "mean",
) -> Tensor:
    """Structural similarity (Wang et al. 2004) with a Gaussian window, K1=0.01, K2=0.03.

    Local means, variances and covariance are Gaussian-weighted (window ``window_size``, std
    ``sigma``, weights summing to 1; the variances are the weighted population ones). The window
    uses VALID positions only (no padding), so the SSIM map is ``(H - w + 1) x (W - w + 1)``
    and border effects do not enter; ``H`` and ``W`` must be at least ``window_size``. The map
    is averaged over positions and channels, giving one value per image.

    Args:
        x: images.
        y: reference images, same shape.
        data_range: max minus min of the value range (2.0 for ``[-1, 1]``).
        window_size: side of the Gaussian window (odd).
        sigma: standard deviation of the Gaussian window.
        reduction: ``"mean"`` (scalar) or ``"none"`` (one value per image).

    Returns:
        float32 tensor, shape :math:`()` or :math:`(N,)`; 1.0 for identical images.

    Shape:
        - x, y: :math:`(N, C, H, W)` or :math:`(C, H, W)` with ``H, W >= window_size``.

    Example:
        >>> x = torch.rand(2, 3, 32, 32) * 2 - 1
        >>> ssim(x, x)
        tensor(1.)
    """
    x, y = _check_pair(x, y, reduction, "ssim")
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"ssim: window_size must be a positive odd integer, got {window_size}")
    h, w = x.shape[-2:]
    if h < window_size or w < window_size:
        raise ValueError(f"ssim: images ({h}x{w}) must be at least window_size={window_size} on each side")
    c = x.shape[1]
    g = _gaussian_window(window_size, sigma, x.device)
    kernel_h = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)  # separable: along W ...
    kernel_v = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)  # ... then along H

    def blur(t: Tensor) -> Tensor:  # (n, c, h, w) -> (n, c, h-w+1, w-w+1), depthwise
        return F.conv2d(F.conv2d(t, kernel_h, groups=c), kernel_v, groups=c)

    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    # (co)variances are shift-invariant: take them on per-channel centred images, which keeps
    # the float32 cancellation in E[x^2] - E[x]^2 small
    xc = x - x.mean(dim=(-2, -1), keepdim=True)
    yc = y - y.mean(dim=(-2, -1), keepdim=True)
    mu_xc, mu_yc = blur(xc), blur(yc)
    var_x = blur(xc * xc) - mu_xc * mu_xc
    var_y = blur(yc * yc) - mu_yc * mu_yc
    cov_xy = blur(xc * yc) - mu_xc * mu_yc
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2.0 * cov_xy + c2) / (var_x + var_y + c2)
    values = (luminance * contrast_structure).flatten(1).mean(dim=1)  # (n,)
    return values.mean() if reduction == "mean" else values


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (data range 255), computed in float64.

    Args:
        a: image, ``H x W x C`` (or ``H x W``) ``uint8``.
        b: reference image, same shape and dtype.

    Returns:
        ``10 * log10(255^2 / MSE)``; ``inf`` for identical images.

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
