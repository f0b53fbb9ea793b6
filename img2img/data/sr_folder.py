"""Super-resolution pairs: high-resolution images, or prepared ``A/`` (low) + ``B/`` (high) (:class:`SRFolder`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from img2img.data.degrade import sr_degrade
from img2img.data.files import DatasetError, FolderDataset, crop_resized, shorter_side_to, to_tensor_uint8

__all__ = ["SRFolder"]


class SRFolder(FolderDataset):
    """Super-resolution pairs: high-resolution images, low resolution made on the fly or prepared.

    Args:
        root: folder of HR images (searched recursively), or a dataset folder with ``train/``/``val/``.
            A split holding ``A/`` (low resolution) and ``B/`` (high resolution), as written by
            ``img2img prepare sr``, is read as prepared pairs: B must be exactly ``scale`` times A.
        size: HR patch side; a multiple of ``scale``.
        scale: downscaling factor.
        realistic: make LR with blur, noise and JPEG around the downscale
            instead of plain antialiased bicubic; either way the low resolution comes from
            :func:`img2img.data.degrade.sr_degrade`.
        on_bad, verify, seed, train, split: as in :class:`PairedFolder`.

    HR images whose shorter side is below ``size`` are first enlarged (INTER_CUBIC) to ``size``
    (prepared pairs must be large enough instead). Train mode takes a random ``size x size``
    crop, eval mode the centre one, at the image's own resolution.
    Items: ``{"A": LR uint8 (3, size/scale, size/scale), "B": HR uint8 (3, size, size), "path": str}``.
    """

    def __init__(
        self,
        root,
        *,
        split: str = "train",
        size: int = 96,
        scale: int = 4,
        realistic: bool = False,
        on_bad: str = "error",
        verify: bool = True,
        seed: int = 0,
        train: bool = True,
    ) -> None:
        super().__init__(root=root, split=split, size=size, on_bad=on_bad, verify=verify, seed=seed, train=train)
        if scale < 1 or size % scale:
            raise DatasetError(f"SR patch size {size} must be a multiple of the scale factor {scale}")
        self.scale = int(scale)
        self.realistic = realistic
        dir_a, dir_b = self.dir_a, self.dir_b
        if dir_a.is_dir() and dir_b.is_dir():
            self.pairs: list[tuple[Path | None, Path]] = [(a, b) for a, b in self._match(dir_a, dir_b)]
        else:
            self.pairs = [(None, p) for p in self._list(self.split_root)]
        if verify:
            decoded = self._decode_all([p for pair in self.pairs for p in pair if p is not None], 3)
            bad = self._unreadable(decoded)
            bad += [
                (b, "size is not scale x A", self._mismatch(a, b, decoded[a], decoded[b]))
                for a, b in self.pairs
                if a is not None
                and not isinstance(decoded[a], str)
                and not isinstance(decoded[b], str)
                and self._mismatch(a, b, decoded[a], decoded[b])
            ]
            self._bad_many(bad)
            dropped = {p for p, _, _ in bad}
            self.pairs = [(a, b) for a, b in self.pairs if a not in dropped and b not in dropped]
        self._require_some(self.pairs, self.split_root)
        self._report_skipped()

    @property
    def files(self) -> list[Path]:
        """The high-resolution files."""
        return [b for _, b in self.pairs]

    def _mismatch(self, a: Path, b: Path, shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> str:
        s = self.scale
        if shape_b[:2] != (shape_a[0] * s, shape_a[1] * s):
            return f"{b} is {shape_b[1]}x{shape_b[0]}, but {a} is {shape_a[1]}x{shape_a[0]}: HR must be exactly {s}x LR"
        if min(shape_b[:2]) < self.size:
            return f"{b} is smaller than the {self.size}px patch"
        return ""

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        path_a, path_b = self.pairs[index]
        hr = self._read(path_b, 3)
        s, patch = self.scale, self.size // self.scale
        if path_a is None:
            height, width = hr.shape[:2]
            if min(height, width) < self.size:  # enlarged to the patch (only where it is cropped)
                height, width = shorter_side_to(height, width, self.size)
            top, left = self._corner(height // s, width // s, patch, rng)
            hr = np.ascontiguousarray(crop_resized(hr, (height, width, top * s, left * s), patch * s))
            lr = sr_degrade(hr, s, rng, realistic=self.realistic)
            name = path_b.relative_to(self.split_root).as_posix()
        else:
            lr = self._read(path_a, 3)
            message = self._mismatch(path_a, path_b, lr.shape, hr.shape)
            if message:
                raise DatasetError(message)
            top, left = self._corner(*lr.shape[:2], patch, rng)
            lr = np.ascontiguousarray(lr[top : top + patch, left : left + patch])
            hr = np.ascontiguousarray(hr[top * s : (top + patch) * s, left * s : (left + patch) * s])
            name = path_b.relative_to(self.dir_b).as_posix()
        return {"A": to_tensor_uint8(lr), "B": to_tensor_uint8(hr), "path": name}

    def _corner(self, height: int, width: int, patch: int, rng: np.random.Generator) -> tuple[int, int]:
        """Top-left of a ``patch`` crop on the LR grid (so HR crops align): random or centred."""
        if self.train:
            return int(rng.integers(0, height - patch + 1)), int(rng.integers(0, width - patch + 1))
        return (height - patch) // 2, (width - patch) // 2
