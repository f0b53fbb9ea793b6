"""Colour hints: a person's colour points and strokes, as the extra input channels of a hint model.

A hint model (trained with ``img2img train ... --hints``) reads, beside its image input, where a
person asked for which colour. Its metadata declare it (``config["hints"]``, flat key
``img2img.hints``), and every way of running a model reads the declaration from there:

=========  ==================================================================  ========
space      channels after the image's (in this order)                          count
=========  ==================================================================  ========
``ab``     Lab models (colorize): the hint's ``a / ab_scale``, ``b / ab_scale``    3
           and the mask
``rgb``    RGB models (sketch): the hint's R, G, B as ``v / 127.5 - 1`` and        4
           the mask
=========  ==================================================================  ========

The mask is 1 where a hint is and 0 elsewhere; the colour channels are 0 where there is no hint.
With no hint at all the model runs in its automatic mode (trained with 0 hints too).

Hints are given as any of:

* **points**: a sequence of ``(x, y, (r, g, b))`` or ``(x, y, (r, g, b), size)``: a ``size`` x
  ``size`` square (default :data:`POINT_SIZE`) of that colour centred on pixel ``(x, y)``
  (:func:`patch_box`; x is the column, y the row, from the top-left corner; colours 0-255);
* **strokes**: an RGBA image the size of the input (numpy ``H x W x 4`` uint8, a PIL image, or
  a path to a PNG with transparency): where alpha is at least 128 its colour is a hint;
* None or an empty sequence: no hints.

Training draws its hints from the target the same way (:func:`patch_box` squares, the target's
mean colour in each), see :mod:`img2img.hints`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from numbers import Real
from typing import Any

import cv2
import numpy as np

from .color import rgb_to_lab
from .io import _is_torch_tensor, _pil_image_class, as_uint8_image

HINT_SPACES = {"ab": 3, "rgb": 4}  # space -> channels (colour + mask)
POINT_SIZE = 5  # side of the square a point without its own size covers (training draws 1-9)
MAX_POINT_SIZE = 64
ALPHA_THRESHOLD = 128  # stroke pixels with at least this alpha are hints


class HintError(ValueError):
    """Hints that cannot be used: outside the image, a wrong shape or colour, or given to a model without hints."""


def hint_channels(space: str | None) -> int:
    """Input channels the hints add for a model whose hint space is ``space`` (None: 0)."""
    if space is None:
        return 0
    if space not in HINT_SPACES:
        raise ValueError(f"unknown hint space {space!r}; known: {', '.join(HINT_SPACES)}")
    return HINT_SPACES[space]


def patch_box(x: int, y: int, size: int, height: int, width: int) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of the ``size`` x ``size`` square centred on pixel ``(x, y)``
    (odd sizes exactly, even ones half a pixel up-left), clipped to a ``height`` x ``width`` image."""
    top, left = y - (size - 1) // 2, x - (size - 1) // 2
    return max(top, 0), min(top + size, height), max(left, 0), min(left + size, width)


def has_hints(hints: Any) -> bool:
    """True unless ``hints`` is None or an empty sequence (strokes count even when all transparent)."""
    if hints is None:
        return False
    if isinstance(hints, (list, tuple)):
        return len(hints) > 0
    return True


def _colour(value: Any, where: str) -> np.ndarray:
    try:
        colour = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise HintError(f"{where}: the colour must be (r, g, b) with values 0-255, got {value!r}") from None
    if colour.shape != (3,) or not np.all(np.isfinite(colour)) or colour.min() < 0 or colour.max() > 255:
        raise HintError(f"{where}: the colour must be (r, g, b) with values 0-255, got {value!r}")
    return colour


def _whole(value: Any, where: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (Real, np.integer)) or float(value) != int(value):
        raise HintError(f"{where}: {what} must be a whole number, got {value!r}")
    return int(value)


def parse_points(points: Sequence[Any], height: int, width: int) -> list[tuple[int, int, int, np.ndarray]]:
    """Checked ``(x, y, size, rgb float64)`` of each point; a :class:`HintError` names the first bad one."""
    out = []
    for i, point in enumerate(points):
        where = f"hint {i}"
        if not isinstance(point, (tuple, list)) or len(point) not in (3, 4):
            raise HintError(f"{where}: expected (x, y, (r, g, b)) or (x, y, (r, g, b), size), got {point!r}")
        x, y = _whole(point[0], where, "x"), _whole(point[1], where, "y")
        size = _whole(point[3], where, "size") if len(point) == 4 else POINT_SIZE
        if not 0 <= x < width or not 0 <= y < height:
            raise HintError(f"{where} at (x={x}, y={y}) is outside the {width} x {height} image")
        if not 1 <= size <= MAX_POINT_SIZE:
            raise HintError(f"{where}: size must be 1 to {MAX_POINT_SIZE} pixels, got {size}")
        out.append((x, y, size, _colour(point[2], where)))
    return out


