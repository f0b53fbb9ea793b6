"""Folder jobs on a Ray cluster: the same job as :func:`img2img_runtime.folder.translate_folder`,
run by Ray Data over an actor pool (``pip install 'img2img[ray]'``; the local engine needs no Ray).

``translate_dataset(model, input, output)`` lists the inputs, skips outputs that exist (the same
resume rule as the local job), sends the exported model to every actor once (one onnxruntime
session per actor, its intra-op threads set to the actor's CPUs), streams the files through the
pool in batches, writes each output atomically under the same relative path and format as the
local job, and collects per-file failures instead of failing the job. It returns the local job's
:class:`~img2img_runtime.folder.FolderReport`; for the same model and inputs the PNG outputs are
byte-identical to the local engine's (tested).

Inputs and outputs are local paths, or URIs of any filesystem pyarrow supports (``s3://``,
``gs://``, ``hdfs://``, ``file://``): workers read and write through ``pyarrow.fs``. Local output
folders get the local job's lock (one job per folder) and the cleanup of temporary files left by
killed jobs; on other filesystems a killed job's temporary files (``.NAME.<id>.tmp``) stay, and
two jobs must not share an output.

Ray: ``address=None`` joins the running cluster if there is one (``RAY_ADDRESS``, or a local
instance started earlier in this process), else starts a local one; ``"auto"`` joins an
existing cluster. ``actors`` is the pool size (default: one per ``cpus_per_actor`` CPUs of the
cluster).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .folder import (
    FolderReport,
    OverwriteJournal,
    check_job_token,
    output_lock,
    plan_outputs,
    plan_todo,
    remove_stale_temps,
)
from .io import IMAGE_EXTENSIONS, ImageReadError, is_image_file, list_images, read_image, write_image

__all__ = ["translate_dataset"]


def _is_uri(path: str | os.PathLike) -> bool:
    return "://" in str(path)


def _filesystem(uri: str) -> tuple[Any, str]:
    from pyarrow import fs

    return fs.FileSystem.from_uri(uri)


def _join(uri: str, relative: str) -> str:
    """``uri/relative`` with the relative path percent-encoded (a space, ``%`` or non-ASCII name is
    not a valid URI as it is; pyarrow decodes it back)."""
    from urllib.parse import quote

    return uri.rstrip("/") + "/" + quote(relative)


def _out(output: str, relative: str) -> str:
    """Where the output of ``relative`` goes: under a URI, or under a local folder."""
    return _join(output, relative) if _is_uri(output) else str(Path(output) / relative)


def _local_if_file_uri(path: str | os.PathLike) -> str | os.PathLike:
    """A ``file://`` URI as the local path it names: local folders get the local job's checks (the
    output folder is not the input, is left out of it, is locked and journaled)."""
    if str(path).startswith("file://"):
        return _filesystem(str(path))[1]
    return path


def _check_uri_folders(input_uri: str, output_uri: str) -> str | None:
    """Refuse an output that is the input on one filesystem; the output's path when it lies inside
    the input (left out of the listing), else None."""
    (in_fs, in_path), (out_fs, out_path) = _filesystem(input_uri), _filesystem(output_uri)
    if in_fs.type_name != out_fs.type_name:
        return None
    in_path, out_path = in_path.rstrip("/"), out_path.rstrip("/")
    if in_path == out_path:
        raise ValueError(
            f"the output folder {output_uri} is the input folder {input_uri}: the outputs would replace the "
            "inputs; choose another output folder"
        )
    return out_path if out_path.startswith(in_path + "/") else None


def _plan_uris(input_uri: str, output_uri: str, recursive: bool, report: FolderReport) -> list[tuple[str, str]]:
    """(input URI, output URI) pairs under a pyarrow filesystem: relative paths kept; hidden and
    non-image files are reported as skipped, like the local listing."""
    from pyarrow import fs

    inside = _check_uri_folders(input_uri, output_uri) if _is_uri(output_uri) else None
    filesystem, root = _filesystem(input_uri)
    info = filesystem.get_file_info(root)
    if info.type == fs.FileType.NotFound:
        raise FileNotFoundError(f"input {input_uri} does not exist")
    if info.type == fs.FileType.File:
        name = root.rsplit("/", 1)[-1]
        return [(input_uri, _out(output_uri, name))]
    pairs = []
    for entry in sorted(filesystem.get_file_info(fs.FileSelector(root, recursive=recursive)), key=lambda e: e.path):
        if entry.type != fs.FileType.File:
            continue
        if inside is not None and entry.path.startswith(inside + "/"):  # the output folder: never read
            continue
        relative = entry.path[len(root.rstrip("/")) + 1 :]
        if any(part.startswith(".") for part in relative.split("/")):
            report.skipped.append((Path(relative), "hidden file"))
        elif not is_image_file(relative):
            report.skipped.append((Path(relative), "not an image file"))
        else:
            pairs.append((_join(input_uri, relative), _out(output_uri, relative)))
    if not pairs:
        raise FileNotFoundError(f"no images found in {input_uri} (supported: {', '.join(IMAGE_EXTENSIONS)})")
    return pairs


def _exists(uri: str) -> bool:
    from pyarrow import fs

    filesystem, path = _filesystem(uri)
    return filesystem.get_file_info(path).type != fs.FileType.NotFound


class _Translate:
    """A Ray Data actor: one onnxruntime session; translates a batch of (src, dst) rows."""

    def __init__(
        self,
        model_ref: Any,
        *,
        threads: int,
        batch_size: int,
        max_pixels: int | None,
        quality: int,
        tile: int | str | None = "auto",
        overlap: int | None = None,
        self_ensemble: int = 1,
        job: tuple[str, str] | None = None,
    ) -> None:
        import ray

        from .model import Model

        model_bytes = ray.get(model_ref[0])  # a list: Ray does not resolve a bare reference here
        # Ray ends actors without running finalizers, so nothing may outlive the call that made it:
        # the session keeps the model in memory, and the file goes with its folder right away.
        with tempfile.TemporaryDirectory(prefix="img2img-ray-") as folder:
            path = os.path.join(folder, "model.onnx")
            Path(path).write_bytes(model_bytes)
            self.model = Model(
                path, threads=threads, batch_size=batch_size, tile=tile, overlap=overlap, self_ensemble=self_ensemble
            )
        self.max_pixels, self.quality = max_pixels, quality
        self.job = job  # (local output folder, the driver's token in its lock): checked before each rename

    def _read(self, src: str) -> np.ndarray:
        channels = self.model.spec.image_channels
        if not _is_uri(src):
            return read_image(src, channels=channels, max_pixels=self.max_pixels)
        filesystem, path = _filesystem(src)
        with tempfile.TemporaryDirectory(prefix="img2img-ray-") as folder:
            local = os.path.join(folder, "input" + Path(path).suffix)
            with filesystem.open_input_stream(path) as stream:
                Path(local).write_bytes(stream.read())
            try:
                return read_image(local, channels=channels, max_pixels=self.max_pixels)
            except ImageReadError as error:  # name the real input, not the download
                raise ImageReadError(str(error).replace(local, src)) from None

    def _write(self, dst: str, image: np.ndarray) -> None:
        if not _is_uri(dst):
            write_local(dst, image, self.quality, self.job)
            return
        filesystem, path = _filesystem(dst)
        with tempfile.TemporaryDirectory(prefix="img2img-ray-") as folder:
            local = os.path.join(folder, "output" + Path(path).suffix)
            write_image(local, image, quality=self.quality)
            encoded = Path(local).read_bytes()
        parent, name = path.rsplit("/", 1) if "/" in path else ("", path)
        temp = f"{parent}/.{name}.{uuid.uuid4().hex[:12]}.tmp" if parent else f".{name}.{uuid.uuid4().hex[:12]}.tmp"
        if parent:
            filesystem.create_dir(parent, recursive=True)
        with filesystem.open_output_stream(temp) as stream:
            stream.write(encoded)
        filesystem.move(temp, path)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sources, targets = [str(s) for s in batch["src"]], [str(d) for d in batch["dst"]]
        status, reasons = ["failed"] * len(sources), [""] * len(sources)
        good, images = [], []
        for i, src in enumerate(sources):
            try:
                images.append(self._read(src))
                good.append(i)
            except (ImageReadError, OSError) as error:
                reasons[i] = str(error)
        if images:
            try:
                outputs = self.model.translate_arrays(images)
            except Exception as error:  # noqa: BLE001 - report the batch and go on, like the local job
                outputs = []
                for i in good:
                    reasons[i] = f"translation failed: {error}"
            for i, out in zip(good, outputs):
                try:
                    self._write(targets[i], out)
                    status[i] = "written"
                except Exception as error:  # noqa: BLE001 - one bad output does not stop the job
                    reasons[i] = f"cannot write output: {error}"
        return {
            "src": np.array(sources),
            "dst": np.array(targets),
            "status": np.array(status),
            "reason": np.array(reasons),
        }


def write_local(dst: str, image: np.ndarray, quality: int, job: tuple[str, str] | None) -> None:
    """Write one output atomically (a temp file renamed into place); with ``job`` (output folder,
    token), only while the folder's lock still holds the token (:func:`~img2img_runtime.folder.check_job_token`):
    the actors of a killed driver then cannot replace what a rerun wrote."""
    check = (lambda: check_job_token(*job)) if job is not None else None
    write_image(dst, image, quality=quality, before_replace=check)


def _ray(address: str | None, num_cpus: int | None) -> Any:
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
        if address is not None:
            kwargs["address"] = address
        elif num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        ray.init(**kwargs)
    return ray


def translate_dataset(
    model: str | os.PathLike,
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    address: str | None = None,
    actors: int | None = None,
    cpus_per_actor: int = 1,
    batch_size: int = 4,
    tile: int | str | None = "auto",
    overlap: int | None = None,
    self_ensemble: int = 1,
    overwrite: bool = False,
    recursive: bool = True,
    quality: int = 95,
    max_pixels: int | None = None,
    progress: bool = True,
    num_cpus: int | None = None,
) -> FolderReport:
    """Translate every image under ``input_path`` into ``output_dir`` on a Ray cluster (see the module).

    Args:
        model: an exported ``.onnx`` file (read here, sent to the actors through Ray's object store).
        address: the Ray cluster (None: the running one or a new local instance; ``"auto"``).
        actors: actor pool size (default: the cluster's CPUs // ``cpus_per_actor``).
        cpus_per_actor: CPUs reserved per actor, also its onnxruntime thread count.
        batch_size: files per actor call (and per onnxruntime batch of same-size images).
        tile, overlap, self_ensemble: the tiling of large images and the averaged flipped views,
            as :class:`~img2img_runtime.Model`.
        overwrite, recursive, quality, max_pixels: as the local job.
        progress: Ray Data's progress bars.
        num_cpus: CPUs of a local Ray instance started here (default: all).

    Raises:
        ImportError: Ray is not installed (``pip install 'img2img[ray]'``).
        FileNotFoundError, ValueError, OutputFolderBusyError: as the local job, before anything runs.
    """
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as error:
        raise ImportError("the ray engine needs Ray Data: pip install 'img2img[ray]'") from error
    from .model import Model
    from .zoo import resolve_onnx

    model = resolve_onnx(model)  # a shipped model's name: its checked .onnx file
    Model(
        model, tile=tile, overlap=overlap, self_ensemble=self_ensemble
    )  # the metadata, graph and tiling checks, before any actor starts
    report = FolderReport()
    input_path, output_dir = _local_if_file_uri(input_path), _local_if_file_uri(output_dir)
    remote_out = _is_uri(output_dir)
    if _is_uri(input_path):
        pairs = [(s, d) for s, d in _plan_uris(str(input_path), str(output_dir), recursive, report)]
    else:
        if Path(input_path).is_file() and not is_image_file(input_path):
            report.failed.append((Path(input_path), "not an image file"))
            return report
        if remote_out:  # local files to a remote filesystem: the local listing, remote names
            source = Path(input_path)
            if source.is_file():
                files, base = [source], source.parent
            else:
                files, base = (
                    list_images(source, recursive=recursive, skipped=report.skipped, errors=report.failed),
                    source,
                )
                if not files:
                    raise FileNotFoundError(f"no images found in {source}")
            pairs = [(str(f), _join(str(output_dir), f.relative_to(base).as_posix())) for f in files]
        else:
            pairs = [(str(s), str(d)) for s, d in plan_outputs(
                input_path, output_dir, recursive=recursive, skipped=report.skipped, failed=report.failed)]  # fmt: skip
    token = uuid.uuid4().hex  # in the lock; each actor checks it before each rename
    with output_lock(output_dir, token=token) if not remote_out else contextlib.nullcontext():  # remote: no lock
        journal = None
        if remote_out:  # no journal there: an interrupted overwrite job must be rerun with overwrite
            todo = []
            for src, dst in pairs:
                if _exists(dst) and not overwrite:
                    report.skipped_existing.append(dst)
                else:
                    todo.append((src, dst))
        else:
            remove_stale_temps(Path(d) for _, d in pairs)
            journal = OverwriteJournal(output_dir)
            # the sources stay as given (a URI as a Path would lose its "//")
            local = plan_todo([(s, Path(d)) for s, d in pairs], report, journal, overwrite=overwrite)  # type: ignore[misc]
            todo = [(str(s), str(d)) for s, d in local]
        on_written = journal.written if journal is not None and journal.path.exists() else None
        if todo:
            actor_options = {"batch_size": batch_size, "max_pixels": max_pixels, "quality": quality,
                             "tile": tile, "overlap": overlap, "self_ensemble": self_ensemble,
                             "job": None if remote_out else (str(output_dir), token)}  # fmt: skip
            _run_on_ray(model, todo, report, address=address, actors=actors, cpus_per_actor=cpus_per_actor,
                        actor_options=actor_options, progress=progress, num_cpus=num_cpus,
                        remote_out=remote_out, on_written=on_written)  # fmt: skip
        if journal is not None:
            journal.finish()
    return report


def _run_on_ray(
    model: str | os.PathLike,
    todo: list[tuple[str, str]],
    report: FolderReport,
    *,
    address: str | None,
    actors: int | None,
    cpus_per_actor: int,
    actor_options: dict[str, Any],
    progress: bool,
    num_cpus: int | None,
    remote_out: bool,
    on_written: Callable[[str], None] | None = None,
) -> None:
    ray = _ray(address, num_cpus)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor)
    model_ref = ray.put(Path(model).read_bytes())
    dataset = ray.data.from_items(
        [{"src": src, "dst": dst} for src, dst in todo], override_num_blocks=max(1, min(len(todo), 4 * actors))
    )
    results = dataset.map_batches(
        _Translate,
        fn_constructor_args=([model_ref],),
        fn_constructor_kwargs={"threads": cpus_per_actor, **actor_options},
        batch_size=actor_options["batch_size"],
        batch_format="numpy",
        concurrency=actors,
        num_cpus=cpus_per_actor,
    )
    order = {src: i for i, (src, _) in enumerate(todo)}
    rows = []
    for row in results.iter_rows():  # as they come: an interrupted job keeps its journal up to date
        rows.append(row)
        if on_written is not None and row["status"] == "written":
            on_written(str(row["dst"]))
    rows.sort(key=lambda row: order[str(row["src"])])
    for row in rows:
        src, dst = str(row["src"]), str(row["dst"])
        if row["status"] == "written":
            report.written.append(dst if remote_out else Path(dst))
        else:
            report.failed.append((Path(src) if not _is_uri(src) else src, str(row["reason"])))  # type: ignore[arg-type]
