"""Device augmentation: pairs keep their pairing, jitter never touches the target."""

from __future__ import annotations

import pytest
import torch

from img2img.data.augment import DeviceAugment, to_model_range, to_uint8

ALL_GEOMETRY = dict(hflip=True, vflip=True, crop_scale=0.6, degrees=15, translate=0.1, scale=0.2)


def batch(n: int = 8, size: int = 32, channels: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, channels, size, size, generator=g) * 2 - 1


def test_identical_pairs_stay_identical():
    torch.manual_seed(0)
    x = batch()
    a, b = DeviceAugment(**ALL_GEOMETRY)(x, x.clone())
    assert torch.equal(a, b)
    assert not torch.allclose(a, x)  # something happened


def test_geometry_of_a_and_b_matches_on_a_pattern():
    """B is the negative of A: after augmentation it must still be A's negative, pixel for pixel."""
    torch.manual_seed(1)
    a = batch()
    gray = a[:, :1]  # A may have another channel count than B (colorization)
    out_a, out_b = DeviceAugment(**ALL_GEOMETRY)(gray, -a)
    assert torch.allclose(-out_b[:, :1], out_a, atol=1e-5)


def test_unpaired_draws_are_independent():
    torch.manual_seed(2)
    x = batch(16)
    a, b = DeviceAugment(hflip=True, crop_scale=0.5, paired=False)(x, x.clone())
    assert not torch.equal(a, b)


def test_jitter_changes_input_only():
    torch.manual_seed(3)
    x = batch()
    a, b = DeviceAugment(hflip=False, jitter=0.4)(x, x.clone())
    assert torch.equal(b, x) and not torch.allclose(a, x)
    gray_a, _ = DeviceAugment(hflip=False, jitter=0.4)(x[:, :1], x)  # 1-channel input: brightness/contrast only
    assert gray_a.shape == (8, 1, 32, 32)


def test_super_resolution_pairs_flip_together_and_refuse_size_dependent_ops():
    torch.manual_seed(4)
    lr = batch(8, 8)
    hr = torch.nn.functional.interpolate(lr, scale_factor=4, mode="nearest")
    out_lr, out_hr = DeviceAugment(hflip=True, vflip=True)(lr, hr)
    assert torch.equal(torch.nn.functional.interpolate(out_lr, scale_factor=4, mode="nearest"), out_hr)
    with pytest.raises(ValueError, match="flips only"):
        DeviceAugment(degrees=10)(lr, hr)


def test_range_conversions_round_trip():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    y = to_model_range(x)
    assert y.min() == -1 and y.max() == 1
    assert torch.equal(to_uint8(y), x)
