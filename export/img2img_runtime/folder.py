"""Batch jobs over folders (numpy + OpenCV; used by the torch and the ONNX paths alike).

A job lists the images under the input (recursively), keeps each file's relative path and
format in the output folder, skips outputs that already exist (an interrupted job resumes
where it stopped) unless ``overwrite``, writes every output atomically, reports unreadable
inputs without stopping, and returns a :class:`FolderReport`. Decoding and encoding run in
threads, overlapped with inference.

Nothing is left out silently: every file or folder under the input that is not processed is in
``report.skipped`` (hidden and non-image files, symlink loops, folders reached twice, the output
folder) or ``report.failed`` (unreadable files and subfolders, broken symlinks) with its reason.
Symlinked folders are followed, each real folder once. These are errors, raised before anything
is written: an output folder that is the input folder, an input without images, an output that
would replace an input file (e.g. one photo translated into its own folder), and a symlink
inside the output folder that leads outside it. An output folder *inside* the input folder is
allowed: it is never read as input (one ``skipped`` entry).

One job at a time writes to an output folder: it holds ``OUTPUT/.img2img.lock`` (an OS lock,
released when the process ends, with the owner's pid in the file), and a second job on the same
folder stops with :class:`OutputFolderBusyError`, naming the pid. Temporary files carry their
writer's pid; a job removes only those of processes that no longer run.
"""

from __future__ import annotations

import inspect
import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .hints import HintError, check_transparent
from .io import ImageReadError, is_image_file, list_images, read_image, write_image
from .processing import check_batch_size

TranslateFn = Callable[..., list[np.ndarray]]  # (images[, on_tile=TileProgress]) -> translated images
ProgressFn = Callable[[float, int], None]  # (images done, fractional while a large image's tiles run; images in all)

LOCK_NAME = ".img2img.lock"
SUMMARY_SKIPPED_LINES = 20  # the summary lists this many skipped entries; report.skipped has all


class OutputFolderBusyError(FileExistsError):
    """Another job holds the output folder's lock; the message names its pid and the folder."""


@dataclass
class FolderReport:
    """What a folder job did. ``ok`` is False when any input failed.

    ``skipped`` lists what was left out on purpose, with the reason (hidden and non-image files,
    symlink loops, folders reached twice, the output folder); it does not make ``ok`` False.
    """

    written: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        first = f"{len(self.written)} written, {len(self.skipped_existing)} already done (skipped), {len(self.failed)} failed"
        lines = [first + (f", {len(self.skipped)} not processed" if self.skipped else "")]
        lines += [failed_line(path, reason) for path, reason in self.failed]
        lines += [f"  SKIPPED {path}: {reason}" for path, reason in self.skipped[:SUMMARY_SKIPPED_LINES]]
        if len(self.skipped) > SUMMARY_SKIPPED_LINES:
            lines.append(f"  ... and {len(self.skipped) - SUMMARY_SKIPPED_LINES} more not processed")
        return "\n".join(lines)


def failed_line(path: str | os.PathLike, reason: str) -> str:
    """``  FAILED <path>: <reason>`` with the path once (read errors already start with it)."""
    prefix = f"{path}: "
    return f"  FAILED {path}: {reason[len(prefix) :] if reason.startswith(prefix) else reason}"


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives (Windows)
        return False


def check_outputs(output_dir: str | os.PathLike, inputs: Iterable[Path], outputs: Iterable[Path]) -> None:
    """Refuse a job that would replace an input or write outside ``output_dir``.

    Raises:
        ValueError: an output path is one of the ``inputs`` (after following symlinks), or a
            symlink below ``output_dir`` on the way to an output leads outside ``output_dir``.
    """
    output_dir = Path(output_dir)
    out_real = os.path.realpath(output_dir)
    real_inputs = {os.path.realpath(path): path for path in inputs}
    checked: set[Path] = set()
    for dst in outputs:
        current = output_dir
        for part in dst.relative_to(output_dir).parts:
            current = current / part
            if current in checked:
                continue
            checked.add(current)
            if os.path.islink(current):
                target = os.path.realpath(current)
                if not _inside(target, out_real):
                    raise ValueError(
                        f"{current} is a symlink to {target}, outside the output folder {output_dir}: outputs would be "
                        "written there; remove the link or choose another output folder"
                    )
        real = os.path.realpath(dst)
        if real in real_inputs:
            raise ValueError(
                f"the output {dst} would replace the input {real_inputs[real]}; inputs are never overwritten "
                "(choose an output folder that does not hold the input)"
            )


