"""Seeded image degradations: aged photos (restoration) and real-world low resolution (SR).

Everything here maps a ``uint8 H x W x 3`` RGB array to a new one and takes its randomness from
an explicit ``np.random.Generator``: the output is a pure function of (image, generator state).
Callers seed one generator per item, ``np.random.default_rng([seed, epoch, index])``, so runs
are reproducible whatever the number of DataLoader workers. No torch at import time.

Alignment: no step moves the picture. A degraded photo and its clean original stay aligned within
0.1 px (tests/test_degrade.py measures every registered step, every preset and :func:`sr_degrade`),
so a model trained on the pairs learns to repair, not to blur. Blur kernels are centred and
symmetric; resizes go to an explicit size and back to exactly the original one (``cv2.resize``
keeps pixel centres in place), antialiased so that edges do not snap to the coarse grid; damage
(scratches, dust, creases, stains) is painted over the picture, which stays in place.

Old-photo restoration: a :class:`Degrader` runs a list of :class:`Step` s in order; each step is
applied with its probability ``p`` and draws its strength uniformly from its ranges (``lo..hi``).
The steps (``STEP_KINDS``), in the order the presets run them (taken, printed, aged, damaged,
scanned)::

    gaussian_blur   sigma (px)                 soft lens / print: Gaussian blur (albumentations GaussianBlur)
    motion_blur     size (odd px)              camera shake: symmetric, centred line kernel
                                               (albumentations MotionBlur), so content stays aligned
    defocus_blur    radius (px)                out of focus: antialiased disc kernel
    film_grain      std (0-255), size (px)     monochrome noise blurred to ``size``, strongest in
                                               mid-tones
    paper_texture   strength                   print paper: a mottle (6-20 px cells) and fibres
                                               (noise smeared along one direction), multiplied in
                                               with a gain of 1 +- about ``strength``
    fade            amount, paper (0-255),     blend towards a light-gray paper tone, lift the
                    lift (0-255), desaturate   blacks, lose saturation (contrast loss)
    color_cast      amount, sepia_prob         sepia toning or yellowing (blue loss), blended by
                                               ``amount``; sepia with probability ``sepia_prob``
    vignette        strength, exponent         darker corners (gain 1 - strength at a corner),
                                               centre moved by up to 7.5 % of the size
    stains          count, alpha               water / tea stains: soft, irregular, tinted blotches
                                               (brownish, yellowish or grayish) with a darker rim
                                               (the tide line), blended by ``alpha``
    creases         count, alpha               fold lines across the photo: a dark 1 px core
                                               beside a soft highlight
    scratches       count, width (px),         Bezier curves ``width`` px wide (soft-edged from
                    alpha, vertical,           3 px), straight to strongly curved; bright, dark,
                    color_prob, branch_prob    or with probability ``color_prob`` coloured (a
                                               random hue, as on damaged colour film); a fraction
                                               ``vertical`` are long and near-vertical (film), the
                                               rest short in any direction; with probability
                                               ``branch_prob`` one forks into 1-3 thinner branches
    dust            count (per 256x256),       specks (dots, ellipses), with ``blotch_prob``
                    size (px), alpha,          irregular blotches (overlapping ellipses), with
                    blotch_prob, hair_prob,    ``hair_prob`` hairs / fibres (thin curved lines of
                    hair_length (px),          ``hair_length``, sometimes a tangle of lint);
                    gray_prob                  near-white or near-black, mid-gray with
                                               probability ``gray_prob``
    downscale       scale                      down to ``scale`` x the size and back to exactly
                                               the original size (random, antialiased
                                               interpolation): a low-resolution scan
    gaussian_noise  std (0-255), gray_prob     sensor noise (albumentations GaussNoise), shared
                                               by the channels with probability ``gray_prob``
    shot_noise      peak, gray_prob            Poisson (shot) noise, Gaussian approximation:
                                               std = 255 * sqrt(x / peak); ``peak`` is the photon
                                               count of white, drawn log-uniformly (lower = noisier)
    jpeg            quality (1-100)            JPEG compression artefacts (encoded in BGR order, so
                                               chroma subsampling hits the real chroma)

Presets (``restore_degrader(preset)``; ``Degrader.describe()`` prints them); strength and
probability grow from light to heavy, and so does the damage (mean PSNR to the clean photo
decreases light > medium > heavy). ``varied`` is meant for training a general restoration model:
every kind of damage, light to heavy, in one distribution (wide ranges; coloured and branching
scratches, hairs, paper texture, stains); most crops get scratches or dust, about half get grain::

    light
      gaussian_blur p=0.30 sigma=0.4..1
      film_grain p=0.30 std=2..5 size=0.5..1
      fade p=0.50 amount=0.05..0.15 paper=215..240 lift=0..10 desaturate=0..0.2
      color_cast p=0.40 amount=0.1..0.3 sepia_prob=0.5
      vignette p=0.30 strength=0.1..0.25 exponent=1.5..2.5
      scratches p=0.20 count=1..2 width=1..1 alpha=0.3..0.6 vertical=0.8 color_prob=0 branch_prob=0
      dust p=0.30 count=3..10 size=0.5..1.5 alpha=0.3..0.7 blotch_prob=0.1 hair_prob=0.05 hair_length=5..40 gray_prob=0.15
      gaussian_noise p=0.30 std=1..4 gray_prob=0.5
      jpeg p=0.30 quality=70..95
    medium
      gaussian_blur p=0.40 sigma=0.6..1.6
      motion_blur p=0.10 size=3..7
      defocus_blur p=0.10 radius=1..2
      film_grain p=0.50 std=3..8 size=0.5..1.5
      fade p=0.70 amount=0.1..0.3 paper=210..240 lift=5..25 desaturate=0..0.4
      color_cast p=0.60 amount=0.2..0.6 sepia_prob=0.5
      vignette p=0.50 strength=0.15..0.4 exponent=1.5..2.5
      creases p=0.20 count=1..1 alpha=0.3..0.6
      scratches p=0.50 count=1..4 width=1..2 alpha=0.4..0.8 vertical=0.8 color_prob=0 branch_prob=0
      dust p=0.60 count=5..30 size=0.5..2.5 alpha=0.4..0.9 blotch_prob=0.1 hair_prob=0.05 hair_length=5..40 gray_prob=0.15
      downscale p=0.30 scale=0.5..0.8
      gaussian_noise p=0.40 std=2..8 gray_prob=0.5
      shot_noise p=0.20 peak=300..3000 gray_prob=0.5
      jpeg p=0.50 quality=40..85
    heavy
      gaussian_blur p=0.60 sigma=1..2.5
      motion_blur p=0.20 size=5..11
      defocus_blur p=0.20 radius=2..4
      film_grain p=0.80 std=6..14 size=0.7..2
      fade p=0.90 amount=0.25..0.5 paper=200..235 lift=15..50 desaturate=0.2..0.7
      color_cast p=0.80 amount=0.4..0.9 sepia_prob=0.5
      vignette p=0.70 strength=0.3..0.6 exponent=1.2..2.5
      creases p=0.50 count=1..3 alpha=0.4..0.8
      scratches p=0.80 count=3..10 width=1..2 alpha=0.5..1 vertical=0.8 color_prob=0 branch_prob=0
      dust p=0.90 count=20..80 size=0.7..3.5 alpha=0.5..1 blotch_prob=0.1 hair_prob=0.05 hair_length=5..40 gray_prob=0.15
      downscale p=0.50 scale=0.3..0.6
      gaussian_noise p=0.60 std=5..15 gray_prob=0.5
      shot_noise p=0.40 peak=100..1000 gray_prob=0.5
      jpeg p=0.70 quality=20..60
    varied
      gaussian_blur p=0.35 sigma=0.3..2.5
      motion_blur p=0.12 size=3..11
      defocus_blur p=0.12 radius=1..4
      film_grain p=0.50 std=2..14 size=0.5..2
      paper_texture p=0.30 strength=0.01..0.08
      fade p=0.60 amount=0.05..0.5 paper=200..240 lift=0..50 desaturate=0..0.7
      color_cast p=0.50 amount=0.1..0.9 sepia_prob=0.5
      vignette p=0.40 strength=0.1..0.6 exponent=1.2..2.5
      stains p=0.20 count=1..3 alpha=0.15..0.6
      creases p=0.25 count=1..3 alpha=0.3..0.8
      scratches p=0.60 count=1..10 width=1..6 alpha=0.3..1 vertical=0.6 color_prob=0.25 branch_prob=0.2
      dust p=0.65 count=3..80 size=0.5..3.5 alpha=0.3..1 blotch_prob=0.15 hair_prob=0.15 hair_length=5..40 gray_prob=0.25
      downscale p=0.30 scale=0.3..0.8
      gaussian_noise p=0.35 std=1..15 gray_prob=0.5
      shot_noise p=0.20 peak=100..3000 gray_prob=0.5
      jpeg p=0.50 quality=20..95

Sizes are in pixels and suit training crops of about 256-512 px; dust ``count`` is per
256 x 256 area (scaled with the image area).

Super-resolution: :func:`sr_degrade` makes the low-resolution input from a high-resolution
image: antialiased bicubic (:func:`bicubic_downscale`, the classic benchmark degradation), or
with ``realistic=True`` a "second-order" real-world chain: blur, downscale towards the target,
noise, JPEG, and with probability 1/2 a second milder blur/noise round, then the final resize to
exactly ``H/s x W/s`` and a last JPEG. Either way the low-resolution image, enlarged back with ``cv2.resize`` (bicubic),
lies on the high-resolution one (within 0.1 px).

Example:
    >>> rng = np.random.default_rng([0, epoch, index])
    >>> aged = restore_degrader("heavy", jpeg=None)(photo, rng)       # no JPEG step
    >>> low = sr_degrade(photo, 4, rng, realistic=True)
"""

