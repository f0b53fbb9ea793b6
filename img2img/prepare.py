"""``img2img prepare``: turn a folder of photos into a paired training folder with a recipe.

``prepare("restore", "photos/", "data/restore", preset="heavy")`` writes::

    OUT/train/A/<name>.png   OUT/train/B/<name>.png      (A = recipe input, B = target)
    OUT/val/A/<name>.png     OUT/val/B/<name>.png        (a seeded split by image)
    OUT/prepare.json         recipe, options, seed and counts

which ``img2img train pix2pix`` (or ``srgan``) reads as it is. Outputs are PNG (lossless, so the
recipe is the only damage), written atomically; pairs that exist are kept (a stopped job resumes)
unless ``overwrite``; unreadable photos are skipped and reported.

Nothing is left out silently: entries under PHOTOS that are not used (hidden or non-image files,
symlink loops, a folder reached twice, OUT when it lies inside PHOTOS) are in the report's
``skipped``, unreadable subfolders in ``failed``. OUT equal to PHOTOS, an output that would replace
a photo, a symlink inside OUT leading outside it, and PHOTOS without images are errors, raised
before anything is written. One job at a time writes to OUT (``OUT/.img2img.lock``).

``colorize`` needs colour targets: photos without colour (``has_color`` false: grayscale, even
stored as RGB) are left out before the split and listed in the report's ``skipped``; a folder
without any colour photo is an error.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from img2img_runtime.folder import check_outputs, failed_line, output_lock
from img2img_runtime.io import ImageReadError, atomic_write, default_max_pixels, list_images, read_image, write_image
from img2img_runtime.progress import Progress

from .data.recipes import Recipe, has_color


@dataclass
class PrepareReport:
    counts: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})
    skipped_existing: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # left out on purpose (colorize: no colour)
    removed: list[Path] = field(default_factory=list)  # overwrite: pairs of photos no longer there

    def summary(self) -> str:
        first = (
            f"{self.counts['train']} train pairs, {self.counts['val']} val pairs "
            f"({self.skipped_existing} already there), {len(self.failed)} failed"
        )
        lines = [first + (f", {len(self.skipped)} skipped" if self.skipped else "")]
        lines += [failed_line(path, reason) for path, reason in self.failed]
        lines += [f"  SKIPPED {path}: {reason}" for path, reason in self.skipped]
        if self.removed:
            lines.append(f"  removed {len(self.removed)} pair file(s) of photos no longer there")
        return "\n".join(lines)


def split_indices(count: int, val_fraction: float, seed: int) -> set[int]:
    """Indices of the validation images: a seeded choice of ``round(count * val_fraction)`` (at
    least 1 when the fraction is positive and there are 2 or more images)."""
    if val_fraction <= 0 or count < 2:
        return set()
    n_val = min(count - 1, max(1, round(count * val_fraction)))
    return set(np.random.default_rng(seed).permutation(count)[:n_val].tolist())


def _limit_size(image: np.ndarray, max_size: int | None) -> np.ndarray:
    if not max_size or max(image.shape[:2]) <= max_size:
        return image
    f = max_size / max(image.shape[:2])
    return cv2.resize(
        image, (max(1, round(image.shape[1] * f)), max(1, round(image.shape[0] * f))), interpolation=cv2.INTER_AREA
    )


def prepare(
    recipe: str,
    photos: str | os.PathLike,
    out: str | os.PathLike,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    max_size: int | None = None,
    overwrite: bool = False,
    workers: int = 2,
    progress: bool = False,
    **options: Any,
) -> PrepareReport:
    """Build ``out/{train,val}/{A,B}`` from the photos under ``photos`` with ``recipe``.

    Args:
        recipe: ``sketch``, ``colorize``, ``restore`` or ``sr``.
        val_fraction: share of photos held out for validation (split by image, seeded).
        max_size: downscale photos whose longer side exceeds this first (None: keep).
        progress: a labelled progress bar with ETA on stderr (the CLI's default).
        options: recipe options (``preset=`` for restore, ``scale=``/``realistic=`` for sr,
            sketch keyword arguments).

    ``colorize`` leaves out the photos without colour (listed in ``report.skipped``) and raises
    ``ValueError`` when no photo has colour.

    Raises:
        FileNotFoundError: ``photos`` does not exist or holds no images.
        ValueError: ``out`` is ``photos``; an output would replace a photo; a symlink inside
            ``out`` leads outside it; ``out`` was prepared with other settings.
        img2img_runtime.folder.OutputFolderBusyError: another job is writing to ``out``.
    """
    maker = Recipe(recipe, dict(options))
    default_max_pixels()  # a bad $IMG2IMG_MAX_PIXELS is one error, not every photo failed
    photos, out = Path(photos), Path(out)
    if photos.is_dir() and out.exists() and os.path.samefile(photos, out):
        raise ValueError(
            f"the output folder {out} is the photos folder {photos}: the pairs would be read as photos "
            "next time; choose another output folder"
        )
    listing_skipped: list[tuple[Path, str]] = []
    listing_failed: list[tuple[Path, str]] = []
    paths = list_images(
        photos,
        skipped=listing_skipped,
        errors=listing_failed,
        exclude={out: "the output folder (never read as photos)"},
    )
    if not paths:
        left_out = listing_failed + listing_skipped
        shown = "; ".join(f"{path}: {reason}" for path, reason in left_out[:5])
        raise FileNotFoundError(
            f"no images found in {photos}" + (f" ({len(left_out)} entries not processed: {shown})" if left_out else "")
        )
    settings = {"recipe": recipe, "options": options, "seed": seed, "val_fraction": val_fraction, "max_size": max_size}
    previous = out / "prepare.json"
    old = read_prepare_json(out)
    if old is not None and not overwrite:
        changed = [k for k, v in settings.items() if old.get(k) != json.loads(json.dumps(v))]
        if changed:
            raise ValueError(
                f"{out} was prepared with other settings ({', '.join(changed)} differ); "
                "use a new output folder or overwrite=True (--overwrite)"
            )
        if old.get("complete") is False and old.get("replacing"):
            raise ValueError(
                f"{out}: an overwrite=True (--overwrite) run was interrupted there, and pairs it had not rebuilt "
                "yet would pass for finished ones; finish it with overwrite=True (--overwrite)"
            )
    check_outputs(
        out,
        paths,
        [out / "prepare.json"]
        + [  # either split may be written (or cleaned)
            out / split / side / path.relative_to(photos).with_suffix(".png")
            for path in paths
            for split in ("train", "val")
            for side in ("A", "B")
        ],
    )
    report = PrepareReport(failed=list(listing_failed), skipped=list(listing_skipped))
    if recipe == "colorize":
        paths = _colour_photos(paths, photos, out, report)
    val = split_indices(len(paths), val_fraction, seed)
    names: dict[Path, Path] = {}

    def names_of(path: Path) -> Path:
        return path.relative_to(photos).with_suffix(".png")

    for path in paths:  # x.jpg and x.png would both become x.png
        name = names_of(path)
        if name in names:
            report.failed.append((path, f"same output name {name} as {names[name]}; rename one of them"))
        names.setdefault(name, path)
    clashing = {p for p, _ in report.failed}

    def one(index: int) -> tuple[str, str, Path, str | None]:
        path = paths[index]
        split = "val" if index in val else "train"
        name = path.relative_to(photos).with_suffix(".png")
        a_path, b_path = out / split / "A" / name, out / split / "B" / name
        other = "train" if split == "val" else "val"
        for stale in (out / other / "A" / name, out / other / "B" / name):  # a rebuilt split never leaks a photo
            stale.unlink(missing_ok=True)
        if not overwrite and a_path.exists() and b_path.exists():
            return split, "existing", path, None
        try:
            photo = _limit_size(read_image(path), max_size)
            a, b = maker(photo, np.random.default_rng([seed, index]))
        except (ImageReadError, ValueError, cv2.error) as error:  # this photo fails, the job goes on
            return split, "failed", path, str(error).strip()
        write_image(b_path, b)
        write_image(a_path, a)  # A last: a pair counts as done when both exist
        return split, "written", path, None

    todo = [i for i, path in enumerate(paths) if path not in clashing]
    with (
        output_lock(out),
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        Progress(len(todo), f"prepare {recipe}", unit="photo", enabled=progress) as bar,
    ):
        pairs_before = _pair_files(out)
        if overwrite:  # a rebuild: pairs of photos that are gone (or now clash) would pass for this job's
            keep = {out / split / side / names_of(p) for p in paths if p not in clashing
                    for split in ("train", "val") for side in ("A", "B")}  # fmt: skip
            for stale in sorted(pairs_before - keep):
                stale.unlink(missing_ok=True)
                report.removed.append(stale)
        # the settings first, so a rerun after a kill with other settings is refused like one after a finished job
        in_progress = {
            **settings,
            "complete": False,
            "replacing": bool(overwrite and (old is not None or pairs_before)),
        }
        atomic_write(previous, lambda temp: Path(temp).write_text(json.dumps(in_progress, indent=2) + "\n"))
        for split, status, path, error in pool.map(one, todo):
            bar.update()
            if status == "failed":
                report.failed.append((path, error or ""))
                continue
            report.counts[split] += 1
            report.skipped_existing += status == "existing"
        text = (
            json.dumps(
                {
                    **settings,
                    "complete": True,
                    "counts": report.counts,
                    "failed": [str(p) for p, _ in report.failed],
                    "skipped": [str(p) for p, _ in report.skipped],
                },
                indent=2,
            )
            + "\n"
        )
        atomic_write(previous, lambda temp: Path(temp).write_text(text))
    return report


def read_prepare_json(out: str | os.PathLike) -> dict[str, Any] | None:
    """``OUT/prepare.json`` (the settings; ``complete`` false while a job runs or after a kill,
    ``replacing`` when that job was an ``overwrite`` over earlier pairs), or None without one."""
    path = Path(out) / "prepare.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: unreadable ({error}); remove it or use overwrite=True (--overwrite)") from None
    return data if isinstance(data, dict) else None


def _pair_files(out: Path) -> set[Path]:
    """The ``.png`` files under ``out/{train,val}/{A,B}`` (the pairs a job wrote there)."""
    return {p for split in ("train", "val") for side in ("A", "B") for p in (out / split / side).rglob("*.png")}


def _colour_photos(paths: list[Path], photos: Path, out: Path, report: PrepareReport) -> list[Path]:
    """``paths`` without the photos that have no colour, which go to ``report.skipped`` (and lose
    any pair an earlier run wrote for them). Unreadable files stay: ``prepare`` reports them.

    Raises:
        ValueError: no photo under ``photos`` has colour.
    """

    def colour(path: Path) -> bool | None:
        try:
            return has_color(read_image(path))
        except ImageReadError:
            return None

    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1, len(paths)))) as pool:
        flags = list(pool.map(colour, paths))
    gray = [path for path, flag in zip(paths, flags) if flag is not None and not flag]
    if not any(flags):
        unreadable = sum(flag is None for flag in flags)
        raise ValueError(
            f"no colour photos in {photos}: {len(gray)} photo(s) without colour (grayscale)"
            + (f" and {unreadable} unreadable" if unreadable else "")
            + "; colorization needs colour photos to learn from"
        )
    for path in gray:
        name = path.relative_to(photos)
        report.skipped.append((path, f"{name.as_posix()} has no colour (grayscale): colorization needs colour photos"))
        for split in ("train", "val"):
            for side in ("A", "B"):
                (out / split / side / name.with_suffix(".png")).unlink(missing_ok=True)
    return [path for path, flag in zip(paths, flags) if flag is None or flag]