def _no_images_message(input_path: Path, left_out: list[tuple[Path, str]]) -> str:
    message = f"no images found in {input_path}"
    if left_out:
        shown = "; ".join(f"{path}: {reason}" for path, reason in left_out[:5])
        message += f" ({len(left_out)} entries not processed: {shown}{'; ...' if len(left_out) > 5 else ''})"
    return message


def plan_outputs(
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    recursive: bool = True,
    skipped: list[tuple[Path, str]] | None = None,
    failed: list[tuple[Path, str]] | None = None,
) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs: relative paths and extensions are kept.

    ``skipped`` and ``failed`` receive the entries under the input that are not processed (see
    :func:`img2img_runtime.io.list_images`). Nothing is written.

    Raises:
        FileNotFoundError: the input does not exist, or holds no images.
        ValueError: the output folder is the input folder; an output would replace an input;
            a symlink in the output folder leads outside it.
    """
    input_path, output_dir = Path(input_path), Path(output_dir)
    if input_path.is_file():
        pairs = [(input_path, output_dir / input_path.name)]
    elif not input_path.is_dir():
        raise FileNotFoundError(f"input {input_path} does not exist")
    else:
        if output_dir.exists() and os.path.samefile(input_path, output_dir):
            raise ValueError(
                f"the output folder {output_dir} is the input folder {input_path}: outputs would replace "
                "the inputs; choose another output folder"
            )
        left_out: list[tuple[Path, str]] = []
        errors: list[tuple[Path, str]] = []
        images = list_images(
            input_path,
            recursive=recursive,
            skipped=left_out,
            errors=errors,
            exclude={output_dir: "the output folder (never read as input)"},
        )
        if not images:
            raise FileNotFoundError(_no_images_message(input_path, errors + left_out))
        if skipped is not None:
            skipped.extend(left_out)
        if failed is not None:
            failed.extend(errors)
        pairs = [(path, output_dir / path.relative_to(input_path)) for path in images]
    check_outputs(output_dir, [src for src, _ in pairs], [dst for _, dst in pairs])
    return pairs


# --------------------------------------------------------------------------------------------
# one job per output folder; temporary files of dead jobs
# --------------------------------------------------------------------------------------------


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _lock_owner(path: Path) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"


class JobSupersededError(RuntimeError):
    """The output folder's lock no longer holds this job's token: its driver was stopped and
    another job owns the folder now, so this job's workers must not write there."""


def check_job_token(folder: str | os.PathLike, token: str) -> None:
    """Raise :class:`JobSupersededError` unless ``folder``'s lock holds ``token`` (see :func:`output_lock`)."""
    path = Path(folder) / LOCK_NAME
    try:
        text = path.read_text(errors="replace")
    except OSError:
        text = ""
    if f"job {token}" not in text:
        raise JobSupersededError(
            f"{folder}: the job that started this worker no longer holds the output folder (its lock says "
            f"{text.strip() or 'nothing'!r}); the output was not written, so a newer job's outputs are kept"
        )


