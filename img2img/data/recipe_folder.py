"""Training on plain photos: the recipe makes a fresh (A, B) pair for every item of every epoch.

``img2img train pix2pix --data PHOTOS --task restore`` reads ``PHOTOS`` (or ``PHOTOS/train``,
``PHOTOS/val``) with :class:`RecipeFolder`: each photo is resized and cropped like the paired
folders, then the recipe turns the crop into the input A (damage, sketch, grayscale, low
resolution). The damage is drawn from ``np.random.default_rng([seed, epoch, index])``, so every
epoch sees new damage and a run is reproducible whatever the number of workers.

Colorization learns colour from the photos, so with the ``colorize`` recipe the photos without
colour (``has_color`` is false: grayscale, even when stored as RGB) are left out and listed in
``skipped`` with the reason; a folder with no colour photo at all is an error.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from img2img_runtime.processing import to_channels

from .files import DatasetError, ResizeCropFolder, to_tensor_uint8
from .recipes import Recipe, has_color

logger = logging.getLogger(__name__)


# Training crops of a recipe folder see the photo zoomed by a random factor between this and 1.
MIN_ZOOM = 0.5

# The six orders of the R, G, B channels; ``recolor`` draws one per training item.
_CHANNEL_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def recolor(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo with its R, G, B channels in a random order (one of six, drawn from ``rng``).

    A restoration net trained on a few photos otherwise learns their palette: it pulls every
    new photo towards the colours of its training set and makes a clean photo worse. With the
    channels shuffled before the damage is made, the colour of the damage (a sepia or yellow
    cast, a fade to paper) is unchanged but the photo's own colours are no clue, so the net
    learns to undo the damage. Luma statistics, edges and texture are kept.
    """
    order = _CHANNEL_ORDERS[int(rng.integers(len(_CHANNEL_ORDERS)))]
    return photo if order == (0, 1, 2) else np.ascontiguousarray(photo[:, :, order])


# ``vary_photo`` at strength 1: hue turned by any angle (up to +-180 degrees), luma raised to a power up to
# exp(+-0.3).
VARY_HUE_DEGREES, VARY_GAMMA = 180.0, 0.3
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def vary_photo(photo: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """The photo as another plausible photo: a random tone curve and hue turn.

    The luma (BT.601) is raised to the power ``exp(u * VARY_GAMMA * strength)`` and the chroma
    (the photo minus its luma) turned about the gray axis by ``v * VARY_HUE_DEGREES * strength``
    degrees (``u``, ``v`` uniform in -1..1, drawn from ``rng``). Grays stay gray and edges stay
    where they are, so damage made afterwards looks as it does on the photo itself; what changes
    is the photo's palette and brightness. A restoration net trained on a few dozen photos
    otherwise takes their colours and tones for the undamaged look and pulls new photos towards
    them. (Scaling the chroma too was measured to hurt: a faded photo then looks like a pale one.)

    Args:
        photo: uint8 RGB ``H x W x 3``.
        rng: the item's generator (two draws, whatever the strength).
        strength: scales both ranges (0 returns the photo itself).
    """
    gamma = float(np.exp(rng.uniform(-1.0, 1.0) * VARY_GAMMA * strength))
    angle = float(np.deg2rad(rng.uniform(-1.0, 1.0) * VARY_HUE_DEGREES * strength))
    if strength == 0:
        return photo
    x = photo.astype(np.float32) / 255.0
    luma = x @ _LUMA
    axis = np.full(3, 1.0 / np.sqrt(3.0), np.float32)  # Rodrigues' rotation about the gray axis
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]], np.float32)
    turn = np.eye(3, dtype=np.float32) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * (cross @ cross)
    out = np.clip(luma, 0.0, 1.0)[..., None] ** gamma + (x - luma[..., None]) @ turn.T
    return np.rint(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)


