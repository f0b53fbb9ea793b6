"""Task recipes: make an (A, B) training pair from one ordinary photo.

=========  ======================================  =================================
recipe     A (input)                               B (target)
=========  ======================================  =================================
sketch     line drawing, 1 channel: a random       the photo
           style per item (XDoG or Canny, thin
           or thick lines, ink and paper levels:
           ``sketch_random`` in sketch.py); with
           options, the one style they give
colorize   grayscale (BT.601 luma), 1 channel      the photo (trained in Lab: L -> ab);
                                                   only photos with colour
                                                   (``has_color``)
restore    aged/damaged copy (preset light/        the photo
           medium/heavy, see degrade.py)
sr         low resolution (bicubic, or blur +      the photo, cropped to a multiple
           noise + JPEG with ``realistic``)        of the scale
=========  ======================================  =================================

The same recipes serve ``img2img prepare`` (pairs written to disk once) and training on plain
photos (``--task restore``: a fresh pair every epoch, made on the CPU workers). All randomness
comes from the ``rng`` argument, which callers seed per item. A and B are pixel-aligned: the
degradations do not move the picture (within 0.1 px, see degrade.py).

Colorization learns colour from its targets: ``img2img prepare colorize`` and the training folder
(:class:`~img2img.data.recipe_folder.RecipeFolder`) leave out, and report, the photos for which
:func:`has_color` is false; the recipe itself converts whatever it is given.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from .degrade import restore_degrader, sr_degrade
from .sketch import sketch, sketch_random

RECIPE_NAMES = ("sketch", "colorize", "restore", "sr")

# A photo "has colour" when its mean chroma (max(R, G, B) - min(R, G, B), 0-255) is above this.
# Measured on the 50 development photos: 0.0 for all 11 grayscale ones (also after JPEG
# compression as RGB), 8.0 for the least colourful colour photo (Hubble deep field, mostly black
# sky), 11-113 for the other 38.
COLOR_CHROMA_THRESHOLD = 4.0


def has_color(image: np.ndarray, threshold: float = COLOR_CHROMA_THRESHOLD) -> bool:
    """True if a uint8 RGB image carries colour (not grayscale, not a near-monochrome scan).

    The measure is the mean over pixels of ``max(R, G, B) - min(R, G, B)``: 0 for a gray image
    stored as RGB, a few levels for JPEG-tinted grayscale, tens for ordinary colour photos.
    A toned monochrome print (sepia) is uniformly tinted and counts as colour (chroma ~30).
    Colorization needs colour targets: ``img2img prepare colorize``, the colorize training
    folder and ``img2img eval`` skip photos without.
    """
    if image.ndim == 2 or image.shape[-1] == 1:
        return False
    rgb = image[..., :3]
    chroma = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1).astype(np.int16)
    return float(chroma.mean()) > threshold


@dataclass
class Recipe:
    """``recipe(photo, rng) -> (A, B)`` for uint8 RGB photos.

    Args:
        name: one of ``RECIPE_NAMES``.
        options: ``preset`` (restore), ``scale`` and ``realistic`` (sr), sketch keyword
            arguments (sketch: ``method``, ``sigma``, ``thickness``, ...; none: a random style
            per item, drawn from its ``rng`` by :func:`~img2img.data.sketch.sketch_random`).
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in RECIPE_NAMES:
            raise ValueError(f"unknown recipe {self.name!r}; available: {', '.join(RECIPE_NAMES)}")
        sketch_options = {n for n, p in inspect.signature(sketch).parameters.items() if p.kind is p.KEYWORD_ONLY}
        allowed = {"sketch": sketch_options, "colorize": set(), "restore": {"preset"}, "sr": {"scale", "realistic"}}[
            self.name
        ]
        if set(self.options) - allowed:
            raise ValueError(f"recipe {self.name!r} takes options {sorted(allowed)}, got {sorted(self.options)}")
        self._make: Callable[[np.ndarray, np.random.Generator], np.ndarray]
        if self.name == "restore":
            degrader = restore_degrader(self.options.get("preset", "medium"))
            self._make = degrader
        elif self.name == "sketch":
            if self.options:
                self._make = lambda image, rng: sketch(image, **self.options)
            else:
                self._make = sketch_random
        elif self.name == "colorize":
            self._make = lambda image, rng: cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]
        else:
            scale, realistic = int(self.options.get("scale", 4)), bool(self.options.get("realistic", False))
            self._make = lambda image, rng: sr_degrade(image, scale, rng, realistic=realistic)

    @property
    def scale(self) -> int:
        return int(self.options.get("scale", 4)) if self.name == "sr" else 1

    @property
    def a_channels(self) -> int:
        return 1 if self.name in ("sketch", "colorize") else 3

    def fit(self, photo: np.ndarray) -> np.ndarray:
        """Crop ``photo`` (bottom/right) so its sides are multiples of the scale."""
        s = self.scale
        h, w = photo.shape[0] // s * s, photo.shape[1] // s * s
        if h == 0 or w == 0:
            raise ValueError(f"a {photo.shape[1]}x{photo.shape[0]} image is smaller than the scale {s}")
        return photo[:h, :w]

    def __call__(self, photo: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        target = self.fit(photo)
        return self._make(target, rng), target