@contextmanager
def output_lock(folder: str | os.PathLike, *, token: str | None = None) -> Iterator[Path]:
    """Hold ``folder/.img2img.lock`` (creating ``folder``) while the block runs.

    The lock is the operating system's (``flock``; ``msvcrt.locking`` on Windows), so a job that
    dies releases it; the file holds the owner's pid and host for the message, and ``token``
    (``job TOKEN``): workers in other processes (Ray actors) check it with
    :func:`check_job_token` before each rename, so the workers of a killed driver cannot replace
    the outputs of the job that took the folder over. A lock file left by a dead job is taken over.

    Raises:
        OutputFolderBusyError: another running job holds the lock.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            raise OutputFolderBusyError(
                f"the output folder {folder} is in use by another img2img job ({_lock_owner(path)}); wait for it to "
                f"finish or choose another output folder (its lock is {path})"
            )
        try:  # the job that held it may have removed the file meanwhile: hold the one on disk
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        if same:
            break
        os.close(fd)
    else:
        raise OutputFolderBusyError(f"cannot lock the output folder {folder} (its lock {path} keeps changing)")
    try:
        os.ftruncate(fd, 0)
        job = f" job {token}" if token else ""
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}{job}\n".encode())
        yield path
    finally:
        try:  # remove before unlocking: a job waiting on this file then sees it is gone
            path.unlink()
        except OSError:
            pass
        os.close(fd)


class OverwriteJournal:
    """``OUTPUT/.img2img.overwrite``: the outputs an ``--overwrite`` job has still to rewrite.

    An interrupted ``--overwrite`` job leaves outputs of an earlier run that it did not reach yet;
    a plain rerun (the command an interrupted job prints) would skip them as finished. So an
    ``--overwrite`` job first lists every output it will write here, and records each one once it
    is written (after the file, so a kill in between only rewrites it again). A job without
    ``overwrite`` rewrites the listed outputs that are not recorded, like missing ones; a job that
    ends (even with failures) keeps only those still to rewrite, and removes the file when none is
    left. Lines are JSON: ``["todo", "relative/path"]`` and ``["done", "relative/path"]``.
    Held under the folder's lock (:func:`output_lock`), written by one job at a time.
    """

    NAME = ".img2img.overwrite"

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / self.NAME
        self._lock = threading.Lock()

    def key(self, output: str | os.PathLike) -> str:
        return Path(output).relative_to(self.folder).as_posix()

    def pending(self) -> set[str]:
        """The relative paths listed and not recorded as rewritten (empty without a journal)."""
        todo: set[str] = set()
        done: set[str] = set()
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return todo
        for line in lines:
            try:
                kind, name = json.loads(line)
            except (ValueError, TypeError):  # a line cut by a kill: the entry stays as it was
                continue
            (todo if kind == "todo" else done).add(str(name))
        return todo - done

    def must_rewrite(self, output: str | os.PathLike, pending: set[str]) -> bool:
        return self.key(output) in pending

    def start(self, names: Iterable[str]) -> None:
        """List ``names`` (relative paths) as to rewrite, replacing the journal (atomically); none: remove it."""
        names = sorted(set(names))
        if not names:
            self.remove()
            return
        temp = self.path.with_name(f"{self.NAME}.{os.getpid()}.tmp")
        temp.write_text("".join(json.dumps(["todo", n]) + "\n" for n in names), encoding="utf-8")
        os.replace(temp, self.path)

    def written(self, output: str | os.PathLike) -> None:
        """Records ``output`` as rewritten (thread-safe; called by the writers)."""
        line = json.dumps(["done", self.key(output)]) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as file:
            file.write(line)

    def finish(self) -> None:
        """At a job's end: keep only what is still to rewrite (failed outputs), or remove the file."""
        self.start(self.pending())

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # no cheap, side-effect-free check: keep the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _is_hex12(text: str) -> bool:
    return len(text) == 12 and all(c in "0123456789abcdef" for c in text)


def _temp_owner(temp_name: str, names: set[str]) -> tuple[str, int | None] | None:
    """(target name, writer pid or None for the older pid-less names) of an atomic_write temp file."""
    if not (temp_name.startswith(".") and temp_name.endswith(".tmp")):
        return None
    stem = temp_name[1:-4]
    parts = stem.rsplit(".", 2)
    if len(parts) == 3 and parts[1].isdigit() and _is_hex12(parts[2]) and parts[0] in names:
        return parts[0], int(parts[1])
    parts = stem.rsplit(".", 1)
    if len(parts) == 2 and _is_hex12(parts[1]) and parts[0] in names:
        return parts[0], None
    return None


