"""Image-quality metrics: PSNR and SSIM on batched tensors (any device), PSNR on uint8 arrays.

Images in img2img live in ``[-1, 1]``, so the tensor metrics default to ``data_range=2.0``;
pass ``data_range=1.0`` for ``[0, 1]`` images or ``255.0`` for uint8 values cast to float.
The metrics are differentiable tensor code; wrap evaluation in ``torch.no_grad()``.

One implementation per framework: :func:`psnr` and :func:`ssim` are thin wrappers over kornia's
(``kornia.metrics.psnr`` / ``kornia.metrics.ssim``) that fix img2img's conventions (per-image
values, ``data_range``, ``reduction``, checks); :func:`psnr_uint8` is the runtime's numpy PSNR
(:func:`img2img_runtime.metrics.psnr_uint8`), re-exported. kornia is imported on first use.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from img2img_runtime.metrics import psnr_uint8

__all__ = [
    "psnr",
    "ssim",
    "psnr_uint8",
    "rgb_to_y",
    "psnr_y",
    "ssim_y",
    "colorfulness",
    "laplacian_variance",
    "sharpness_ratio",
]

_REDUCTIONS = ("mean", "none")
_SSIM_SIGMA = 1.5  # kornia's SSIM window: a Gaussian of this standard deviation, whatever its size


def _check_pair(x: Tensor, y: Tensor, reduction: str, name: str) -> tuple[Tensor, Tensor]:
    if x.shape != y.shape:
        raise ValueError(f"{name}: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
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
    Each image's value is ``kornia.metrics.psnr`` of that image (kornia pools one MSE over
    whatever it is given, so a batch goes in one image at a time).

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
    from kornia.metrics import psnr as kornia_psnr

    x, y = _check_pair(x, y, reduction, "psnr")
    values = torch.stack([kornia_psnr(a, b, float(data_range)) for a, b in zip(x, y)])  # (n,)
    return values.mean() if reduction == "mean" else values


def ssim(
    x: Tensor,
    y: Tensor,
    *,
    data_range: float = 2.0,
    window_size: int = 11,
    sigma: float = _SSIM_SIGMA,
    reduction: str = "mean",
) -> Tensor:
    """Structural similarity (Wang et al. 2004) with a Gaussian window, K1=0.01, K2=0.03.

    ``kornia.metrics.ssim`` with ``padding="valid"`` and no epsilon, averaged per image. Local
    means, variances and covariance are Gaussian-weighted (window ``window_size``, std
    ``sigma``, weights summing to 1; the variances are the weighted population ones). The window
    uses VALID positions only (no padding), so the SSIM map is ``(H - w + 1) x (W - w + 1)``
    and border effects do not enter; ``H`` and ``W`` must be at least ``window_size``. The map
    is averaged over positions and channels, giving one value per image. (kornia's default,
    ``padding="same"``, reflects the borders into the map instead: on noisy 64 px images that
    moves SSIM by up to 0.003; the valid map is the original paper's and MATLAB's.) kornia takes
    the variances as ``E[x^2] - E[x]^2`` in float32: values agree with the exact formula to about
    1e-6 (flat images, whose variances vanish beside C2: 2e-5 relative).

    Args:
        x: images.
        y: reference images, same shape.
        data_range: max minus min of the value range (2.0 for ``[-1, 1]``).
        window_size: side of the Gaussian window (odd).
        sigma: standard deviation of the Gaussian window; kornia's window has 1.5 (the paper's),
            the only value accepted.
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
    from kornia.metrics import ssim as kornia_ssim

    x, y = _check_pair(x, y, reduction, "ssim")
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"ssim: window_size must be a positive odd integer, got {window_size}")
    if sigma != _SSIM_SIGMA:
        raise ValueError(f"ssim: sigma must be {_SSIM_SIGMA} (kornia's SSIM window), got {sigma}")
    h, w = x.shape[-2:]
    if h < window_size or w < window_size:
        raise ValueError(f"ssim: images ({h}x{w}) must be at least window_size={window_size} on each side")
    ssim_map = kornia_ssim(x, y, window_size, max_val=float(data_range), eps=0.0, padding="valid")
    values = ssim_map.flatten(1).mean(dim=1)  # (n,)
    return values.mean() if reduction == "mean" else values


# ------------------------------------------------------------------ evaluation metrics on uint8 images
# (img2img eval): luma PSNR/SSIM as in published super-resolution tables, colourfulness, sharpness.

