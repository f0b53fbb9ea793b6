"""What the folder datasets share: splits, file listing, the bad-file policy, decoding cache, crops.

The datasets themselves live in files named for what they read: :mod:`img2img.data.paired`
(pix2pix), :mod:`img2img.data.unpaired` (CycleGAN), :mod:`img2img.data.sr_folder` (SRGAN) and
:mod:`img2img.data.recipe_folder` (photos + a recipe). All of them derive from
:class:`FolderDataset`, the one place that decides what a bad file is and what happens to it
(``on_bad="error"``: :class:`DatasetError` naming the file; ``"skip"``: dropped and listed in
``dataset.skipped``).

Items are dicts of ``uint8`` tensors, ``C x H x W``, not normalised: normalisation to
``[-1, 1]`` and flips happen later, on the training device, with the same parameters for A and B.

Dataset folders (``root`` may hold ``train/`` and ``val/``; without ``train/`` the root itself is
the training split)::

    paired:    root/[train/]A/x.png + root/[train/]B/x.jpg    (matched by path without extension)
               root/[train/]x.jpg                            (side by side: left A, right B)
    unpaired:  root/[train/]A/*  and  root/[train/]B/*        (independent)
    SR:        root/[train/]**/*                              (high-resolution images)

Randomness is reproducible whatever the number of DataLoader workers: item ``i`` of epoch ``e``
draws everything from ``np.random.default_rng([seed, e, i])``; ``dataset[(e, i)]`` selects the
epoch, ``dataset[i]`` means epoch 0.
"""

from __future__ import annotations

import logging
import operator
import os
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from img2img.data.io import IMAGE_EXTENSIONS, ImageReadError, list_images, list_non_images, read_image

__all__ = [
    "DatasetError",
    "FolderDataset",
    "ImageCache",
    "ResizeCropFolder",
    "find_split_root",
    "key_by_stem",
    "resize_image",
    "shorter_side_to",
    "crop_resized",
    "split_dirs",
    "to_tensor_uint8",
]

logger = logging.getLogger(__name__)

_SUPPORTED = ", ".join(IMAGE_EXTENSIONS)
_MAX_LISTED = 10
_OTHER_SPLITS = ("val", "test")  # skipped when the root itself is the training split


class DatasetError(ValueError):
    """A dataset folder is missing, empty or holds a bad file; the message names it."""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _cyclegan_prefixes(split: str) -> tuple[str, ...]:
    """Folder-name prefixes of a split in the CycleGAN datasets' layout (``trainA/``, ``testA/``, ...)."""
    return (split,) if split == "train" else (split, "test")


