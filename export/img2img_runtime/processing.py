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
* **Hint models** (``hints`` ``"ab"`` or ``"rgb"``, see :mod:`img2img_runtime.hints`): the hint
  channels (colour and mask) follow the image's channels in the net input, at the size the net
  sees (the colour resolution of Lab models), and are padded, tiled and flipped with it.
* Padding to the net's size multiple (reflect, or edge where an image is too small to reflect),
  batching images of one size, and cropping the padding back off.
* Self-ensembling (``self_ensemble=2, 4 or 8``): the net also runs on flipped (and transposed)
  copies of each batch, and the outputs, turned back, are averaged before rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .color import lab_to_rgb, rgb_to_lab
from .hints import HintError, has_hints, hint_channels, hint_planes, resize_planes

BatchFn = Callable[[np.ndarray], np.ndarray]
TileProgress = Callable[[int, int], None]  # (tiles done, tiles in the image), after each tile batch


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
    train_size: int | None = None  # the training crop (config["training"]["size"]), if known
    image_statistics: bool = False  # reads per-image statistics (instance norm, colour head): tiles are not exact
    hints: str | None = None  # colour hints: "ab" (Lab models) or "rgb"; their channels are part of in_channels

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> "ModelSpec":
        """From a model folder's ``config.json`` (or the same keys from ONNX metadata)."""
        color = config.get("color", {}) or {}
        spec = dict(
            in_channels=int(config["input"]["channels"]),
            out_channels=int(config["output"]["channels"]),
            scale=int(config.get("scale", 1)),
            size_multiple=int(config.get("size_multiple", 1)),
            min_size=int(config.get("min_size", 1)),
            color=color.get("space", "rgb"),
            ab_scale=float(color.get("ab_scale", 110.0)),
            color_resolution=color.get("resolution"),
            train_size=(config.get("training") or {}).get("size"),
            image_statistics=bool(config.get("image_statistics", False)),
            hints=(config.get("hints") or {}).get("space"),
        )
        spec.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**spec)

    @property
    def image_channels(self) -> int:
        """Channels of the images a user passes in (Lab models take RGB or gray photos)."""
        return 3 if self.color == "lab" else self.in_channels - self.hint_channels

    @property
    def hint_channels(self) -> int:
        """Net input channels that carry colour hints (0 for a model without hints)."""
        return hint_channels(self.hints)


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
    """uint8 ``H x W x C`` -> float32 ``C x H x W`` in ``[-1, 1]`` (one float buffer: large photos)."""
    x = image.astype(np.float32)
    x *= 1.0 / 127.5
    x -= 1.0
    return x.transpose(2, 0, 1)


def denormalize(output: np.ndarray) -> np.ndarray:
    """float ``C x H x W`` in ``[-1, 1]`` -> uint8 ``H x W x C`` (rounded, clipped).

    Works in place on float32 input (the caller's buffer is consumed), so a large photo needs no
    second float copy.
    """
    out = output if output.dtype == np.float32 else output.astype(np.float32)
    out += 1.0
    out *= 127.5
    np.clip(out, 0, 255, out=out)
    np.rint(out, out=out)
    return np.ascontiguousarray(out.astype(np.uint8).transpose(1, 2, 0))


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


NO_HINTS_MESSAGE = (
    "takes no colour hints (it was trained without --hints); run it without hints, "
    "or train a hint model: img2img train pix2pix --task colorize --hints"
)


def check_hints_allowed(spec: ModelSpec, hints: Any, source: str = "this model") -> None:
    """A :class:`HintError` when hints (anything but None or ``[]``) go to a model without hint inputs."""
    if not spec.hints and has_hints(hints):
        raise HintError(f"{source} {NO_HINTS_MESSAGE}")


def prepare(image: np.ndarray, spec: ModelSpec, hints: Any = None) -> tuple[np.ndarray, Any]:
    """uint8 image (and its colour hints) -> (net input ``C x h x w`` float32, context for :func:`finish`).

    Raises:
        HintError: bad hints, or hints for a model without hint inputs.
    """
    image = to_channels(np.asarray(image), spec.image_channels)
    check_hints_allowed(spec, hints)
    planes = hint_planes(hints, *image.shape[:2], spec.hints, spec.ab_scale) if spec.hints else None
    if spec.color != "lab":
        net_input = normalize(image)
        return (net_input if planes is None else np.concatenate([net_input, planes])), None
    lightness = rgb_to_lab(image.astype(np.float32) / 255.0)[:, :, 0]  # (H, W) in [0, 100]
    small = lightness
    if spec.color_resolution and max(lightness.shape) > spec.color_resolution:
        f = spec.color_resolution / max(lightness.shape)
        size = (max(1, round(lightness.shape[1] * f)), max(1, round(lightness.shape[0] * f)))
        small = cv2.resize(lightness, size, interpolation=cv2.INTER_AREA)
    net_input = (small[None] / 50.0 - 1.0).astype(np.float32)
    if planes is not None:
        net_input = np.concatenate([net_input, resize_planes(planes, *small.shape)])
    return net_input, lightness


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


