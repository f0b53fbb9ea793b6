"""Line drawings: white paper, dark lines where the photo has edges, nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

from img2img.data.sketch import SKETCH_METHODS, sketch, sketch_to_rgb

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


@pytest.mark.parametrize("kwargs", [{}, {"threshold": 0.5}, {"method": "canny"}, {"gamma": 0.95, "thickness": 2},
                                    {"method": "canny", "thickness": 3}])
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