def remove_stale_temps(outputs: Iterable[Path]) -> None:
    """Removes the temporary files of ``outputs`` left by killed jobs; those of a running process stay."""
    by_folder: dict[Path, set[str]] = {}
    for dst in outputs:
        by_folder.setdefault(dst.parent, set()).add(dst.name)
    for folder, names in by_folder.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            owner = _temp_owner(entry, names)
            if owner is not None and (owner[1] is None or not _pid_alive(owner[1])):
                (folder / entry).unlink(missing_ok=True)


def _read(path: Path, channels: int, max_pixels: int | None) -> np.ndarray | Exception:
    try:
        return read_image(path, channels=channels, max_pixels=max_pixels)
    except (ImageReadError, OSError) as error:
        return error


def _read_with_hints(
    path: Path, hints: Path | None, channels: int, max_pixels: int | None
) -> tuple[np.ndarray, np.ndarray | None] | Exception:
    """The image and its RGBA hint strokes (checked to be the image's size), or the error."""
    image = _read(path, channels, max_pixels)
    if isinstance(image, Exception) or hints is None:
        return image if isinstance(image, Exception) else (image, None)
    strokes = _read(hints, 4, max_pixels)
    if isinstance(strokes, Exception):
        return ValueError(f"hints file {hints}: {strokes}")
    try:
        check_transparent(strokes, f"hints file {hints}")
    except HintError as error:
        return error
    if strokes.shape[:2] != image.shape[:2]:
        return ValueError(
            f"hints file {hints} is {strokes.shape[1]} x {strokes.shape[0]} but the image is "
            f"{image.shape[1]} x {image.shape[0]}: draw the strokes on a transparent image of the input's size"
        )
    return image, strokes


HINT_SUFFIX = ".png"  # hint strokes of INPUT/a/b.jpg are HINTS/a/b.png


def match_hints(
    input_path: str | os.PathLike, hints: str | os.PathLike, sources: list[Path], report: FolderReport
) -> dict[Path, Path]:
    """``{input file: its hint strokes}``: ``HINTS/<relative path>.png`` for each input under a
    folder (``hints`` itself, a file, for a single input file). An input without a hints file, and
    a hints file without an input of its name, are reported in ``report.failed``.

    Raises:
        FileNotFoundError: ``hints`` does not exist.
    """
    input_path, hints = Path(input_path), Path(hints)
    if not hints.exists():
        raise FileNotFoundError(f"hints {hints} do not exist")
    if input_path.is_file():
        found = hints if hints.is_file() else hints / (input_path.stem + HINT_SUFFIX)
        wanted = {input_path: found}
    else:
        if hints.is_file():
            raise ValueError(
                f"the input {input_path} is a folder, so --hints must be a folder too, not the file {hints}"
            )
        wanted = {src: hints / src.relative_to(input_path).with_suffix(HINT_SUFFIX) for src in sources}
    matched = {}
    for src, path in wanted.items():
        if path.is_file():
            matched[src] = path
        else:
            report.failed.append((src, f"no hints file {path} (hint strokes: an RGBA PNG named like the input)"))
    if hints.is_dir() and not input_path.is_file():  # one input file: the folder's other strokes are not its
        expected = {os.path.normcase(os.path.realpath(p)) for p in wanted.values()}
        for path in sorted(hints.rglob("*" + HINT_SUFFIX)):
            if os.path.normcase(os.path.realpath(path)) not in expected and not path.name.startswith("."):
                report.failed.append((path, f"hints file with no input image of that name under {input_path}"))
    return matched


def _outside_hints(
    pairs: list[tuple[Path, Path]], input_path: str | os.PathLike, hints: str | os.PathLike, report: FolderReport
) -> list[tuple[Path, Path]]:
    """The pairs whose input is not in a hints folder inside the input folder (stroke files are
    never translated as inputs); the others go to ``report.skipped``."""
    if not (Path(input_path).is_dir() and Path(hints).is_dir()):
        return pairs
    root = os.path.normcase(os.path.realpath(hints)) + os.sep
    if os.path.normcase(os.path.realpath(input_path)) + os.sep == root:
        raise ValueError(
            f"the hints folder {hints} is the input folder: keep the hint strokes in a folder of their own"
        )
    kept = []
    for src, dst in pairs:
        if os.path.normcase(os.path.realpath(src)).startswith(root):
            report.skipped.append((src, "in the hints folder (hint strokes, never read as input)"))
        else:
            kept.append((src, dst))
    return kept


