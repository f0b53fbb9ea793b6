"""Training on plain photos: the recipe makes a fresh (A, B) pair for every item of every epoch.

``img2img train pix2pix --data PHOTOS --task restore`` reads ``PHOTOS`` (or ``PHOTOS/train``,
``PHOTOS/val``) with :class:`RecipeFolder`: each photo is resized and cropped like the paired
folders, then the recipe turns the crop into the input A (damage, sketch, grayscale, low
resolution). The damage is drawn from ``np.random.default_rng([seed, epoch, index])``, so every
epoch sees new damage and a run is reproducible whatever the number of workers.
"""

from __future__ import annotations

import numpy as np

from img2img_runtime.processing import to_channels

from .folders import _ResizeCropFolder, to_tensor_uint8
from .io import read_image
from .recipes import Recipe


class RecipeFolder(_ResizeCropFolder):
    """One folder of photos -> ``{"A": recipe input, "B": photo crop}`` items.

    Args:
        root: folder of photos (with ``train/``/``val/`` or itself the training split).
        recipe: a :class:`~img2img.data.recipes.Recipe` (sketch, colorize or restore; super-
            resolution crops at the photo's own resolution: :class:`~img2img.data.folders.SRFolder`).
        Other arguments as :class:`~img2img.data.folders.PairedFolder`.
    """

    def __init__(
        self, root, recipe: Recipe, *, split: str = "train", size: int = 256, load_size: int | None = None,
        channels_a: int = 3, channels_b: int = 3, on_bad: str = "error", verify: bool = True, seed: int = 0, train: bool = True,
    ) -> None:
        super().__init__(root=root, split=split, size=size, on_bad=on_bad, verify=verify, seed=seed, train=train)
        self._init_sizes(size, load_size, channels_a, channels_b)
        if recipe.name == "sr":
            raise ValueError("super-resolution pairs come from SRFolder (crops at the photo's own resolution)")
        self.recipe = recipe
        self.photos = self._list(self.split_root)
        if verify:
            self.photos = self._verified(self.photos, 3)
        self._require_some(self.photos, self.split_root)
        self._report_skipped()

    def __len__(self) -> int:
        return len(self.photos)

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        path = self.photos[index]
        photo = read_image(path, channels=3)
        crop = self._crop(photo, self._box(*photo.shape[:2], self._short, rng))
        a, b = self.recipe(crop, rng)
        a, b = to_channels(a, self.channels_a), to_channels(b, self.channels_b)
        return {"A": to_tensor_uint8(a), "B": to_tensor_uint8(b), "path": path.relative_to(self.split_root).as_posix()}
