"""``Model``: run an exported img2img ONNX file with onnxruntime, numpy and OpenCV only.

Example:
    >>> from img2img_runtime import Model
    >>> model = Model("restore.onnx")                 # reads the metadata: no side files
    >>> restored = model(image)                       # uint8 H x W x 3 RGB in, uint8 out
    >>> report = model.translate_folder("in/", "out/")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .folder import FolderReport, translate_folder
from .io import read_image
from .metadata import parse_metadata
from .processing import ModelSpec, run_images, suggested_tile, tiling_policy


class Model:
    """An exported generator with all of its pre- and post-processing.

    Args:
        path: the ``.onnx`` file written by ``img2img export``.
        providers: onnxruntime execution providers (default: CPU).
        tile: ``"auto"`` (tile images larger than twice the model's suggested tile), an int tile
            size in input pixels, or None (never tile).
        overlap: tile overlap in input pixels (default: the model's suggestion for auto, else tile / 8).
        batch_size: images (or tiles) per run.
        threads: onnxruntime intra-op threads (default: onnxruntime's choice).
        color_resolution: colorization models: predict colour at most at this size.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        providers: Sequence[str] | None = None,
        tile: int | str | None = "auto",
        overlap: int | None = None,
        batch_size: int = 4,
        threads: int | None = None,
        color_resolution: int | None = None,
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no model file at {self.path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.path), options, providers=list(providers or ["CPUExecutionProvider"]))
        self.config: dict[str, Any] = parse_metadata(self.session.get_modelmeta().custom_metadata_map, str(self.path))
        self.spec = ModelSpec.from_config(self.config, color_resolution=color_resolution)
        self.input_name = self.session.get_inputs()[0].name
        meta_tile = self.config.get("tile") or {}
        suggested = (int(meta_tile["size"]), int(meta_tile["overlap"])) if "size" in meta_tile else suggested_tile(self.spec)
        self.tile, self.overlap, self.tile_threshold = tiling_policy(tile, overlap, suggested)
        self.batch_size = batch_size

    def run_batch(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``N x C x H x W`` (valid sizes) -> the raw network output."""
        return self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})[0]

    def translate_arrays(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """uint8 ``H x W x C`` arrays of any sizes -> uint8 outputs."""
        return run_images(self.run_batch, images, self.spec, batch_size=self.batch_size, tile=self.tile,
                          overlap=self.overlap, tile_threshold=self.tile_threshold)

    def __call__(self, images: np.ndarray | str | os.PathLike | Sequence[Any]) -> Any:
        """uint8 ``H x W x C`` array (or a path) -> uint8 array; a list -> a list."""
        if isinstance(images, (list, tuple)):
            return self.translate_arrays([self._load(im) for im in images])
        return self.translate_arrays([self._load(images)])[0]

    def _load(self, image: Any) -> np.ndarray:
        if isinstance(image, (str, os.PathLike)):
            return read_image(image, channels=self.spec.image_channels)
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise TypeError(f"images must be uint8 arrays (H x W x C, RGB) or paths, got {array.dtype}")
        return array

    def translate_folder(self, input_path: str | os.PathLike, output_dir: str | os.PathLike, *, overwrite: bool = False,
                         recursive: bool = True, progress: bool = True) -> FolderReport:
        """Translate a folder (recursively, keeping relative paths and formats) or one file; see
        :func:`img2img_runtime.folder.translate_folder`."""
        return translate_folder(self.translate_arrays, input_path, output_dir, in_channels=self.spec.image_channels,
                                overwrite=overwrite, recursive=recursive, batch_size=self.batch_size, progress=progress)
