"""The metadata contract of img2img's ONNX files (``metadata_props``, all values are strings).

``img2img.config`` holds everything as one JSON object; the same facts are also spelled out as
flat keys, for runtimes in other languages that would rather not parse JSON:

==========================  ===============================================================
key                         value
==========================  ===============================================================
img2img.format              ``img2img-onnx``
img2img.format_version      ``1``
img2img.task                ``pix2pix``, ``cyclegan``, ``srgan``
img2img.direction           ``AtoB`` or ``BtoA`` (which generator of the model this is)
img2img.precision           ``fp32``, ``fp16`` (fp16 inside, float32 input/output), ``int8``
img2img.input_channels      channels of the tensor ``input`` (1 or 3)
img2img.output_channels     channels of the tensor ``output`` (1, 2 or 3)
img2img.color_space         ``rgb``, or ``lab`` (input = L, output = ab; see below)
img2img.ab_scale            lab only: ``ab = output * ab_scale``
img2img.value_range         ``-1,1``: input ``x = pixel / 127.5 - 1`` (RGB order), output the same
img2img.scale               output size = scale x input size (super-resolution), else 1
img2img.size_multiple       input H and W must be multiples of this: pad (reflect) and crop back
img2img.min_size            input H and W must be at least this
img2img.tile_size           suggested tile (input pixels) for large images
img2img.tile_overlap        suggested overlap between tiles
img2img.version             img2img version that exported the file
img2img.training            JSON training summary (steps, data, validation metrics)
==========================  ===============================================================

Lab models (colorization): convert the RGB photo to CIE Lab (D65); feed ``L / 50 - 1``
(1 channel); take ``ab = output * ab_scale``; the result is Lab(L of the input, ab), converted
to RGB. Tensors: ``input`` float32 ``N x C x H x W``, ``output`` float32 ``N x C' x sH x sW``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from .processing import ModelSpec, suggested_tile

FORMAT = "img2img-onnx"
FORMAT_VERSION = 1


def build_metadata(config: Mapping[str, Any], spec: ModelSpec, *, direction: str, precision: str, version: str) -> dict[str, str]:
    """The ``metadata_props`` of an exported generator."""
    tile, overlap = suggested_tile(spec)
    full = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "img2img_version": version, "task": config.get("task", ""),
        "direction": direction, "precision": precision,
        "input": {"channels": spec.in_channels, "range": [-1.0, 1.0], "color_space": "lab_l" if spec.color == "lab" else "rgb" if spec.in_channels == 3 else "gray"},
        "output": {"channels": spec.out_channels, "range": [-1.0, 1.0], "color_space": "lab_ab" if spec.color == "lab" else "rgb" if spec.out_channels == 3 else "gray"},
        "color": {"space": spec.color, "ab_scale": spec.ab_scale, "resolution": spec.color_resolution},
        "scale": spec.scale, "size_multiple": spec.size_multiple, "min_size": spec.min_size,
        "tile": {"size": tile, "overlap": overlap}, "training": dict(config.get("training", {})),
    }
    flat = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "task": full["task"], "direction": direction, "precision": precision,
        "input_channels": spec.in_channels, "output_channels": spec.out_channels, "color_space": spec.color,
        "ab_scale": spec.ab_scale, "value_range": "-1,1", "scale": spec.scale, "size_multiple": spec.size_multiple,
        "min_size": spec.min_size, "tile_size": tile, "tile_overlap": overlap, "version": version,
        "training": json.dumps(full["training"]),
    }
    return {"img2img.config": json.dumps(full), **{f"img2img.{k}": str(v) for k, v in flat.items()}}


def parse_metadata(props: Mapping[str, str], source: str = "model") -> dict[str, Any]:
    """``metadata_props`` -> the config dict; a clear error for files that img2img did not export."""
    if "img2img.config" not in props:
        raise ValueError(f"{source} has no img2img metadata: export it with `img2img export` (plain ONNX files are not self-describing)")
    config = json.loads(props["img2img.config"])
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{source} was exported by a newer img2img (format {config['format_version']}); upgrade img2img-runtime")
    return config


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Read the metadata of an ONNX file with onnxruntime (no onnx package needed)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return parse_metadata(session.get_modelmeta().custom_metadata_map, str(path))
