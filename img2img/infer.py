"""Inference with torch: ``Translator.from_pretrained(path)(images)``.

Pre- and post-processing (channels, normalisation, padding to the generator's size multiple,
cropping back, batching) and folder jobs come from :mod:`img2img_runtime`, the same code the
ONNX runtime uses, so the torch and ONNX paths cannot drift apart. This module only adds the
torch generator, the device and the input types.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from img2img_runtime.folder import FolderReport, ProgressFn, translate_folder
from img2img_runtime.hints import HintError
from img2img_runtime.io import as_uint8_image
from img2img_runtime.processing import (
    ModelSpec,
    check_hints_allowed,
    check_self_ensemble,
    run_images,
    suggested_tile,
    tiling_policy,
)

from .checkpoint import load_checkpoint, load_pretrained
from .devices import pick_device
from .nets.layers import uses_image_statistics

ImageLike = Any  # numpy array, PIL image, torch tensor, or a path


class Translator:
    """Runs a trained generator on images of any size.

    Args:
        generators: direction (``"AtoB"``/``"BtoA"``) -> generator.
        config: the model folder's ``config.json`` content.
        device: ``"auto"`` (CUDA, MPS, then CPU), or any torch device string.
        direction: default direction (the model's own default when None).
        batch_size: images per forward pass (images of one size are batched together).
        precision: ``"auto"`` (fp16 on CUDA, fp32 elsewhere), ``"fp32"``, ``"fp16"`` or ``"bf16"``.
        color_resolution: colorization models only: predict colour at most at this size (longer
            side) and join it with the full-resolution lightness (default: the model's setting).
        tile: ``"auto"`` (images larger than twice the suggested tile are processed in
            overlapping, blended tiles, so memory stays bounded), a tile size in input pixels, or
            None (never tile). ``overlap``: tile overlap (default: suggested / tile // 8).
        max_pixels: refuse input files with more pixels than this, from their header (None: 100
            megapixels or ``$IMG2IMG_MAX_PIXELS``; 0: no limit); see :func:`img2img_runtime.io.read_image`.
        self_ensemble: 1 (default), or 2, 4, 8: also run mirrored (2), upside-down (4) and
            transposed (8) copies and average the outputs; that many times slower, usually a
            little more accurate (see :func:`img2img_runtime.processing.self_ensembled`).

    Inputs and outputs (``__call__``):
        * numpy ``H x W x C`` or ``H x W`` (C = 1..4, RGB(A)) -> numpy uint8 ``H' x W' x C'``
          (``H' = scale * H``);
        * ``PIL.Image`` (any mode) -> ``PIL.Image``;
        * torch tensor ``C x H x W`` or ``N x C x H x W`` -> float in ``[0, 1]``, the same layout;
        * a path (str or ``Path``) -> numpy uint8 array;
        * a list of any of these -> a list.

    Every input is converted by :func:`img2img_runtime.io.as_uint8_image`, with the reading rules
    of files: uint8 as is, uint16 ``round(v / 257)``, floats in ``[0, 1]`` (``0.5 -> 128``;
    further outside, NaN or inf: ValueError), alpha composited over white, a PIL image's EXIF
    orientation applied. An empty input is a ValueError.

    Example:
        >>> from img2img import Translator
        >>> translator = Translator.from_pretrained("runs/facades")
        >>> photo = translator("label_map.png")            # numpy uint8 H x W x 3
        >>> report = translator.translate_folder("in/", "out/")
    """

    def __init__(
        self,
        generators: dict[str, nn.Module],
        config: dict[str, Any],
        *,
        device: str | torch.device = "auto",
        direction: str | None = None,
        batch_size: int = 4,
        precision: str = "auto",
        color_resolution: int | None = None,
        tile: int | str | None = "auto",
        overlap: int | None = None,
        max_pixels: int | None = None,
        self_ensemble: int = 1,
    ) -> None:
        if "latent" in config:
            raise ValueError(
                "this is a GAN lab model (noise -> image), it does not translate images: draw from it with "
                "img2img sample (img2img.sampling.sample_grid) or img2img_runtime.Model(path).sample(n)"
            )
        self.config = config
        self.max_pixels = max_pixels
        self.self_ensemble = check_self_ensemble(self_ensemble)
        self.color_resolution = color_resolution
        self.tile, self.overlap = tile, overlap
        self.device = pick_device(device) if isinstance(device, str) else device
        self.generators = {name: net.to(self.device).eval() for name, net in generators.items()}
        self.direction = direction or config.get("default_direction", "AtoB")
        self._check_direction(self.direction)
        self.batch_size = batch_size
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        if precision not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"precision must be auto, fp32, fp16 or bf16, got {precision!r}")
        self.precision = precision
        for name in self.generators:  # a bad tile or overlap is refused here, not image by image
            spec = self.spec(name)
            tiling_policy(tile, overlap, suggested_tile(spec), image_statistics=spec.image_statistics)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **kwargs: Any) -> "Translator":
        """From a model folder, a run folder (its ``best/`` or ``model/``) or a checkpoint ``.pt`` file."""
        path = Path(path)
        if path.is_file() and path.suffix == ".pt":
            return cls.from_checkpoint(path, **kwargs)
        config, generators = load_pretrained(path)
        return cls(generators, config, **kwargs)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs: Any) -> "Translator":
        """From a training checkpoint (``RUN/checkpoints/last.pt``), which carries its config."""
        from .config import TrainConfig
        from .tasks import build_task

        state = load_checkpoint(path)
        cfg = TrainConfig.from_dict(state["config"])
        task = build_task(cfg.task, **cfg.task_kwargs())
        if cfg.ema:  # the checkpoint holds the average, which is what RUN/model serves
            task.average_weights(cfg.ema)
        task.load_state_dict(state["task"])
        served = task.served_generators()
        config = {
            "task": cfg.task,
            "default_direction": task.default_direction,
            **task.io_spec(),
            "training": {"steps": state.get("step"), "size": cfg.size}
            | ({"direction": cfg.direction} if len(served) == 1 else {}),
        }
        return cls(served, config, **kwargs)

    # ------------------------------------------------------------------ properties
    def _check_direction(self, direction: str) -> None:
        if direction not in self.generators:
            raise ValueError(
                f"this {self.config.get('task', '')} model has directions {sorted(self.generators)}, not {direction!r}"
            )

    def net(self, direction: str | None = None) -> nn.Module:
        direction = direction or self.direction
        self._check_direction(direction)
        return self.generators[direction]

    # ------------------------------------------------------------------ running
    @torch.no_grad()
    def run_batch(self, batch: np.ndarray, direction: str | None = None) -> np.ndarray:
        """float32 ``N x C x H x W`` in ``[-1, 1]`` (H, W multiples of the net's size) -> the net's output."""
        x = torch.from_numpy(batch).to(self.device)
        if self.precision == "fp32":
            y = self.net(direction)(x)
        else:
            dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
            with torch.autocast(self.device.type, dtype=dtype):
                y = self.net(direction)(x)
        return y.float().clamp_(-1, 1).cpu().numpy()

    def spec(self, direction: str | None = None) -> ModelSpec:
        """Pre/post-processing description of one direction's generator."""
        net = self.net(direction)
        return ModelSpec.from_config(
            self.config,
            in_channels=net.in_channels,
            out_channels=net.out_channels,
            scale=net.scale,
            size_multiple=net.size_multiple,
            min_size=getattr(net, "min_size", 1),
            color_resolution=self.color_resolution,
            image_statistics=uses_image_statistics(net),
        )

    def translate_arrays(
        self,
        images: Sequence[np.ndarray],
        direction: str | None = None,
        *,
        on_tile: Any = None,
        hints: Sequence[Any] | None = None,
    ) -> list[np.ndarray]:
        """uint8 ``H x W x C`` arrays of any sizes -> uint8 outputs (the core of every input type).
        ``on_tile(done, total)`` reports the tiles of large images; ``hints``: one entry per image
        (points, RGBA strokes or None), for hint models."""
        spec = self.spec(direction)
        tile, overlap, threshold = tiling_policy(
            self.tile, self.overlap, suggested_tile(spec), image_statistics=spec.image_statistics
        )
        return run_images(
            lambda batch: self.run_batch(batch, direction),
            images,
            spec,
            batch_size=self.batch_size,
            tile=tile,
            overlap=overlap,
            tile_threshold=threshold,
            on_tile=on_tile,
            self_ensemble=self.self_ensemble,
            hints=hints,
        )

    @property
    def takes_hints(self) -> bool:
        """True for a hint model (trained with ``--hints``): ``translator(image, hints=...)``."""
        return self.spec().hints is not None

    def __call__(
        self, images: ImageLike | Sequence[ImageLike], *, direction: str | None = None, hints: Any = None
    ) -> Any:
        """Translate images (see the class docstring for the types).

        ``hints`` (hint models, see :mod:`img2img_runtime.hints`): colour points
        ``[(x, y, (r, g, b)), ...]`` or an RGBA stroke image for one image; for a list of images
        (or an ``N x C x H x W`` tensor) a list with one such entry (or None) per image.
        """
        if hints is not None:
            check_hints_allowed(self.spec(direction), hints, f"this {self.config.get('task', '')} model")
        if isinstance(images, (list, tuple)):
            if any(isinstance(image, torch.Tensor) for image in images):
                per_image = hints if hints is not None else [None] * len(images)
                if len(per_image) != len(images):  # zip would drop images silently
                    raise HintError(
                        f"got hints for {len(per_image)} images but {len(images)} images: give one entry per image"
                    )
                return [self(image, direction=direction, hints=h) for image, h in zip(images, per_image)]
            # one call: images of one size run batch_size at a time, like the runtime's Model
            outs = self.translate_arrays([self._load(image, direction) for image in images], direction, hints=hints)
            return [self._as_input_type(out, image) for out, image in zip(outs, images)]
        if isinstance(images, torch.Tensor):
            return self._call_tensor(images, direction, hints)
        array = self._load(images, direction)  # TypeError for anything else
        one = None if hints is None else [hints]
        return self._as_input_type(self.translate_arrays([array], direction, hints=one)[0], images)

    @staticmethod
    def _as_input_type(out: np.ndarray, image: Any) -> Any:
        if not isinstance(image, (str, os.PathLike, np.ndarray)):  # a PIL image
            from PIL import Image

            return Image.fromarray(out[:, :, 0] if out.shape[2] == 1 else out)
        return out

    def _load(self, image: Any, direction: str | None) -> np.ndarray:
        return as_uint8_image(image, channels=self.spec(direction).image_channels, max_pixels=self.max_pixels)

    def _call_tensor(self, images: torch.Tensor, direction: str | None, hints: Any = None) -> torch.Tensor:
        single = images.dim() == 3
        batch = images.unsqueeze(0) if single else images
        if batch.dim() != 4:
            raise ValueError(f"tensor inputs must be C x H x W or N x C x H x W, got shape {tuple(images.shape)}")
        if images.numel() == 0:
            raise ValueError(f"empty image: tensor of shape {tuple(images.shape)}")
        arrays = [self._load(image, direction) for image in batch]
        outs = self.translate_arrays(arrays, direction, hints=[hints] if single and hints is not None else hints)
        result = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2).float().div_(255.0).to(images.device)
        return result[0] if single else result

    def translate_folder(
        self,
        input_path: str | os.PathLike,
        output_dir: str | os.PathLike,
        *,
        direction: str | None = None,
        overwrite: bool = False,
        recursive: bool = True,
        progress: bool | ProgressFn = True,
        hints: str | os.PathLike | None = None,
    ) -> FolderReport:
        """Translate a folder (recursively, keeping relative paths and formats) or one file.

        Existing outputs are skipped unless ``overwrite``; unreadable inputs are reported in the
        returned :class:`~img2img_runtime.folder.FolderReport` and do not stop the job; images
        over ``max_pixels`` are among them. The progress moves per tile on large images. ``hints``
        (hint models): a folder of RGBA stroke PNGs named like the inputs
        (:func:`img2img_runtime.folder.match_hints`).
        """
        if hints is not None:
            check_hints_allowed(self.spec(direction), [hints], f"this {self.config.get('task', '')} model")
        return translate_folder(
            lambda images, on_tile=None, hints=None: self.translate_arrays(
                images, direction, on_tile=on_tile, hints=hints
            ),
            input_path,
            output_dir,
            in_channels=self.spec(direction).image_channels,
            overwrite=overwrite,
            recursive=recursive,
            batch_size=self.batch_size,
            progress=progress,
            max_pixels=self.max_pixels,
            hints=hints,
        )