SELF_ENSEMBLE_VIEWS = (1, 2, 4, 8)


def check_self_ensemble(views: int) -> int:
    """``views`` must be 1 (off), 2, 4 or 8; returns it as an int."""
    if isinstance(views, bool) or views not in SELF_ENSEMBLE_VIEWS:
        raise ValueError(
            f"self_ensemble takes 1 (off), 2 (+ the mirror image), 4 (+ upside down) or 8 (+ transposed), not {views!r}"
        )
    return int(views)


def _view(batch: np.ndarray, k: int) -> np.ndarray:
    """View ``k`` (0-7) of an ``N x C x H x W`` batch: bit 1 mirrors left-right, bit 2 upside
    down, bit 4 swaps H and W (after the flips)."""
    if k & 1:
        batch = batch[:, :, :, ::-1]
    if k & 2:
        batch = batch[:, :, ::-1, :]
    return batch.swapaxes(2, 3) if k & 4 else batch


def _unview(batch: np.ndarray, k: int) -> np.ndarray:
    """The inverse of :func:`_view`: swap back first, then undo the flips."""
    if k & 4:
        batch = batch.swapaxes(2, 3)
    if k & 2:
        batch = batch[:, :, ::-1, :]
    return batch[:, :, :, ::-1] if k & 1 else batch


def self_ensembled(run_batch: BatchFn, views: int) -> BatchFn:
    """``run_batch`` averaged over ``views`` of the 8 flips and transposes of its input (a
    "self-ensemble", as in EDSR+): each view is run, turned back and summed in float32. Every
    net here is equivariant in shape (a view of a valid input is a valid input, a x``scale``
    output turns back like its input); 1 returns ``run_batch`` itself."""
    views = check_self_ensemble(views)
    if views == 1:
        return run_batch

    def run(batch: np.ndarray) -> np.ndarray:
        total: np.ndarray | None = None
        for k in range(views):
            out = _unview(np.asarray(run_batch(np.ascontiguousarray(_view(batch, k)))), k)
            total = out.astype(np.float32) if total is None else total + out
        return total / np.float32(views)

    return run