from __future__ import annotations

import colorsys
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from .restore_presets import RESTORE_PRESETS

__all__ = ["PRESETS", "STEP_KINDS", "Degrader", "Step", "bicubic_downscale", "restore_degrader", "sr_degrade"]

PRESETS = RESTORE_PRESETS  # names only, so that the CLI lists them without importing OpenCV

Range = tuple[float, float]
StepFunction = Callable[..., np.ndarray]


@dataclass(frozen=True)
class StepKind:
    """A registered degradation: ``function(image, rng, **params) -> image`` and its defaults."""

    function: StepFunction
    defaults: Mapping[str, Any]


STEP_KINDS: dict[str, StepKind] = {}  # in registration order, which is the pipeline order


def _register(name: str, **defaults: Any) -> Callable[[StepFunction], StepFunction]:
    def decorate(function: StepFunction) -> StepFunction:
        if name in STEP_KINDS:
            raise ValueError(f"degradation step {name!r} is already registered")
        STEP_KINDS[name] = StepKind(function, defaults)
        return function

    return decorate


# ----------------------------------------------------------------------------------- helpers


def _albumentations() -> Any:
    """Imports albumentations lazily (it pulls in torch), without its PyPI update check."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call from data workers
    import albumentations

    return albumentations


def _albu(image: np.ndarray, rng: np.random.Generator, name: str, **kwargs: Any) -> np.ndarray:
    """Runs ``albumentations.<name>(**kwargs, p=1)`` seeded from ``rng`` (a fresh, thread-safe object)."""
    transform = getattr(_albumentations(), name)(p=1.0, **kwargs)
    transform.set_random_seed(int(rng.integers(2**32)))
    return transform(image=image)["image"]


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _integer(rng: np.random.Generator, bounds: Range) -> int:
    return int(rng.integers(int(bounds[0]), int(bounds[1]) + 1))


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def _composite(image: np.ndarray, mask: np.ndarray, color: float) -> np.ndarray:
    """Blends uint8 ``image`` towards ``color`` by the uint8 ``mask`` (H x W, 0-255), in place.

    Only the (sparse) masked pixels are touched.
    """
    ys, xs = np.nonzero(mask)
    alpha = mask[ys, xs].astype(np.float32)[:, None] * (1 / 255)  # (n, 1)
    image[ys, xs] = _to_uint8(image[ys, xs] * (1 - alpha) + color * alpha)
    return image


def _resize(image: np.ndarray, height: int, width: int, interpolation: int, *, antialias: bool = False) -> np.ndarray:
    """``cv2.resize`` to exactly ``height x width``, content kept in place.

    cv2.resize maps pixel centres (``x_in = (x_out + 0.5) * w_in / w_out - 0.5``), so resizing to
    an explicit size and back to the original one leaves the picture where it was.

    ``antialias``: shrinking with INTER_LINEAR / INTER_CUBIC point-samples, and every edge snaps
    to the coarse grid (by up to half a coarse pixel; net displacements of 0.1-0.3 px on small
    test images). With ``antialias`` those first get a Gaussian blur of sigma ``(factor - 1) / 2``
    per axis, so the sub-pixel position of an edge survives in the gray levels. INTER_AREA
    averages over each output pixel's footprint and needs no prefilter.
    """
    in_h, in_w = image.shape[:2]
    if antialias and interpolation != cv2.INTER_AREA and (height < in_h or width < in_w):
        sigma_y, sigma_x = max(0.0, (in_h / height - 1) / 2), max(0.0, (in_w / width - 1) / 2)
        image = cv2.GaussianBlur(
            image, (0, 0), sigmaX=max(sigma_x, 1e-6), sigmaY=max(sigma_y, 1e-6), borderType=cv2.BORDER_REFLECT_101
        )
    return cv2.resize(image, (width, height), interpolation=interpolation)


_DOWN_INTERPOLATIONS = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC)
_UP_INTERPOLATIONS = (cv2.INTER_LINEAR, cv2.INTER_CUBIC)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, points: int = 16) -> np.ndarray:
    """A quadratic Bezier curve as a cv2 polyline with 4 bits of sub-pixel precision."""
    t = np.linspace(0, 1, points)[:, None]
    curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
    return np.round(curve * 16).astype(np.int32)


# ------------------------------------------------------------------------------------ blur


@_register("gaussian_blur", sigma=(0.5, 1.5))
def gaussian_blur(image: np.ndarray, rng: np.random.Generator, *, sigma: Range) -> np.ndarray:
    return _albu(image, rng, "GaussianBlur", sigma_limit=tuple(sigma), blur_limit=0)


@_register("motion_blur", size=(3, 7))
def motion_blur(image: np.ndarray, rng: np.random.Generator, *, size: Range) -> np.ndarray:
    low, high = int(size[0]) | 1, int(size[1]) | 1  # odd kernel sizes
    # Symmetric, centred kernels: a shifted or one-sided kernel would move the content and break
    # the pixel alignment of the (degraded, clean) pair. With direction 0 and no shift,
    # albumentations draws the line's points symmetrically about the centre of an odd kernel.
    return _albu(
        image,
        rng,
        "MotionBlur",
        blur_limit=(low, max(low, high)),
        angle_range=(0, 360),
        direction_range=(0.0, 0.0),
        allow_shifted=False,
    )


@_register("defocus_blur", radius=(1, 3))
def defocus_blur(image: np.ndarray, rng: np.random.Generator, *, radius: Range) -> np.ndarray:
    # albumentations' Defocus pads every kernel to >= 17 x 17 (7 ms on 256 px); a tight disc is
    # the same blur for small radii at a fraction of the cost.
    r = max(0.5, _uniform(rng, radius))
    half = math.ceil(r)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    kernel = np.clip(r + 0.5 - np.hypot(yy, xx), 0, 1).astype(np.float32)  # antialiased disc
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT_101)


# ----------------------------------------------------------------------------------- grain


@_register("film_grain", std=(3, 8), size=(0.5, 1.5))
def film_grain(image: np.ndarray, rng: np.random.Generator, *, std: Range, size: Range) -> np.ndarray:
    height, width = image.shape[:2]
    grain = rng.standard_normal((height, width), dtype=np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), max(0.3, _uniform(rng, size)))
    grain *= _uniform(rng, std) / max(float(grain.std()), 1e-6)
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1 / 255)
    grain *= 0.4 + 2.4 * luma * (1 - luma)  # strongest in mid-tones (1.0 at 50 % gray)
    return _to_uint8(image.astype(np.float32) + grain[:, :, None])


@_register("paper_texture", strength=(0.02, 0.06))
def paper_texture(image: np.ndarray, rng: np.random.Generator, *, strength: Range) -> np.ndarray:
    # Print paper: a low-frequency mottle (cells of 6-20 px) plus fibres (noise smeared along one
    # direction), made at half resolution and multiplied into the picture; zero-mean, nothing moves.
    height, width = image.shape[:2]
    half_h, half_w = max(2, height // 2), max(2, width // 2)
    cell = rng.uniform(3, 10)  # half-resolution pixels
    mottle = rng.standard_normal((max(2, round(half_h / cell)), max(2, round(half_w / cell))), dtype=np.float32)
    mottle = cv2.resize(mottle / max(float(mottle.std()), 1e-6), (half_w, half_h), interpolation=cv2.INTER_CUBIC)
    fibres = rng.standard_normal((half_h, half_w), dtype=np.float32)
    length = int(rng.integers(3, 9))
    kernel = np.zeros((2 * length + 1, 2 * length + 1), np.float32)
    reach = np.array([np.cos(angle := rng.uniform(0, np.pi)), np.sin(angle)]) * length
    ends = [np.round(length + sign * reach).astype(int) for sign in (-1, 1)]
    cv2.line(kernel, tuple(int(v) for v in ends[0]), tuple(int(v) for v in ends[1]), 1.0, 1, cv2.LINE_AA)
    fibres = cv2.filter2D(fibres, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT_101)
    share = rng.uniform(0.3, 0.8)
    texture = share * mottle + (1 - share) / max(float(fibres.std()), 1e-6) * fibres
    gain = np.clip(1 + _uniform(rng, strength) * texture, 0.5, 1.5)
    gain = cv2.resize(gain, (width, height), interpolation=cv2.INTER_LINEAR)
    return _to_uint8(image.astype(np.float32) * gain[:, :, None])


# ---------------------------------------------------------------------------------- ageing

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32) / 1.351
_YELLOW = np.diag([1.02, 0.96, 0.72]).astype(np.float32)


@_register("fade", amount=(0.1, 0.3), paper=(210, 240), lift=(5, 25), desaturate=(0.0, 0.4))
def fade(
    image: np.ndarray, rng: np.random.Generator, *, amount: Range, paper: Range, lift: Range, desaturate: Range
) -> np.ndarray:
    a, tone, black, d = (_uniform(rng, r) for r in (amount, paper, lift, desaturate))
    gray = np.tile(_LUMA, (3, 1))
    matrix = (1 - d) * np.eye(3, dtype=np.float32) + d * gray  # desaturate
    matrix = matrix * (1 - a)  # towards the paper tone ...
    offset = np.full((3, 1), a * tone, np.float32)
    matrix, offset = matrix * (1 - black / 255), offset * (1 - black / 255) + black  # ... and lift the blacks
    return cv2.transform(image, np.hstack([matrix, offset]).astype(np.float32))


@_register("color_cast", amount=(0.2, 0.6), sepia_prob=0.5)
def color_cast(image: np.ndarray, rng: np.random.Generator, *, amount: Range, sepia_prob: float) -> np.ndarray:
    tone = _SEPIA if rng.random() < sepia_prob else _YELLOW
    a = _uniform(rng, amount)
    return cv2.transform(image, ((1 - a) * np.eye(3, dtype=np.float32) + a * tone).astype(np.float32))


@_register("vignette", strength=(0.15, 0.4), exponent=(1.5, 2.5))
def vignette(image: np.ndarray, rng: np.random.Generator, *, strength: Range, exponent: Range) -> np.ndarray:
    height, width = image.shape[:2]
    cy, cx = rng.uniform(-0.15, 0.15, 2)
    s, e = _uniform(rng, strength), _uniform(rng, exponent)
    small_h, small_w = min(height, 64), min(width, 64)  # the gain is smooth: compute it small
    y = np.linspace(-1, 1, small_h, dtype=np.float32)[:, None] - cy
    x = np.linspace(-1, 1, small_w, dtype=np.float32)[None, :] - cx
    radius2 = (x * x + y * y) * 0.5  # 1 at the corners of a centred vignette
    gain = np.clip(1 - s * radius2 ** (e / 2), 0, 1)
    gain = cv2.resize(gain, (width, height), interpolation=cv2.INTER_LINEAR)
    return _to_uint8(image.astype(np.float32) * gain[:, :, None])


# ---------------------------------------------------------------------------------- damage


_STAIN_TINTS = np.array([[1.0, 0.88, 0.62], [0.92, 0.76, 0.55], [0.9, 0.9, 0.86], [0.96, 0.9, 0.78]], np.float32)


@_register("stains", count=(1, 2), alpha=(0.2, 0.5))
def stains(image: np.ndarray, rng: np.random.Generator, *, count: Range, alpha: Range) -> np.ndarray:
    # Water / tea stains: a soft, irregular, tinted blotch whose edge (the tide line) is darker.
    height, width = image.shape[:2]
    out = image.copy()
    grid = 16
    for _ in range(_integer(rng, count)):
        radius = rng.uniform(0.06, 0.25) * min(height, width)
        aspect = rng.uniform(0.6, 1.4)
        cx, cy = rng.uniform(0, 1, 2) * (width, height)
        extent = 1.4 * radius * np.array([aspect, 1 / aspect])
        lumpy = cv2.GaussianBlur(rng.standard_normal((grid, grid), dtype=np.float32), (0, 0), 1.5)
        lumpy *= rng.uniform(0.3, 0.6) / max(float(lumpy.std()), 1e-6)
        tint = _STAIN_TINTS[int(rng.integers(len(_STAIN_TINTS)))] + rng.uniform(-0.04, 0.04, 3).astype(np.float32)
        a, rim_width, rim = _uniform(rng, alpha), rng.uniform(0.03, 0.08), rng.uniform(0.5, 1.2)
        body_dark, rim_dark = a * (1 - np.clip(tint, 0, 1)), a * rim * (1.1 - 0.8 * np.clip(tint, 0, 1))
        x0, x1 = max(0, int(cx - extent[0])), min(width, int(cx + extent[0]) + 1)
        y0, y1 = max(0, int(cy - extent[1])), min(height, int(cy + extent[1]) + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        u = np.linspace(-1.4, 1.4, grid, dtype=np.float32)
        inside = 1 - (u[None, :] ** 2 + u[:, None] ** 2) + lumpy  # > 0 inside the stain
        # the grid spans the whole stain; resample the part that lies on the picture
        xs = ((np.arange(x0, x1, dtype=np.float32) - cx) / extent[0] + 1.4) / 2.8 * (grid - 1)
        ys = ((np.arange(y0, y1, dtype=np.float32) - cy) / extent[1] + 1.4) / 2.8 * (grid - 1)
        map_x, map_y = (m.astype(np.float32) for m in np.meshgrid(xs, ys))
        field = cv2.remap(inside, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        body = np.clip(field * (1 / 0.15), 0, 1)[:, :, None]
        edge = np.exp(-np.square((field - np.float32(rim_width)) * np.float32(1 / rim_width)))[:, :, None]
        gain = np.clip(1 - body * body_dark - edge * rim_dark, 0, 1)
        out[y0:y1, x0:x1] = _to_uint8(out[y0:y1, x0:x1] * gain)
    return out


@_register("creases", count=(1, 2), alpha=(0.3, 0.6))
def creases(image: np.ndarray, rng: np.random.Generator, *, count: Range, alpha: Range) -> np.ndarray:
    height, width = image.shape[:2]
    size = float(max(height, width))
    highlight = np.zeros((height, width), np.uint8)
    core = np.zeros((height, width), np.uint8)
    for _ in range(_integer(rng, count)):
        centre = rng.uniform(0.2, 0.8, 2) * (width, height)
        angle = rng.uniform(0, np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        ends = centre + np.outer([-1.5, 1.5], direction * size)  # beyond both borders
        bend = centre + normal * rng.normal(0, 0.03) * size
        line = _bezier(ends[0], bend, ends[1])
        a = _uniform(rng, alpha)
        cv2.polylines(highlight, [line], False, int(255 * a * 0.8), 4, cv2.LINE_AA, shift=4)
        side = normal * rng.choice([-1.5, 1.5]) * 16
        cv2.polylines(core, [line + np.round(side).astype(np.int32)], False, int(255 * a), 1, cv2.LINE_AA, shift=4)
    highlight = cv2.GaussianBlur(highlight, (0, 0), _uniform(rng, (1.0, 2.5)))
    return _composite(_composite(image.copy(), highlight, 245.0), core, 40.0)


def _curve(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, points: int = 24) -> np.ndarray:
    """A quadratic Bezier curve as ``points x 2`` float pixel coordinates (x, y)."""
    t = np.linspace(0, 1, points)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _paint_strokes(
    image: np.ndarray, strokes: Sequence[tuple[np.ndarray, float]], opacity: float, color: Any, soft: float = 0.0
) -> None:
    """Paints antialiased polylines (``(points x 2 float (x, y), width px)``) over ``image`` in place.

    Drawn into a mask of their bounding box only, 4x finer (2x for strokes 3 px wide or more), then
    averaged, so that a stroke of width ``w`` covers ``w`` px across (OpenCV's own antialiased
    thick lines come in steps of 2 px),
    softened by a Gaussian blur of ``soft`` px, and blended towards ``color`` (a gray level or an
    RGB triple) by ``opacity`` (0-1).
    """
    height, width = image.shape[:2]
    points = np.concatenate([curve for curve, _ in strokes])
    pad = math.ceil(max(w for _, w in strokes) / 2 + 3 * soft) + 2
    x0, y0 = np.floor(points.min(0)).astype(int) - pad
    x1, y1 = np.ceil(points.max(0)).astype(int) + pad + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x0 >= x1 or y0 >= y1:
        return
    k = 4 if max(w for _, w in strokes) < 3 else 2
    fine = np.zeros(((y1 - y0) * k, (x1 - x0) * k), np.uint8)
    for curve, w in strokes:
        # pixel centre x maps to (x + 0.5) * k - 0.5 on the fine grid, and back under INTER_AREA
        line = np.round(((curve - (x0, y0) + 0.5) * k - 0.5) * 16).astype(np.int32)
        cv2.polylines(fine, [line], False, int(255 * opacity), max(1, round(w * k)), cv2.LINE_AA, shift=4)
    mask = cv2.resize(fine, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    if soft > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), soft)
    _composite(image[y0:y1, x0:x1], mask, color)


def _hue(rng: np.random.Generator, saturation: Range, value: Range) -> np.ndarray:
    """An RGB colour (0-255) of a random hue."""
    rgb = colorsys.hsv_to_rgb(rng.uniform(0, 1), _uniform(rng, saturation), _uniform(rng, value))
    return np.array(rgb, np.float32) * 255


@_register("scratches", count=(1, 4), width=(1, 2), alpha=(0.4, 0.8), vertical=0.8, color_prob=0.0, branch_prob=0.0)
def scratches(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    count: Range,
    width: Range,
    alpha: Range,
    vertical: float,
    color_prob: float,
    branch_prob: float,
) -> np.ndarray:
    height, w = image.shape[:2]
    out = image.copy()
    for _ in range(_integer(rng, count)):
        if rng.random() < vertical:  # long, near vertical: film scratches
            length = rng.uniform(0.4, 1.0) * height
            angle = np.pi / 2 + np.deg2rad(np.clip(rng.normal(0, 4), -12, 12))
            start = np.array([rng.uniform(0, w), rng.uniform(0, height - length + 1)])
            bend = rng.normal(0, rng.uniform(0.01, 0.06))
        else:  # short, any direction, straight to strongly curved
            length = rng.uniform(0.05, 0.3) * max(height, w)
            angle = rng.uniform(0, 2 * np.pi)
            start = rng.uniform(0, 1, 2) * (w, height)
            bend = rng.normal(0, rng.uniform(0.02, 0.2))
        direction = np.array([np.cos(angle), np.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        end = start + direction * length
        main = _curve(start, (start + end) / 2 + normal * bend * length, end)
        thickness = _uniform(rng, width)
        strokes = [(main, thickness)]
        if rng.random() < branch_prob:  # forks into thinner branches
            for _ in range(int(rng.integers(1, 4))):
                root = main[int(rng.integers(len(main) // 6, len(main) * 5 // 6))]
                turn = rng.choice([-1, 1]) * np.deg2rad(rng.uniform(15, 50))
                twig = np.array([np.cos(angle + turn), np.sin(angle + turn)]) * length * rng.uniform(0.1, 0.4)
                middle = root + twig / 2 + np.array([-twig[1], twig[0]]) * rng.normal(0, 0.1)
                strokes.append((_curve(root, middle, root + twig, 12), max(1.0, thickness * rng.uniform(0.3, 0.7))))
        tone = rng.random()
        if tone < color_prob:  # damaged colour film: a coloured line (yellowish, cyan, magenta, ...)
            color: Any = _hue(rng, (0.4, 0.9), (0.6, 1.0))
        else:
            color = rng.uniform(225, 252) if rng.random() < 0.6 else rng.uniform(10, 45)  # bright or dark
        soft = rng.uniform(0.15, 0.3) * thickness if thickness >= 3 else 0.0  # wide ones: a soft edge
        _paint_strokes(out, strokes, _uniform(rng, alpha), color, soft)
    return out


@_register(
    "dust",
    count=(5, 30),
    size=(0.5, 2.5),
    alpha=(0.4, 0.9),
    blotch_prob=0.1,
    hair_prob=0.05,
    hair_length=(5, 40),
    gray_prob=0.15,
)
def dust(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    count: Range,
    size: Range,
    alpha: Range,
    blotch_prob: float,
    hair_prob: float,
    hair_length: Range,
    gray_prob: float,
) -> np.ndarray:
    height, width = image.shape[:2]
    masks = [np.zeros((height, width), np.uint8) for _ in range(3)]  # bright, dark, mid-gray
    tones = (rng.uniform(220, 250), rng.uniform(10, 50), rng.uniform(80, 175))
    n = max(1, round(_integer(rng, count) * height * width / 256**2))
    kinds, shades, sides = rng.random((3, n))
    centres = rng.uniform(0, 1, (n, 2)) * (width, height)
    opacities = rng.uniform(alpha[0], alpha[1], n)
    # specks (most particles): every draw at once; a few larger ones
    radii = rng.uniform(size[0], size[1], n) * np.where(rng.random(n) < 0.1, 2.5, 1.0)
    stretch, angles = rng.uniform(0.5, 1.5, n), rng.uniform(0, 180, n)
    for i in range(n):
        mask = masks[2 if shades[i] < gray_prob else int(sides[i] < 0.5)]
        value = int(255 * opacities[i])
        if kinds[i] >= hair_prob + blotch_prob:  # a speck: a dot or small ellipse
            axes = (max(1, round(radii[i] * 16)), max(1, round(radii[i] * stretch[i] * 16)))
            centre = (int(centres[i, 0] * 16), int(centres[i, 1] * 16))
            cv2.ellipse(mask, centre, axes, angles[i], 0, 360, value, -1, cv2.LINE_AA, shift=4)
        elif kinds[i] < hair_prob:  # hairs and fibres: thin curved lines; now and then a tangle (lint)
            fibres = int(rng.integers(2, 5)) if rng.random() < 0.25 else 1
            for _ in range(fibres):
                length = _uniform(rng, hair_length)
                angle = rng.uniform(0, 2 * np.pi)
                start = centres[i] + rng.normal(0, 2, 2) * (fibres > 1)
                chord = np.array([np.cos(angle), np.sin(angle)]) * length
                middle = start + chord / 2 + np.array([-chord[1], chord[0]]) * rng.normal(0, 0.25)
                line = np.round(_curve(start, middle, start + chord, 12) * 16).astype(np.int32)
                cv2.polylines(mask, [line], False, value, 1, cv2.LINE_AA, shift=4)
        else:  # an irregular blotch: a few overlapping ellipses
            radius = _uniform(rng, size) * rng.uniform(1.5, 2.5)
            for lobe in range(int(rng.integers(3, 7))):
                scale = rng.uniform(0.4, 1.0)
                offset = rng.normal(0, 0.6 * radius, 2) if lobe else np.zeros(2)
                axes = (max(1, round(radius * scale * 16)), max(1, round(radius * scale * rng.uniform(0.5, 1.5) * 16)))
                cx, cy = (centres[i] + offset) * 16
                cv2.ellipse(
                    mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, value, -1, cv2.LINE_AA, shift=4
                )
    out = image.copy()
    for mask, tone in zip(masks, tones):
        _composite(out, mask, tone)
    return out


# ------------------------------------------------------------------------------------ scan


@_register("downscale", scale=(0.5, 0.8))
def downscale(image: np.ndarray, rng: np.random.Generator, *, scale: Range) -> np.ndarray:
    # Down to an explicit size and back up to exactly (h, w), so that both resizes use the same
    # ratio and the round trip keeps the content in place (see _resize); antialiased, so that
    # edges keep their sub-pixel positions. albumentations' Downscale shrinks with fx = scale but
    # enlarges with the ratio of the rounded sizes: the picture is stretched or squeezed about
    # its top-left corner, by up to 0.5 / scale px at the far edge (1.7 px at scale 0.3).
    height, width = image.shape[:2]
    down, up = int(rng.choice(_DOWN_INTERPOLATIONS)), int(rng.choice(_UP_INTERPOLATIONS))
    s = _uniform(rng, scale)
    small = _resize(image, max(1, round(height * s)), max(1, round(width * s)), down, antialias=True)
    return _resize(small, height, width, up)


@_register("gaussian_noise", std=(2, 8), gray_prob=0.5)
def gaussian_noise(image: np.ndarray, rng: np.random.Generator, *, std: Range, gray_prob: float) -> np.ndarray:
    per_channel = bool(rng.random() >= gray_prob)
    return _albu(image, rng, "GaussNoise", std_range=(std[0] / 255, std[1] / 255), per_channel=per_channel)


@_register("shot_noise", peak=(300, 3000), gray_prob=0.5)
def shot_noise(image: np.ndarray, rng: np.random.Generator, *, peak: Range, gray_prob: float) -> np.ndarray:
    # Gaussian approximation of Poisson noise (variance = signal), exact for all but the darkest
    # pixels: albumentations' ShotNoise draws true Poisson samples, about 5x slower on 256 px.
    photons = math.exp(_uniform(rng, (math.log(peak[0]), math.log(peak[1]))))
    shape = image.shape[:2] + ((1,) if rng.random() < gray_prob else (image.shape[2],))
    x = image.astype(np.float32) * (1 / 255)
    noisy = x + np.sqrt(x / photons) * rng.standard_normal(shape, dtype=np.float32)
    return _to_uint8(noisy * 255)


# libjpeg's largest side is 65500 px; longer photos are compressed in strips of whole 16 px blocks
_JPEG_STRIP = 65488


@_register("jpeg", quality=(40, 85))
def jpeg(image: np.ndarray, rng: np.random.Generator, *, quality: Range) -> np.ndarray:
    # Encoded from BGR so that the codec's YCbCr (and chroma subsampling) sees the real colours;
    # albumentations' ImageCompression hands RGB arrays to cv2 as if they were BGR.
    level = _integer(rng, quality)
    height, width = image.shape[:2]
    if width > _JPEG_STRIP:
        return np.concatenate([_jpeg(image[:, x : x + _JPEG_STRIP], level) for x in range(0, width, _JPEG_STRIP)], 1)
    if height > _JPEG_STRIP:
        return np.concatenate([_jpeg(image[y : y + _JPEG_STRIP], level) for y in range(0, height, _JPEG_STRIP)], 0)
    return _jpeg(image, level)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape[1]} x {image.shape[0]} image as JPEG")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


# --------------------------------------------------------------------------------- pipeline


def _format(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "..".join(_format(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Step:
    """One degradation: the kind ``name`` (a key of ``STEP_KINDS``), applied with probability ``p``.

    Args:
        name: which degradation, e.g. ``"jpeg"``.
        p: probability that a :class:`Degrader` applies it, in ``[0, 1]``.
        params: strength ranges ``(lo, hi)`` (drawn uniformly per image) and options; missing
            ones take the kind's defaults.

    Example:
        >>> Step("jpeg", 0.5, {"quality": (30, 70)})(image, rng)   # applies it unconditionally
    """

    name: str
    p: float = 1.0
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in STEP_KINDS:
            raise ValueError(f"unknown degradation step {self.name!r}; available: {', '.join(STEP_KINDS)}")
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"step {self.name!r}: probability p must be in [0, 1], got {self.p}")
        defaults = STEP_KINDS[self.name].defaults
        unknown = set(self.params) - set(defaults)
        if unknown:
            raise ValueError(f"step {self.name!r} takes {sorted(defaults)}, got unknown {sorted(unknown)}")
        params = {**defaults, **self.params}
        for key, value in params.items():
            if isinstance(defaults[key], tuple):
                if not (isinstance(value, (tuple, list)) and len(value) == 2 and value[0] <= value[1]):
                    raise ValueError(f"step {self.name!r}: {key} must be a range (lo, hi) with lo <= hi, got {value!r}")
                params[key] = tuple(value)
        object.__setattr__(self, "params", params)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Applies the step (ignoring ``p``)."""
        return STEP_KINDS[self.name].function(image, rng, **self.params)

    def describe(self) -> str:
        return " ".join([self.name, f"p={self.p:.2f}"] + [f"{k}={_format(v)}" for k, v in self.params.items()])