def _encode(rgb: np.ndarray, space: str, ab_scale: float) -> np.ndarray:
    """``K x 3`` RGB 0-255 -> ``K x c`` colour channels of ``space``."""
    if space == "rgb":
        return (rgb / 127.5 - 1.0).astype(np.float32)
    lab = rgb_to_lab((rgb / 255.0).reshape(-1, 1, 3)).reshape(-1, 3)
    return (lab[:, 1:] / ab_scale).astype(np.float32)


def hint_planes(hints: Any, height: int, width: int, space: str, ab_scale: float = 110.0) -> np.ndarray:
    """The hint channels of one ``height`` x ``width`` image: float32 ``C x H x W`` (colour, mask).

    Args:
        hints: points, strokes or None (see the module docstring).
        space: ``"ab"`` or ``"rgb"`` (the model's ``config["hints"]["space"]``).
        ab_scale: the Lab model's ``ab = output * ab_scale`` (its ``color.ab_scale``).

    Raises:
        HintError: a point outside the image or malformed, strokes of another size or shape.
    """
    channels = hint_channels(space)
    planes = np.zeros((channels, height, width), np.float32)
    if not has_hints(hints):
        return planes
    if isinstance(hints, (list, tuple)):
        points = parse_points(hints, height, width)
        codes = _encode(np.stack([p[3] for p in points]), space, ab_scale)
        for (x, y, size, _), code in zip(points, codes):
            top, bottom, left, right = patch_box(x, y, size, height, width)
            planes[:-1, top:bottom, left:right] = code[:, None, None]
            planes[-1, top:bottom, left:right] = 1.0
        return planes
    strokes = load_strokes(hints)
    if strokes.shape[:2] != (height, width):
        raise HintError(
            f"hint strokes are {strokes.shape[1]} x {strokes.shape[0]} but the image is {width} x {height}: "
            "draw them on a transparent image of the input's size"
        )
    mask = strokes[:, :, 3] >= ALPHA_THRESHOLD
    if mask.any():
        codes = _encode(strokes[:, :, :3][mask].astype(np.float64), space, ab_scale)
        planes[:-1, mask] = codes.T
        planes[-1, mask] = 1.0
    return planes


def load_strokes(strokes: Any) -> np.ndarray:
    """Strokes (array, PIL image or path) -> uint8 ``H x W x 4`` RGBA (alpha kept)."""
    if _without_alpha(strokes):
        raise HintError(
            "hint strokes need transparency (RGBA, H x W x 4): an RGB or gray image without alpha would make "
            "every pixel a hint"
        )
    try:
        rgba = as_uint8_image(strokes, channels=4)
    except TypeError as error:
        raise HintError(f"hints must be points [(x, y, (r, g, b)), ...] or an RGBA stroke image: {error}") from None
    except ValueError as error:
        if isinstance(strokes, (str, os.PathLike)):
            raise
        raise HintError(f"hint strokes: {error}") from None
    check_transparent(rgba, str(strokes) if isinstance(strokes, (str, os.PathLike)) else "hint strokes")
    return rgba


def check_transparent(rgba: np.ndarray, source: str) -> None:
    """A :class:`HintError` when an RGBA stroke image has no transparent pixel at all (a file saved
    without alpha, read as opaque): every pixel would be a hint."""
    if rgba.size and int(rgba[:, :, 3].min()) >= ALPHA_THRESHOLD:
        raise HintError(
            f"{source}: no transparent pixel, so every pixel would be a colour hint; save the strokes as a PNG "
            "with transparency (colour where the hints are, transparent elsewhere)"
        )


def _without_alpha(strokes: Any) -> bool:
    """An in-memory image with no alpha channel (RGB or gray array, tensor or PIL image): read as
    strokes it would be opaque, every pixel a hint. (Files are read as they are.)"""
    if isinstance(strokes, np.ndarray):
        return strokes.ndim == 2 or (strokes.ndim == 3 and strokes.shape[2] in (1, 3))
    pil_class = _pil_image_class()
    if pil_class is not None and isinstance(strokes, pil_class):
        mode = strokes.mode
        return mode not in ("LA", "La", "PA", "RGBA", "RGBa") and not (mode == "P" and "transparency" in strokes.info)
    if _is_torch_tensor(strokes):
        return strokes.dim() == 3 and strokes.shape[0] in (1, 3)
    return False


def resize_planes(planes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Hint channels resized (for a model that predicts colour at a lower resolution): each colour
    is averaged over the hinted pixels it covers, and every output pixel that covers a hint is one."""
    if planes.shape[1:] == (height, width):
        return planes
    mask = planes[-1]
    weighted = np.concatenate([planes[:-1] * mask, mask[None]]).transpose(1, 2, 0)
    small = cv2.resize(weighted, (width, height), interpolation=cv2.INTER_AREA)
    small = small.reshape(height, width, -1).transpose(2, 0, 1)
    cover = small[-1]
    out = np.zeros_like(small)
    hit = cover > 0
    out[:-1, hit] = small[:-1, hit] / cover[hit]
    out[-1, hit] = 1.0
    return out
