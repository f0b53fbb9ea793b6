"""Tests for img2img.metrics: PSNR and SSIM against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from img2img.metrics import psnr, psnr_uint8, ssim

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
C1, C2 = (0.01 * 2.0) ** 2, (0.03 * 2.0) ** 2  # data_range 2


# ------------------------------------------------------------------------------------------ PSNR


@pytest.mark.parametrize("device", DEVICES)
def test_psnr_constant_offset(device):
    torch.manual_seed(0)
    x = (torch.rand(2, 3, 16, 16) * 1.8 - 0.9).to(device)
    out = psnr(x, x + 0.1)  # MSE = 0.01, data range 2
    assert out.shape == () and out.device.type == device
    assert out.item() == pytest.approx(10 * math.log10(4 / 0.01), rel=1e-5)
    assert psnr(x, x + 0.1, data_range=1.0).item() == pytest.approx(10 * math.log10(1 / 0.01), rel=1e-5)


def test_psnr_per_image_and_mean_of_psnrs():
    x = torch.zeros(2, 1, 4, 4)
    y = torch.stack([torch.full((1, 4, 4), 0.1), torch.full((1, 4, 4), 0.2)])  # MSE 0.01 and 0.04
    per_image = psnr(x, y, reduction="none")
    expected = [10 * math.log10(4 / 0.01), 10 * math.log10(4 / 0.04)]
    assert per_image.shape == (2,)
    assert per_image.tolist() == pytest.approx(expected, rel=1e-5)
    assert psnr(x, y).item() == pytest.approx(sum(expected) / 2, rel=1e-5)
    assert psnr(x[0], y[0]).item() == pytest.approx(expected[0], rel=1e-5)  # C x H x W


def test_psnr_identical_is_inf():
    x = torch.rand(1, 3, 8, 8)
    assert math.isinf(psnr(x, x).item())


def test_psnr_errors():
    with pytest.raises(ValueError):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 4))
    with pytest.raises(ValueError):
        psnr(torch.zeros(8, 8), torch.zeros(8, 8))
    with pytest.raises(ValueError):
        psnr(torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8), reduction="sum")


def test_psnr_uint8():
    a = np.zeros((4, 5, 3), np.uint8)
    assert psnr_uint8(a, a + 5) == pytest.approx(10 * math.log10(255**2 / 25))  # 34.1514
    b = a.copy()
    b[0, 0, 0] = 255  # MSE = 255^2 / 60 -> PSNR = 10 log10(60)
    assert psnr_uint8(a, b) == pytest.approx(10 * math.log10(60))
    assert psnr_uint8(b, a) == psnr_uint8(a, b)  # no uint8 wrap-around
    assert math.isinf(psnr_uint8(a, a))
    with pytest.raises(ValueError):
        psnr_uint8(a, a[:2])
    with pytest.raises(ValueError):
        psnr_uint8(a, a.astype(np.float32))


# ------------------------------------------------------------------------------------------ SSIM


@pytest.mark.parametrize("device", DEVICES)
def test_ssim_identical_is_one(device):
    torch.manual_seed(0)
    x = (torch.rand(2, 3, 24, 24) * 2 - 1).to(device)
    out = ssim(x, x)
    assert out.device.type == device
    assert out.item() == pytest.approx(1.0, abs=1e-6)


def test_ssim_constant_images_formula():
    """Constant channels a_c, b_c: variances vanish, SSIM = mean_c (2ab + C1) / (a^2 + b^2 + C1)."""
    a, b = [0.5, -0.2, 0.0], [0.3, 0.4, -0.6]
    x = torch.tensor(a).view(1, 3, 1, 1).expand(1, 3, 16, 16)
    y = torch.tensor(b).view(1, 3, 1, 1).expand(1, 3, 16, 16)
    expected = sum((2 * p * q + C1) / (p * p + q * q + C1) for p, q in zip(a, b)) / 3
    # float32 variances E[x^2] - E[x]^2 of a flat image are ~1e-7, not 0, beside C2 = 0.0036
    assert ssim(x, y).item() == pytest.approx(expected, rel=1e-4)


def test_ssim_offset_keeps_structure():
    """y = x + c: covariance equals both variances, so only the luminance term is below 1."""
    torch.manual_seed(0)
    x = torch.rand(1, 1, 11, 11) * 0.5
    c = 0.3
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mu = float((w * x[0, 0].double().numpy()).sum())
    expected = (2 * mu * (mu + c) + C1) / (mu**2 + (mu + c) ** 2 + C1)
    assert ssim(x, x + c).item() == pytest.approx(expected, rel=1e-4)


def test_ssim_single_window_by_hand():
    """An 11x11 image has exactly one valid window: recompute SSIM with explicit weighted sums."""
    rng = np.random.default_rng(0)
    xa = rng.uniform(-1, 1, (11, 11))
    ya = np.clip(xa + rng.normal(0, 0.3, (11, 11)), -1, 1)
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx, my = (w * xa).sum(), (w * ya).sum()
    vx, vy = (w * (xa - mx) ** 2).sum(), (w * (ya - my) ** 2).sum()
    cxy = (w * (xa - mx) * (ya - my)).sum()
    expected = (2 * mx * my + C1) * (2 * cxy + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
    x = torch.from_numpy(xa).float().view(1, 1, 11, 11)
    y = torch.from_numpy(ya).float().view(1, 1, 11, 11)
    assert ssim(x, y).item() == pytest.approx(expected, rel=1e-4)


def test_ssim_decreases_with_noise():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    noise = torch.randn_like(x)
    values = [ssim(x, (x + s * noise).clamp(-1, 1)).item() for s in (0.0, 0.05, 0.2, 0.5)]
    assert values[0] == pytest.approx(1.0, abs=1e-6)
    assert all(a > b for a, b in zip(values, values[1:]))


def test_ssim_reduction_and_errors():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 16, 16)
    y = x.clone()
    y[1] = 0.0
    per_image = ssim(x, y, data_range=1.0, reduction="none")
    assert per_image.shape == (3,)
    assert per_image[0].item() == pytest.approx(1.0, abs=1e-6) and per_image[1].item() < 0.5
    assert ssim(x, y, data_range=1.0).item() == pytest.approx(per_image.mean().item())
    with pytest.raises(ValueError, match="window_size"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="odd"):
        ssim(x, y, window_size=4)
    with pytest.raises(ValueError):
        ssim(x, y, reduction="sum")


# ----------------------------------------------------------------- one implementation per framework


def test_wraps_kornia_with_valid_padding():
    """psnr/ssim are kornia's, made per-image; ssim is the VALID map (kornia's default pads)."""
    import kornia

    torch.manual_seed(0)
    x = torch.rand(2, 3, 40, 40)
    y = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    valid = kornia.metrics.ssim(x, y, 11, max_val=1.0, eps=0.0, padding="valid").flatten(1).mean(1)
    torch.testing.assert_close(ssim(x, y, data_range=1.0, reduction="none"), valid)
    same = kornia.metrics.ssim(x, y, 11, max_val=1.0, eps=0.0, padding="same").flatten(1).mean(1)
    assert not torch.allclose(same, valid, atol=1e-4)  # reflected borders enter kornia's default
    ref_psnr = torch.stack([kornia.metrics.psnr(x[i], y[i], 1.0) for i in range(2)])
    torch.testing.assert_close(psnr(x, y, data_range=1.0, reduction="none"), ref_psnr)
    with pytest.raises(ValueError, match="sigma"):
        ssim(x, y, sigma=2.0)  # kornia's window has sigma 1.5


def test_psnr_uint8_is_the_runtime_one():
    import img2img_runtime.metrics

    assert psnr_uint8 is img2img_runtime.metrics.psnr_uint8