def translate_folder(
    translate: TranslateFn,
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    in_channels: int = 3,
    overwrite: bool = False,
    recursive: bool = True,
    batch_size: int = 4,
    progress: bool | ProgressFn = True,
    quality: int = 95,
    max_pixels: int | None = None,
    hints: str | os.PathLike | None = None,
) -> FolderReport:
    """Translate every image under ``input_path`` (a folder or one file) into ``output_dir``.

    Args:
        translate: maps a list of uint8 ``H x W x C`` images to the translated images. If it
            takes an ``on_tile`` keyword (``Model.translate_arrays``, ``Translator``'s), it is
            given a ``(done, total)`` tile callback and the progress moves per tile.
        overwrite: rewrite outputs that already exist (default: skip them, so jobs resume).
        batch_size: images handed to ``translate`` at once.
        progress: True for a progress bar (tqdm, or a counter on stderr), False for none, or a
            callable ``progress(done, total)``: ``done`` counts images, with a fraction while the
            tiles of a large image run.
        max_pixels: :func:`~img2img_runtime.io.read_image`'s pixel budget (None: its default,
            100 megapixels or ``$IMG2IMG_MAX_PIXELS``); larger inputs fail, named, from their header.
        hints: hint models: a folder of RGBA stroke images, ``HINTS/<relative path>.png`` per
            input (:func:`match_hints`; for one input file, a stroke file); ``translate`` is then
            called with ``hints=`` (one stroke array per image). Inputs without strokes, strokes
            without an input and strokes of another size are reported in ``failed``; a hints
            folder inside the input folder is not read as input (``skipped``).

    Raises:
        FileNotFoundError: the input (or the hints) does not exist or holds no images.
        ValueError: the output folder is the input folder, an output would replace an input, or
            a symlink in the output folder leads outside it; the hints folder is the input
            folder (nothing is written).
        OutputFolderBusyError: another job is writing to ``output_dir``.
    """
    check_batch_size(batch_size)
    report = FolderReport()
    if Path(input_path).is_file() and not is_image_file(input_path):
        report.failed.append((Path(input_path), "not an image file"))
        return report
    pairs = plan_outputs(input_path, output_dir, recursive=recursive, skipped=report.skipped, failed=report.failed)
    hint_files = None
    if hints is not None:
        pairs = _outside_hints(pairs, input_path, hints, report)
        hint_files = match_hints(input_path, hints, [src for src, _ in pairs], report)
        pairs = [(src, dst) for src, dst in pairs if src in hint_files]
    with output_lock(output_dir):
        remove_stale_temps(dst for _, dst in pairs)  # left by a job killed mid-write
        journal = OverwriteJournal(output_dir)
        todo = plan_todo(pairs, report, journal, overwrite=overwrite)
        _run(
            translate,
            todo,
            report,
            in_channels=in_channels,
            batch_size=batch_size,
            progress=progress,
            quality=quality,
            max_pixels=max_pixels,
            on_written=journal.written if journal.path.exists() else None,
            hint_files=hint_files,
        )
        journal.finish()  # not reached when interrupted: the journal then says what is left
    return report


def plan_todo(
    pairs: Iterable[tuple[Path, Path]], report: FolderReport, journal: OverwriteJournal, *, overwrite: bool
) -> list[tuple[Path, Path]]:
    """The pairs to run: all with ``overwrite`` (listed in the journal), else those whose output file is
    missing or left to rewrite by an interrupted ``overwrite`` job; the others go to
    ``report.skipped_existing``."""
    pending = set() if overwrite else journal.pending()
    todo = []
    for src, dst in pairs:
        if overwrite or not dst.is_file() or journal.must_rewrite(dst, pending):
            todo.append((src, dst))
        else:
            report.skipped_existing.append(dst)
    if overwrite:
        journal.start(journal.key(dst) for _, dst in todo)
    return todo


