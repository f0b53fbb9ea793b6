"""Line drawings: white paper, dark lines where the photo has edges, nowhere else; random styles."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_degrade import picture_shift, textured

from img2img.data.sketch import SKETCH_METHODS, random_sketch_style, sketch, sketch_random, sketch_to_rgb

SQUARE = (40, 88)  # the square covers rows and columns 40..87 of a 128 x 128 image


def square_image(channels: int = 3) -> np.ndarray:
    image = np.full((128, 128, channels), 255, np.uint8)
    image[SQUARE[0] : SQUARE[1], SQUARE[0] : SQUARE[1]] = 20
    return image


def distance_to_border(size: int = 128) -> np.ndarray:
    """Chebyshev distance of every pixel to the square's outline."""
    yy, xx = np.mgrid[0:size, 0:size]
    lo, hi = SQUARE[0] - 0.5, SQUARE[1] - 0.5  # the outline lies between pixels
    dx = np.maximum(lo - xx, xx - hi)  # > 0 outside in x, < 0 inside
    dy = np.maximum(lo - yy, yy - hi)
    outside = np.maximum(dx, dy)
    return np.abs(outside)


@pytest.mark.parametrize("method", SKETCH_METHODS)
@pytest.mark.parametrize("shape", [(64, 80, 3), (64, 80, 1), (64, 80)])
def test_shape_and_flat_image(method, shape):
    flat = np.full(shape, 130, np.uint8)
    out = sketch(flat, method=method)
    assert out.shape == (64, 80, 1) and out.dtype == np.uint8
    assert out.min() >= 250


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"threshold": 0.5}, {"method": "canny"}, {"gamma": 0.95, "thickness": 2}, {"method": "canny", "thickness": 3}],
)
def test_square_outline(kwargs):
    out = sketch(square_image(), **kwargs)[:, :, 0]
    distance = distance_to_border()
    assert out[distance > 6].min() >= 250  # white far from the outline, inside and outside
    ink = np.where(distance < 2.5, out, 255)  # only what lies on the outline
    lo, hi = SQUARE
    along = slice(lo + 8, hi - 8)  # away from the corners
    for band, axis in (
        (ink[along, lo - 3 : lo + 3], 1),  # left edge: ink in every row
        (ink[along, hi - 3 : hi + 3], 1),  # right
        (ink[lo - 3 : lo + 3, along], 0),  # top: ink in every column
        (ink[hi - 3 : hi + 3, along], 0),  # bottom
    ):
        assert (band.min(axis=axis) < 100).all()


@pytest.mark.parametrize("method", SKETCH_METHODS)
def test_thickness_grows_lines(method):
    counts = [int((sketch(square_image(), method=method, thickness=t) < 128).sum()) for t in (1, 3, 5)]
    assert 0 < counts[0] < counts[1] < counts[2]


@pytest.mark.parametrize("method", SKETCH_METHODS)
def test_deterministic_and_gray_matches_rgb(method):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 48, 1), dtype=np.uint8).repeat(3, axis=2)
    np.testing.assert_array_equal(sketch(image, method=method), sketch(image, method=method))
    np.testing.assert_array_equal(sketch(image, method=method), sketch(image[:, :, :1], method=method))


def test_threshold_binarises():
    values = np.unique(sketch(square_image(), threshold=0.5))
    assert set(values.tolist()) <= {0, 255} and len(values) == 2


def test_sketch_to_rgb():
    lines = sketch(square_image())
    rgb = sketch_to_rgb(lines)
    assert rgb.shape == (128, 128, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[:, :, 2], lines[:, :, 0])
    np.testing.assert_array_equal(sketch_to_rgb(lines[:, :, 0]), rgb)


@pytest.mark.parametrize(
    "image,kwargs",
    [
        (None, {"method": "hed"}),
        (None, {"sigma": 0}),
        (None, {"sigma": -1.0}),
        (None, {"k": 1.0}),
        (None, {"gamma": 0.0}),
        (None, {"gamma": 1.5}),
        (None, {"phi": 0}),
        (None, {"epsilon": float("nan")}),
        (None, {"threshold": 0.0}),
        (None, {"threshold": 1.5}),
        (None, {"thickness": 0}),
        (None, {"thickness": 1.5}),
        (None, {"thickness": True}),
        (np.zeros((32, 32, 3), np.float32), {}),
        (np.zeros((32, 32, 4), np.uint8), {}),
        (np.zeros((32,), np.uint8), {}),
    ],
)
def test_bad_arguments_raise(image, kwargs):
    with pytest.raises(ValueError):
        sketch(square_image() if image is None else image, **kwargs)


