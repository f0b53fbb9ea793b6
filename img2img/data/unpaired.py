"""Two independent image sets for CycleGAN: ``A/`` and ``B/`` (:class:`UnpairedFolder`)."""

from __future__ import annotations

import numpy as np

from img2img.data.files import DatasetError, ResizeCropFolder, to_tensor_uint8

__all__ = ["UnpairedFolder"]


class UnpairedFolder(ResizeCropFolder):
    """Two independent image sets for CycleGAN: ``A/`` and ``B/`` under the split root.

    ``len`` is ``max(len(A), len(B))``; item ``i`` uses ``A[i % len(A)]`` and, in train mode, a
    random B (eval mode: ``B[i % len(B)]``). A and B get independent crops. Arguments are those of
    :class:`PairedFolder`. Items: ``{"A", "B", "path": A's path relative to A/}``.
    """

    def _collect(self) -> None:
        for folder in (self.dir_a, self.dir_b):
            if not folder.is_dir():
                raise DatasetError(f"unpaired data needs {self.dir_a} and {self.dir_b}; {folder} does not exist")
        self.files_a = self._list(self.dir_a)
        self.files_b = self._list(self.dir_b)
        if self.verify:
            self.files_a = self._verified(self.files_a, self.channels_a)
            self.files_b = self._verified(self.files_b, self.channels_b)
        self._require_some(self.files_a, self.dir_a)
        self._require_some(self.files_b, self.dir_b)

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def _load(self, index: int, rng: np.random.Generator) -> dict:
        path_a = self.files_a[index % len(self.files_a)]
        path_b = self.files_b[int(rng.integers(len(self.files_b))) if self.train else index % len(self.files_b)]
        image_a = self._read(path_a, self.channels_a)
        image_b = self._read(path_b, self.channels_b)
        image_a = self._crop(image_a, self._box(*image_a.shape[:2], self._short, rng))
        image_b = self._crop(image_b, self._box(*image_b.shape[:2], self._short, rng))
        name = path_a.relative_to(self.dir_a).as_posix()
        return {"A": to_tensor_uint8(image_a), "B": to_tensor_uint8(image_b), "path": name}
