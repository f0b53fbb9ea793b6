"""``Model``: run an exported img2img ONNX file with onnxruntime, numpy and OpenCV only.

Example:
    >>> from img2img_runtime import Model
    >>> model = Model("restore.onnx")                 # reads the metadata: no side files
    >>> restored = model(image)                       # uint8 H x W x 3 RGB in, uint8 out (or a path, PIL image)
    >>> report = model.translate_folder("in/", "out/")
    >>> digits = Model("digits.onnx").sample(16, label=7)  # a GAN lab model: n x H x W x C uint8
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import sampler as _sampler
from .folder import FolderReport, ProgressFn, translate_folder
from .io import _is_torch_tensor, _pil_image_class, as_uint8_image
from .metadata import MetadataError, parse_metadata
from .processing import (
    ModelSpec,
    check_batch_size,
    check_hints_allowed,
    check_self_ensemble,
    run_images,
    suggested_tile,
    tiling_policy,
)
from .sampler import latent_spec
from .zoo import resolve_onnx


class WrongModelKind(TypeError):
    """A GAN lab model (noise -> image) asked to translate an image, or an image model asked to sample."""


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
        max_pixels: refuse input files with more pixels than this, from their header (None: 100
            megapixels or ``$IMG2IMG_MAX_PIXELS``; 0: no limit); see :func:`~img2img_runtime.io.read_image`.
        self_ensemble: 1 (default), or 2, 4, 8: also run mirrored (2), upside-down (4) and
            transposed (8) copies and average the outputs; that many times slower, usually a
            little more accurate (see :func:`~img2img_runtime.processing.self_ensembled`).

    Inputs (``__call__``) follow :func:`~img2img_runtime.io.as_uint8_image`, the reading rules
    of files: uint8/uint16/float-in-[0, 1] arrays ``H x W (x C)``, RGBA over white, PIL images
    (-> a PIL image out), paths; NaN, out-of-range floats and empty images are a ValueError.
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
        max_pixels: int | None = None,
        self_ensemble: int = 1,
    ) -> None:
        import onnxruntime as ort

        self.path = resolve_onnx(path)  # a file, or the checked .onnx of a shipped model's name
        if not self.path.is_file():
            raise FileNotFoundError(f"no model file at {self.path}")
        check_batch_size(batch_size)
        if isinstance(providers, str):  # one name, not its letters (onnxruntime would fall back to the CPU)
            providers = [providers]
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as error:  # onnxruntime's own types (InvalidProtobuf, Fail, ...): a truncated or wrong file
            if type(error).__module__.startswith("onnxruntime"):
                raise ValueError(
                    f"{self.path}: not an ONNX model onnxruntime can load (a truncated download or another "
                    f"kind of file?): {str(error).strip()}"
                ) from None
            raise
        self.config: dict[str, Any] = parse_metadata(self.session.get_modelmeta().custom_metadata_map, str(self.path))
        self.input_name = self.session.get_inputs()[0].name
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.self_ensemble = check_self_ensemble(self_ensemble)
        self.latent = latent_spec(self.config)  # a GAN lab model: noise (and a label) in, see sample()
        if self.latent is not None:
            self._check_sampler()
            return
        self.spec = ModelSpec.from_config(self.config, color_resolution=color_resolution)
        self._check_graph()
        meta_tile = self.config.get("tile") or {}
        suggested = (
            (int(meta_tile["size"]), int(meta_tile.get("overlap", max(16, int(meta_tile["size"]) // 8))))
            if "size" in meta_tile
            else suggested_tile(self.spec)
        )
        self.tile, self.overlap, self.tile_threshold = tiling_policy(
            tile, overlap, suggested, image_statistics=self.spec.image_statistics
        )

    # ------------------------------------------------------------------ noise -> image models
    def _check_sampler(self) -> None:
        """A GAN lab model's graph must take ``noise`` (and ``label`` when conditional) as its metadata say."""
        names = [arg.name for arg in self.session.get_inputs()]
        expected = ["noise", "label"] if self.latent.get("num_classes") else ["noise"]
        if names != expected:
            raise MetadataError(
                f"{self.path}: a noise -> image model must take inputs {expected}, the graph takes {names}"
            )
        out = self.sample(1, seed=0) if not self.latent.get("num_classes") else self.sample(1, label=0, seed=0)
        size = self.config["output"].get("size")
        if size and list(out.shape[1:3]) != list(size):
            raise MetadataError(
                f"{self.path}: metadata field 'output.size' is {size} but the graph draws {list(out.shape[1:3])}"
            )

    def sample(
        self,
        n: int,
        *,
        label: int | str | Sequence[int] | None = None,
        seed: int | None = None,
        noise: np.ndarray | None = None,
    ) -> np.ndarray:
        """A GAN lab model: ``n`` new images, uint8 ``n x H x W x C``.

        Args:
            n: how many.
            label: conditional models: a class index or name for all of them, or one per image
                (default: random classes).
            seed: the noise's seed (default: fresh noise).
            noise: float32 ``(n, dim)`` noise to use instead (e.g. a latent walk).
        """
        if self.latent is None:
            raise WrongModelKind(
                f"{self.path} translates images (call the model on an image); sample() is for GAN lab models"
            )
        dim = int(self.latent["dim"])
        z = _sampler.noise(n, dim, seed) if noise is None else np.asarray(noise, np.float32).reshape(n, dim)
        classes = _sampler.labels(self.latent, n, label, seed)
        outs = []
        for start in range(0, n, max(1, self.batch_size * 16)):
            stop = min(n, start + max(1, self.batch_size * 16))
            feed = {"noise": z[start:stop]}
            if classes is not None:
                feed["label"] = classes[start:stop]
            outs.append(self.session.run(None, feed)[0])
        return _sampler.to_images(np.concatenate(outs))

    def _image_model(self) -> None:
        if self.latent is not None:
            raise WrongModelKind(f"{self.path} generates images from noise (a GAN lab model): use model.sample(n)")

    def _check_graph(self) -> None:
        """The graph must agree with its metadata: channels from its static shapes, the scale from one
        tiny probe (a ``scale`` of 3 on a x4 net would otherwise give silently wrong, padded outputs)."""
        spec, source = self.spec, str(self.path)
        for field, arg, channels in (
            ("input.channels", self.session.get_inputs()[0], spec.in_channels),
            ("output.channels", self.session.get_outputs()[0], spec.out_channels),
        ):
            shape = arg.shape
            if len(shape) == 4 and isinstance(shape[1], int) and shape[1] != channels:
                raise MetadataError(
                    f"{source}: metadata field {field!r} is {channels} but the graph's {arg.name!r} has shape {shape}"
                )
        multiple = max(spec.size_multiple, 1)
        side = -(-max(spec.min_size, multiple, 8) // multiple) * multiple
        if side > 512:  # a probe would cost too much; the static shapes above are all we check
            return
        try:
            out = self.run_batch(np.zeros((1, spec.in_channels, side, side), np.float32))
        except Exception as err:  # onnxruntime raises its own error types
            raise MetadataError(
                f"{source}: the graph does not run on a {side} x {side} input as its metadata "
                f"('input.channels', 'size_multiple', 'min_size') describe: {err}"
            ) from err
        expected = (1, spec.out_channels, side * spec.scale, side * spec.scale)
        if tuple(out.shape) != expected:
            field = "output.channels" if out.ndim == 4 and out.shape[1] != spec.out_channels else "scale"
            raise MetadataError(
                f"{source}: metadata field {field!r} does not match the graph: a {side} x {side} input "
                f"gives an output of shape {tuple(out.shape)}, the metadata say {expected} "
                f"(scale {spec.scale})"
            )

    def run_batch(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``N x C x H x W`` (valid sizes) -> the raw network output."""
        return self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})[0]

    def translate_arrays(
        self, images: Sequence[np.ndarray], *, on_tile: Any = None, hints: Sequence[Any] | None = None
    ) -> list[np.ndarray]:
        """uint8 ``H x W x C`` arrays of any sizes -> uint8 outputs (``on_tile(done, total)``:
        progress of tiled images; ``hints``: one entry per image, for hint models)."""
        self._image_model()
        return run_images(
            self.run_batch,
            images,
            self.spec,
            batch_size=self.batch_size,
            tile=self.tile,
            overlap=self.overlap,
            tile_threshold=self.tile_threshold,
            on_tile=on_tile,
            self_ensemble=self.self_ensemble,
            hints=hints,
        )

    @property
    def takes_hints(self) -> bool:
        """True for a hint model (trained with ``--hints``): ``model(image, hints=...)``."""
        return self.latent is None and self.spec.hints is not None

    def __call__(self, images: Any, *, hints: Any = None) -> Any:
        """An image (array, path or PIL image) -> uint8 array (PIL in, PIL out); a list -> a list.

        ``hints`` (hint models): colour points ``[(x, y, (r, g, b)), ...]`` or an RGBA stroke
        image for one image; for a list of images, a list with one such entry (or None) per image
        (see :mod:`img2img_runtime.hints`).
        """
        self._image_model()
        if hints is not None:
            check_hints_allowed(self.spec, hints, str(self.path))
        if isinstance(images, (list, tuple)):
            outs = self.translate_arrays([self._load(im) for im in images], hints=hints)
            return [self._as_input_type(out, im) for out, im in zip(outs, images)]
        one = None if hints is None else [hints]
        return self._as_input_type(self.translate_arrays([self._load(images)], hints=one)[0], images)

    def _load(self, image: Any) -> np.ndarray:
        if _is_torch_tensor(image):
            raise TypeError("torch tensors: use img2img.Translator, or pass tensor.permute(1, 2, 0).cpu().numpy()")
        return as_uint8_image(image, channels=self.spec.image_channels, max_pixels=self.max_pixels)

    @staticmethod
    def _as_input_type(out: np.ndarray, image: Any) -> Any:
        pil_class = _pil_image_class()
        if pil_class is not None and isinstance(image, pil_class):
            from PIL import Image

            return Image.fromarray(out[:, :, 0] if out.shape[2] == 1 else out)
        return out

    def translate_folder(
        self,
        input_path: str | os.PathLike,
        output_dir: str | os.PathLike,
        *,
        overwrite: bool = False,
        recursive: bool = True,
        progress: bool | ProgressFn = True,
        hints: str | os.PathLike | None = None,
    ) -> FolderReport:
        """Translate a folder (recursively, keeping relative paths and formats) or one file; see
        :func:`img2img_runtime.folder.translate_folder` (the progress moves per tile on large images;
        ``hints``: a folder of RGBA stroke images named like the inputs, for hint models)."""
        self._image_model()
        if hints is not None:
            check_hints_allowed(self.spec, [hints], str(self.path))
        return translate_folder(
            self.translate_arrays,
            input_path,
            output_dir,
            in_channels=self.spec.image_channels,
            overwrite=overwrite,
            recursive=recursive,
            batch_size=self.batch_size,
            progress=progress,
            max_pixels=self.max_pixels,
            hints=hints,
        )
