"""Batch jobs over folders (numpy + OpenCV; used by the torch and the ONNX paths alike).

A job lists the images under the input (recursively), keeps each file's relative path and
format in the output folder, skips outputs that already exist (an interrupted job resumes
where it stopped) unless ``overwrite``, writes every output atomically, reports unreadable
inputs without stopping, and returns a :class:`FolderReport`. Decoding and encoding run in
threads, overlapped with inference.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import ImageReadError, is_image_file, list_images, read_image, write_image

TranslateFn = Callable[[Sequence[np.ndarray]], list[np.ndarray]]


@dataclass
class FolderReport:
    """What a folder job did. ``ok`` is False when any input failed."""

    written: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [f"{len(self.written)} written, {len(self.skipped_existing)} already done (skipped), {len(self.failed)} failed"]
        lines += [f"  FAILED {path}: {reason}" for path, reason in self.failed]
        return "\n".join(lines)


def plan_outputs(input_path: str | os.PathLike, output_dir: str | os.PathLike, *, recursive: bool = True) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs: relative paths and extensions are kept."""
    input_path, output_dir = Path(input_path), Path(output_dir)
    if input_path.is_file():
        return [(input_path, output_dir / input_path.name)]
    if not input_path.is_dir():
        raise FileNotFoundError(f"input {input_path} does not exist")
    out_resolved = output_dir.resolve()
    pairs = []
    for path in list_images(input_path, recursive=recursive):
        if out_resolved in path.resolve().parents:  # output folder inside the input folder
            continue
        pairs.append((path, output_dir / path.relative_to(input_path)))
    return pairs


def _read(path: Path, channels: int) -> np.ndarray | Exception:
    try:
        return read_image(path, channels=channels)
    except (ImageReadError, OSError) as error:
        return error


def translate_folder(
    translate: TranslateFn,
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    in_channels: int = 3,
    overwrite: bool = False,
    recursive: bool = True,
    batch_size: int = 4,
    progress: bool = True,
    quality: int = 95,
) -> FolderReport:
    """Translate every image under ``input_path`` (a folder or one file) into ``output_dir``.

    Args:
        translate: maps a list of uint8 ``H x W x C`` images to the translated images.
        overwrite: rewrite outputs that already exist (default: skip them, so jobs resume).
        batch_size: images handed to ``translate`` at once.
    """
    report = FolderReport()
    todo = []
    for src, dst in plan_outputs(input_path, output_dir, recursive=recursive):
        if dst.exists() and not overwrite:
            report.skipped_existing.append(dst)
        else:
            todo.append((src, dst))
            for stale in dst.parent.glob(f".{dst.name}.*.tmp"):  # left by a job killed mid-write
                stale.unlink(missing_ok=True)
    if Path(input_path).is_file() and not is_image_file(input_path):
        report.failed.append((Path(input_path), "not an image file"))
        return report
    bar = _progress(len(todo), progress)
    with ThreadPoolExecutor(max_workers=2) as readers, ThreadPoolExecutor(max_workers=2) as writers:
        chunks = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        pending_reads: Iterator[list[Future]] = (
            [readers.submit(_read, src, in_channels) for src, _ in chunk] for chunk in chunks
        )
        writes: list[tuple[Path, Future]] = []
        next_reads = next(pending_reads, None)
        for chunk in chunks:
            reads, next_reads = next_reads, next(pending_reads, None)  # decode the next chunk meanwhile
            good, images = [], []
            for (src, dst), future in zip(chunk, reads):
                result = future.result()
                if isinstance(result, Exception):
                    report.failed.append((src, str(result)))
                else:
                    good.append((src, dst))
                    images.append(result)
            if images:
                try:
                    outputs = translate(images)
                except Exception as error:  # noqa: BLE001 - report and continue with the next batch
                    report.failed.extend((src, f"translation failed: {error}") for src, _ in good)
                    outputs = []
                for (src, dst), out in zip(good, outputs):
                    writes.append((src, dst, writers.submit(write_image, dst, out, quality=quality)))
            bar(len(chunk))
        for src, dst, future in writes:
            try:
                future.result()
            except Exception as error:  # noqa: BLE001 - one bad output does not stop the job
                report.failed.append((src, f"cannot write output: {error}"))
            else:
                report.written.append(dst)
    return report


def _progress(total: int, enabled: bool) -> Callable[[int], None]:
    if not enabled or total == 0:
        return lambda n: None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the runtime does not require tqdm: a plain counter on stderr
        done = [0]

        def plain(n: int) -> None:
            done[0] += n
            print(f"\r{done[0]}/{total} images", end="\n" if done[0] >= total else "", file=sys.stderr, flush=True)

        return plain
    bar = tqdm(total=total, unit="img", dynamic_ncols=True)

    def update(n: int) -> None:
        bar.update(n)
        if bar.n >= total:
            bar.close()

    return update
