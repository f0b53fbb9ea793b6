"""Aligned pairs for pix2pix: ``A/`` + ``B/`` folders, or side-by-side AB images (:class:`PairedFolder`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from img2img.data.files import DatasetError, ResizeCropFolder, resize_image, to_tensor_uint8
from img2img_runtime.processing import to_channels

__all__ = ["PairedFolder"]


#: the most a B image may be stretched one way when it is resized to its A partner's size
MAX_STRETCH = 1.25


class PairedFolder(ResizeCropFolder):
    """Aligned pairs for pix2pix: ``A/`` + ``B/`` folders, or side-by-side AB images.

    Layouts, detected in this order inside the split root: (a) ``A/`` and ``B/`` subfolders whose
    files pair by relative path without extension (``A/x.png`` with ``B/x.jpg``, nested folders
    allowed); (b) otherwise images holding A in the left half and B in the right half.
    A and B of a pair get the same resize and crop; if their sizes differ, B is resized to A's.

    Args:
        root: dataset folder (with ``train/``/``val/`` or itself the training split).
        split: ``"train"`` or ``"val"``.
        size: side of the square crops.
        load_size: shorter side after resizing in train mode (default ``round(size * 286 / 256)``).
        channels_a, channels_b: 3 (RGB) or 1 (luminance).
        on_bad: ``"error"`` raises DatasetError at the first problem; ``"skip"`` drops bad
            files/pairs and lists them in ``self.skipped``.
        verify: decode every file at construction, so bad files surface before training.
        seed: base seed of the per-item random generator.
        train: random crop after resizing to ``load_size`` (True) or centre crop at ``size``.

    Items: ``{"A": uint8 (channels_a, size, size), "B": uint8 (channels_b, size, size),
    "path": A's path relative to A/ (or to the split root for AB images)}``.
    """

    def _collect(self) -> None:
        dir_a, dir_b = self.dir_a, self.dir_b
        if dir_a.is_dir() != dir_b.is_dir():
            present, missing = (dir_a, dir_b) if dir_a.is_dir() else (dir_b, dir_a)
            raise DatasetError(f"found {present} but not {missing}: paired data needs both A/ and B/")
        self.layout = "A/B" if dir_a.is_dir() else "AB"
        self.pairs: list[tuple[Path, Path | None]] = (
            self._match(dir_a, dir_b) if self.layout == "A/B" else [(p, None) for p in self._list(self.split_root)]
        )
        if self.verify:
            self._verify_pairs()
        self._require_some(self.pairs, self.split_root)

    def _verify_pairs(self) -> None:
        if self.layout == "A/B":
            decoded = self._decode_all([a for a, _ in self.pairs], self.channels_a)
            decoded.update(self._decode_all([b for _, b in self.pairs], self.channels_b))
        else:
            decoded = self._decode_all([a for a, _ in self.pairs], 3)
        bad = self._unreadable(decoded)
        if self.layout == "A/B":
            readable = [(a, b) for a, b in self.pairs if not isinstance(decoded.get(a), str)]
            readable = [(a, b) for a, b in readable if not isinstance(decoded.get(b), str)]
            messages = [(b, self._stretch_message(a, b, decoded[a], decoded[b])) for a, b in readable]
            bad += [(b, "shape unlike A's", message) for b, message in messages if message]
        if self.layout == "AB":
            bad += [
                (path, f"odd width {shape[1]}", self._odd_width_message(path, shape[1]))
                for path, shape in decoded.items()
                if not isinstance(shape, str) and shape[1] % 2
            ]
        self._bad_many(bad)
        dropped = {path for path, _, _ in bad}
        self.pairs = [(a, b) for a, b in self.pairs if a not in dropped and b not in dropped]

    @staticmethod
    def _stretch_message(a: Path, b: Path, shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> str:
        """Why B, resized to A's size, would be distorted (aspect ratios more than MAX_STRETCH
        apart, e.g. one of them turned by its EXIF orientation); "" when it would not."""
        (ha, wa), (hb, wb) = shape_a[:2], shape_b[:2]
        stretch = (wa / ha) / (wb / hb)
        if max(stretch, 1 / stretch) <= MAX_STRETCH:
            return ""
        return (
            f"{b} is {wb} x {hb} pixels and its partner {a} {wa} x {ha}: B is resized to A's size, which would "
            f"stretch it {max(stretch, 1 / stretch):.2f} times one way (more than {MAX_STRETCH}); is one of them "
            "rotated (EXIF orientation) or cropped differently?"
        )

    @staticmethod
    def _odd_width_message(path: Path, width: int) -> str:
        return f"{path}: side-by-side AB image has odd width {width}, so it cannot be split into equal A and B halves"

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        path_a, path_b = self.pairs[index]
        if path_b is None:
            same = self.channels_a == self.channels_b
            image = self._read(path_a, self.channels_a if same else 3)
            width = image.shape[1]
            if width % 2:
                raise DatasetError(self._odd_width_message(path_a, width))
            image_a = to_channels(image[:, : width // 2], self.channels_a)
            image_b = to_channels(image[:, width // 2 :], self.channels_b)
            name = path_a.relative_to(self.split_root).as_posix()
        else:
            image_a = self._read(path_a, self.channels_a)
            image_b = self._read(path_b, self.channels_b)
            image_b = resize_image(image_b, *image_a.shape[:2])
            name = path_a.relative_to(self.dir_a).as_posix()
        box = self._box(*image_a.shape[:2], self._short, rng)
        a, b = self._crop(image_a, box), self._crop(image_b, box)
        return {"A": to_tensor_uint8(a), "B": to_tensor_uint8(b), "path": name}