def _run(
    translate: TranslateFn,
    todo: list[tuple[Path, Path]],
    report: FolderReport,
    *,
    in_channels: int,
    batch_size: int,
    progress: bool | ProgressFn,
    quality: int,
    max_pixels: int | None,
    on_written: Callable[[Path], None] | None = None,
    hint_files: dict[Path, Path] | None = None,
) -> None:
    bar = _progress(len(todo), progress)
    tiles = _takes_on_tile(translate)
    done = 0
    with ThreadPoolExecutor(max_workers=2) as readers, ThreadPoolExecutor(max_workers=2) as writers:
        chunks = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        pending_reads: Iterator[list[Future]] = (
            [
                readers.submit(_read_with_hints, src, hint_files and hint_files[src], in_channels, max_pixels)
                for src, _ in chunk
            ]
            for chunk in chunks
        )
        writes: list[tuple[Path, Path, Future]] = []
        next_reads = next(pending_reads, None)
        for chunk in chunks:
            reads, next_reads = next_reads, next(pending_reads, None)  # decode the next chunk meanwhile
            good, images, strokes = [], [], []
            for (src, dst), future in zip(chunk, reads):
                result = future.result()
                if isinstance(result, Exception):
                    report.failed.append((src, str(result)))
                else:
                    good.append((src, dst))
                    images.append(result[0])
                    strokes.append(result[1])
            if images:
                extra = {"hints": strokes} if hint_files is not None else {}
                if tiles:
                    extra["on_tile"] = _tile_progress(bar, done)
                try:
                    outputs = translate(images, **extra)
                except Exception as error:  # noqa: BLE001 - report and continue with the next batch
                    report.failed.extend((src, f"translation failed: {error}") for src, _ in good)
                    outputs = []
                for (src, dst), out in zip(good, outputs):
                    writes.append((src, dst, writers.submit(_write, dst, out, quality, on_written)))
            done += len(chunk)
            bar(done)
        for src, dst, future in writes:
            try:
                future.result()
            except Exception as error:  # noqa: BLE001 - one bad output does not stop the job
                report.failed.append((src, f"cannot write output: {error}"))
            else:
                report.written.append(dst)


def _write(dst: Path, image: np.ndarray, quality: int, on_written: Callable[[Path], None] | None) -> None:
    write_image(dst, image, quality=quality)
    if on_written is not None:
        on_written(dst)


def _takes_on_tile(translate: TranslateFn) -> bool:
    try:
        parameters = inspect.signature(translate).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "on_tile" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _tile_progress(bar: Callable[[float], None], base: int) -> Callable[[int, int], None]:
    """``on_tile(done, total)`` for one call of ``translate``: the tiled images of a chunk run one
    after the other, so the bar shows ``base`` + finished tiled images + the running one's share."""
    finished = [0]

    def on_tile(tiles_done: int, tiles_total: int) -> None:
        if tiles_done >= tiles_total:
            finished[0] += 1
            bar(base + finished[0])
        else:
            bar(base + finished[0] + tiles_done / max(tiles_total, 1))

    return on_tile


def _progress(total: int, enabled: bool | ProgressFn) -> Callable[[float], None]:
    """``set(done)``: images done, fractional while the tiles of a large image run."""
    if callable(enabled):
        return lambda done: enabled(done, total)
    if not enabled or total == 0:
        return lambda done: None

    def shown(done: float) -> float | int:
        return int(done) if done == int(done) else round(done, 2)

    try:
        from tqdm.auto import tqdm
    except ImportError:  # the runtime does not require tqdm: a plain counter on stderr

        def plain(done: float) -> None:
            print(
                f"\rtranslate: {shown(done)}/{total} images",
                end="\n" if done >= total else "",
                file=sys.stderr,
                flush=True,
            )

        return plain
    bar = tqdm(total=total, desc="translate", unit="img", dynamic_ncols=True)

    def update(done: float) -> None:
        if bar.disable:
            return
        bar.n = shown(done)
        bar.refresh()
        if done >= total:
            bar.close()

    return update
