"""Degradations: every step and preset is seeded, keeps size and dtype, and does damage."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from img2img.data import degrade
from img2img.data.degrade import PRESETS, STEP_KINDS, Degrader, Step, restore_degrader, sr_degrade


def photo(seed: int, height: int = 96, width: int = 96) -> np.ndarray:
    """A smooth colour gradient with a few sharp shapes and a little texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) / max(height, width)
    phases = rng.uniform(0, 6, 3)
    image = np.stack([np.sin(4 * xx + phases[0]), np.cos(3 * yy + phases[1]), np.sin(3 * (xx + yy) + phases[2])], -1)
    image = (image * 0.5 + 0.5) * 180 + 40 + rng.normal(0, 3, (height, width, 1))
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(3):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(8, width - 8)), int(rng.integers(8, height - 8))
        cv2.circle(image, (x, y), int(rng.integers(4, 14)), color, -1)
        cv2.rectangle(image, (x - 10, y - 6), (x + 12, y + 9), color[::-1], 2)
    return image


def rng(*seed: int) -> np.random.Generator:
    return np.random.default_rng(list(seed))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-10))


def check_seeded(make, image: np.ndarray, *, changes: bool = True, shape: tuple | None = None) -> None:
    """Same seed -> identical; some other seed -> different; size (default: kept) and dtype; damage done."""
    out = make(image, rng(0))
    assert out.dtype == np.uint8 and out.shape == (shape or image.shape)
    np.testing.assert_array_equal(out, make(image, rng(0)))
    assert any(not np.array_equal(out, make(image, rng(s))) for s in range(1, 5))
    if changes:
        assert not np.array_equal(out, image)


@pytest.mark.parametrize("name", list(STEP_KINDS))
def test_step_smoke(name):
    image = photo(1)
    check_seeded(Degrader([Step(name, p=1.0)]), image)
    before = image.copy()
    Step(name)(image, rng(3))
    np.testing.assert_array_equal(image, before)  # the input is never modified


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_smoke(preset):
    degrader = restore_degrader(preset)
    image = photo(2, 80, 112)
    check_seeded(degrader, image, changes=False)
    assert any(not np.array_equal(degrader(image, rng(s)), image) for s in range(3))
    assert len(degrader.describe()) == len(degrader.steps)


def test_presets_get_stronger():
    images = [photo(i, 96, 96) for i in range(4)]
    mean_psnr = {
        preset: np.mean([psnr(image, restore_degrader(preset)(image, rng(10, i, s)))
                         for i, image in enumerate(images) for s in range(3)])
        for preset in PRESETS
    }
    assert mean_psnr["light"] > mean_psnr["medium"] + 2 > mean_psnr["heavy"] + 4, mean_psnr


def test_docstring_lists_presets():
    """The module docstring (copied into datasets/README.md) matches the code."""
    for preset in PRESETS:
        block = "\n".join(f"      {line}" for line in restore_degrader(preset).describe())
        assert f"    {preset}\n{block}\n" in degrade.__doc__, preset
    for name in STEP_KINDS:
        assert f"\n    {name} " in degrade.__doc__, name


def test_degrader_pickles():
    degrader = restore_degrader("medium")
    clone = pickle.loads(pickle.dumps(degrader))
    np.testing.assert_array_equal(degrader(photo(3), rng(4)), clone(photo(3), rng(4)))


def test_restore_degrader_overrides():
    base = [step.name for step in restore_degrader("light").steps]
    changed = restore_degrader("light", jpeg=None, dust=1.0, creases={"p": 0.5, "count": (2, 3)},
                               film_grain=Step("film_grain", 0.25))
    steps = {step.name: step for step in changed.steps}
    assert "jpeg" not in steps and "jpeg" in base
    assert steps["dust"].p == 1.0
    assert steps["creases"].p == 0.5 and steps["creases"].params["count"] == (2, 3)
    assert steps["film_grain"].p == 0.25
    order = list(STEP_KINDS)
    assert [order.index(s.name) for s in changed.steps] == sorted(order.index(s.name) for s in changed.steps)
    only = restore_degrader("heavy", **{name: None for name in STEP_KINDS if name != "fade"})
    assert [step.name for step in only.steps] == ["fade"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: restore_degrader("ultra"),
        lambda: restore_degrader("medium", sharpen=0.5),
        lambda: restore_degrader("medium", jpeg="often"),
        lambda: Step("sharpen"),
        lambda: Step("jpeg", p=1.5),
        lambda: Step("jpeg", params={"quality": (90, 10)}),
        lambda: Step("jpeg", params={"quality": 50}),
        lambda: Step("jpeg", params={"qualty": (10, 50)}),
    ],
)
def test_bad_arguments_raise(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("image", [np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.float32),
                                   np.zeros((32, 32, 4), np.uint8)])
def test_degrader_rejects_non_rgb(image):
    with pytest.raises(ValueError, match="H x W x 3"):
        restore_degrader("light")(image, rng(0))


@pytest.mark.parametrize("realistic", [False, True])
@pytest.mark.parametrize("scale,size", [(2, (64, 96)), (3, (48, 75)), (4, (96, 64))])
def test_sr_degrade_sizes(realistic, scale, size):
    hr = photo(5, *size)
    lr = sr_degrade(hr, scale, rng(0), realistic=realistic)
    assert lr.shape == (size[0] // scale, size[1] // scale, 3) and lr.dtype == np.uint8


def test_sr_degrade_realistic_seeded():
    hr = photo(6, 96, 96)
    check_seeded(lambda image, g: sr_degrade(image, 4, g, realistic=True), hr, changes=False, shape=(24, 24, 3))
    assert psnr(sr_degrade(hr, 4, rng(0)), sr_degrade(hr, 4, rng(0), realistic=True)) < 40


def test_sr_degrade_bicubic():
    hr = photo(7, 64, 64)
    lr = sr_degrade(hr, 2, rng(0))
    np.testing.assert_array_equal(lr, sr_degrade(hr, 2, rng(1)))  # deterministic, ignores the rng
    assert psnr(cv2.resize(hr, (32, 32), interpolation=cv2.INTER_AREA), lr) > 30
    flat = np.full((48, 64, 3), (200, 30, 120), np.uint8)
    np.testing.assert_array_equal(sr_degrade(flat, 4, rng(0)), flat[:12, :16])


@pytest.mark.parametrize("realistic", [False, True])
def test_sr_degrade_rejects_non_multiples(realistic):
    with pytest.raises(ValueError, match="50x64"):
        sr_degrade(photo(0, 50, 64), 4, rng(0), realistic=realistic)
    with pytest.raises(ValueError):
        sr_degrade(photo(0, 64, 64), 0, rng(0), realistic=realistic)