class RecipeFolder(ResizeCropFolder):
    """One folder of photos -> ``{"A": recipe input, "B": photo crop}`` items.

    Args:
        root: folder of photos (with ``train/``/``val/`` or itself the training split).
        recipe: a :class:`~img2img.data.recipes.Recipe` (sketch, colorize or restore; super-
            resolution crops at the photo's own resolution: :class:`~img2img.data.sr_folder.SRFolder`).
            With ``colorize``, photos without colour are left out (listed in ``skipped``).
        recolor: training crops get their channels shuffled (:func:`recolor`) before the recipe
            makes the input (restore: the damage is then learnt apart from the photos' palette).
        vary: training crops get a random tone curve and hue turn of this strength
            (:func:`vary_photo`) before the recipe makes the input; 0 = off.
        Other arguments as :class:`~img2img.data.paired.PairedFolder`.

    Raises:
        DatasetError: no usable photo (for ``colorize``: no photo with colour) in the folder.
    """

    def __init__(
        self,
        root,
        recipe: Recipe,
        *,
        split: str = "train",
        size: int = 256,
        load_size: int | None = None,
        channels_a: int = 3,
        channels_b: int = 3,
        on_bad: str = "error",
        verify: bool = True,
        seed: int = 0,
        train: bool = True,
        recolor: bool = False,
        vary: float = 0.0,
    ) -> None:
        if recipe.name == "sr":
            raise ValueError("super-resolution pairs come from SRFolder (crops at the photo's own resolution)")
        self.recipe = recipe
        self.recolor = recolor
        if not vary >= 0:
            raise ValueError(f"vary must be >= 0, got {vary}")
        self.vary = float(vary)
        super().__init__(
            root,
            split=split,
            size=size,
            load_size=load_size,
            channels_a=channels_a,
            channels_b=channels_b,
            on_bad=on_bad,
            verify=verify,
            seed=seed,
            train=train,
        )

    def _collect(self) -> None:
        self.photos = self._list(self.split_root)
        gray: list[Path] = []
        if self.recipe.name == "colorize":
            self.photos, gray = self._sort_by_colour(self.photos, self.verify)
        elif self.verify:
            self.photos = self._verified(self.photos, 3)
        self._require_some(self.photos + gray, self.split_root)
        if gray:
            self._skip_gray(gray)

    def _sort_by_colour(self, paths: list[Path], verify: bool) -> tuple[list[Path], list[Path]]:
        """``(colour photos, photos without colour)``, one decode per file. With ``verify`` the
        files that do not decode are reported by ``on_bad`` and left out; without, they stay with
        the colour photos (loading reports them, as for the other recipes)."""
        results = self._decode_all(paths, 3, has_color)
        if verify:
            self._bad_many(self._unreadable(results))
        gray = [p for p in paths if not isinstance(results[p], str) and not results[p]]
        unreadable = [p for p in paths if isinstance(results[p], str)]
        left_out = set(gray) | (set(unreadable) if verify else set())
        return [p for p in paths if p not in left_out], gray

    def _skip_gray(self, gray: list[Path]) -> None:
        """Lists the photos without colour in ``skipped``; an error when no photo is left."""
        names = [path.relative_to(self.split_root).as_posix() for path in gray]
        self.skipped.extend(
            (str(path), f"{name} has no colour (grayscale): colorization needs colour photos")
            for path, name in zip(gray, names)
        )
        if not self.photos:
            raise DatasetError(
                f"no colour photos in {self.split_root}: all {len(gray)} usable photo(s) have no "
                "colour (grayscale), and colorization needs colour photos to learn from"
            )
        logger.warning(
            "RecipeFolder: left out %d photo(s) without colour under %s "
            "(colorize; a training run lists them in RUN/skipped.txt): %s",
            len(gray),
            self.split_root,
            ", ".join(names[:5]) + (", ..." if len(names) > 5 else ""),
        )

    def __len__(self) -> int:
        return len(self.photos)

    def _box(self, height: int, width: int, short: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """Crops near the photo's own scale (unless ``load_size`` is given): the recipe's damage,
        lines or grain then have the pixel scale they have on full-size photos at inference.

        Training crops zoom the photo by a random factor in ``[MIN_ZOOM, 1]`` (never below the
        crop size: smaller photos are enlarged to it); validation crops are centred at scale 1.
        """
        if not self.native_scale:
            return super()._box(height, width, short, rng)
        fit = self.size / min(height, width)  # the zoom at which the shorter side equals the crop
        low = max(fit, MIN_ZOOM)
        zoom = max(fit, float(rng.uniform(low, 1.0))) if self.train and low < 1.0 else max(fit, 1.0)
        new_h, new_w = max(self.size, round(height * zoom)), max(self.size, round(width * zoom))
        if self.train:
            top, left = int(rng.integers(0, new_h - self.size + 1)), int(rng.integers(0, new_w - self.size + 1))
        else:
            top, left = (new_h - self.size) // 2, (new_w - self.size) // 2
        return new_h, new_w, top, left

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        path = self.photos[index]
        photo = self._read(path, 3)
        crop = self._crop(photo, self._box(*photo.shape[:2], self._short, rng))
        if self.recolor and self.train:
            crop = recolor(crop, rng)
        if self.vary and self.train:
            crop = vary_photo(crop, rng, self.vary)
        a, b = self.recipe(crop, rng)
        a, b = to_channels(a, self.channels_a), to_channels(b, self.channels_b)
        return {"A": to_tensor_uint8(a), "B": to_tensor_uint8(b), "path": path.relative_to(self.split_root).as_posix()}
