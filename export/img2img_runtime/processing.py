"""Pre- and post-processing shared by every way of running a generator (numpy + OpenCV only).

The torch :class:`img2img.Translator` and the ONNX runtime both call :func:`run_images` with a
function that maps a float32 ``N x C x H x W`` batch to the generator's output, and a
:class:`ModelSpec` read from the model's config or metadata. Everything else happens here, once:

* **RGB models**: channels converted (gray replicated, or colour to BT.601 luma for 1-channel
  nets), values mapped to ``[-1, 1]``, the output mapped back to ``uint8``.
* **Lab colorization models** (``color == "lab"``): the net sees ``L / 50 - 1`` and predicts
  ``ab / ab_scale``; the output is the input's own L joined with the predicted ab, converted to
  RGB, so luminance is kept. With ``color_resolution`` set, colour is predicted on a copy whose
  longer side is at most that many pixels and upsampled, then joined with the full-resolution
  L: a 12-megapixel photo costs little more than a small one.
* Padding to the net's size multiple (reflect, or edge where an image is too small to reflect),
  batching images of one size, and cropping the padding back off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .color import lab_to_rgb, rgb_to_lab

BatchFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ModelSpec:
    """What pre/post-processing needs to know about a generator (from config.json or ONNX metadata)."""

    in_channels: int = 3
    out_channels: int = 3
    scale: int = 1
    size_multiple: int = 1
    min_size: int = 1
    color: str = "rgb"  # "rgb" or "lab" (colorization: L in, ab out, recombined with the input's L)
    ab_scale: float = 110.0
    color_resolution: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> "ModelSpec":
        """From a model folder's ``config.json`` (or the same keys from ONNX metadata)."""
        color = config.get("color", {}) or {}
        spec = dict(
            in_channels=int(config["input"]["channels"]), out_channels=int(config["output"]["channels"]),
            scale=int(config.get("scale", 1)), size_multiple=int(config.get("size_multiple", 1)),
            min_size=int(config.get("min_size", 1)), color=color.get("space", "rgb"),
            ab_scale=float(color.get("ab_scale", 110.0)), color_resolution=color.get("resolution"),
        )
        spec.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**spec)

    @property
    def image_channels(self) -> int:
        """Channels of the images a user passes in (Lab models take RGB or gray photos)."""
        return 3 if self.color == "lab" else self.in_channels


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``H x W x C`` (or ``H x W``) -> ``H x W x channels`` (gray replicated, colour to BT.601 luma)."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == channels:
        return image
    if channels == 3 and image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if channels == 1 and image.shape[2] in (3, 4):
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)[:, :, None]
    if channels == 3 and image.shape[2] == 4:
        raise ValueError("RGBA arrays must be composited first (read_image composites alpha over white)")
    raise ValueError(f"cannot convert an image with {image.shape[2]} channels to {channels}")


def normalize(image: np.ndarray) -> np.ndarray:
    """uint8 ``H x W x C`` -> float32 ``C x H x W`` in ``[-1, 1]``."""
    return image.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0


def denormalize(output: np.ndarray) -> np.ndarray:
    """float ``C x H x W`` in ``[-1, 1]`` -> uint8 ``H x W x C`` (rounded, clipped)."""
    out = np.clip((output.astype(np.float32) + 1.0) * 127.5, 0, 255)
    return np.rint(out).astype(np.uint8).transpose(1, 2, 0)


def padding_for(height: int, width: int, multiple: int, min_size: int = 1) -> tuple[int, int]:
    """Rows and columns to add (bottom, right) to reach a multiple of ``multiple`` that is >= ``min_size``."""
    def target(n: int) -> int:
        return max(-(-n // multiple), -(-min_size // multiple)) * multiple

    return target(height) - height, target(width) - width


def pad_to_multiple(batch: np.ndarray, multiple: int, min_size: int = 1) -> np.ndarray:
    """Pad ``N x C x H x W`` at the bottom/right to multiples of ``multiple`` (and >= ``min_size``).

    Reflection keeps image statistics at the border; where the padding is larger than the
    image allows reflection (tiny images, deep U-Nets), the edge is repeated instead.
    """
    pad_h, pad_w = padding_for(batch.shape[2], batch.shape[3], multiple, min_size)
    if pad_h == 0 and pad_w == 0:
        return batch
    mode = "reflect" if pad_h < batch.shape[2] and pad_w < batch.shape[3] else "edge"
    return np.pad(batch, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode=mode)


def prepare(image: np.ndarray, spec: ModelSpec) -> tuple[np.ndarray, Any]:
    """uint8 image -> (net input ``C x h x w`` float32, context for :func:`finish`)."""
    image = to_channels(np.asarray(image), spec.image_channels)
    if spec.color != "lab":
        return normalize(image), None
    lightness = rgb_to_lab(image.astype(np.float32) / 255.0)[:, :, 0]  # (H, W) in [0, 100]
    small = lightness
    if spec.color_resolution and max(lightness.shape) > spec.color_resolution:
        f = spec.color_resolution / max(lightness.shape)
        size = (max(1, round(lightness.shape[1] * f)), max(1, round(lightness.shape[0] * f)))
        small = cv2.resize(lightness, size, interpolation=cv2.INTER_AREA)
    return (small[None] / 50.0 - 1.0).astype(np.float32), lightness


def finish(output: np.ndarray, context: Any, spec: ModelSpec) -> np.ndarray:
    """Net output ``C' x h' x w'`` (padding already cropped) -> uint8 ``H' x W' x C'`` image."""
    if spec.color != "lab":
        return denormalize(output)
    lightness = context
    ab = output[:2].transpose(1, 2, 0).astype(np.float32) * spec.ab_scale  # (h, w, 2)
    if ab.shape[:2] != lightness.shape:
        ab = cv2.resize(ab, (lightness.shape[1], lightness.shape[0]), interpolation=cv2.INTER_LINEAR)
    lab = np.concatenate([lightness[:, :, None], ab], axis=2)  # the input's own L, predicted colour
    return np.rint(lab_to_rgb(lab) * 255.0).astype(np.uint8)


def run_images(run_batch: BatchFn, images: Sequence[np.ndarray], spec: ModelSpec, *, batch_size: int = 4) -> list[np.ndarray]:
    """Translate uint8 ``H x W x C`` images of any sizes; returns uint8 ``sH x sW x C'`` images.

    Images whose net inputs have the same size are batched (up to ``batch_size``); order is kept.
    """
    prepared = [prepare(image, spec) for image in images]
    results: list[np.ndarray | None] = [None] * len(prepared)
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, (net_input, _) in enumerate(prepared):
        by_size.setdefault(net_input.shape[1:], []).append(i)
    for (height, width), indices in by_size.items():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            batch = pad_to_multiple(np.stack([prepared[i][0] for i in chunk]), spec.size_multiple, spec.min_size)
            out = np.asarray(run_batch(np.ascontiguousarray(batch)))[:, :, : height * spec.scale, : width * spec.scale]
            for i, output in zip(chunk, out):
                results[i] = finish(output, prepared[i][1], spec)
    return results  # type: ignore[return-value]
