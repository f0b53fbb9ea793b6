"""``img2img eval``: score a model on photos (or on paired folders) beside simple baselines.

Two ways to get (input, target) pairs:

* **photos + a task** (``task="restore" | "colorize" | "sketch" | "sr"``): every photo is a target
  and the task's recipe (:class:`img2img.data.recipes.Recipe`) makes its input, with a random
  generator seeded by ``[seed, index]`` so the same photos always give the same inputs. Photos
  without colour are skipped for ``colorize``. (A paired ``A/``+``B/`` folder given with a task
  uses its ``B/`` images as the photos.)
* **a paired folder** (``task=None``): ``DIR/val/{A,B}``, else ``DIR/{A,B}``, else
  ``DIR/train/{A,B}``, matched by relative path without extension; the model runs on A and is
  scored against B, or on B against A for a model that maps B to A (a pix2pix or SRGAN run
  trained with ``--direction BtoA``, recorded in its model folder; a CycleGAN folder with
  ``direction="BtoA"``; an ``.onnx`` exported with ``--direction BtoA``).

Rows of the report (means over images):

=============================  ===========================================================
``model``                      the model's outputs
``baseline (bicubic)``         sr: the low-resolution input upscaled with ``cv2.INTER_CUBIC``
``baseline (input)``           restore, colorize, sketch, paired: the input itself (gray as
                               RGB; resized bicubically to the target's size if it differs)
``baseline (flat mean colour)``  sketch: every pixel is the target's mean colour
``model, N hints``             ``hints=[...]`` (colorize, sketch): the model given N colour
                               points drawn from the target (:func:`img2img.hints.sample_points`,
                               seeded by ``[seed, image, N]``); a hint model gets no hints in
                               the ``model`` row
``baseline (hint spreading),   the same N points spread over the image by the non-learned
N hints``                      joint-bilateral fill :func:`img2img.hints.spread_hints`
``target``                     the targets (colourfulness only)
=============================  ===========================================================

Columns: ``psnr`` (RGB), ``psnr_y`` and ``ssim_y`` (BT.601 luma, as SR tables), ``colorfulness``
(Hasler & Suesstrunk), ``sharpness`` (variance of the Laplacian relative to the target's: 1.0
keeps the target's texture) and ``sec_per_mp`` (wall seconds per output megapixel, total time
over total megapixels; the model's own calls only, after one untimed warm-up call for loaded
models). For ``sr`` (and paired folders whose B is an integer multiple of A) a border of
``scale`` pixels is cropped off before every metric. The metric functions live in
:mod:`img2img.metrics`.

Example:
    >>> from img2img.evaluate import evaluate_model
    >>> report = evaluate_model("runs/restore", "photos/", task="restore", preset="heavy")
    >>> print(report.table())
    >>> report.to_json("eval.json")
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from img2img_runtime.io import ImageReadError, is_image_file, list_images, read_image
from img2img_runtime.processing import check_self_ensemble, to_channels
from img2img_runtime.progress import Progress

from . import metrics
from .checkpoint import write_json
from .data.files import key_by_stem
from .data.recipes import RECIPE_NAMES, Recipe, has_color
from .hints import MAX_HINTS, sample_points, spread_hints

__all__ = ["EvalReport", "METRICS", "evaluate_model", "find_pairs"]

logger = logging.getLogger(__name__)

# metric key -> table header
METRICS = {
    "psnr": "PSNR",
    "psnr_y": "PSNR-Y",
    "ssim_y": "SSIM-Y",
    "colorfulness": "colourful",
    "sharpness": "sharpness",
    "sec_per_mp": "s/MP",
}
_FORMATS = {
    "psnr": "{:.2f}",
    "psnr_y": "{:.2f}",
    "ssim_y": "{:.4f}",
    "colorfulness": "{:.1f}",
    "sharpness": "{:.3f}",
    "sec_per_mp": "{:.4g}",
}
_SSIM_WINDOW = 11  # metrics.ssim's default window: images must be at least this large after the border crop

MODEL_ROW = "model"
TARGET_ROW = "target"
BICUBIC_ROW = "baseline (bicubic)"
INPUT_ROW = "baseline (input)"
FLAT_ROW = "baseline (flat mean colour)"
HINT_MODEL_ROW = "model, {} hints"  # eval with hints: the model given that many points from the target
SPREAD_ROW = "baseline (hint spreading), {} hints"  # img2img.hints.spread_hints of the same points


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@dataclass
class EvalReport:
    """Result of :func:`evaluate_model`.

    Attributes:
        rows: row name (``"model"``, ``"baseline (...)"``, ``"target"``) -> metric -> mean over
            images (see the module docstring; the target row has ``colorfulness`` only).
        per_image: one dict per evaluated image: ``path`` (relative to the data folder),
            ``height``/``width`` of the target, ``rows`` (row -> metric -> value).
        skipped: ``(path, reason)`` for photos that were not evaluated (unreadable, no colour
            for colorize, too small).
        settings: task, model, data and options of the run.
    """

    rows: dict[str, dict[str, float]]
    per_image: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def images(self) -> int:
        return len(self.per_image)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; non-finite values (e.g. the ``inf`` PSNR of identical images) become None."""
        return _finite(
            {
                "settings": self.settings,
                "images": self.images,
                "skipped_count": len(self.skipped),
                "rows": self.rows,
                "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
                "per_image": self.per_image,
            }
        )

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` atomically (temporary file, then rename)."""
        write_json(path, self.to_dict())

    def table(self, max_skipped: int = 20) -> str:
        """An aligned text table of the rows, with the image count and the skipped files."""
        names = list(self.rows)
        header = ["", *METRICS.values()]
        lines = [header]
        for name in names:
            row = self.rows[name]
            lines.append([name, *(_format(key, row.get(key)) for key in METRICS)])
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = [
            "  ".join([line[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(line[1:], widths[1:]))]).rstrip()
            for line in lines
        ]
        s = self.settings
        what = s.get("task") or "paired"
        options = ", ".join(f"{k} {s[k]}" for k in ("preset", "scale") if s.get(k) is not None)
        if (s.get("self_ensemble") or 1) > 1:
            options += f"{', ' if options else ''}{s['self_ensemble']} views averaged"
        title = f"{what}{f' ({options})' if options else ''}: {s.get('model', 'model')} on {s.get('data', '')}"
        text.insert(0, title)
        text.append(f"{self.images} image(s) evaluated, {len(self.skipped)} skipped")
        for path, reason in self.skipped[:max_skipped]:
            text.append(f"  skipped {path}: {reason}")
        if len(self.skipped) > max_skipped:
            text.append(f"  ... and {len(self.skipped) - max_skipped} more")
        return "\n".join(text)

    def __str__(self) -> str:
        return self.table()


def _format(key: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return _FORMATS[key].format(value)


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


@dataclass
class _Runner:
    call: Callable[..., np.ndarray]  # (image[, hints=points]) -> output
    name: str
    in_channels: int | None  # channels the model wants (paired folders are read so); None: unknown
    scale: int | None
    warm_up: bool
    maps: str = "AtoB"  # the folder sides it translates: "BtoA" = B images in, A images out
    takes_hints: bool | None = None  # a hint model; None: unknown (a callable)


def _load_model(model: Any, device: str, direction: str | None, self_ensemble: int = 1) -> _Runner:
    """A path (run folder, model folder, .pt, .onnx) or a callable -> a uniform runner."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if path.suffix.lower() == ".onnx":
            if direction:
                raise ValueError("an exported .onnx file holds one direction; direction applies to run/model folders")
            from img2img_runtime import Model

            providers = None
            if str(device).startswith("cuda"):
                providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
            model = Model(path, providers=providers, self_ensemble=self_ensemble)
        else:
            from img2img_runtime.zoo import is_model_name

            from .infer import Translator

            if not path.exists() and not is_model_name(model):  # a shipped model's name loads by name
                raise FileNotFoundError(f"model {path} does not exist")
            model = Translator.from_pretrained(path, device=device, direction=direction, self_ensemble=self_ensemble)
        name = str(path)
    elif self_ensemble != 1:
        raise ValueError("self_ensemble applies to model paths; a callable runs as it is")
    elif callable(model):
        name = getattr(model, "__name__", None) or type(model).__name__
    else:
        raise TypeError(
            f"model must be a path (run/model folder, .pt or .onnx) or a callable, got {type(model).__name__}"
        )

    spec = getattr(model, "spec", None)
    two_way = callable(spec)  # a Translator: spec(direction), __call__(..., direction=)
    if direction and not two_way:
        raise ValueError("direction applies to run/model folders (Translators); this model has one direction")
    if two_way:
        spec = spec(direction)
    call = (lambda image, _m=model, **kw: _m(image, direction=direction, **kw)) if two_way and direction else model
    in_channels = getattr(spec, "image_channels", None)
    scale = getattr(spec, "scale", None)
    config = getattr(model, "config", None)
    config = config if isinstance(config, dict) else {}
    if len(getattr(model, "generators", ())) > 1:  # a CycleGAN folder: the direction asked for, else its default
        maps = direction or getattr(model, "direction", None) or "AtoB"
    else:  # a one-way net trained on B -> A (--direction BtoA), or an exported direction of a two-way model
        maps = (config.get("training") or {}).get("direction") or config.get("direction") or "AtoB"
    return _Runner(
        call=call,
        name=name,
        in_channels=in_channels,
        scale=scale,
        warm_up=hasattr(model, "translate_arrays"),
        takes_hints=getattr(model, "takes_hints", None),
        maps=maps if maps in ("AtoB", "BtoA") else "AtoB",
    )


def _as_rgb(image: Any, expected: tuple[int, int], what: str) -> np.ndarray:
    """A model output -> uint8 ``H x W x 3`` of the expected size, or a clear error."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{what}: the model returned {type(image).__name__}; expected a uint8 numpy array")
    if image.dtype != np.uint8:
        raise ValueError(f"{what}: the model returned a {image.dtype} array; expected uint8")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"{what}: the model returned shape {image.shape}; expected H x W x 3 or H x W x 1")
    if image.shape[:2] != expected:
        raise ValueError(
            f"{what}: the model returned a {image.shape[1]}x{image.shape[0]} image but the target is "
            f"{expected[1]}x{expected[0]} (a wrong --scale, or a model for another task?)"
        )
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def _paired_dirs(root: Path) -> tuple[Path, Path] | None:
    """``(A, B)`` folders of a paired dataset: val/ first, then the root, then train/."""
    for base in (root / "val", root, root / "train"):
        if (base / "A").is_dir() and (base / "B").is_dir():
            return base / "A", base / "B"
    return None


def find_pairs(root: str | os.PathLike) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """Pairs of a paired folder (see the module docstring) and ``(path, reason)`` for unmatched files.

    Files pair by relative path without extension (``A/x.png`` with ``B/x.jpg``), the rule of
    :class:`img2img.data.paired.PairedFolder`.

    Raises:
        ValueError: ``root`` holds no ``A/`` + ``B/`` folders (in ``val/``, itself or ``train/``).
    """
    root = Path(root)
    dirs = _paired_dirs(root)
    if dirs is None:
        raise ValueError(
            f"{root} is not a paired folder (A/ and B/, or val/A and val/B); "
            "pass --task restore|colorize|sketch|sr to make the inputs from photos"
        )
    skipped: list[tuple[str, str]] = []
    keyed: list[dict[str, Path]] = []
    for folder in dirs:
        unreadable: list[tuple[Path, str]] = []  # broken links or special files with an image name
        unique, clashes = key_by_stem(list_images(folder, errors=unreadable), folder)
        skipped += [(str(p), reason) for p, reason in unreadable]
        skipped += [(str(p), "same name without extension as another file") for group in clashes for p in group]
        keyed.append(unique)
    files_a, files_b = keyed
    skipped += [(str(files_a[k]), f"no partner in {dirs[1]}") for k in sorted(files_a) if k not in files_b]
    skipped += [(str(files_b[k]), f"no partner in {dirs[0]}") for k in sorted(files_b) if k not in files_a]
    pairs = [(files_a[k], files_b[k]) for k in sorted(files_a) if k in files_b]
    return pairs, skipped


def _list_photos(data: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The photos, and ``(path, reason)`` for entries with an image name that cannot be read."""
    if not data.exists():
        raise FileNotFoundError(f"data {data} does not exist")
    if data.is_file():
        if not is_image_file(data):
            raise ValueError(f"{data} is not an image file or a folder of images")
        return [data], []
    dirs = _paired_dirs(data)
    if dirs is not None:  # a prepared folder: its targets are the photos
        logger.info("%s is a paired folder: using the images in %s as the photos", data, dirs[1])
        data = dirs[1]
    unreadable: list[tuple[Path, str]] = []  # broken links or special files with an image name
    photos = list_images(data, errors=unreadable)
    if not photos:
        raise FileNotFoundError(f"no images found in {data}")
    return photos, [(str(p), reason) for p, reason in unreadable]


def _limit_size(image: np.ndarray, max_size: int | None) -> np.ndarray:
    if not max_size or max(image.shape[:2]) <= max_size:
        return image
    f = max_size / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * f)), max(1, round(image.shape[0] * f)))
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return out[:, :, None] if out.ndim == 2 else out


def _reason(error: Exception, path: Path) -> str:
    return str(error).removeprefix(f"{path}: ")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def _score(output: np.ndarray, target: np.ndarray, border: int) -> dict[str, float]:
    """Per-image metrics of one row (``sec_per_mp`` is added by the caller)."""
    if border:
        output, target = output[border:-border, border:-border], target[border:-border, border:-border]
    out_t = _tensor(output)
    tgt_t = _tensor(target)
    return {
        "psnr": float(metrics.psnr(out_t, tgt_t, data_range=255.0)),
        "psnr_y": metrics.psnr_y(output, target),
        "ssim_y": metrics.ssim_y(output, target),
        "colorfulness": metrics.colorfulness(output),
        "sharpness": metrics.sharpness_ratio(output, target),
    }


def _tensor(image: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()


def _timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _mean(values: list[float], *, finite: bool = False) -> float:
    """The mean without NaNs (and, with ``finite``, without infinities)."""
    kept = [v for v in values if (math.isfinite(v) if finite else not math.isnan(v))]
    return float(np.mean(kept)) if kept else math.nan


def _aggregate(per_image: list[dict[str, Any]], seconds: dict[str, float]) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    megapixels = sum(item["height"] * item["width"] for item in per_image) / 1e6
    for name in per_image[0]["rows"]:
        keys = per_image[0]["rows"][name].keys()
        # the sharpness ratio of a flat target (a one-colour image) is infinite: not a measure of the model
        row = {
            key: _mean([item["rows"][name][key] for item in per_image], finite=key == "sharpness")
            for key in keys
            if key != "sec_per_mp"
        }
        if name in seconds:
            row["sec_per_mp"] = seconds[name] / megapixels if megapixels else math.nan
        rows[name] = row
    return rows


# --------------------------------------------------------------------------------------------
# The evaluation
# --------------------------------------------------------------------------------------------


def evaluate_model(
    model: Any,
    data: str | os.PathLike,
    *,
    task: str | None = None,
    scale: int = 4,
    preset: str = "medium",
    realistic: bool = False,
    seed: int = 0,
    max_images: int | None = None,
    max_size: int | None = None,
    device: str = "auto",
    direction: str | None = None,
    progress: bool = False,
    self_ensemble: int = 1,
    hints: list[int] | tuple[int, ...] | None = None,
) -> EvalReport:
    """Score ``model`` on ``data`` beside the baselines (see the module docstring).

    Args:
        model: a run folder, model folder or checkpoint ``.pt`` (run with
            :class:`img2img.Translator`), an exported ``.onnx`` file (run with
            :class:`img2img_runtime.Model`), or any callable mapping a uint8 ``H x W x C`` numpy
            array to a uint8 numpy array (``C`` = 1 for colorize and sketch inputs, else 3;
            1-channel outputs are scored as RGB).
        data: a folder of photos (searched recursively) or one photo, with ``task``; a paired
            folder (``A/`` + ``B/``) without.
        task: ``"restore"``, ``"colorize"``, ``"sketch"`` or ``"sr"``; None for a paired folder.
        scale: sr: the downscaling factor (and the border cropped before scoring).
        preset: restore: ``"light"``, ``"medium"``, ``"heavy"`` or ``"varied"`` damage.
        realistic: sr: blur, noise and JPEG around the downscale.
        seed: inputs of photo ``i`` come from ``np.random.default_rng([seed, i])``.
        max_images: stop after this many evaluated images (None: all).
        progress: a labelled progress bar with ETA on stderr (the CLI's default).
        max_size: photos whose longer side exceeds this are first downscaled with
            ``cv2.INTER_AREA`` (photos only, not paired folders).
        device: for run/model folders: ``"auto"``, ``"cpu"``, ``"cuda"``, ...; ``.onnx`` files
            run on the CPU unless a ``cuda`` device is named.
        direction: ``"AtoB"``/``"BtoA"`` for two-way (CycleGAN) run/model folders.
        self_ensemble: model paths: average the outputs of 1 (off), 2, 4 or 8 flipped and
            transposed views of each input (see :class:`img2img.Translator`).
        hints: colorize and sketch with a hint model: for each count N, a ``model, N hints`` row
            (N points from the target, seeded) and the non-learned ``baseline (hint
            spreading), N hints`` row with the same points.

    Returns:
        An :class:`EvalReport`.

    Raises:
        FileNotFoundError: ``data`` or ``model`` does not exist, or no photos in ``data``.
        ValueError: bad options, a folder that is neither used with a task nor paired, a model
            whose output size does not match the target, or no image could be evaluated.
    """
    data = Path(data)
    if task is not None and task not in RECIPE_NAMES:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(RECIPE_NAMES)}")
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be positive, got {max_images}")
    if max_size is not None and max_size < 1:
        raise ValueError(f"max_size must be positive, got {max_size}")
    if task == "sr" and int(scale) < 2:
        raise ValueError(f"sr scale must be at least 2, got {scale}")
    counts = _hint_counts(hints, task)
    if task is None:
        if not data.exists():
            raise FileNotFoundError(f"data {data} does not exist")
        if max_size:
            raise ValueError(
                "max_size applies to photos evaluated with a task; paired folders are scored at their stored size"
            )
        pairs, skipped = find_pairs(data)  # before loading the model: a wrong folder fails fast
    else:
        photos, unreadable = _list_photos(data)

    runner = _load_model(model, device, direction, check_self_ensemble(self_ensemble))
    if counts and runner.takes_hints is False:
        raise ValueError(f"{runner.name} was trained without colour hints (--hints): it cannot be scored with hints")
    if task is not None and runner.scale is not None:
        want = int(scale) if task == "sr" else 1
        if runner.scale != want:
            raise ValueError(
                f"the model upscales x{runner.scale} but {task} needs x{want}"
                + (" (set --scale)" if task == "sr" else "")
            )

    settings: dict[str, Any] = {
        "task": task,
        "model": runner.name,
        "data": str(data),
        "seed": seed,
        "max_images": max_images,
        "max_size": max_size,
        "self_ensemble": self_ensemble,
    }
    if task == "restore":
        settings["preset"] = preset
    if task == "sr":
        settings.update(scale=int(scale), realistic=bool(realistic))
    if counts:
        settings["hints"] = list(counts)
    root = data if data.is_dir() else data.parent

    if task is None:
        if runner.maps == "BtoA":  # B images in, scored against A
            pairs = [(b, a) for a, b in pairs]
        settings["direction"] = runner.maps
        items = _paired_items(pairs, runner, skipped)
    else:
        options = {"restore": {"preset": preset}, "sr": {"scale": int(scale), "realistic": bool(realistic)}}.get(
            task, {}
        )
        recipe = Recipe(task, options)
        skipped = unreadable
        items = _photo_items(photos, recipe, seed, max_size, skipped)

    per_image: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    warmed = not runner.warm_up
    total = len(pairs) if task is None else len(photos)
    bar = Progress(total if max_images is None else min(total, max_images), f"eval {task or 'pairs'}", enabled=progress)
    for path, a, target, baselines, border in items:
        if max_images is not None and len(per_image) >= max_images:
            break
        bar.update()
        shape = target.shape[:2]
        name = _relative(path, root)
        if min(shape) - 2 * border < _SSIM_WINDOW:
            skipped.append(
                (
                    str(path),
                    f"too small ({shape[1]}x{shape[0]}) to score: SSIM needs "
                    f"{_SSIM_WINDOW} pixels per side after a border of {border}",
                )
            )
            continue
        if not warmed:  # first call of a loaded model: CUDA/cuDNN/onnxruntime set-up, not timed
            runner.call(a)
            warmed = True
        raw, elapsed = _timed(lambda: runner.call(a))
        output = _as_rgb(raw, shape, name)
        rows = {MODEL_ROW: {**_score(output, target, border), "sec_per_mp": elapsed / (shape[0] * shape[1] / 1e6)}}
        seconds[MODEL_ROW] = seconds.get(MODEL_ROW, 0.0) + elapsed
        for count in counts:
            points = sample_points(target, count, np.random.default_rng([seed, len(per_image), count]))
            name_row = HINT_MODEL_ROW.format(count)
            out, elapsed = _timed(lambda: runner.call(a, hints=points))
            rows[name_row] = {
                **_score(_as_rgb(out, shape, name), target, border),
                "sec_per_mp": elapsed / (shape[0] * shape[1] / 1e6),
            }
            seconds[name_row] = seconds.get(name_row, 0.0) + elapsed
            space = "ab" if task == "colorize" else "rgb"
            baselines = [*baselines, (SPREAD_ROW.format(count), lambda p=points: spread_hints(a, p, space=space))]
        for row, make in baselines:
            image, elapsed = _timed(make)
            rows[row] = {**_score(image, target, border), "sec_per_mp": elapsed / (shape[0] * shape[1] / 1e6)}
            seconds[row] = seconds.get(row, 0.0) + elapsed
        cropped = target[border:-border, border:-border] if border else target
        rows[TARGET_ROW] = {"colorfulness": metrics.colorfulness(cropped)}
        per_image.append({"path": name, "height": shape[0], "width": shape[1], "rows": rows})

    bar.close()
    if not per_image:
        first = f" (first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise ValueError(f"no image of {data} could be evaluated: {len(skipped)} skipped{first}")
    report = EvalReport(rows=_aggregate(per_image, seconds), per_image=per_image, skipped=skipped, settings=settings)
    return report


def _hint_counts(hints: Any, task: str | None) -> tuple[int, ...]:
    """The hint counts asked for, checked (colorize and sketch only, whole numbers 0-64)."""
    if hints is None:
        return ()
    if task not in ("colorize", "sketch"):
        raise ValueError(f"hints apply to the colorize and sketch tasks, not to {task or 'paired folders'}")
    counts = tuple(hints)
    if not counts or any(isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_HINTS for n in counts):
        raise ValueError(f"hints must be hint counts, whole numbers 0 to {MAX_HINTS}, e.g. 0,1,5,20; got {hints!r}")
    return tuple(dict.fromkeys(counts))


def _photo_items(photos: list[Path], recipe: Recipe, seed: int, max_size: int | None, skipped: list[tuple[str, str]]):
    """(path, input, target, baselines, border) for each usable photo, lazily."""
    for index, path in enumerate(photos):
        try:
            photo = _limit_size(read_image(path, channels=3), max_size)
        except ImageReadError as error:
            skipped.append((str(path), _reason(error, path)))
            continue
        if recipe.name == "colorize" and not has_color(photo):
            skipped.append((str(path), "no colour (a grayscale photo): colorization needs colour targets"))
            continue
        try:
            a, target = recipe(photo, np.random.default_rng([seed, index]))
        except (ValueError, cv2.error) as error:  # e.g. smaller than the sr scale; this photo is skipped
            skipped.append((str(path), str(error).strip()))
            continue
        yield path, a, target, _baselines(recipe.name, a, target), (recipe.scale if recipe.name == "sr" else 0)


def _baselines(task: str, a: np.ndarray, target: np.ndarray) -> list[tuple[str, Callable[[], np.ndarray]]]:
    h, w = target.shape[:2]
    if task == "sr":
        return [(BICUBIC_ROW, lambda: _upscale(a, w, h))]
    rows = [(INPUT_ROW, lambda: to_channels(a, 3) if a.shape[:2] == (h, w) else _upscale(to_channels(a, 3), w, h))]
    if task == "sketch":
        rows.append(
            (
                FLAT_ROW,
                lambda: np.broadcast_to(
                    np.rint(target.reshape(-1, target.shape[2]).mean(axis=0)).astype(np.uint8), target.shape
                ).copy(),
            )
        )
    return rows


def _upscale(image: np.ndarray, width: int, height: int) -> np.ndarray:
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
    return out[:, :, None] if out.ndim == 2 else out


def _paired_items(pairs: list[tuple[Path, Path]], runner: _Runner, skipped: list[tuple[str, str]]):
    channels = runner.in_channels or 3
    for path_a, path_b in pairs:
        try:
            a = read_image(path_a, channels=channels)
            target = read_image(path_b, channels=3)
        except ImageReadError as error:
            bad = path_a if str(error).startswith(str(path_a)) else path_b
            skipped.append((str(bad), _reason(error, bad)))
            continue
        (ha, wa), (hb, wb) = a.shape[:2], target.shape[:2]
        ratio = hb // ha if ha and hb % ha == 0 and wa * (hb // ha) == wb else 0
        border = ratio if ratio > 1 else 0  # B = s x A: a super-resolution pair, scored as SR tables do
        yield path_a, a, target, _baselines("paired", a, target), border