class Degrader:
    """A seeded pipeline of :class:`Step` s: ``degrader(image, rng) -> image``.

    Each step runs with its probability, in order. Same size, ``uint8`` RGB in and out.

    Shape:
        ``H x W x 3`` uint8 -> ``H x W x 3`` uint8.
    """

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = list(steps)
        for step in self.steps:
            if not isinstance(step, Step):
                raise TypeError(f"Degrader takes Step objects, got {type(step).__name__}")

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_rgb(image)
        out = np.ascontiguousarray(image)
        for step in self.steps:
            if rng.random() < step.p:
                out = step(out, rng)
        return out

    def describe(self) -> list[str]:
        """One line per step: name, probability and parameter ranges."""
        return [step.describe() for step in self.steps]

    def __repr__(self) -> str:
        return f"Degrader([{', '.join(step.name for step in self.steps)}])"


def _check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected a uint8 H x W x 3 RGB image, got {got}")


_PRESET_STEPS: dict[str, list[tuple[str, float, dict[str, Any]]]] = {
    "light": [
        ("gaussian_blur", 0.3, {"sigma": (0.4, 1.0)}),
        ("film_grain", 0.3, {"std": (2, 5), "size": (0.5, 1.0)}),
        ("fade", 0.5, {"amount": (0.05, 0.15), "paper": (215, 240), "lift": (0, 10), "desaturate": (0.0, 0.2)}),
        ("color_cast", 0.4, {"amount": (0.1, 0.3)}),
        ("vignette", 0.3, {"strength": (0.1, 0.25)}),
        ("scratches", 0.2, {"count": (1, 2), "width": (1, 1), "alpha": (0.3, 0.6)}),
        ("dust", 0.3, {"count": (3, 10), "size": (0.5, 1.5), "alpha": (0.3, 0.7)}),
        ("gaussian_noise", 0.3, {"std": (1, 4)}),
        ("jpeg", 0.3, {"quality": (70, 95)}),
    ],
    "medium": [
        ("gaussian_blur", 0.4, {"sigma": (0.6, 1.6)}),
        ("motion_blur", 0.1, {"size": (3, 7)}),
        ("defocus_blur", 0.1, {"radius": (1, 2)}),
        ("film_grain", 0.5, {"std": (3, 8), "size": (0.5, 1.5)}),
        ("fade", 0.7, {"amount": (0.1, 0.3), "paper": (210, 240), "lift": (5, 25), "desaturate": (0.0, 0.4)}),
        ("color_cast", 0.6, {"amount": (0.2, 0.6)}),
        ("vignette", 0.5, {"strength": (0.15, 0.4)}),
        ("creases", 0.2, {"count": (1, 1), "alpha": (0.3, 0.6)}),
        ("scratches", 0.5, {"count": (1, 4), "width": (1, 2), "alpha": (0.4, 0.8)}),
        ("dust", 0.6, {"count": (5, 30), "size": (0.5, 2.5), "alpha": (0.4, 0.9)}),
        ("downscale", 0.3, {"scale": (0.5, 0.8)}),
        ("gaussian_noise", 0.4, {"std": (2, 8)}),
        ("shot_noise", 0.2, {"peak": (300, 3000)}),
        ("jpeg", 0.5, {"quality": (40, 85)}),
    ],
    "heavy": [
        ("gaussian_blur", 0.6, {"sigma": (1.0, 2.5)}),
        ("motion_blur", 0.2, {"size": (5, 11)}),
        ("defocus_blur", 0.2, {"radius": (2, 4)}),
        ("film_grain", 0.8, {"std": (6, 14), "size": (0.7, 2.0)}),
        ("fade", 0.9, {"amount": (0.25, 0.5), "paper": (200, 235), "lift": (15, 50), "desaturate": (0.2, 0.7)}),
        ("color_cast", 0.8, {"amount": (0.4, 0.9)}),
        ("vignette", 0.7, {"strength": (0.3, 0.6), "exponent": (1.2, 2.5)}),
        ("creases", 0.5, {"count": (1, 3), "alpha": (0.4, 0.8)}),
        ("scratches", 0.8, {"count": (3, 10), "width": (1, 2), "alpha": (0.5, 1.0)}),
        ("dust", 0.9, {"count": (20, 80), "size": (0.7, 3.5), "alpha": (0.5, 1.0)}),
        ("downscale", 0.5, {"scale": (0.3, 0.6)}),
        ("gaussian_noise", 0.6, {"std": (5, 15)}),
        ("shot_noise", 0.4, {"peak": (100, 1000)}),
        ("jpeg", 0.7, {"quality": (20, 60)}),
    ],
    # One distribution for a general restoration model: every kind of damage, light to heavy.
    # Most crops get a localized defect (scratches or dust: 1 - 0.4 * 0.35 = 86 %), half get grain.
    "varied": [
        ("gaussian_blur", 0.35, {"sigma": (0.3, 2.5)}),
        ("motion_blur", 0.12, {"size": (3, 11)}),
        ("defocus_blur", 0.12, {"radius": (1, 4)}),
        ("film_grain", 0.5, {"std": (2, 14), "size": (0.5, 2.0)}),
        ("paper_texture", 0.3, {"strength": (0.01, 0.08)}),
        ("fade", 0.6, {"amount": (0.05, 0.5), "paper": (200, 240), "lift": (0, 50), "desaturate": (0.0, 0.7)}),
        ("color_cast", 0.5, {"amount": (0.1, 0.9)}),
        ("vignette", 0.4, {"strength": (0.1, 0.6), "exponent": (1.2, 2.5)}),
        ("stains", 0.2, {"count": (1, 3), "alpha": (0.15, 0.6)}),
        ("creases", 0.25, {"count": (1, 3), "alpha": (0.3, 0.8)}),
        (
            "scratches",
            0.6,
            {
                "count": (1, 10),
                "width": (1, 6),
                "alpha": (0.3, 1.0),
                "vertical": 0.6,
                "color_prob": 0.25,
                "branch_prob": 0.2,
            },
        ),
        (
            "dust",
            0.65,
            {
                "count": (3, 80),
                "size": (0.5, 3.5),
                "alpha": (0.3, 1.0),
                "blotch_prob": 0.15,
                "hair_prob": 0.15,
                "gray_prob": 0.25,
            },
        ),
        ("downscale", 0.3, {"scale": (0.3, 0.8)}),
        ("gaussian_noise", 0.35, {"std": (1, 15)}),
        ("shot_noise", 0.2, {"peak": (100, 3000)}),
        ("jpeg", 0.5, {"quality": (20, 95)}),
    ],
}
if tuple(_PRESET_STEPS) != PRESETS:  # the CLI's choices come from restore_presets.py
    raise RuntimeError(f"restore_presets.RESTORE_PRESETS {PRESETS} != the presets defined here {tuple(_PRESET_STEPS)}")