def find_split_root(root: str | os.PathLike, split: str) -> Path | None:
    """The folder that holds one split of a dataset.

    ``root/split`` when it exists; ``root`` when it has the CycleGAN datasets' ``trainA/`` +
    ``trainB/`` folders for that split (``valA/`` + ``valB/`` or ``testA/`` + ``testB/`` for
    ``"val"``); for ``"train"`` otherwise ``root`` itself; otherwise (e.g. ``"val"`` without
    ``root/val``) None.

    Raises:
        DatasetError: ``root`` does not exist or is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist" if not root.exists() else f"{root} is not a folder")
    if (root / split).is_dir():
        return root / split
    if split_dirs(root, split) is not None:
        return root
    return root if split == "train" else None


def split_dirs(root: Path, split: str) -> tuple[Path, Path] | None:
    """``(root/trainA, root/trainB)`` (``val``/``test`` prefixes for ``"val"``) when both exist, else None."""
    for prefix in _cyclegan_prefixes(split):
        dir_a, dir_b = root / f"{prefix}A", root / f"{prefix}B"
        if dir_a.is_dir() and dir_b.is_dir():
            return dir_a, dir_b
    return None


def to_tensor_uint8(image: np.ndarray) -> torch.Tensor:
    """``H x W x C`` (or ``H x W``) uint8 array -> contiguous ``C x H x W`` uint8 tensor."""
    if image.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"expected an H x W x C image, got shape {image.shape}")
    array = np.ascontiguousarray(image.transpose(2, 0, 1))
    return torch.from_numpy(array if array.flags.writeable else array.copy())  # cached images are read-only


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resizes with INTER_AREA when shrinking and INTER_CUBIC when enlarging; keeps H x W x C."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    shrinking = height * width < h * w
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return out[:, :, None] if out.ndim == 2 else out


def crop_resized(image: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """``resize_image(image, new_h, new_w)[top : top + size, left : left + size]`` for ``box = (new_h,
    new_w, top, left)``, without making the whole enlarged image: an enlarged photo is interpolated
    (bicubic, as :func:`resize_image`) only where it is cropped, so a 1 x 30000 strip costs a crop,
    not gigapixels. Shrinking (area interpolation) resizes the whole image, which is never larger."""
    new_h, new_w, top, left = box
    height, width = image.shape[:2]
    if new_h * new_w <= height * width:
        return resize_image(image, new_h, new_w)[top : top + size, left : left + size]
    sx, sy = width / new_w, height / new_h  # output pixel x samples the source at (x + 0.5) * sx - 0.5
    matrix = np.array([[sx, 0.0, (left + 0.5) * sx - 0.5], [0.0, sy, (top + 0.5) * sy - 0.5]])
    out = cv2.warpAffine(
        image,
        matrix,
        (min(size, new_w - left), min(size, new_h - top)),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out[:, :, None] if out.ndim == 2 else out


def shorter_side_to(height: int, width: int, short: int) -> tuple[int, int]:
    """``(height, width)`` scaled so that the shorter side is ``short`` (neither side below it)."""
    if height <= width:
        return short, max(short, round(width * short / height))
    return max(short, round(height * short / width)), short


def _names(paths: list[str]) -> str:
    shown = ", ".join(paths[:_MAX_LISTED])
    return shown + (f", ... ({len(paths) - _MAX_LISTED} more)" if len(paths) > _MAX_LISTED else "")


def key_by_stem(paths: list[Path], folder: Path) -> tuple[dict[str, Path], list[list[Path]]]:
    """Files of ``folder`` by relative path without extension (how A and B files pair up).

    Returns the files whose key is unique, and the groups of files that share a key (``x.png``
    beside ``x.jpg``), which cannot be paired.
    """
    by_key: dict[str, list[Path]] = {}
    for path in paths:
        by_key.setdefault(_strip_suffix(path.relative_to(folder).as_posix()), []).append(path)
    return (
        {key: group[0] for key, group in by_key.items() if len(group) == 1},
        [group for group in by_key.values() if len(group) > 1],
    )


def _strip_suffix(relative: str) -> str:
    return relative[: -len(Path(relative).suffix)] if Path(relative).suffix else relative


# --------------------------------------------------------------------------------------------
# Shared machinery
# --------------------------------------------------------------------------------------------


class ImageCache:
    """Decoded images kept in memory, least recently used dropped first, up to ``max_bytes``.

    Decoding is the slowest part of loading a training item (a 2-megapixel PNG takes longer
    than the network step on a small crop), and every epoch decodes the same files again. Each
    data-loader worker holds its own cache (``IMG2IMG_CACHE_MB`` per process, default 1024;
    0 turns caching off). Cached arrays are read-only: loaders crop and copy, never write.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        if max_bytes is None:
            max_bytes = int(float(os.environ.get("IMG2IMG_CACHE_MB", "1024")) * 2**20)
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[Path, int], np.ndarray] = OrderedDict()

    def read(self, path: Path, channels: int) -> np.ndarray:
        key = (Path(path), channels)
        image = self._items.get(key)
        if image is not None:
            self._items.move_to_end(key)
            return image
        image = read_image(path, channels=channels)
        if image.nbytes <= self.max_bytes:
            image.setflags(write=False)
            self._items[key] = image
            self.bytes += image.nbytes
            while self.bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= dropped.nbytes
        return image

    def __len__(self) -> int:
        return len(self._items)


