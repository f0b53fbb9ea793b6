"""Pre- and post-processing shared by every way of running a generator (numpy only).

The torch :class:`img2img.Translator` and the ONNX runtime both call :func:`run_images` with a
function that maps a float32 ``N x C x H x W`` batch in ``[-1, 1]`` to the generator's output.
Everything else happens here, once: channel conversion, normalisation, padding to the net's
size multiple (reflect, or edge where an image is too small to reflect), grouping images of one
size into batches, cropping the padding back off and converting to ``uint8``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

BatchFn = Callable[[np.ndarray], np.ndarray]


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


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 ``N x H x W x C`` -> float32 ``N x C x H x W`` in ``[-1, 1]``."""
    return (images.astype(np.float32).transpose(0, 3, 1, 2) / 127.5) - 1.0


def denormalize(batch: np.ndarray) -> np.ndarray:
    """float ``N x C x H x W`` in ``[-1, 1]`` -> uint8 ``N x H x W x C`` (rounded, clipped)."""
    out = np.clip((batch.astype(np.float32) + 1.0) * 127.5, 0, 255)
    return np.rint(out).astype(np.uint8).transpose(0, 2, 3, 1)


def padding_for(height: int, width: int, multiple: int, min_size: int = 1) -> tuple[int, int]:
    """Rows and columns to add (at the bottom and right) to reach a multiple of ``multiple``
    that is at least ``min_size``."""
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


def run_images(
    run_batch: BatchFn,
    images: Sequence[np.ndarray],
    *,
    in_channels: int,
    size_multiple: int = 1,
    min_size: int = 1,
    scale: int = 1,
    batch_size: int = 4,
) -> list[np.ndarray]:
    """Translate uint8 ``H x W x C`` images of any sizes; returns uint8 ``sH x sW x C'`` images.

    Images of the same size are batched together (up to ``batch_size``); order is preserved.
    """
    prepared = [to_channels(np.asarray(image), in_channels) for image in images]
    results: list[np.ndarray | None] = [None] * len(prepared)
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(prepared):
        by_size.setdefault(image.shape[:2], []).append(i)
    for (height, width), indices in by_size.items():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            batch = pad_to_multiple(normalize(np.stack([prepared[i] for i in chunk])), size_multiple, min_size)  # (n, c, H, W)
            out = np.asarray(run_batch(np.ascontiguousarray(batch)))
            out = denormalize(out[:, :, : height * scale, : width * scale])  # (n, sh, sw, c')
            for i, image in zip(chunk, out):
                results[i] = image
    return results  # type: ignore[return-value]
