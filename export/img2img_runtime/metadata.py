"""The metadata contract of img2img's ONNX files (``metadata_props``, all values are strings).

``img2img.config`` holds everything as one JSON object; the same facts are also spelled out as
flat keys, for runtimes in other languages that would rather not parse JSON:

==========================  ===============================================================
key                         value
==========================  ===============================================================
img2img.format              ``img2img-onnx``
img2img.format_version      ``1``
img2img.task                ``pix2pix``, ``cyclegan``, ``srgan`` (``gan``: see below)
img2img.direction           ``AtoB`` or ``BtoA`` (which generator of the model this is)
img2img.precision           ``fp32``, ``fp16`` (fp16 inside, float32 input/output), ``int8``
img2img.input_channels      channels of the tensor ``input`` (1 or 3, plus the hint channels)
img2img.output_channels     channels of the tensor ``output`` (1, 2 or 3)
img2img.color_space         ``rgb``, or ``lab`` (input = L, output = ab; see below)
img2img.ab_scale            lab only: ``ab = output * ab_scale``
img2img.value_range         ``-1,1``: input ``x = pixel / 127.5 - 1`` (RGB order), output the same
img2img.scale               output size = scale x input size (super-resolution), else 1
img2img.size_multiple       input H and W must be multiples of this: pad (reflect) and crop back
img2img.min_size            input H and W must be at least this
img2img.tile_size           suggested tile (input pixels) for large images
img2img.tile_overlap        suggested overlap between tiles
img2img.image_statistics    ``true``: statistics over the whole image (instance norm, colour head): run whole
img2img.color_resolution    Lab models: colour predicted at most this size, upsampled (0: full size)
img2img.hints               ``none``, or the colour-hint inputs: ``ab`` (3 channels: a, b / ab_scale,
                            mask) or ``rgb`` (4: R, G, B in ``[-1, 1]``, mask) after the image's
img2img.version             img2img version that exported the file
img2img.training            JSON training summary (steps, data, validation metrics)
==========================  ===============================================================

Lab models (colorization): convert the RGB photo to CIE Lab (D65); feed ``L / 50 - 1``
(1 channel); take ``ab = output * ab_scale``; the result is Lab(L of the input, ab), converted
to RGB. Tensors: ``input`` float32 ``N x C x H x W``, ``output`` float32 ``N x C' x sH x sW``.

Hint models (``hints`` not ``none``): the input's last channels are the colour hints, zero where
there is none; ``img2img.config`` holds ``hints`` (``space``, ``channels``); see
:mod:`img2img_runtime.hints` for how points and strokes become those channels.

GAN lab models (task ``gan``: noise -> image) have no ``input``: ``img2img.config`` holds
``latent`` (``dim``, ``distribution`` ``normal``, ``num_classes``, ``class_names``), flat keys
``img2img.latent_dim``, ``img2img.num_classes``, ``img2img.class_names`` (comma-separated) and
``img2img.output_size`` (``H,W``). Tensors: ``noise`` float32 ``N x dim`` (standard normal),
``label`` int64 ``N`` (conditional models only), ``output`` float32 ``N x C x H x W`` in ``[-1, 1]``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from .hints import HINT_SPACES
from .processing import ModelSpec, suggested_tile

FORMAT = "img2img-onnx"
FORMAT_VERSION = 1


def build_metadata(
    config: Mapping[str, Any], spec: ModelSpec, *, direction: str, precision: str, version: str
) -> dict[str, str]:
    """The ``metadata_props`` of an exported generator."""
    tile, overlap = suggested_tile(spec)
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "img2img_version": version,
        "task": config.get("task", ""),
        "direction": direction,
        "precision": precision,
        "input": {
            "channels": spec.in_channels,
            "range": [-1.0, 1.0],
            "color_space": "lab_l" if spec.color == "lab" else "rgb" if spec.image_channels == 3 else "gray",
        },
        "output": {
            "channels": spec.out_channels,
            "range": [-1.0, 1.0],
            "color_space": "lab_ab" if spec.color == "lab" else "rgb" if spec.out_channels == 3 else "gray",
        },
        "color": {"space": spec.color, "ab_scale": spec.ab_scale, "resolution": spec.color_resolution},
        "scale": spec.scale,
        "size_multiple": spec.size_multiple,
        "min_size": spec.min_size,
        "image_statistics": spec.image_statistics,
        "hints": {"space": spec.hints, "channels": spec.hint_channels} if spec.hints else None,
        "tile": {"size": tile, "overlap": overlap},
        "training": dict(config.get("training", {})),
    }
    flat = {**flat_metadata(full), "training": json.dumps(full["training"])}
    return {"img2img.config": json.dumps(full), **{f"img2img.{k}": v for k, v in flat.items()}}


def flat_metadata(config: Mapping[str, Any]) -> dict[str, str]:
    """The flat keys (``img2img.<key>`` without the prefix) of an image model's ``img2img.config``:
    one string per fact, for runtimes and tools that read single metadata entries. Facts an older
    config lacks are left out."""
    color, tile = config.get("color") or {}, config.get("tile") or {}
    facts = {
        "format": config.get("format"),
        "format_version": config.get("format_version"),
        "task": config.get("task"),
        "direction": config.get("direction"),
        "precision": config.get("precision"),
        "input_channels": (config.get("input") or {}).get("channels"),
        "output_channels": (config.get("output") or {}).get("channels"),
        "color_space": color.get("space"),
        "ab_scale": color.get("ab_scale"),
        "value_range": "-1,1",
        "scale": config.get("scale"),
        "size_multiple": config.get("size_multiple"),
        "min_size": config.get("min_size"),
        "tile_size": tile.get("size"),
        "tile_overlap": tile.get("overlap"),
        "image_statistics": None
        if config.get("image_statistics") is None
        else ("true" if config["image_statistics"] else "false"),
        "color_resolution": (color.get("resolution") or 0) if color else None,
        "hints": (config.get("hints") or {}).get("space", "none") if "input" in config else None,
        "version": config.get("img2img_version"),
    }
    return {key: str(value) for key, value in facts.items() if value is not None}


def _check_flat_keys(props: Mapping[str, str], config: Mapping[str, Any], source: str) -> None:
    """A flat key that contradicts ``img2img.config`` (a hand-edited or damaged file) is an error:
    a runtime reading one and a runtime reading the other would run the model differently."""
    for key, value in flat_metadata(config).items():
        given = props.get(f"img2img.{key}")
        if given is not None and given.strip() != value:
            raise MetadataError(
                f"{source}: metadata field 'img2img.{key}' is {given!r} but 'img2img.config' says {value!r}; "
                "the file was changed after export: export the model again"
            )


def build_sampler_metadata(config: Mapping[str, Any], *, precision: str, version: str) -> dict[str, str]:
    """The ``metadata_props`` of an exported GAN lab generator (noise -> image): ``latent`` (the
    noise size, its distribution, the classes) instead of ``input``; inputs ``noise`` float32
    ``N x dim`` and, for conditional models, ``label`` int64 ``N``."""
    latent, output = dict(config["latent"]), dict(config["output"])
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "img2img_version": version,
        "task": config.get("task", ""),
        "precision": precision,
        "latent": latent,
        "output": output,
        "training": dict(config.get("training", {})),
    }
    flat = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": full["task"],
        "precision": precision,
        "latent_dim": latent["dim"],
        "num_classes": latent.get("num_classes", 0),
        "class_names": ",".join(str(c) for c in latent.get("class_names") or []),
        "output_channels": output["channels"],
        "output_size": ",".join(str(v) for v in output.get("size", [])),
        "value_range": "-1,1",
        "version": version,
        "training": json.dumps(full["training"]),
    }
    return {"img2img.config": json.dumps(full), **{f"img2img.{k}": str(v) for k, v in flat.items()}}


MAX_METADATA_CHARS = 1 << 20  #: ``img2img.config`` is a few KB; larger values are refused
MAX_METADATA_DEPTH = 32  #: nesting depth of ``img2img.config`` (the real one has 3 levels)


class MetadataError(ValueError):
    """An ONNX file's img2img metadata does not follow the schema (or does not match the graph);
    the message names the file and the field."""


def parse_metadata(props: Mapping[str, str], source: str = "model") -> dict[str, Any]:
    """``metadata_props`` -> the config dict; a clear error for files that img2img did not export.

    The JSON is checked against the schema (:func:`validate_metadata`): size, nesting, types and
    ranges; a problem raises one :class:`MetadataError` (a ``ValueError``) naming the field.
    """
    if "img2img.config" not in props:
        raise ValueError(
            f"{source} has no img2img metadata: export it with `img2img export` (plain ONNX files are not self-describing)"
        )
    text = props["img2img.config"]
    if len(text) > MAX_METADATA_CHARS:
        raise MetadataError(f"{source}: metadata field 'img2img.config' is too large ({len(text)} characters)")
    try:
        check_json_depth(text, MAX_METADATA_DEPTH)
        config = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise MetadataError(f"{source}: metadata field 'img2img.config' is not valid JSON ({err})") from err
    version = config.get("format_version") if isinstance(config, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ValueError(
            f"{source} was exported by a newer img2img (format {config['format_version']}); upgrade img2img-runtime"
        )
    validate_metadata(config, source)
    if "input" in config:  # an image model (a GAN lab model's flat keys describe its noise)
        _check_flat_keys(props, config, source)
    return config


def check_json_depth(text: str, limit: int) -> None:
    """Refuse JSON nested deeper than ``limit`` before parsing it (brackets inside strings do not count)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                raise ValueError(f"nested more than {limit} levels deep")
        elif ch in "]}":
            depth -= 1