# ITU-R BT.601 luma for [0, 1] RGB, giving Y in 16..235 (the coefficients sum to 219).
_Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(image: np.ndarray | Tensor, *, data_range: float = 255.0) -> np.ndarray | Tensor:
    """ITU-R BT.601 luma as published SR tables use it: ``Y = 16 + 65.481 R + 128.553 G + 24.966 B``
    for R, G, B in ``[0, 1]``, so black is 16 and white 235.

    Args:
        image: RGB values in ``[0, data_range]``: a numpy array ``... x 3`` (channels last, e.g. a
            uint8 ``H x W x 3`` photo) or a tensor ``... x 3 x H x W`` (channels first).
        data_range: the value of full intensity (255 for uint8 values, 1.0 for ``[0, 1]``).

    Returns:
        Y, not rounded: float64 ``...`` (numpy, channel axis removed) or a float tensor
        ``... x H x W``, in ``[16, 235]``.

    Example:
        >>> rgb_to_y(np.array([[[255, 255, 255], [0, 0, 0]]], np.uint8))
        array([[235.,  16.]])
    """
    wr, wg, wb = (w / data_range for w in _Y_WEIGHTS)
    if isinstance(image, Tensor):
        if image.dim() < 3 or image.shape[-3] != 3:
            raise ValueError(f"rgb_to_y: expected a ... x 3 x H x W tensor, got shape {tuple(image.shape)}")
        x = image if image.is_floating_point() else image.float()
        return 16.0 + wr * x[..., 0, :, :] + wg * x[..., 1, :, :] + wb * x[..., 2, :, :]
    x = np.asarray(image)
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ValueError(f"rgb_to_y: expected a ... x 3 array (channels last), got shape {x.shape}")
    x = x.astype(np.float64, copy=False)
    return 16.0 + wr * x[..., 0] + wg * x[..., 1] + wb * x[..., 2]


def _rgb_uint8(image: np.ndarray, name: str) -> np.ndarray:
    """uint8 ``H x W x 3`` (gray ``H x W`` or ``H x W x 1`` replicated); anything else is an error."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 images, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"{name}: expected H x W x 3 (or gray H x W x 1) images, got shape {image.shape}")
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def _y_pair(x: np.ndarray, y: np.ndarray, border: int, name: str) -> tuple[Tensor, Tensor]:
    x, y = _rgb_uint8(x, name), _rgb_uint8(y, name)
    if x.shape != y.shape:
        raise ValueError(f"{name}: shapes differ, {x.shape} and {y.shape}")
    if border:
        x, y = x[border:-border, border:-border], y[border:-border, border:-border]
    return (
        torch.from_numpy(np.ascontiguousarray(rgb_to_y(x)))[None, None],
        torch.from_numpy(np.ascontiguousarray(rgb_to_y(y)))[None, None],
    )


def psnr_y(x: np.ndarray, y: np.ndarray, *, border: int = 0) -> float:
    """PSNR in dB on the BT.601 luma (:func:`rgb_to_y`, not rounded) of two uint8 RGB images,
    peak 255, as super-resolution papers report it.

    Args:
        x: image, uint8 ``H x W x 3`` (gray ``H x W x 1`` is replicated to RGB first).
        y: reference image, same shape.
        border: pixels cropped off every side first (SR tables crop ``scale`` pixels).

    Returns:
        ``10 * log10(255^2 / MSE_Y)`` from :func:`psnr`; ``inf`` for identical lumas.
    """
    a, b = _y_pair(x, y, border, "psnr_y")
    return float(psnr(a, b, data_range=255.0))


def ssim_y(x: np.ndarray, y: np.ndarray, *, border: int = 0) -> float:
    """SSIM (:func:`ssim`: Gaussian window 11, sigma 1.5, data range 255) on the BT.601 luma of two
    uint8 RGB images, after cropping ``border`` pixels off every side. 1.0 for identical images."""
    a, b = _y_pair(x, y, border, "ssim_y")
    return float(ssim(a, b, data_range=255.0))


def colorfulness(image: np.ndarray) -> float:
    """Colourfulness of Hasler & Suesstrunk (2003), in 0-255 units.

    With ``rg = R - G`` and ``yb = (R + G) / 2 - B`` over the pixels:
    ``sqrt(std_rg^2 + std_yb^2) + 0.3 * sqrt(mean_rg^2 + mean_yb^2)`` (population standard
    deviations). 0 for any gray image; roughly 15 for muted photos, 45 for ordinary ones, 100+ for
    very vivid ones. A colorization model that plays safe with sepia or gray scores low.

    Args:
        image: uint8 RGB ``H x W x 3`` (a gray ``H x W x 1`` image gives 0).
    """
    rgb = _rgb_uint8(image, "colorfulness").astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = math.sqrt(float(rg.std()) ** 2 + float(yb.std()) ** 2)
    mean = math.sqrt(float(rg.mean()) ** 2 + float(yb.mean()) ** 2)
    return spread + 0.3 * mean


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the Laplacian of the luma: a measure of fine texture and sharpness.

    The luma is :func:`rgb_to_y` (float64); the Laplacian is OpenCV's 3x3 kernel
    ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` (``cv2.Laplacian(..., cv2.CV_64F, ksize=1)``, reflected
    borders). Blurred images score low, noisy or detailed ones high.

    Args:
        image: uint8 RGB ``H x W x 3`` (gray ``H x W x 1`` is replicated to RGB first).
    """
    import cv2

    luma = rgb_to_y(_rgb_uint8(image, "laplacian_variance"))
    return float(cv2.Laplacian(luma, cv2.CV_64F, ksize=1).var())


def sharpness_ratio(output: np.ndarray, target: np.ndarray) -> float:
    """``laplacian_variance(output) / laplacian_variance(target)``.

    1.0: the output has the target's amount of fine texture; well below 1: blurrier (bicubic
    x4 upscaling of photos gives a few hundredths); above 1: noisier or over-sharpened. Two flat images give 1.0, a
    textured output of a flat target ``inf``.
    """
    num, den = laplacian_variance(output), laplacian_variance(target)
    if den == 0.0:
        return 1.0 if num == 0.0 else math.inf
    return num / den
