"""Colour hints (issue 37): sampling from the target, points and strokes as input channels, hint
models (colorize, sketch) through torch and ONNX, bad hints, folder jobs, eval and HintSpread.

Two tiny hint models (colorize and sketch, 30 steps each) are trained and exported once per
module; a plain (hint-less) untrained model stands in for "a model trained without hints".
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_CLI, pattern, save_tiny_model
from test_prepare import make_photos

from img2img.cli import main as cli_main
from img2img.data.recipes import Recipe
from img2img.evaluate import INPUT_ROW, MODEL_ROW, evaluate_model
from img2img.hints import (
    HINT_COUNT_P,
    HINT_SIZES,
    MAX_HINTS,
    SPREAD_PRIOR,
    draw_count,
    draw_places,
    random_hint_planes,
    sample_points,
    spread_hints,
)
from img2img.infer import Translator
from img2img.nets import build_model, create_model
from img2img.nets.hint_spread import HintSpread
from img2img_runtime import Model
from img2img_runtime.cli import main as onnx_main
from img2img_runtime.color import rgb_to_lab
from img2img_runtime.hints import (
    POINT_SIZE,
    HintError,
    has_hints,
    hint_channels,
    hint_planes,
    load_strokes,
    parse_points,
    patch_box,
    resize_planes,
)
from img2img_runtime.io import read_image, write_image
from img2img_runtime.processing import ModelSpec, prepare

SCORES = ("psnr", "psnr_y", "ssim_y", "colorfulness", "sharpness")


def ab_of(rgb) -> np.ndarray:
    """The (a, b) of a 0-255 RGB colour (the runtime's Lab)."""
    return rgb_to_lab(np.asarray(rgb, np.float64).reshape(1, 1, 3) / 255.0)[0, 0, 1:]


def write_rgba(path: Path, rgba: np.ndarray) -> Path:
    """An RGBA PNG (write_image writes RGB and gray only), as a drawing program saves strokes."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def box_mask(places, height: int, width: int) -> np.ndarray:
    """1 on the union of the squares of ``(x, y, size)`` (written out here, not with patch_box)."""
    mask = np.zeros((height, width), np.float32)
    for x, y, size in places:
        top, left = y - (size - 1) // 2, x - (size - 1) // 2
        mask[max(top, 0) : top + size, max(left, 0) : left + size] = 1.0
    return mask


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Tiny colorize and sketch hint models (run folders) and their ONNX exports; a plain model
    folder (no hints) and its export. Keys: colorize, sketch, plain and <key>_onnx."""
    root = tmp_path_factory.mktemp("hint_models")
    photos = make_photos(root / "photos")
    out: dict[str, Path] = {}
    for task in ("colorize", "sketch"):
        run = root / task
        argv = ["train", "pix2pix", "--data", str(photos), "--task", task, "--hints", "--out", str(run)]
        assert cli_main([*argv, "--steps", "30", *TINY_CLI]) == 0
        out[task] = run
        # colorize: the default (dynamo) exporter; sketch: the TorchScript one (opset 17), faster
        opset = [] if task == "colorize" else ["--opset", "17"]
        assert cli_main(["export", str(run), str(root / f"{task}.onnx"), *opset]) == 0
        out[f"{task}_onnx"] = root / f"{task}.onnx"
    out["plain"] = save_tiny_model(root / "plain")
    from img2img.export import export_onnx

    export_onnx(out["plain"], root / "plain.onnx", opset=17, check=False)
    out["plain_onnx"] = root / "plain.onnx"
    return out


@pytest.fixture(scope="module")
def runners(models) -> dict[str, object]:
    """Loaded once: ("torch"|"onnx", "colorize"|"sketch"|"plain") -> Translator or Model."""
    out = {}
    for key in ("colorize", "sketch", "plain"):
        out["torch", key] = Translator.from_pretrained(models[key], device="cpu")
        out["onnx", key] = Model(models[f"{key}_onnx"])
    return out


def source(task: str, seed: int = 11, size: int = 64) -> np.ndarray:
    """A model input of ``task`` (colorize: gray photo, sketch: line drawing), uint8 H x W x 1."""
    return Recipe(task, {})(pattern(seed, size), np.random.default_rng(0))[0]


# ------------------------------------------------------------------------------------------ sampling


def test_patch_box_geometry():
    assert patch_box(10, 20, 5, 100, 100) == (18, 23, 8, 13)  # odd: centred
    assert patch_box(10, 20, 4, 100, 100) == (19, 23, 9, 13)  # even: half a pixel up-left
    assert patch_box(10, 20, 1, 100, 100) == (20, 21, 10, 11)
    assert patch_box(0, 0, 5, 10, 12) == (0, 3, 0, 3)  # clipped at the top-left corner
    assert patch_box(11, 9, 5, 10, 12) == (7, 10, 9, 12)  # and at the bottom-right one


def test_draw_count_distribution():
    rng = np.random.default_rng(0)
    counts = np.array([draw_count(rng) for _ in range(20000)])
    assert counts.min() == 0 and counts.max() <= MAX_HINTS
    assert abs((counts == 0).mean() - HINT_COUNT_P) < 0.015  # 1 in 8 items has no hint
    assert abs(counts.mean() - 7.0) < 0.3  # geometric, mean (1 - p) / p = 7 (SE ~0.05)

    class Fixed:  # an rng whose geometric draw is given
        def __init__(self, value):
            self.value = value

        def geometric(self, p):
            return self.value

    assert draw_count(Fixed(1)) == 0
    assert draw_count(Fixed(8)) == 7
    assert draw_count(Fixed(10_000)) == MAX_HINTS  # capped


def test_draw_places_seeded_and_in_range():
    a = draw_places(np.random.default_rng(1), 40, 50, 200)
    assert a == draw_places(np.random.default_rng(1), 40, 50, 200)
    assert a != draw_places(np.random.default_rng(2), 40, 50, 200)
    assert len(a) == 200
    xs, ys, sizes = (np.array(v) for v in zip(*a))
    assert xs.min() >= 0 and xs.max() < 50 and ys.min() >= 0 and ys.max() < 40
    assert sizes.min() == HINT_SIZES[0] and sizes.max() == HINT_SIZES[1]  # 1-9, both ends drawn in 200
    assert xs.max() > 40 and ys.max() > 30  # the whole image, not only a corner
    assert draw_places(np.random.default_rng(1), 40, 50, 0) == []
    with pytest.raises(ValueError, match=">= 0"):
        draw_places(np.random.default_rng(1), 40, 50, -1)
    # without a count: draw_count's, the first draw of the same rng
    counts = [len(draw_places(np.random.default_rng(seed), 40, 50)) for seed in range(400)]
    assert counts == [draw_count(np.random.default_rng(seed)) for seed in range(400)]
    assert 0 in counts and max(counts) <= MAX_HINTS and 5 < np.mean(counts) < 9


@pytest.mark.parametrize("count", [6, None])
def test_random_hint_planes_reveal_the_target(count):
    target = torch.randn(3, 2, 24, 40, generator=torch.Generator().manual_seed(0))
    planes = random_hint_planes(target, np.random.default_rng(5), count)
    assert planes.shape == (3, 3, 24, 40) and planes.dtype == target.dtype
    assert torch.equal(planes, random_hint_planes(target, np.random.default_rng(5), count))
    assert not torch.equal(planes, random_hint_planes(target, np.random.default_rng(6), count))

    rng = np.random.default_rng(5)  # the same draws, in the same order: image by image
    t = target.numpy()
    for i in range(3):
        places = draw_places(rng, 24, 40, count)
        if count is not None:
            assert len(places) == count
        mask = box_mask(places, 24, 40)
        np.testing.assert_array_equal(planes[i, 2].numpy(), mask)  # 1 exactly on the patches
        np.testing.assert_array_equal(planes[i, :2].numpy() * (1 - mask), 0)  # colour 0 elsewhere
        expected = np.zeros((2, 24, 40), np.float32)
        for x, y, size in places:  # later patches over earlier ones
            top, bottom, left, right = patch_box(x, y, size, 24, 40)
            assert planes[i, 2, y, x] == 1  # the patch lies at (x, y)
            expected[:, top:bottom, left:right] = t[i, :, top:bottom, left:right].mean(axis=(1, 2))[:, None, None]
        np.testing.assert_allclose(planes[i, :2].numpy(), expected, atol=1e-6)


def test_sample_points_reveal_the_target():
    target = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    points = sample_points(target, 8, np.random.default_rng(3))
    assert points == sample_points(target, 8, np.random.default_rng(3))
    assert points != sample_points(target, 8, np.random.default_rng(4))
    places = draw_places(np.random.default_rng(3), 30, 40, 8)
    assert len(points) == 8
    for (x, y, colour, size), place in zip(points, places):
        assert (x, y, size) == place
        top, bottom, left, right = patch_box(x, y, size, 30, 40)
        mean = target[top:bottom, left:right].reshape(-1, 3).mean(axis=0)
        assert colour == tuple(int(v) for v in np.rint(mean))
        assert all(isinstance(v, int) for v in colour)
    assert sample_points(target, 0, np.random.default_rng(3)) == []


# ------------------------------------------------------------------------------------------ hint planes


def test_hint_channels_and_has_hints():
    assert (hint_channels(None), hint_channels("ab"), hint_channels("rgb")) == (0, 3, 4)
    with pytest.raises(ValueError, match="unknown hint space"):
        hint_channels("lab")
    assert not has_hints(None) and not has_hints([]) and not has_hints(())
    assert has_hints([(1, 2, (0, 0, 0))]) and has_hints(np.zeros((4, 4, 4), np.uint8))


def test_points_give_ab_channels():
    planes = hint_planes([(5, 6, (200, 30, 40)), (20, 15, (10, 90, 220), 3)], 20, 30, "ab", ab_scale=100.0)
    assert planes.shape == (3, 20, 30) and planes.dtype == np.float32
    mask = np.zeros((20, 30), np.float32)
    mask[4:9, 3:8] = 1  # POINT_SIZE 5 around (x=5, y=6)
    mask[14:17, 19:22] = 1  # 3 x 3 around (x=20, y=15)
    assert POINT_SIZE == 5
    np.testing.assert_array_equal(planes[2], mask)
    np.testing.assert_allclose(planes[:2, 6, 5], ab_of((200, 30, 40)) / 100.0, atol=1e-5)
    np.testing.assert_allclose(
        planes[:2, 4:9, 3:8], np.broadcast_to((ab_of((200, 30, 40)) / 100)[:, None, None], (2, 5, 5)), atol=1e-5
    )
    np.testing.assert_allclose(planes[:2, 15, 20], ab_of((10, 90, 220)) / 100.0, atol=1e-5)
    assert np.all(planes[:2][:, mask == 0] == 0)
    assert abs(planes[0, 6, 5]) > 0.3  # a real colour, not a rounding of gray
    # a gray point: mask 1, colour 0
    gray = hint_planes([(0, 0, (128, 128, 128), 1)], 4, 4, "ab")
    assert gray[2, 0, 0] == 1 and gray[2].sum() == 1 and np.abs(gray[:2]).max() < 1e-4


def test_points_give_rgb_channels():
    planes = hint_planes([(2, 1, (255, 0, 51), 1)], 3, 4, "rgb")
    assert planes.shape == (4, 3, 4)
    np.testing.assert_allclose(planes[:3, 1, 2], [1.0, -1.0, 51 / 127.5 - 1], atol=1e-6)
    expected_mask = np.zeros((3, 4), np.float32)
    expected_mask[1, 2] = 1
    np.testing.assert_array_equal(planes[3], expected_mask)
    assert np.all(planes[:3][:, expected_mask == 0] == 0)
    assert not hint_planes(None, 3, 4, "rgb").any() and not hint_planes([], 3, 4, "rgb").any()


def strokes_image() -> np.ndarray:
    """6 x 8 RGBA: two opaque strokes, one pixel at alpha 128 (a hint), one at 127 (none)."""
    strokes = np.zeros((6, 8, 4), np.uint8)
    strokes[1, 1:5] = (255, 0, 0, 255)
    strokes[2:5, 6] = (20, 200, 60, 255)
    strokes[5, 0] = (0, 0, 255, 128)
    strokes[5, 7] = (255, 255, 0, 127)
    return strokes


@pytest.mark.parametrize("space", ["ab", "rgb"])
@pytest.mark.parametrize("kind", ["array", "pil", "path"])
def test_strokes_give_channels(tmp_path, space, kind):
    from PIL import Image

    strokes = strokes_image()
    given = {"array": strokes, "pil": Image.fromarray(strokes, "RGBA"), "path": tmp_path / "s.png"}[kind]
    if kind == "path":
        write_rgba(given, strokes)
        assert read_image(given, channels=4).tolist() == strokes.tolist()  # alpha kept
    planes = hint_planes(given, 6, 8, space)
    mask = strokes[:, :, 3] >= 128
    assert mask.sum() == 4 + 3 + 1
    np.testing.assert_array_equal(planes[-1], mask.astype(np.float32))
    for y, x in zip(*np.nonzero(mask)):
        rgb = strokes[y, x, :3]
        expected = ab_of(rgb) / 110.0 if space == "ab" else rgb / 127.5 - 1
        np.testing.assert_allclose(planes[:-1, y, x], expected, atol=1e-5)
    assert np.all(planes[:, ~mask] == 0)
    # all transparent: no hint at all
    assert not hint_planes(np.zeros((6, 8, 4), np.uint8), 6, 8, space).any()


def test_resize_planes_keeps_a_single_small_hint():
    planes = hint_planes([(37, 22, (200, 40, 40), 1)], 64, 64, "ab")
    small = resize_planes(planes, 16, 16)
    assert small.shape == (3, 16, 16)
    assert small[2].sum() == 1 and small[2, 22 // 4, 37 // 4] == 1  # the hint's cell
    np.testing.assert_allclose(small[:2, 5, 9], planes[:2, 22, 37], rtol=1e-5)  # its colour, not diluted
    assert np.all(small[:2][:, small[2] == 0] == 0)
    # a factor that is not whole: still the full colour wherever the mask is
    odd = resize_planes(planes, 13, 17)
    assert odd[2].sum() >= 1 and set(np.unique(odd[2])) <= {0.0, 1.0}
    np.testing.assert_allclose(
        odd[:2][:, odd[2] == 1].T, np.tile(planes[:2, 22, 37], (int(odd[2].sum()), 1)), rtol=1e-5
    )
    # two hints in one cell: their mean colour
    two = np.zeros((4, 8, 8), np.float32)
    two[:3, 0, 0], two[3, 0, 0] = (1.0, 0.0, -1.0), 1
    two[:3, 1, 1], two[3, 1, 1] = (0.0, 0.5, 1.0), 1
    np.testing.assert_allclose(resize_planes(two, 2, 2)[:, 0, 0], [0.5, 0.25, 0.0, 1.0], atol=1e-6)
    assert resize_planes(planes, 64, 64) is planes


def test_prepare_adds_the_hint_channels():
    image = pattern(3, 64)
    points = [(37, 22, (200, 40, 40), 1)]
    rgb = ModelSpec(in_channels=7, out_channels=3, hints="rgb")
    assert (rgb.image_channels, rgb.hint_channels) == (3, 4)
    net_input, _ = prepare(image, rgb, points)
    assert net_input.shape == (7, 64, 64)
    np.testing.assert_allclose(net_input[:3], image.transpose(2, 0, 1) / 127.5 - 1, atol=1e-6)
    np.testing.assert_array_equal(net_input[3:], hint_planes(points, 64, 64, "rgb"))
    # a Lab model predicting colour at 16 px: the hint is kept at the low resolution
    lab = ModelSpec(in_channels=4, out_channels=2, color="lab", color_resolution=16, hints="ab")
    assert (lab.image_channels, lab.hint_channels) == (3, 3)
    net_input, lightness = prepare(image, lab, points)
    assert net_input.shape == (4, 16, 16) and lightness.shape == (64, 64)
    assert net_input[3].sum() == 1 and net_input[3, 5, 9] == 1
    np.testing.assert_allclose(net_input[1:3, 5, 9], ab_of((200, 40, 40)) / 110.0, atol=1e-5)
    no_hints, _ = prepare(image, lab)
    assert not no_hints[1:].any()


# ------------------------------------------------------------------------------------------ models


def test_takes_hints_and_metadata(models, runners):
    for kind in ("torch", "onnx"):
        assert runners[kind, "colorize"].takes_hints is True
        assert runners[kind, "sketch"].takes_hints is True
        assert runners[kind, "plain"].takes_hints is False
    expected = {"colorize": ("ab", 3, 1 + 3), "sketch": ("rgb", 4, 3 + 4)}
    for task, (space, channels, in_channels) in expected.items():
        model = runners["onnx", task]
        meta = model.session.get_modelmeta().custom_metadata_map
        assert meta["img2img.hints"] == space
        config = json.loads(meta["img2img.config"])
        assert config["hints"] == {"space": space, "channels": channels}
        assert config["input"]["channels"] == in_channels == int(meta["img2img.input_channels"])
        assert model.spec.hints == space and model.spec.image_channels == 3
        folder = json.loads((models[task] / "model" / "config.json").read_text())
        assert folder["hints"] == {"space": space, "channels": channels}
        assert runners["torch", task].spec().hints == space
    meta = runners["onnx", "plain"].session.get_modelmeta().custom_metadata_map
    assert meta["img2img.hints"] == "none"
    assert json.loads(meta["img2img.config"]).get("hints") is None


@pytest.mark.parametrize("task", ["colorize", "sketch"])
def test_a_hint_changes_the_output_near_it(runners, task):
    src = source(task)
    translator = runners["torch", task]
    base = translator(src).astype(np.float64)
    yy, xx = np.mgrid[0:64, 0:64]
    for x, y, colour in [(16, 16, (255, 0, 0)), (48, 40, (0, 0, 255))]:
        out = translator(src, hints=[(x, y, colour, 7)]).astype(np.float64)
        change = np.abs(out - base).mean(axis=2)
        distance = np.maximum(np.abs(yy - y), np.abs(xx - x))
        near, far = change[distance <= 6].mean(), change[distance >= 20].mean()
        assert near > 1.5 * far and near > 10, (x, y, near, far)
        patch = (slice(y - 3, y + 4), slice(x - 3, x + 4))
        # towards the hint's colour where it was placed
        assert np.abs(out[patch] - colour).mean() < np.abs(base[patch] - colour).mean() - 10


@pytest.mark.parametrize("task", ["colorize", "sketch"])
def test_torch_and_onnx_agree_with_hints(runners, task):
    translator, model = runners["torch", task], runners["onnx", task]
    src = source(task, seed=4)[:48, :60]  # not a multiple of 16: padded
    strokes = np.zeros((48, 60, 4), np.uint8)
    strokes[10:14, 5:40] = (30, 160, 220, 255)
    for hints in ([(5, 7, (250, 200, 10)), (50, 40, (10, 200, 40), 3)], strokes):
        a, b = translator(src, hints=hints), model(src, hints=hints)
        assert a.shape == b.shape == (48, 60, 3)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 3
        assert np.abs(a.astype(int) - translator(src).astype(int)).max() > 20  # the hints did something
    # a list of images, one entry per image (None: automatic)
    images = [src, source(task, seed=5)[:48, :60]]
    per_image = [[(30, 20, (255, 0, 0))], None]
    outs_t, outs_o = translator(images, hints=per_image), model(images, hints=per_image)
    for a, b in zip(outs_t, outs_o):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 3
    np.testing.assert_array_equal(outs_o[0], model(images[0], hints=per_image[0]))
    np.testing.assert_array_equal(outs_o[1], model(images[1]))


@pytest.mark.parametrize("kind", ["torch", "onnx"])
@pytest.mark.parametrize("task", ["colorize", "sketch"])
def test_without_hints_is_the_automatic_mode(runners, kind, task):
    runner = runners[kind, task]
    src = source(task, seed=2)
    auto = runner(src)
    assert auto.shape == (64, 64, 3) and auto.dtype == np.uint8
    np.testing.assert_array_equal(runner(src, hints=None), auto)
    np.testing.assert_array_equal(runner(src, hints=[]), auto)
    np.testing.assert_array_equal(runner(src, hints=np.zeros((64, 64, 4), np.uint8)), auto)  # all transparent


def test_translator_hints_on_tensors(runners):
    translator = runners["torch", "colorize"]
    image = torch.from_numpy(pattern(1, 32)).permute(2, 0, 1).float() / 255
    hint = [(8, 8, (255, 0, 0))]
    one = translator(image, hints=hint)
    batch = translator(torch.stack([image, image]), hints=[hint, None])
    assert one.shape == (3, 32, 32) and batch.shape == (2, 3, 32, 32)
    torch.testing.assert_close(batch[0], one)
    torch.testing.assert_close(batch[1], translator(image))
    listed = translator([image, image], hints=[hint, None])
    torch.testing.assert_close(listed[0], one)
    with pytest.raises(HintError, match="got hints for 1 images but 2 images"):
        translator([image, image], hints=[hint])  # not two outputs of which one silently dropped


# ------------------------------------------------------------------------------------------ bad hints


@pytest.fixture(params=["torch", "onnx"])
def hint_runner(request, runners):
    return runners[request.param, "colorize"]


def test_point_outside_the_image(hint_runner):
    image = pattern(0, 64)[:48]  # 64 wide, 48 high
    inside = (63, 47, (1, 2, 3))
    for point, where in [
        ((64, 10, (0, 0, 0)), "x=64, y=10"),
        ((5, 48, (0, 0, 0)), "x=5, y=48"),
        ((-1, 0, (0, 0, 0)), "x=-1, y=0"),
    ]:
        with pytest.raises(HintError, match=rf"hint 1 at \({where}\) is outside the 64 x 48 image"):
            hint_runner(image, hints=[inside, point])


@pytest.mark.parametrize(
    "point, message",
    [
        ((1, 2), r"hint 0: expected \(x, y, \(r, g, b\)\)"),
        ((1, 2, (0, 0, 0), 5, 9), "hint 0: expected"),
        ((1.5, 2, (0, 0, 0)), "hint 0: x must be a whole number, got 1.5"),
        ((True, 2, (0, 0, 0)), "hint 0: x must be a whole number"),
        ((1, "2", (0, 0, 0)), "hint 0: y must be a whole number"),
        ((1, 2, (0, 0)), r"hint 0: the colour must be \(r, g, b\) with values 0-255"),
        ((1, 2, (256, 0, 0)), "values 0-255, got"),
        ((1, 2, (float("nan"), 0, 0)), "values 0-255"),
        ((1, 2, "red"), "the colour must be"),
        ((1, 2, (0, 0, 0), 0), "hint 0: size must be 1 to 64 pixels, got 0"),
        ((1, 2, (0, 0, 0), 65), "size must be 1 to 64 pixels, got 65"),
        (5, "hint 0: expected"),
    ],
)
def test_malformed_points(hint_runner, point, message):
    with pytest.raises(HintError, match=message):
        hint_runner(pattern(0, 32), hints=[point])
    with pytest.raises(HintError, match=message):
        parse_points([point], 32, 32)


def test_bad_strokes(hint_runner, tmp_path):
    image = pattern(0, 64)[:48]
    with pytest.raises(HintError, match="hint strokes are 12 x 10 but the image is 64 x 48"):
        hint_runner(image, hints=np.zeros((10, 12, 4), np.uint8))
    with pytest.raises(HintError, match=r"need transparency \(RGBA"):
        hint_runner(image, hints=np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(HintError, match="hints must be points"):
        hint_runner(image, hints=object())
    with pytest.raises(ValueError, match="missing.png"):
        hint_runner(image, hints=tmp_path / "missing.png")


def test_wrong_number_of_hint_entries(hint_runner):
    image = pattern(0, 32)
    with pytest.raises(HintError, match="got hints for 1 images but 2 images: give one entry per image"):
        hint_runner([image, image], hints=[[(1, 1, (0, 0, 0))]])
    with pytest.raises(HintError, match="got hints for 3 images but 2 images"):
        hint_runner([image, image], hints=[None, None, None])


@pytest.mark.parametrize("kind", ["torch", "onnx"])
def test_hints_for_a_model_without_hints(runners, kind, tmp_path):
    plain = runners[kind, "plain"]
    image = pattern(0, 32)
    for hints in ([(1, 1, (255, 0, 0))], np.zeros((32, 32, 4), np.uint8)):
        with pytest.raises(HintError, match="takes no colour hints") as error:
            plain(image, hints=hints)
        assert "--hints" in str(error.value)
    with pytest.raises(HintError, match="takes no colour hints"):
        plain([image], hints=[[(1, 1, (255, 0, 0))]])
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "a.png", image)
    with pytest.raises(HintError, match="takes no colour hints"):
        plain.translate_folder(tmp_path / "in", tmp_path / "out", hints=tmp_path / "in", progress=False)
    assert not (tmp_path / "out" / "a.png").exists()
    # no hints: runs as ever
    assert plain(image).shape == (32, 32, 3)
    np.testing.assert_array_equal(plain(image, hints=[]), plain(image))


# ------------------------------------------------------------------------------------------ folder jobs


def make_hint_folders(root: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """in/{a, sub/c} with strokes, in/d without, in/b with strokes of the wrong size, and
    hints/extra.png with no input. Returns (inputs, hints, {name: strokes})."""
    inputs, hints = root / "in", root / "hints"
    strokes = {}
    for i, name in enumerate(["a", "sub/c", "b", "d"]):
        write_image(inputs / f"{name}.png", pattern(20 + i, 64)[:48])
    for i, name in enumerate(["a", "sub/c"]):
        s = np.zeros((48, 64, 4), np.uint8)
        s[5 + 10 * i : 12 + 10 * i, 10:50] = (255, 40 * i, 0, 255)
        write_rgba(hints / f"{name}.png", s)
        strokes[name] = s
    write_rgba(hints / "b.png", np.zeros((32, 32, 4), np.uint8))
    write_rgba(hints / "extra.png", np.zeros((48, 64, 4), np.uint8))
    return inputs, hints, strokes


def check_failed(failed: list, inputs: Path, hints: Path) -> None:
    reasons = {Path(path): reason for path, reason in failed}
    assert set(reasons) == {inputs / "d.png", inputs / "b.png", hints / "extra.png"}
    assert "no hints file" in reasons[inputs / "d.png"] and str(hints / "d.png") in reasons[inputs / "d.png"]
    assert "is 32 x 32 but the image is 64 x 48" in reasons[inputs / "b.png"]
    assert "no input image" in reasons[hints / "extra.png"]


@pytest.mark.parametrize("kind", ["torch", "onnx"])
def test_translate_folder_with_hints(runners, tmp_path, kind):
    runner = runners[kind, "colorize"]
    inputs, hints, strokes = make_hint_folders(tmp_path)
    out = tmp_path / "out"
    report = runner.translate_folder(inputs, out, hints=hints, progress=False)
    assert not report.ok
    assert sorted(report.written) == sorted([out / "a.png", out / "sub" / "c.png"])
    check_failed(report.failed, inputs, hints)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "sub/c.png"]
    for name, s in strokes.items():
        written = read_image(out / f"{name}.png")
        image = read_image(inputs / f"{name}.png")
        np.testing.assert_array_equal(written, runner(image, hints=s))  # the strokes were used
        assert np.abs(written.astype(int) - runner(image).astype(int)).max() > 20
    # a rerun: the written ones are kept, the same three failures again
    again = runner.translate_folder(inputs, out, hints=hints, progress=False)
    assert not again.written and len(again.skipped_existing) == 2
    check_failed(again.failed, inputs, hints)
    # one input file with its stroke file
    single = runner.translate_folder(inputs / "a.png", tmp_path / "one", hints=hints / "a.png", progress=False)
    assert single.ok and single.written == [tmp_path / "one" / "a.png"]
    np.testing.assert_array_equal(read_image(tmp_path / "one" / "a.png"), read_image(out / "a.png"))
    with pytest.raises(FileNotFoundError, match="do not exist"):
        runner.translate_folder(inputs, tmp_path / "x", hints=tmp_path / "nowhere", progress=False)
    with pytest.raises(ValueError, match="must be a folder too"):
        runner.translate_folder(inputs, tmp_path / "x", hints=hints / "a.png", progress=False)


def test_translate_folder_hints_layouts(runners, tmp_path):
    """Hint strokes inside the input folder are not inputs; one input file with a hints folder
    reads its own strokes only; the input folder as its own hints folder is refused."""
    model = runners["onnx", "colorize"]
    inputs = tmp_path / "in"
    for name in ("a", "b"):
        write_image(inputs / f"{name}.png", pattern(30, 32))
        s = np.zeros((32, 32, 4), np.uint8)
        s[4:8, 4:28] = (255, 0, 0, 255) if name == "a" else (0, 0, 255, 255)
        write_rgba(inputs / "hints" / f"{name}.png", s)
    report = model.translate_folder(inputs, tmp_path / "out", hints=inputs / "hints", progress=False)
    assert report.ok, report.summary()
    assert sorted(report.written) == [tmp_path / "out" / "a.png", tmp_path / "out" / "b.png"]
    assert sorted(Path(p) for p, _ in report.skipped) == [inputs / "hints" / "a.png", inputs / "hints" / "b.png"]
    assert all("hints folder" in reason for _, reason in report.skipped)
    assert not (tmp_path / "out" / "hints").exists()
    single = model.translate_folder(inputs / "a.png", tmp_path / "one", hints=inputs / "hints", progress=False)
    assert single.ok, single.summary()  # hints/b.png belongs to another image: not a failure here
    np.testing.assert_array_equal(read_image(tmp_path / "one" / "a.png"), read_image(tmp_path / "out" / "a.png"))
    with pytest.raises(ValueError, match="is the input folder"):
        model.translate_folder(inputs, tmp_path / "x", hints=inputs, progress=False)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").rglob("*.png"))


@pytest.mark.parametrize("cli", ["img2img", "img2img-onnx"])
def test_cli_translate_with_hints(models, tmp_path, capsys, cli):
    inputs, hints, strokes = make_hint_folders(tmp_path)
    out = tmp_path / "out"
    args = ["--input", str(inputs), "--output", str(out), "--hints", str(hints), "--no-progress"]
    if cli == "img2img":
        code = cli_main(["translate", "--model", str(models["colorize"]), "--device", "cpu", *args])
    else:
        code = onnx_main(["--model", str(models["colorize_onnx"]), *args])
    printed = capsys.readouterr().out
    assert code == 1
    assert "2 written" in printed and "3 failed" in printed
    for path in (inputs / "d.png", inputs / "b.png", hints / "extra.png"):
        assert f"FAILED {path}" in printed
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "sub/c.png"]
    model = Model(models["colorize_onnx"])
    np.testing.assert_allclose(
        read_image(out / "a.png").astype(int),
        model(read_image(inputs / "a.png"), hints=strokes["a"]).astype(int),
        atol=3,
    )
    # only matched files: exit 0
    for path in (inputs / "d.png", inputs / "b.png", hints / "extra.png", hints / "b.png"):
        path.unlink()
    code = (
        cli_main(["translate", "--model", str(models["colorize"]), "--device", "cpu", *args, "--overwrite"])
        if cli == "img2img"
        else onnx_main(["--model", str(models["colorize_onnx"]), *args, "--overwrite"])
    )
    assert code == 0, capsys.readouterr()


# ------------------------------------------------------------------------------------------ eval


@pytest.fixture(scope="module")
def eval_photos(tmp_path_factory) -> Path:
    return make_photos(tmp_path_factory.mktemp("eval_photos") / "photos")


def test_eval_with_hints(models, eval_photos):
    report = evaluate_model(
        str(models["colorize"]), eval_photos, task="colorize", hints=[0, 5], device="cpu", max_images=2
    )
    rows = [
        "model, 0 hints",
        "model, 5 hints",
        "baseline (hint spreading), 0 hints",
        "baseline (hint spreading), 5 hints",
    ]
    assert set(rows) <= set(report.rows) and MODEL_ROW in report.rows
    assert report.settings["hints"] == [0, 5] and report.images == 2
    # 0 hints: the model's automatic mode, and the spreading leaves the gray input
    assert {k: report.rows["model, 0 hints"][k] for k in SCORES} == {k: report.rows[MODEL_ROW][k] for k in SCORES}
    spread0 = report.rows["baseline (hint spreading), 0 hints"]
    assert {k: spread0[k] for k in SCORES} == {k: report.rows[INPUT_ROW][k] for k in SCORES}
    assert spread0["colorfulness"] == 0
    assert report.rows["baseline (hint spreading), 5 hints"]["colorfulness"] > 1
    assert report.rows["model, 5 hints"]["psnr"] != report.rows[MODEL_ROW]["psnr"]
    for row in rows:
        assert all(math.isfinite(report.rows[row][k]) for k in SCORES)
    for image in report.per_image:
        assert set(rows) <= set(image["rows"])


def test_eval_with_hints_sketch_onnx(models, eval_photos):
    report = evaluate_model(str(models["sketch_onnx"]), eval_photos, task="sketch", hints=[3], max_images=1)
    assert {"model, 3 hints", "baseline (hint spreading), 3 hints"} <= set(report.rows)
    assert "model, 0 hints" not in report.rows


def test_eval_hints_errors(models, eval_photos, capsys):
    with pytest.raises(ValueError, match="trained without colour hints"):
        evaluate_model(str(models["plain"]), eval_photos, task="colorize", hints=[1], device="cpu", max_images=1)
    with pytest.raises(ValueError, match="trained without colour hints"):
        evaluate_model(str(models["plain_onnx"]), eval_photos, task="sketch", hints=[1], max_images=1)
    with pytest.raises(ValueError, match="colorize and sketch tasks, not to restore"):
        evaluate_model(str(models["colorize"]), eval_photos, task="restore", hints=[1], device="cpu")
    with pytest.raises(ValueError, match="whole numbers 0 to 64"):
        evaluate_model(str(models["colorize"]), eval_photos, task="colorize", hints=[65], device="cpu")
    with pytest.raises(SystemExit) as exit_:  # argparse: a usage error
        cli_main(["eval", "--model", str(models["colorize"]), "--data", str(eval_photos), "--task", "colorize",
                  "--hints", "0,x"])  # fmt: skip
    assert exit_.value.code == 2 and "expected hint counts like 0,1,5,20" in capsys.readouterr().err


def test_spread_hints_no_points_and_one_point():
    guide = np.repeat(pattern(5, 32).mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    np.testing.assert_array_equal(spread_hints(guide, [], space="ab"), guide)
    np.testing.assert_array_equal(spread_hints(guide[:, :, :1], [], space="ab"), guide)  # 1-channel guide
    flat = np.full((32, 32, 3), 140, np.uint8)
    colour = (200, 60, 40)
    out = spread_hints(flat, [(10, 12, colour, 3)], space="ab")
    lab = rgb_to_lab(out.astype(np.float64) / 255.0)
    hint_ab = ab_of(colour)
    at = lab[12, 10]
    assert abs(at[0] - rgb_to_lab(np.full((1, 1, 3), 140 / 255.0))[0, 0, 0]) < 1.0  # the guide's lightness
    hue = math.degrees(math.atan2(at[2], at[1]))
    assert abs(hue - math.degrees(math.atan2(hint_ab[1], hint_ab[0]))) < 3  # the hint's hue
    assert math.hypot(at[1], at[2]) > 0.6 * math.hypot(*hint_ab)
    chroma = np.hypot(lab[:, :, 1], lab[:, :, 2])
    assert chroma[31, 31] < chroma[12, 10]  # fading away from it
    # rgb: the hints over a mid-gray canvas, the lines drawn over them
    white = np.full((16, 16, 3), 255, np.uint8)
    np.testing.assert_array_equal(spread_hints(white, [], space="rgb"), np.full((16, 16, 3), 128, np.uint8))
    one = spread_hints(white, [(4, 5, (250, 10, 100))], space="rgb")
    expected = np.rint((np.array([250, 10, 100]) + 128 * SPREAD_PRIOR) / (1 + SPREAD_PRIOR))
    np.testing.assert_array_equal(one[5, 4], expected)
    lines = white.copy()
    lines[:, 8] = 0
    assert (spread_hints(lines, [(4, 5, (250, 10, 100))], space="rgb")[:, 8] == 0).all()


# ------------------------------------------------------------------------------------------ HintSpread


def tiny_spread(image_channels: int = 1, hint: int = 3, out: int = 2) -> HintSpread:
    torch.manual_seed(0)
    extra = HintSpread.extra_channels(hint)
    inner = create_model(
        "resnet_6blocks", num_blocks=1, base_channels=4, in_channels=image_channels + hint + extra, out_channels=out
    )
    return HintSpread(net=inner.config, hint_channels=hint).eval()


def test_hint_spread_shapes_and_channels():
    net = tiny_spread()
    assert (net.in_channels, net.out_channels, net.hint_channels, net.cells) == (4, 2, 3, (4, 16, 64))
    assert HintSpread.extra_channels(3) == 12 and net.net.in_channels == 16
    x = torch.zeros(2, 4, 64, 64)
    x[:, 0] = torch.linspace(-1, 1, 64)
    colour = torch.tensor([0.4, -0.3])
    x[0, 1:3, 12, 10], x[0, 3, 12, 10] = colour, 1.0  # one 1-pixel hint in image 0, none in image 1
    with torch.no_grad():
        y = net(x)
        spread = net.spread(x[:, 1:])
    assert y.shape == (2, 2, 64, 64) and spread.shape == (2, 12, 64, 64)
    # per cell size (4, 16, 64) then the whole image: (colour, colour, confidence)
    for k, cell in enumerate((4, 16, 64)):
        guess, confidence = spread[0, 3 * k : 3 * k + 2], spread[0, 3 * k + 2]
        # the hint's colour (diluted a little by the 1e-6 in the division: 0.4 % in a 64 px cell)
        torch.testing.assert_close(guess[:, 12, 10], colour, atol=1e-4, rtol=0.005)
        assert 0 < confidence[12, 10] < 1
        if cell < 64:  # small cells: nothing far away (2 cells on)
            assert confidence[12 + 2 * cell :].abs().max() == 0 and guess[:, 12 + 2 * cell :].abs().max() == 0
    assert confidence.min() > 0  # the 64 px cell covers the whole image
    torch.testing.assert_close(spread[0, 9:11], colour[:, None, None].expand(2, 64, 64), atol=0, rtol=0.01)
    assert torch.all(spread[0, 11] > 0.5)  # whole image: confident everywhere
    assert spread[1].abs().max() == 0  # no hint: no guess, no confidence
    confidence4 = spread[0, 2]
    assert confidence4[12, 10] > confidence4[12, 18] >= 0  # falls off
    # the inner net reads the input then the guesses
    seen = {}
    handle = net.net.register_forward_pre_hook(lambda module, args: seen.setdefault("x", args[0]))
    with torch.no_grad():
        net(x)
    handle.remove()
    torch.testing.assert_close(seen["x"], torch.cat([x, spread], 1))
    with pytest.raises(ValueError, match="leaves no image channel"):
        HintSpread(net=create_model("resnet_6blocks", num_blocks=1, base_channels=4, in_channels=15).config)


def test_hint_spread_any_size_and_rebuild():
    net = tiny_spread()
    config = net.config
    assert config["arch"] == "hint_spread" and config["net"]["in_channels"] == 16
    again = build_model(json.loads(json.dumps(config)))  # through JSON, as a model folder keeps it
    assert isinstance(again, HintSpread) and again.cells == net.cells
    again.load_state_dict(net.state_dict())
    again.eval()
    x = torch.randn(1, 4, 36, 44)  # not a multiple of the cells
    x[:, 1:] = 0
    x[:, 1:3, 20, 30], x[:, 3, 20, 30] = 0.5, 1
    with torch.no_grad():
        torch.testing.assert_close(again(x), net(x))
        assert net(x).shape == (1, 2, 36, 44)


def test_hint_spread_saves_and_exports(tmp_path):
    from img2img.checkpoint import load_pretrained, save_pretrained
    from img2img.export import export_onnx
    from img2img.tasks.base import generator_io_spec

    net = tiny_spread(image_channels=3, hint=4, out=3)  # an RGB (sketch-like) hint model
    assert net.in_channels == 7
    io_spec = generator_io_spec(net)
    io_spec["input"]["color_space"] = "rgb"
    io_spec["hints"] = {"space": "rgb", "channels": 4}
    save_pretrained({"AtoB": net}, tmp_path / "model", task="pix2pix", io_spec=io_spec)
    config, nets = load_pretrained(tmp_path / "model")
    assert isinstance(nets["AtoB"], HintSpread) and config["hints"] == {"space": "rgb", "channels": 4}
    report = export_onnx(tmp_path / "model", tmp_path / "net.onnx", opset=17)
    assert report.max_abs_diff < 1e-4
    model = Model(tmp_path / "net.onnx")
    assert model.takes_hints and model.spec.image_channels == 3
    x = torch.rand(1, 7, 36, 52) * 2 - 1  # multiples of 4 (the ResNet), not of the cells
    mask = (torch.rand(1, 1, 36, 52) < 0.03).float()
    x[:, 3:6] *= mask
    x[:, 6:] = mask
    with torch.no_grad():
        expected = net(x).numpy()
    got = model.run_batch(x.numpy())
    np.testing.assert_allclose(got, expected, atol=1e-4)
    image, points = pattern(9, 40)[:36], [(5, 5, (255, 0, 0)), (30, 20, (0, 0, 255), 9)]
    translator = Translator.from_pretrained(tmp_path / "model", device="cpu")
    assert np.abs(model(image, hints=points).astype(int) - translator(image, hints=points).astype(int)).max() <= 1


@pytest.mark.parametrize("kind", ["rgb array", "gray array", "gray x 1 array", "pil rgb", "pil gray", "tensor rgb"])
def test_strokes_without_alpha_are_refused(kind):
    """Without alpha every pixel would be a hint (the model told the whole picture's colour)."""
    from PIL import Image

    rgb = np.full((6, 8, 3), 200, np.uint8)
    strokes = {
        "rgb array": rgb,
        "gray array": rgb[:, :, 0],
        "gray x 1 array": rgb[:, :, :1],
        "pil rgb": Image.fromarray(rgb),
        "pil gray": Image.fromarray(rgb[:, :, 0]),
        "tensor rgb": torch.from_numpy(rgb).permute(2, 0, 1).float() / 255,
    }[kind]
    with pytest.raises(HintError, match="need transparency"):
        hint_planes(strokes, 6, 8, "ab")
    with pytest.raises(HintError, match="need transparency"):
        load_strokes(strokes)


def test_strokes_with_alpha_in_other_forms():
    from PIL import Image

    rgba = strokes_image()
    expected = hint_planes(rgba, 6, 8, "rgb")
    assert expected[-1].sum() == 8
    tensor = torch.from_numpy(rgba).permute(2, 0, 1)  # uint8 C x H x W
    np.testing.assert_array_equal(hint_planes(tensor, 6, 8, "rgb"), expected)
    palette = Image.fromarray(rgba[:, :, :3]).convert("P")  # a palette without transparency: refused
    with pytest.raises(HintError, match="need transparency"):
        hint_planes(palette, 6, 8, "rgb")
    gray_alpha = Image.fromarray(np.dstack([rgba[:, :, 0], rgba[:, :, 3]]), "LA")
    np.testing.assert_array_equal(hint_planes(gray_alpha, 6, 8, "rgb")[-1], expected[-1])


def test_load_strokes_shapes():
    rgba = strokes_image()
    assert load_strokes(rgba).shape == (6, 8, 4)
    np.testing.assert_array_equal(load_strokes(rgba), rgba)
    gray_alpha = np.zeros((6, 8, 2), np.uint8)
    gray_alpha[1, 1] = (200, 255)
    assert load_strokes(gray_alpha)[1, 1].tolist() == [200, 200, 200, 255]


def test_stroke_files_without_transparency_are_refused(tmp_path):
    from img2img_runtime.hints import HintError, hint_planes
    from img2img_runtime.io import write_image

    path = tmp_path / "opaque.png"
    write_image(path, np.full((6, 8, 3), 200, np.uint8))  # saved without alpha: read as opaque
    with pytest.raises(HintError, match="no transparent pixel"):
        hint_planes(str(path), 6, 8, "rgb")
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[2, 3] = (255, 0, 0, 255)
    assert hint_planes(rgba, 6, 8, "rgb")[-1].sum() == 1.0  # a transparent image with one stroke pixel