def validate_metadata(config: Any, source: str = "model") -> None:
    """Check the ``img2img.config`` JSON of an ONNX file: required keys, types and sane ranges.

    Raises:
        MetadataError: the first problem, naming ``source`` and the field.
    """

    def fail(field: str, problem: str) -> None:
        raise MetadataError(f"{source}: metadata field {field!r} {problem}")

    def show(value: Any) -> str:
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."

    def obj(value: Any, field: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            fail(field, f"must be a JSON object, got {show(value)}")
        for key in required:
            if key not in value:
                fail(f"{field}.{key}" if field else key, "is missing")
        return value

    def integer(value: Any, field: str, lo: int, hi: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            fail(field, f"must be an integer in {lo}..{hi}, got {show(value)}")

    def number(value: Any, field: str, lo: float, hi: float) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not lo <= value <= hi
        ):
            fail(field, f"must be a number in [{lo}, {hi}], got {show(value)}")

    def string(value: Any, field: str, choices: tuple[str, ...] | None = None) -> None:
        if not isinstance(value, str) or len(value) > 200 or (choices is not None and value not in choices):
            fail(field, f"must be {'one of ' + repr(choices) if choices else 'a short string'}, got {show(value)}")

    obj(config, "img2img.config", ("format_version", "output"))
    if "latent" in config:  # a GAN lab generator: noise (and a label) in
        latent = obj(config["latent"], "latent", ("dim",))
        integer(latent["dim"], "latent.dim", 1, 1 << 16)
        integer(latent.get("num_classes", 0), "latent.num_classes", 0, 1 << 16)
        names = latent.get("class_names", [])
        if not isinstance(names, list) or len(names) > 1 << 16:
            fail("latent.class_names", f"must be a list of class names, got {show(names)}")
        for i, name in enumerate(names):
            string(name, f"latent.class_names[{i}]")
    elif "input" not in config:
        fail("input", "is missing")
    if "format" in config:
        string(config["format"], "format", (FORMAT,))
    integer(config["format_version"], "format_version", 1, FORMAT_VERSION)
    for key in ("task", "direction", "precision", "img2img_version"):
        if key in config:
            string(config[key], key)
    for side in ("input", "output") if "input" in config else ("output",):
        spec = obj(config[side], side, ("channels",))
        integer(spec["channels"], f"{side}.channels", 1, 8)
        if "color_space" in spec:
            string(spec["color_space"], f"{side}.color_space")
    if config.get("hints") is not None:
        hints = obj(config["hints"], "hints", ("space", "channels"))
        string(hints["space"], "hints.space", tuple(HINT_SPACES))
        integer(hints["channels"], "hints.channels", HINT_SPACES[hints["space"]], HINT_SPACES[hints["space"]])
    if "scale" in config:
        integer(config["scale"], "scale", 1, 8)
    for key in ("size_multiple", "min_size"):
        if key in config:
            integer(config[key], key, 1, 4096)
    if "image_statistics" in config and not isinstance(config["image_statistics"], bool):
        fail("image_statistics", f"must be true or false, got {show(config['image_statistics'])}")
    if "color" in config:
        color = obj(config["color"], "color")
        if "space" in color:
            string(color["space"], "color.space", ("rgb", "lab"))
        if "ab_scale" in color:
            number(color["ab_scale"], "color.ab_scale", 1e-6, 1e6)
        if color.get("resolution") is not None:
            integer(color["resolution"], "color.resolution", 1, 1 << 16)
    if config.get("tile") is not None:
        tile = obj(config["tile"], "tile")
        if "size" in tile:
            integer(tile["size"], "tile.size", 1, 1 << 16)
            integer(tile.get("overlap", 0), "tile.overlap", 0, tile["size"] - 1)  # tiles must advance
    if "training" in config:
        obj(config["training"], "training")


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Read the metadata of an ONNX file with onnxruntime (no onnx package needed)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return parse_metadata(session.get_modelmeta().custom_metadata_map, str(path))
