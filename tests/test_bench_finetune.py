"""bench/finetune.py: its damage style is seeded and keeps the picture in place; its pairs, settings and flags."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern
from test_degrade import ALIGN_TOLERANCE, picture_shift, textured

from img2img.cli import build_parser
from img2img.presets import RECIPE_PROFILES
from img2img_runtime.io import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finetune():
    spec = importlib.util.spec_from_file_location("bench_finetune", ROOT / "bench" / "finetune.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_unseen_damage_is_seeded_keeps_shape_and_damages(finetune):
    photo = pattern(0, 80)[:72]  # not square
    out = finetune.unseen_damage(photo, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == photo.shape
    np.testing.assert_array_equal(out, finetune.unseen_damage(photo, np.random.default_rng(0)))
    assert not np.array_equal(out, finetune.unseen_damage(photo, np.random.default_rng(1)))
    assert np.abs(out.astype(int) - photo).mean() > 10  # real damage, not a touch-up
    # the cyan dye is lost: red gains on green, as no restore preset's cast does (sepia and yellowing lose blue)
    shift = out.astype(float).mean((0, 1)) - photo.astype(float).mean((0, 1))
    assert shift[0] - shift[1] > 5
    np.testing.assert_array_equal(photo, pattern(0, 80)[:72])  # the input is not written to


def test_unseen_damage_refuses_other_arrays(finetune):
    with pytest.raises(ValueError, match="uint8 H x W x 3"):
        finetune.unseen_damage(np.zeros((8, 8), np.uint8), np.random.default_rng(0))
    with pytest.raises(ValueError, match="uint8 H x W x 3"):
        finetune.unseen_damage(np.zeros((8, 8, 3), np.float32), np.random.default_rng(0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unseen_damage_keeps_the_picture_in_place(finetune, seed):
    clean = textured(seed)
    damaged = finetune.unseen_damage(clean, np.random.default_rng(seed))
    dx, dy = picture_shift(clean, damaged)
    assert max(abs(dx), abs(dy)) <= ALIGN_TOLERANCE, f"the picture moved by ({dx:+.3f}, {dy:+.3f}) px"


def test_write_pairs_writes_matching_names(tmp_path, finetune):
    photos = []
    for i in range(3):
        photos.append(tmp_path / "photos" / f"p{i}.png")
        write_image(photos[-1], pattern(i, 40))
    train, val = finetune.write_pairs(photos[:2], photos[2:], tmp_path / "pairs", copies=3, seed=0)
    assert sorted(train) == [f"p{i}_{k}.png" for i in range(2) for k in range(3)]
    assert val == ["p2.png"]
    for split, names in (("train", train), ("val", val)):
        for side in ("A", "B"):
            assert sorted(p.name for p in (tmp_path / "pairs" / split / side).iterdir()) == sorted(names)
    for k in range(3):  # B is the clean photo, A its damaged copy k, each copy damaged differently
        np.testing.assert_array_equal(read_image(tmp_path / "pairs" / "train" / "B" / f"p1_{k}.png"), pattern(1, 40))
        assert read_image(tmp_path / "pairs" / "train" / "A" / f"p1_{k}.png").shape == (40, 40, 3)
    copies = [read_image(tmp_path / "pairs" / "train" / "A" / f"p0_{k}.png") for k in range(3)]
    assert not np.array_equal(copies[0], copies[1]) and not np.array_equal(copies[1], copies[2])
    # the same seed writes the same pairs again (and replaces what was there)
    first = read_image(tmp_path / "pairs" / "val" / "A" / "p2.png")
    finetune.write_pairs(photos[:1], photos[2:], tmp_path / "pairs", copies=1, seed=0)
    assert sorted(p.name for p in (tmp_path / "pairs" / "train" / "A").iterdir()) == ["p0_0.png"]
    np.testing.assert_array_equal(read_image(tmp_path / "pairs" / "val" / "A" / "p2.png"), first)


def test_source_settings_of_a_recipe_model_folder(tmp_path, finetune):
    """A shipped model is a model folder on its own: its recipe's profile (the one of its crop size)
    gives the training settings, none of them architecture; the flags parse as img2img train's."""
    model = tmp_path / "model"
    model.mkdir()
    training = {"steps": 9, "task": "pix2pix", "size": 128, "recipe": "restore"}
    (model / "config.json").write_text(json.dumps({"directions": {}, "training": training}))
    directory, settings = finetune.source_settings(str(model))
    assert directory == model.resolve()
    profile = RECIPE_PROFILES["restore"]["cpu"]
    assert settings == {k: profile[k] for k in finetune.SETTINGS}
    assert settings["pixel_loss"] == "psnr" and settings["adv_weight"] == 0.0 and settings["best_metric"] == "last"
    flags = finetune.setting_flags(settings)
    args = build_parser().parse_args(["train", "pix2pix", "--data", "d", "--out", "r", *flags])
    assert (args.size, args.batch_size, args.lr, args.adv_weight) == (128, 4, 5e-4, 0.0)
    assert (args.pixel_loss, args.color_replay, args.best_metric, args.channels_last) == ("psnr", 4, "last", True)
    assert finetune.setting_flags({"channels_last": False}) == ["--no-channels-last"]


def test_architecture_flags_rebuild_the_nets(finetune):
    config = {
        "generator": "unet_256",
        "generator_kwargs": {"num_downs": 6, "base_channels": 32, "residual": True},
        "discriminator_kwargs": {"base_channels": 32, "norm": "batch", "spectral_norm": True},
    }
    flags = finetune.architecture_flags(config)
    args = build_parser().parse_args(["train", "pix2pix", "--data", "d", "--out", "r", *flags])
    assert args.generator == "unet_256" and args.generator_kwargs == config["generator_kwargs"]
    assert (args.d_channels, args.d_norm, args.spectral_norm) == (32, "batch", True)


def test_format_table(finetune):
    rows = [
        ("damaged input", {"psnr": 20.0, "psnr_y": 21.0, "ssim_y": 0.5, "sharpness": 1.0}, None, None),
        ("fine-tuned", {"psnr": 25.123, "psnr_y": 26.0, "ssim_y": 0.75, "sharpness": 0.9}, 120, 5.04),
    ]
    lines = finetune.format_table(rows).splitlines()
    assert lines[0] == "| model | PSNR | PSNR-Y | SSIM-Y | sharpness | steps | minutes |"
    assert lines[2] == "| damaged input | 20.00 | 21.00 | 0.500 | 1.00 |  |  |"
    assert lines[3] == "| fine-tuned | 25.12 | 26.00 | 0.750 | 0.90 | 120 | 5.0 |"