class FolderDataset(Dataset):
    """Validation, bad-file policy, verification, indexing and geometry shared by the folders.

    Subclasses list their files in ``__init__`` (``_list``, ``_match``, ``_verified``), then
    implement ``__len__`` and ``_load(index, rng)``; every bad file goes through ``_bad`` /
    ``_bad_many``, which raise :class:`DatasetError` or record it in ``skipped`` by ``on_bad``.
    """

    def __init__(self, *, root, split: str, size: int, on_bad: str, verify: bool, seed: int, train: bool) -> None:
        if on_bad not in ("error", "skip"):
            raise ValueError(f"on_bad must be 'error' or 'skip', got {on_bad!r}")
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.root = Path(root)
        self.split = split
        self.size = int(size)
        self.on_bad = on_bad
        self.verify = verify
        self.seed = int(seed)
        self.train = train
        self.skipped: list[tuple[str, str]] = []
        split_root = find_split_root(self.root, split)
        if split_root is None:
            raise DatasetError(f"no {split!r} split in {self.root} (expected a folder {self.root / split})")
        self.split_root = split_root
        # A/ and B/ of two-sided data: under the split root, or the CycleGAN layout's trainA/, trainB/ ...
        cyclegan = split_dirs(self.root, split) if split_root == self.root and not (split_root / "A").is_dir() else None
        self.dir_a, self.dir_b = cyclegan or (split_root / "A", split_root / "B")
        # When the root doubles as the training split, its val/ and test/ folders are not training data.
        self._excluded = _OTHER_SPLITS if split_root == self.root and split == "train" else ()
        self._cache = ImageCache()

    def _read(self, path: Path, channels: int) -> np.ndarray:
        """``read_image`` through this dataset's decoded-image cache (read-only arrays)."""
        return self._cache.read(path, channels)

    # bad files ------------------------------------------------------------------------------

    def _bad(self, path, reason: str, message: str) -> None:
        """Raises DatasetError(message) or records (path, reason), by ``on_bad``."""
        if self.on_bad == "error":
            raise DatasetError(message)
        self.skipped.append((str(path), reason))

    def _bad_many(self, items: list[tuple[Path, str, str]]) -> None:
        """Like _bad for several files; in error mode one message names the first and counts all."""
        if not items:
            return
        if self.on_bad == "error":
            message = items[0][2]
            if len(items) > 1:
                message += f" ({len(items)} bad files in total: {_names([str(p) for p, _, _ in items])})"
            raise DatasetError(message)
        self.skipped.extend((str(path), reason) for path, reason, _ in items)

    def _report_skipped(self) -> None:
        if self.skipped:
            logger.warning(
                "%s: skipped %d bad file(s) under %s (a training run lists them in RUN/skipped.txt), first: %s: %s",
                type(self).__name__,
                len(self.skipped),
                self.split_root,
                *self.skipped[0],
            )

    # listing and verification -----------------------------------------------------------------

    def _list(self, folder: Path) -> list[Path]:
        """Images under ``folder``; non-image files are bad files; an empty folder is an error."""
        if not folder.is_dir():
            raise DatasetError(f"dataset folder {folder} does not exist")

        def kept(path: Path) -> bool:
            parts = path.relative_to(folder).parts
            return not (folder == self.split_root and len(parts) > 1 and parts[0] in self._excluded)

        unreadable: list[tuple[Path, str]] = []  # broken links or special files with an image name
        images = [p for p in list_images(folder, errors=unreadable) if kept(p)]
        others = [p for p in list_non_images(folder, errors=[]) if kept(p)]  # list_images reported the errors
        self._bad_many(
            [(p, reason, f"{p}: {reason}") for p, reason in unreadable if kept(p)]
            + [
                (p, "not an image file", f"{p} is not an image file (supported extensions: {_SUPPORTED})")
                for p in others
            ]
        )
        if not images:
            raise DatasetError(f"no images found in {folder} (supported: {_SUPPORTED})")
        return images

    @staticmethod
    def _decode_all(
        paths: list[Path], channels: int, inspect: Callable[[np.ndarray], Any] = np.shape
    ) -> dict[Path, Any]:
        """Decodes every file once (threads: OpenCV releases the GIL): ``inspect(image)`` (by
        default its shape) per file, or the error text (a ``str``) of a file that does not decode."""

        def check(path: Path) -> Any:
            try:
                return inspect(read_image(path, channels=channels))
            except ImageReadError as error:
                return str(error)

        workers = max(1, min(8, os.cpu_count() or 1, len(paths)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(zip(paths, pool.map(check, paths)))

    @staticmethod
    def _unreadable(decoded: dict[Path, Any]) -> list[tuple[Path, str, str]]:
        """``(path, reason, message)`` of the files :meth:`_decode_all` could not decode, for ``_bad_many``."""
        return [(p, r.removeprefix(f"{p}: "), r) for p, r in decoded.items() if isinstance(r, str)]

    def _verified(self, paths: list[Path], channels: int) -> list[Path]:
        """``paths`` without the files that do not decode (reported by ``on_bad``)."""
        decoded = self._decode_all(paths, channels)
        self._bad_many(self._unreadable(decoded))
        return [p for p in paths if not isinstance(decoded[p], str)]

    def _require_some(self, items: list, folder: Path) -> None:
        if not items:
            bad = "; ".join(f"{path}: {reason}" for path, reason in self.skipped[:_MAX_LISTED])
            more = f" ... ({len(self.skipped) - _MAX_LISTED} more)" if len(self.skipped) > _MAX_LISTED else ""
            listed = f" ({bad}{more})" if bad else ""
            raise DatasetError(f"no usable images in {folder}: all were skipped as bad{listed}")

    def _match(self, dir_a: Path, dir_b: Path) -> list[tuple[Path, Path]]:
        """Pairs of files in ``dir_a`` and ``dir_b`` with the same relative path without extension."""
        keyed = {}
        for folder in (dir_a, dir_b):
            keyed[folder], clashes = key_by_stem(self._list(folder), folder)
            self._bad_many(
                [
                    (
                        p,
                        "same name as another file without extension",
                        f"{p} has the same name without extension as {paths[0] if p != paths[0] else paths[1]}; "
                        "pairs are matched by that name, so keep only one",
                    )
                    for paths in clashes
                    for p in paths
                ]
            )
        files_a, files_b = keyed[dir_a], keyed[dir_b]
        unmatched = [(files_a[k], dir_b) for k in files_a if k not in files_b]
        unmatched += [(files_b[k], dir_a) for k in files_b if k not in files_a]
        if unmatched:
            names = [p.relative_to(self.split_root).as_posix() for p, _ in unmatched]
            first, other = unmatched[0]
            self._bad(
                first,
                f"no partner in {other}/",
                f"{first} has no partner in {other}/ (pairs are matched by relative path without extension); "
                f"{len(unmatched)} unmatched file(s): {_names(names)}",
            )
            self.skipped.extend((str(p), f"no partner in {o}/") for p, o in unmatched[1:])
        return [(files_a[k], files_b[k]) for k in sorted(files_a) if k in files_b]

    # indexing --------------------------------------------------------------------------------

    def __len__(self) -> int:
        raise NotImplementedError

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def __getitem__(self, key) -> dict:
        epoch, index = (0, key) if not isinstance(key, tuple) else key
        epoch, index, length = operator.index(epoch), operator.index(index), len(self)
        if not -length <= index < length:
            raise IndexError(f"index {index} out of range for a dataset of {length} items")
        index %= length
        attempts = min(length, _MAX_LISTED) if self.on_bad == "skip" else 1
        for attempt in range(attempts):
            current = (index + attempt) % length
            try:
                return self._load(current, np.random.default_rng([self.seed, epoch, current]))
            except (ImageReadError, DatasetError) as error:
                # Only reachable with verify=False (or a file changed after construction).
                if self.on_bad == "error":
                    raise DatasetError(str(error)) from None
                logger.warning("%s: skipping item %d: %s", type(self).__name__, current, error)
        raise DatasetError(f"items {index}..{index + attempts - 1} of {self.split_root} are all unreadable")

    # geometry --------------------------------------------------------------------------------

    def _box(self, height: int, width: int, short: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """Resized size and crop corner: random in train mode, centred in eval mode."""
        new_h, new_w = shorter_side_to(height, width, short)
        if self.train:
            top = int(rng.integers(0, new_h - self.size + 1))
            left = int(rng.integers(0, new_w - self.size + 1))
        else:
            top, left = (new_h - self.size) // 2, (new_w - self.size) // 2
        return new_h, new_w, top, left

    def _crop(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        return crop_resized(image, box, self.size)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, items={len(self)}, "
            f"size={self.size}, train={self.train}, skipped={len(self.skipped)})"
        )


class ResizeCropFolder(FolderDataset):
    """The paired, unpaired and recipe folders: one constructor (the arguments of
    :class:`~img2img.data.paired.PairedFolder`), resize-shorter-side + crop parameters, and a
    :meth:`_collect` hook in which each lists and checks its own files."""

    def __init__(
        self,
        root,
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
    ) -> None:
        super().__init__(root=root, split=split, size=size, on_bad=on_bad, verify=verify, seed=seed, train=train)
        self._init_sizes(size, load_size, channels_a, channels_b)
        self.native_scale = load_size is None  # crops at the photo's own scale (recipe folders)
        self._collect()
        self._report_skipped()

    def _collect(self) -> None:
        """List this folder's files (``self.verify``: decode them), report bad ones by ``on_bad``."""
        raise NotImplementedError

    def _init_sizes(self, size: int, load_size: int | None, channels_a: int, channels_b: int) -> None:
        self.load_size = round(size * 286 / 256) if load_size is None else int(load_size)
        if self.load_size < size:
            raise ValueError(f"load_size ({self.load_size}) must be >= size ({size})")
        for name, channels in (("channels_a", channels_a), ("channels_b", channels_b)):
            if channels not in (1, 3):
                raise ValueError(f"{name} must be 1 or 3, got {channels}")
        self.channels_a, self.channels_b = channels_a, channels_b

    @property
    def _short(self) -> int:
        return self.load_size if self.train else self.size
