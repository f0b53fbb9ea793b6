"""bench/defect_mask.py: the oracle mask is drawn with the preset's own randomness and marks the defects."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from conftest import pattern

from img2img.data.degrade import restore_degrader

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("bench_defect_mask", ROOT / "bench" / "defect_mask.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_defect_mask", module)
    spec.loader.exec_module(module)
    return module


def test_damage_with_mask_is_the_presets_damage_and_the_mask_marks_the_localized_defects() -> None:
    bench = _module()
    photo = pattern(0, 128)
    marked = 0
    for seed in range(6):
        damaged, mask = bench.damage_with_mask(photo, "varied", np.random.default_rng([seed, 0]))
        expected = restore_degrader("varied")(photo, np.random.default_rng([seed, 0]))
        assert np.array_equal(damaged, expected)  # the same draws as img2img eval's damage
        assert mask.shape == photo.shape[:2] and mask.dtype == bool
        marked += int(mask.any())
    assert marked >= 3  # most draws of the varied preset have scratches or dust
    # only scratches: the mask is exactly where they changed the photo by more than 8 levels
    only = restore_degrader(
        "light",
        **{
            n: None
            for n in ("gaussian_blur", "film_grain", "fade", "color_cast", "vignette", "dust", "gaussian_noise", "jpeg")
        },
        scratches={"p": 1.0, "count": (3, 3), "width": (3, 3), "alpha": (1.0, 1.0)},
    )
    rng = np.random.default_rng(5)
    bench_rng = np.random.default_rng(5)
    expected = only(photo, rng)
    import img2img.data.degrade as degrade

    original = degrade.restore_degrader
    degrade.restore_degrader = lambda preset: only
    try:
        damaged, mask = bench.damage_with_mask(photo, "light", bench_rng)
    finally:
        degrade.restore_degrader = original
    assert np.array_equal(damaged, expected)
    changed = np.abs(damaged.astype(int) - photo.astype(int)).max(axis=2) > 8
    assert mask.any() and np.array_equal(mask, changed)
    assert bench.psnr(photo, photo) > 90 and bench.psnr(damaged, photo, mask) < bench.psnr(damaged, photo)