def restore_degrader(preset: str = "medium", **overrides: Any) -> Degrader:
    """The old-photo degradation pipeline of a preset, optionally adjusted per step.

    Args:
        preset: ``"light"``, ``"medium"``, ``"heavy"`` or ``"varied"`` (see the module docstring).
        **overrides: per step name: ``None`` drops the step, a number sets its probability, a
            mapping updates its probability (key ``"p"``) and parameters, a :class:`Step`
            replaces it. Steps the preset lacks are added at their usual place.

    Example:
        >>> restore_degrader("heavy", jpeg=None, dust={"p": 1.0, "count": (50, 100)}, motion_blur=0.0)
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; available: {', '.join(PRESETS)}")
    unknown = set(overrides) - set(STEP_KINDS)
    if unknown:
        raise ValueError(f"unknown degradation steps {sorted(unknown)}; available: {', '.join(STEP_KINDS)}")
    steps = {name: Step(name, p, params) for name, p, params in _PRESET_STEPS[preset]}
    for name, change in overrides.items():
        if change is None:
            steps.pop(name, None)
        elif isinstance(change, Step):
            if change.name != name:
                raise ValueError(f"override {name}= got a Step named {change.name!r}")
            steps[name] = change
        elif isinstance(change, (int, float)) and not isinstance(change, bool):
            base = steps.get(name, Step(name))
            steps[name] = Step(name, float(change), base.params)
        elif isinstance(change, Mapping):
            base = steps.get(name, Step(name))
            params = {k: v for k, v in change.items() if k != "p"}
            steps[name] = Step(name, float(change.get("p", base.p)), {**base.params, **params})
        else:
            raise ValueError(f"override {name}= must be None, a probability, a mapping or a Step, got {change!r}")
    order = list(STEP_KINDS)
    return Degrader(sorted(steps.values(), key=lambda step: order.index(step.name)))


# ------------------------------------------------------------------------- super-resolution


def bicubic_downscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Antialiased bicubic downscaling by an integer factor: the standard SR degradation.

    Same semantics as MATLAB's ``imresize(hr, 1/scale)`` (bicubic kernel a = -0.5, widened by
    ``scale`` to antialias), computed with ``F.interpolate(mode="bicubic", antialias=True)`` on
    float, then rounded and clipped to uint8. Imports torch when first called (not at import).

    Shape:
        ``H x W x C`` (or ``H x W``) uint8 -> ``H/scale x W/scale x C`` uint8.
    """
    if image.dtype != np.uint8:
        raise ValueError(f"bicubic_downscale expects uint8, got {image.dtype}")
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    height, width = image.shape[:2]
    if height % scale or width % scale:
        raise ValueError(f"image size {height}x{width} is not a multiple of the scale {scale}")
    import torch
    import torch.nn.functional as F

    planar = image[:, :, None] if image.ndim == 2 else image
    x = torch.from_numpy(np.ascontiguousarray(planar)).permute(2, 0, 1)[None].float()  # (1, c, h, w)
    y = F.interpolate(x, size=(height // scale, width // scale), mode="bicubic", antialias=True, align_corners=False)
    out = y[0].round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(out[:, :, 0] if image.ndim == 2 else out)


def sr_degrade(hr: np.ndarray, scale: int, rng: np.random.Generator, *, realistic: bool = False) -> np.ndarray:
    """Low-resolution input for super-resolution from a high-resolution image.

    Args:
        hr: ``uint8 H x W x C`` image; ``H`` and ``W`` must be multiples of ``scale``.
        scale: integer downscaling factor (>= 1).
        rng: the item's generator (unused when ``realistic`` is false).
        realistic: ``False``: :func:`bicubic_downscale` (antialiased bicubic, MATLAB ``imresize``).
            ``True``: Gaussian blur (sigma 0.2..0.3*scale+0.6), resize towards the target
            (1-2x its size, random antialiased interpolation), Gaussian (std 1..8) or shot
            noise, JPEG (quality 50..95); with probability 1/2 a second round (blur sigma
            0.2..0.8, noise std 1..4); then the antialiased resize to exactly
            ``H/scale x W/scale`` and JPEG (quality 60..95). Either way pixel centres are kept:
            enlarged back with ``cv2.resize``, the output lies on ``hr``.

    Shape:
        ``H x W x C`` -> ``H/scale x W/scale x C``, uint8.
    """
    if not isinstance(hr, np.ndarray) or hr.dtype != np.uint8 or hr.ndim != 3:
        raise ValueError(
            f"expected a uint8 H x W x C image, got {getattr(hr, 'dtype', type(hr).__name__)} "
            f"{getattr(hr, 'shape', '')}"
        )
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    scale = int(scale)
    height, width = hr.shape[:2]
    if height % scale or width % scale:
        raise ValueError(f"image size {height}x{width} (H x W) is not a multiple of the scale {scale}")
    if not realistic:
        return bicubic_downscale(hr, scale)
    if hr.shape[2] != 3:
        raise ValueError(f"realistic SR degradation expects an RGB image, got {hr.shape[2]} channels")
    out_h, out_w = height // scale, width // scale
    image = gaussian_blur(hr, rng, sigma=(0.2, 0.3 * scale + 0.6))
    factor = rng.uniform(1.0, 2.0)
    mid_h, mid_w = min(height, round(out_h * factor)), min(width, round(out_w * factor))
    image = _resize(image, mid_h, mid_w, int(rng.choice(_DOWN_INTERPOLATIONS)), antialias=True)
    if rng.random() < 0.6:
        image = gaussian_noise(image, rng, std=(1.0, 8.0), gray_prob=0.4)
    else:
        image = shot_noise(image, rng, peak=(300, 3000), gray_prob=0.4)
    image = jpeg(image, rng, quality=(50, 95))
    if rng.random() < 0.5:  # second order
        image = gaussian_blur(image, rng, sigma=(0.2, 0.8))
        image = gaussian_noise(image, rng, std=(1.0, 4.0), gray_prob=0.4)
    interpolation = int(rng.choice(_DOWN_INTERPOLATIONS)) if (mid_h, mid_w) != (out_h, out_w) else cv2.INTER_AREA
    image = _resize(image, out_h, out_w, interpolation, antialias=True)
    return jpeg(image, rng, quality=(60, 95))
