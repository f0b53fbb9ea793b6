"""Recipes: colour detection (colorize skips photos without colour), sketch styles per item."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import pattern

from img2img.data.files import DatasetError
from img2img.data.recipe_folder import RecipeFolder
from img2img.data.recipes import COLOR_CHROMA_THRESHOLD, Recipe, has_color
from img2img.data.sketch import sketch, sketch_random
from img2img_runtime.io import read_image, write_image

SAMPLES = Path(__file__).resolve().parents[1] / "img2img" / "assets" / "samples"


def gray_as_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)


def jpeg(image: np.ndarray, quality: int = 60) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def test_has_color_on_synthetic_images():
    colour = pattern(0, 64)
    gray = gray_as_rgb(colour)
    assert has_color(colour) and has_color(jpeg(colour))
    assert not has_color(gray) and not has_color(jpeg(gray, 30))  # gray stored as RGB, also after JPEG
    assert not has_color(gray[:, :, 0]) and not has_color(gray[:, :, :1])  # H x W, H x W x 1
    tinted = np.clip(gray.astype(np.int16) + np.array([1, 0, -1]), 0, 255).astype(np.uint8)  # 2 levels of cast
    assert not has_color(tinted)
    spot = gray.copy()
    spot[:16, :16] = (220, 30, 40)  # a gray picture with one red patch (1/16 of it) has colour
    assert has_color(spot)
    assert has_color(gray, threshold=-1) and not has_color(colour, threshold=255)


def test_threshold_separates_the_bundled_photos_from_their_grayscale_copies():
    photos = sorted(SAMPLES.glob("*.jpg"))
    assert photos
    for path in photos:
        photo = read_image(path)
        chroma = float((photo.max(-1).astype(int) - photo.min(-1)).mean())
        assert chroma > 2 * COLOR_CHROMA_THRESHOLD, (path.name, chroma)
        assert has_color(photo) and not has_color(gray_as_rgb(photo)), path.name


def make_folder(root: Path, colour: int, gray: int) -> Path:
    for i in range(colour):
        write_image(root / f"colour{i}.png", pattern(i, 48))
    for i in range(gray):  # one PNG, the others JPEG, all gray stored as RGB
        image = gray_as_rgb(pattern(10 + i, 48))
        write_image(root / "bw" / f"gray{i}{'.png' if i == 0 else '.jpg'}", image)
    return root


@pytest.mark.parametrize("verify", [True, False])
def test_colorize_folder_skips_photos_without_colour(tmp_path, verify):
    root = make_folder(tmp_path / "photos", colour=3, gray=2)
    data = RecipeFolder(root, Recipe("colorize"), size=32, channels_a=1, verify=verify)
    assert len(data) == 3 and sorted(p.name for p in data.photos) == ["colour0.png", "colour1.png", "colour2.png"]
    reasons = {Path(path).name: reason for path, reason in data.skipped}
    assert set(reasons) == {"gray0.png", "gray1.jpg"}
    for name, reason in reasons.items():
        assert f"bw/{name}" in reason and "no colour" in reason
    assert data[0]["A"].shape == (1, 32, 32)

    other = RecipeFolder(root, Recipe("restore", {"preset": "light"}), size=32)  # other recipes keep them
    assert len(other) == 5 and not other.skipped


def test_colorize_folder_without_colour_photos_is_an_error(tmp_path):
    root = make_folder(tmp_path / "grays", colour=0, gray=3)
    with pytest.raises(DatasetError, match=r"no colour photos in .*grays.*3 usable photo\(s\) have no colour"):
        RecipeFolder(root, Recipe("colorize"), size=32, channels_a=1)


def test_colorize_folder_reports_bad_files_and_gray_photos_apart(tmp_path):
    root = make_folder(tmp_path / "photos", colour=2, gray=1)
    (root / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="broken.png"):
        RecipeFolder(root, Recipe("colorize"), size=32, channels_a=1)
    data = RecipeFolder(root, Recipe("colorize"), size=32, channels_a=1, on_bad="skip")
    assert len(data) == 2
    reasons = {Path(path).name: reason for path, reason in data.skipped}
    assert set(reasons) == {"broken.png", "gray0.png"} and "no colour" not in reasons["broken.png"]


def test_sketch_recipe_draws_a_random_style_per_item():
    photo = pattern(3, 64)
    recipe = Recipe("sketch")
    first, target = recipe(photo, np.random.default_rng([0, 0, 1]))
    np.testing.assert_array_equal(target, photo)
    np.testing.assert_array_equal(first, recipe(photo, np.random.default_rng([0, 0, 1]))[0])  # seeded
    np.testing.assert_array_equal(first, sketch_random(photo, np.random.default_rng([0, 0, 1])))
    drawings = {recipe(photo, np.random.default_rng([0, epoch, 1]))[0].tobytes() for epoch in range(6)}
    assert len(drawings) == 6  # a new style every epoch
    assert first.shape == (64, 64, 1) and recipe.a_channels == 1


def test_sketch_recipe_options_fix_the_style():
    photo = pattern(4, 64)
    recipe = Recipe("sketch", {"method": "canny", "sigma": 1.2, "thickness": 2})
    expected = sketch(photo, method="canny", sigma=1.2, thickness=2)
    for seed in range(3):  # deterministic: the rng is not used
        np.testing.assert_array_equal(recipe(photo, np.random.default_rng(seed))[0], expected)


def test_recolor_shuffles_channels_before_the_damage_in_training_only(tmp_path):
    from img2img.data.recipe_folder import recolor

    photo = np.zeros((8, 8, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 10, 120, 240
    orders = {tuple(recolor(photo, np.random.default_rng(seed))[0, 0]) for seed in range(60)}
    assert len(orders) == 6 and all(sorted(o) == [10, 120, 240] for o in orders)  # all six, values kept
    assert np.array_equal(recolor(photo, np.random.default_rng(3)), recolor(photo, np.random.default_rng(3)))

    write_image(tmp_path / "train" / "p.png", pattern(0, 64))
    write_image(tmp_path / "val" / "p.png", pattern(0, 64))
    shuffled = RecipeFolder(tmp_path, Recipe("colorize"), size=32, recolor=True)
    for epoch in range(12):
        item = shuffled[(epoch, 0)]
        target = np.ascontiguousarray(item["B"].numpy().transpose(1, 2, 0))
        # the input is made from the shuffled crop: the gray input is the luma of the target given
        assert np.array_equal(item["A"].numpy()[0], cv2.cvtColor(target, cv2.COLOR_RGB2GRAY))
    orders = {tuple(shuffled[(e, 0)]["B"].numpy().reshape(3, -1).mean(axis=1).argsort()) for e in range(12)}
    assert len(orders) > 1  # the channel order changes from epoch to epoch
    assert RecipeFolder(tmp_path, Recipe("colorize"), size=32).recolor is False
    val_plain = RecipeFolder(tmp_path, Recipe("colorize"), size=32, split="val", train=False)
    val_shuffled = RecipeFolder(tmp_path, Recipe("colorize"), size=32, split="val", train=False, recolor=True)
    assert np.array_equal(val_plain[0]["B"].numpy(), val_shuffled[0]["B"].numpy())  # never at validation


def test_vary_photo_turns_hue_and_tone_keeps_grays_and_edges():
    from img2img.data.recipe_folder import VARY_GAMMA, VARY_HUE_DEGREES, vary_photo

    ramp = np.repeat(np.linspace(0, 255, 64).astype(np.uint8)[None, :, None], 8, axis=0).repeat(3, axis=2)
    for seed in range(20):  # grays stay gray; the tone curve is monotonic: no edge moves or flips
        out = vary_photo(ramp, np.random.default_rng(seed)).astype(int)
        assert np.abs(out - out[..., :1]).max() <= 1
        assert np.all(np.diff(out[0, :, 0]) >= 0) and out[0, 0, 0] == 0 and out[0, -1, 0] == 255
    photo = pattern(2, 32)
    assert np.array_equal(vary_photo(photo, np.random.default_rng(1), 0.0), photo)
    np.testing.assert_array_equal(
        vary_photo(photo, np.random.default_rng(5)), vary_photo(photo, np.random.default_rng(5))
    )

    def measured(out: np.ndarray, x: np.ndarray) -> tuple[float, float]:
        """(gamma of the mid gray, hue turn in degrees of a red: the angle of its part across the gray axis)."""
        luma = lambda v: float(np.asarray(v, float) @ [0.299, 0.587, 0.114])  # noqa: E731
        gamma = np.log(luma(out[0]) / 255) / np.log(luma(x[0]) / 255)
        chroma = lambda v: np.asarray(v, float) - np.mean(v)  # noqa: E731
        c_in, c_out = chroma(x[1]), chroma(out[1])
        cos = c_in @ c_out / (np.linalg.norm(c_in) * np.linalg.norm(c_out))
        return float(gamma), float(np.degrees(np.arccos(np.clip(cos, -1, 1))))

    x = np.array([[[128, 128, 128], [150, 60, 60]]], np.uint8)
    gammas, turns = [], []
    for seed in range(200):
        gamma, turn = measured(vary_photo(x, np.random.default_rng(seed))[0].astype(float), x[0].astype(float))
        gammas.append(gamma)
        turns.append(turn)
    assert np.exp(-VARY_GAMMA) - 0.02 <= min(gammas) < 0.85 and 1.2 < max(gammas) <= np.exp(VARY_GAMMA) + 0.02
    assert max(turns) <= VARY_HUE_DEGREES + 2 and max(turns) > 0.8 * VARY_HUE_DEGREES
    half = [
        measured(vary_photo(x, np.random.default_rng(s), 0.5)[0].astype(float), x[0].astype(float)) for s in range(200)
    ]
    assert max(t for _, t in half) <= VARY_HUE_DEGREES / 2 + 2  # strength scales the ranges


def test_vary_photos_before_the_damage_in_training_only(tmp_path):
    write_image(tmp_path / "train" / "p.png", pattern(0, 64))
    write_image(tmp_path / "val" / "p.png", pattern(0, 64))
    plain = RecipeFolder(tmp_path, Recipe("colorize"), size=32)
    varied = RecipeFolder(tmp_path, Recipe("colorize"), size=32, vary=1.0)
    assert plain.vary == 0.0 and varied.vary == 1.0
    differs = 0
    for epoch in range(6):
        item, base = varied[(epoch, 0)], plain[(epoch, 0)]
        target = np.ascontiguousarray(item["B"].numpy().transpose(1, 2, 0))
        assert np.array_equal(item["A"].numpy()[0], cv2.cvtColor(target, cv2.COLOR_RGB2GRAY))  # A from the varied B
        differs += not np.array_equal(item["B"].numpy(), base["B"].numpy())
    assert differs == 6
    val_plain = RecipeFolder(tmp_path, Recipe("colorize"), size=32, split="val", train=False)
    val_varied = RecipeFolder(tmp_path, Recipe("colorize"), size=32, split="val", train=False, vary=1.0)
    assert np.array_equal(val_plain[0]["B"].numpy(), val_varied[0]["B"].numpy())  # never at validation
    with pytest.raises(ValueError, match="vary"):
        RecipeFolder(tmp_path, Recipe("colorize"), size=32, vary=-1.0)