# ------------------------------------------------------------------------------- random styles


def ink_of(lines: np.ndarray) -> np.ndarray:
    return 255.0 - lines[:, :, 0].astype(np.float64)


def test_random_styles_vary_with_the_seed():
    styles = [random_sketch_style(np.random.default_rng([seed])) for seed in range(60)]
    assert {s["method"] for s in styles} == {"xdog", "canny"}
    assert {s["thickness"] for s in styles} == {1, 2, 3, 4}  # thin and thick
    assert {s["thickness"] for s in styles if s["method"] == "xdog"} == {1, 2, 3}
    assert any("threshold" in s for s in styles) and any("threshold" not in s for s in styles if s["method"] == "xdog")
    for key, (lo, hi) in {"ink": (0, 60), "paper": (235, 255)}.items():
        values = [s[key] for s in styles]
        assert lo <= min(values) < max(values) <= hi and max(values) - min(values) > (hi - lo) / 2
    sigmas = [s["sigma"] for s in styles if s["method"] == "xdog"]
    assert max(sigmas) - min(sigmas) > 0.4
    phis = [s["phi"] for s in styles if s["method"] == "xdog"]
    assert max(phis) > 5 * min(phis)
    for style in styles:  # every style is valid sketch() input
        options = {k: v for k, v in style.items() if k not in ("ink", "paper")}
        sketch(square_image()[:32, :32], **options)


def test_sketch_random_is_seeded_and_draws_ink_on_paper():
    photo = textured(7, 96)
    outputs = [sketch_random(photo, np.random.default_rng([seed])) for seed in range(8)]
    for seed, out in enumerate(outputs):
        assert out.shape == (96, 96, 1) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, sketch_random(photo, np.random.default_rng([seed])))
        style = random_sketch_style(np.random.default_rng([seed]))
        values, counts = np.unique(out, return_counts=True)
        paper = values[np.argmax(counts)]
        assert 235 <= paper <= 255 and abs(int(paper) - style["paper"]) <= 1  # white paper, most of the page
        assert out.min() <= style["ink"] + 1 and out.min() < 100  # dark lines
    assert len({out.tobytes() for out in outputs}) == len(outputs)


def test_sketch_random_lines_lie_on_the_edges():
    """Every style: ink only near the square's outline, and all along it."""
    distance = distance_to_border()
    lo, hi = SQUARE
    along = slice(lo + 8, hi - 8)
    for seed in range(16):
        style = random_sketch_style(np.random.default_rng([seed]))
        out = sketch_random(square_image(), np.random.default_rng([seed]))[:, :, 0].astype(float)
        dark = out < (style["ink"] + style["paper"]) / 2
        # Canny draws on the edge; XDoG on its dark side, deeper for a larger sigma
        reach = style["thickness"] / 2 + (0.5 if style["method"] == "canny" else 1.5 + 3 * style["sigma"])
        assert dark.any() and distance[dark].max() <= reach, (style, distance[dark].max())
        for band in (
            dark[along, lo - 4 : lo + 4].any(1),
            dark[along, hi - 4 : hi + 4].any(1),
            dark[lo - 4 : lo + 4, along].any(0),
            dark[hi - 4 : hi + 4, along].any(0),
        ):
            assert band.all(), style


@pytest.mark.parametrize("thickness", [1, 2, 3, 4])
def test_canny_lines_are_centred_on_the_photo_edges(thickness):
    """The ink of Canny lines (of any width) lies on the photo's gradient magnitude, within 0.15 px."""
    for seed in range(2):
        photo = textured(seed, 192)
        luma = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
        edges = np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1))
        dx, dy = picture_shift(edges, ink_of(sketch(photo, method="canny", thickness=thickness)))
        assert max(abs(dx), abs(dy)) <= 0.15, (thickness, seed, dx, dy)


@pytest.mark.parametrize("method", SKETCH_METHODS)
def test_widening_keeps_lines_in_place(method):
    """Even widths too: an even kernel alone would move every line by half a pixel."""
    photo = textured(3, 160)
    thin = ink_of(sketch(photo, method=method))
    for thickness in (2, 3, 4):
        dx, dy = picture_shift(thin, ink_of(sketch(photo, method=method, thickness=thickness)))
        assert max(abs(dx), abs(dy)) <= 0.05, (thickness, dx, dy)