def run_padded(run_batch: BatchFn, batch: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Run ``N x C x H x W`` inputs of any size: pad to the net's multiple, run, crop back."""
    height, width = batch.shape[2:]
    out = np.asarray(run_batch(np.ascontiguousarray(pad_to_multiple(batch, spec.size_multiple, spec.min_size))))
    return out[:, :, : height * spec.scale, : width * spec.scale]


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _ramp(length: int, overlap: int, start_fade: bool, end_fade: bool) -> np.ndarray:
    """1 in the middle, rising linearly over ``overlap`` pixels at the faded ends (never 0)."""
    weight = np.ones(length, np.float32)
    n = min(overlap, length // 2)
    if n > 0:
        rise = (np.arange(n, dtype=np.float32) + 1.0) / (n + 1.0)
        if start_fade:
            weight[:n] = np.minimum(weight[:n], rise)
        if end_fade:
            weight[length - n :] = np.minimum(weight[length - n :], rise[::-1])
    return weight


def run_tiled(
    run_batch: BatchFn,
    net_input: np.ndarray,
    spec: ModelSpec,
    *,
    tile: int,
    overlap: int,
    batch_size: int = 4,
    on_tile: TileProgress | None = None,
    finish_rows: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Run one ``C x H x W`` input as overlapping tiles and blend them (feathered seams).

    Tiles of ``tile`` x ``tile`` input pixels step by ``tile - overlap``; the last row/column is
    moved back to end at the border, so all tiles have one size and are batched (up to
    ``batch_size`` per run, within a row of tiles). Each output tile is weighted by linear ramps
    over the overlap (only on sides shared with a neighbour) and the weighted sum is normalised.
    ``on_tile(done, total)`` is called after each batch of tiles (progress bars of jobs on huge
    images).

    Returns the blended float ``C' x sH x sW`` output; with ``finish_rows`` (float ``C' x rows x
    sW`` -> an ``rows x sW x ...`` array, e.g. :func:`denormalize`), the rows are finished as soon
    as no later tile reaches them and the finished image is returned: the float accumulators then
    hold one row of tiles, not the whole output (a 12-megapixel photo upscaled x4 needed 3 GB).
    """
    if overlap < 0 or overlap >= tile:
        raise ValueError(f"tile overlap must be in [0, tile), got overlap={overlap} for tile={tile}")
    _, height, width = net_input.shape
    s = spec.scale
    ys, xs = _tile_starts(height, tile, overlap), _tile_starts(width, tile, overlap)
    th, tw = min(tile, height), min(tile, width)
    total, done = len(ys) * len(xs), 0
    band_rows = th * s if finish_rows is not None else height * s  # the accumulators' rows
    acc: np.ndarray | None = None
    weight_sum = np.zeros((band_rows, width * s), np.float32)
    top = 0  # the output row of the accumulators' first row
    finished: np.ndarray | None = None  # with finish_rows: the finished output
    for row, y in enumerate(ys):
        for start in range(0, len(xs), batch_size):
            chunk = xs[start : start + batch_size]
            tiles = np.stack([net_input[:, y : y + th, x : x + tw] for x in chunk])
            results = run_padded(run_batch, tiles, spec)  # (n, c', th*s, tw*s)
            if acc is None:
                acc = np.zeros((results.shape[1], band_rows, width * s), np.float32)
            wy = _ramp(th * s, overlap * s, y > 0, y + th < height)
            rows = slice(y * s - top, (y + th) * s - top)
            for x, result in zip(chunk, results):
                wx = _ramp(tw * s, overlap * s, x > 0, x + tw < width)
                w = wy[:, None] * wx[None, :]
                acc[:, rows, x * s : (x + tw) * s] += result * w
                weight_sum[rows, x * s : (x + tw) * s] += w
            done += len(chunk)
            if on_tile is not None:
                on_tile(done, total)
        if finish_rows is not None:
            assert acc is not None
            end = ys[row + 1] * s if row + 1 < len(ys) else height * s  # rows no later tile reaches
            n = end - top
            part = finish_rows(acc[:, :n] / weight_sum[:n])
            if finished is None:
                finished = np.empty((height * s, *part.shape[1:]), part.dtype)
            finished[top:end] = part
            acc[:, : band_rows - n], weight_sum[: band_rows - n] = acc[:, n:].copy(), weight_sum[n:].copy()
            acc[:, band_rows - n :], weight_sum[band_rows - n :] = 0.0, 0.0
            top = end
    if finished is not None:
        return finished
    assert acc is not None
    acc /= weight_sum
    return acc


def suggested_tile(spec: ModelSpec) -> tuple[int, int]:
    """(tile size, overlap) in input pixels, a multiple of the net's size multiple.

    An encoder-decoder (``size_multiple > 1``, ``scale == 1``: U-Nets, ResNet generators) whose
    training crop is known gets that crop as its tile and a quarter of it as overlap: its deepest
    features only ever saw a crop of that size with the borders of a crop, and run over a whole
    photo at once they judge regions they never saw in training (a restore U-Net trained on
    128 px crops measured 1.0 dB better PSNR on full photos tiled at 128 than run whole, see
    README "Tiling"). Otherwise 512 (128 for super-resolution) with an eighth as overlap.
    """
    multiple = max(spec.size_multiple, 1)
    if spec.scale == 1 and multiple > 1 and spec.train_size:
        tile = max(int(spec.train_size), 2 * multiple, spec.min_size)
        tile = -(-tile // multiple) * multiple
        return tile, min(max(16, tile // 4), tile // 2)  # below the tile, also for tiny training crops
    tile = max(128 if spec.scale > 1 else 512, 2 * multiple, spec.min_size)
    tile = -(-tile // multiple) * multiple
    return tile, min(max(16, tile // 8), tile // 2)


def tiling_policy(
    tile: int | str | None, overlap: int | None, suggested: tuple[int, int], *, image_statistics: bool = False
) -> tuple[int | None, int | None, int | None]:
    """``(tile, overlap, threshold)`` for :func:`run_images` from a user's choice.

    ``"auto"`` tiles with the suggested size only images larger than twice it, except for nets
    with per-image statistics (``image_statistics``: instance norm, a photo-wide colour head),
    which "auto" never tiles: each tile would normalise (or colour-correct) itself and the
    result would differ from the whole image's (by tens of grey levels); an int tiles every
    image larger than that int (for such nets too: the caller asked); None never tiles.
    """
    if overlap is not None and (isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0):
        raise ValueError(f"tile overlap must be a whole number of pixels >= 0, got {overlap!r}")
    if tile == "auto" and image_statistics:
        if overlap is not None:  # it would be ignored
            raise ValueError(
                "tile 'auto' does not tile this model (it computes statistics over the whole image), so a tile "
                "overlap would be ignored: give a tile size with it, or leave the overlap out"
            )
        return None, None, None
    if tile is None:
        if overlap is not None:  # it would be ignored
            raise ValueError("a tile overlap applies only when tiling (tile 'auto' or a size), not with tile None")
        return None, None, None
    if tile == "auto":
        tile, overlap, threshold = suggested[0], suggested[1] if overlap is None else overlap, 2 * suggested[0]
    elif isinstance(tile, int) and not isinstance(tile, bool) and tile > 0:
        threshold = tile
    else:
        raise ValueError(f"tile must be 'auto', a positive int or None, got {tile!r}")
    if overlap is not None and overlap >= tile:  # refused before any image runs, not per image
        raise ValueError(f"tile overlap must be in [0, tile), got overlap={overlap} for tile={tile}")
    return tile, overlap, threshold


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` if it is a positive int, else a ValueError (0 or less would run nothing)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def run_images(
    run_batch: BatchFn,
    images: Sequence[np.ndarray],
    spec: ModelSpec,
    *,
    batch_size: int = 4,
    tile: int | None = None,
    overlap: int | None = None,
    tile_threshold: int | None = None,
    on_tile: TileProgress | None = None,
    self_ensemble: int = 1,
    hints: Sequence[Any] | None = None,
) -> list[np.ndarray]:
    """Translate uint8 ``H x W x C`` images of any sizes; returns uint8 ``sH x sW x C'`` images.

    Images whose net inputs have the same size are batched (up to ``batch_size``); order is
    kept. With ``tile``, a net input larger than ``tile_threshold`` (default ``tile``) on either
    side is processed in overlapping tiles (``overlap`` defaults to ``tile // 8``) so memory
    stays bounded; ``on_tile(done, total)`` reports the tiles of each tiled image as they finish.
    ``self_ensemble`` (1, 2, 4 or 8; see :func:`self_ensembled`) runs every batch or tile batch
    that many times, flipped and transposed, and averages: slower by that factor, usually a
    little more accurate. ``hints``: one entry per image (points, strokes or None; see
    :mod:`img2img_runtime.hints`), for hint models.
    """
    check_batch_size(batch_size)
    if hints is not None and len(hints) != len(images):
        raise HintError(f"got hints for {len(hints)} images but {len(images)} images: give one entry per image")
    if hints is not None:
        check_hints_allowed(spec, [h for h in hints if has_hints(h)])
    run_batch = self_ensembled(run_batch, self_ensemble)
    results: list[np.ndarray | None] = [None] * len(images)
    prepared: list[tuple[np.ndarray, Any]] = []
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(images):  # one at a time: a large image is tiled before the next is prepared
        net_input, context = prepare(image, spec, None if hints is None else hints[i])
        prepared.append((net_input, context))
        if tile and max(net_input.shape[1:]) > (tile_threshold or tile):
            prepared[i] = (np.empty(0), context)  # keep only what finish() needs: bounded memory
            out = run_tiled(
                run_batch,
                net_input,
                spec,
                tile=tile,
                overlap=tile // 8 if overlap is None else overlap,
                batch_size=batch_size,
                on_tile=on_tile,
                finish_rows=denormalize if spec.color != "lab" else None,  # lab joins its L to the whole ab
            )
            del net_input
            results[i] = out if spec.color != "lab" else finish(out, context, spec)
            continue
        by_size.setdefault(net_input.shape[1:], []).append(i)
    for indices in by_size.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            out = run_padded(run_batch, np.stack([prepared[i][0] for i in chunk]), spec)
            for i, output in zip(chunk, out):
                results[i] = finish(output, prepared[i][1], spec)
    return results  # type: ignore[return-value]
