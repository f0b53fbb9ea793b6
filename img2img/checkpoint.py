"""Checkpoints, model folders and run logs, loaded without executing code.

* A **training checkpoint** (``RUN/checkpoints/last.pt``) is a plain dict of tensors and
  numbers written with ``torch.save`` and read with ``torch.load(weights_only=True)``: nets,
  optimizers, gradient scaler, step, RNG states, image pools, and the run's config, with the
  SHA-256 of all of it (:func:`state_digest`), checked on load: a damaged file is an error.
* A **model folder** (``RUN/model/``, ``RUN/best/``) is what inference and export need:
  ``config.json`` (architecture of each generator, task, input/output description) and one
  ``<direction>.safetensors`` per generator. ``Translator.from_pretrained`` rebuilds from it;
  :func:`load_pretrained` checks ``config.json`` against a schema first (:class:`ModelConfigError`
  names the file and the field) and only reads weights inside the folder.
* The **run log** (``RUN/log.jsonl``) gets one JSON record per line, each appended with a single
  write (:func:`append_jsonl`); :func:`read_jsonl` ignores a torn last line (a killed write).

Crash consistency: every file is written to a temporary name and renamed, so a crash never
leaves a half file. A model folder is written whole into a hidden sibling folder
(``.model.<pid>-<random>.tmp``) and then swapped into place with one atomic rename, so a reader
sees either the old folder or the new one, never weights of one step beside the config of
another. :func:`clean_run_folder` removes what killed writes leave behind. A full disk
(``ENOSPC``) raises :class:`DiskFullError` naming the file, and leaves the previous version as it was.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import json
import logging
import math
import os
import pickle
import shutil
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from img2img_runtime.hints import HINT_SPACES
from img2img_runtime.io import atomic_write
from img2img_runtime.metadata import check_json_depth

from . import __version__
from .nets import build_model
from .nets import registry as _registry

log = logging.getLogger(__name__)

MODEL_FORMAT = "img2img-model"
MODEL_FORMAT_VERSION = 1
CHECKPOINT_FORMAT = "img2img-checkpoint"
CONFIG_NAME = "config.json"

MAX_CONFIG_BYTES = 1 << 20  #: a model folder's config.json is a few KB; larger ones are refused
MAX_JSON_DEPTH = 32  #: nesting depth of config.json (the real one has 4 levels)
MAX_CHANNELS = 4096  #: channel counts above this are refused (no real generator comes near)
MAX_SCALE = 8


class ModelConfigError(ValueError):
    """A model folder's ``config.json`` does not follow the schema; the message names the file and the field."""


class DiskFullError(OSError):
    """The disk filled up while writing (``ENOSPC``); the message names the file. The previous
    version of the file (or model folder) is left as it was and no partial file is kept."""


class LogFormatError(ValueError):
    """A line in the middle of ``log.jsonl`` is not a JSON record; the message names the file and line."""


# ------------------------------------------------------------------------------------ writing
def _disk_full(err: OSError, path: str | os.PathLike, what: str = "the previous version is left as it was") -> OSError:
    """``err`` as a :class:`DiskFullError` naming ``path`` when it is a full disk (or quota), else ``err``."""
    if err.errno not in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return err
    return DiskFullError(
        err.errno,
        f"disk full (no space left on device) while writing {path}: {what} "
        "and no partial file is kept; free some space, then continue (--resume)",
    )


def _write_file(path: str | os.PathLike, data: bytes | memoryview) -> None:
    """Write ``data`` to a new file, flushed and fsync'ed (one place, so tests can simulate a full disk)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _atomic_bytes(path: str | os.PathLike, data: bytes | memoryview) -> None:
    try:
        atomic_write(path, lambda tmp: _write_file(tmp, data))
    except OSError as err:
        raise _disk_full(err, path) from err


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode()


def write_json(path: str | os.PathLike, data: Any) -> None:
    _atomic_bytes(path, _json_bytes(data))


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically save a training checkpoint (plain containers of tensors and numbers only).

    Serialised in memory first, so that a full disk is a plain ``OSError`` (:class:`DiskFullError`),
    not an opaque error from inside ``torch.save``."""
    buffer = io.BytesIO()
    torch.save({**state, DIGEST_KEY: state_digest(state)}, buffer)
    _atomic_bytes(path, buffer.getbuffer())


DIGEST_KEY = "sha256"  # a checkpoint's digest of everything else in it (state_digest)


def state_digest(state: Any) -> str:
    """SHA-256 of a checkpoint's content: every tensor's dtype, shape and bytes and every other
    value's ``repr``, in a fixed order (dict keys sorted, the digest's own key left out)."""
    digest = hashlib.sha256()

    def visit(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(value, dict):
            digest.update(b"{")
            for key in sorted(value, key=repr):
                if key != DIGEST_KEY:
                    digest.update(repr(key).encode())
                    visit(value[key])
            digest.update(b"}")
        elif isinstance(value, (list, tuple)):
            digest.update(b"[" if isinstance(value, list) else b"(")
            for item in value:
                visit(item)
            digest.update(b"]")
        else:
            digest.update(repr(value).encode())

    visit(state)
    return digest.hexdigest()


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a training checkpoint without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable img2img training checkpoint (truncated or another kind of file?): {error}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an img2img training checkpoint")
    saved = state.pop(DIGEST_KEY, None)  # checkpoints of older versions have none
    if saved is not None and saved != state_digest(state):
        raise ValueError(
            f"{path} is damaged: its content does not match the SHA-256 it was saved with (a bit-rotted or "
            "altered file); resuming from it would continue from wrong weights. Resume from another "
            "checkpoint (RUN/checkpoints/*.pt) or start a new run"
        )
    return state


def save_pretrained(
    generators: dict[str, nn.Module],
    directory: str | os.PathLike,
    *,
    task: str,
    io_spec: dict[str, Any],
    default_direction: str = "AtoB",
    training: dict[str, Any] | None = None,
    before_commit: Callable[[], None] | None = None,
) -> Path:
    """Write a model folder: ``config.json`` + one ``<direction>.safetensors`` per generator.

    The folder is written whole into a hidden sibling (``.<name>.<pid>-<random>.tmp``), then
    swapped into place atomically (:func:`_commit_folder`): a reader never sees a mix of two saves.
    ``before_commit`` runs once the new folder is complete, just before the swap (training writes
    ``last.pt`` there, so that ``model/`` is never ahead of the checkpoint); if it raises, the old
    folder stays. Files in an existing folder that are not ``config.json`` or ``*.safetensors``
    are kept (hard links into the new folder).
    """
    directory = Path(directory)
    if directory.is_symlink():
        directory = directory.resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    entries = {}
    staging.mkdir()
    try:
        for direction, net in generators.items():
            weights = f"{direction}.safetensors"
            state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
            try:
                _write_file(staging / weights, safetensors_bytes(state, metadata={"format": "pt"}))
            except OSError as err:
                raise _disk_full(err, directory / weights, f"{directory} is left as it was") from err
            entries[direction] = {"net": net.config, "weights": weights}
        config = {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "img2img_version": __version__,
            "task": task,
            "default_direction": default_direction,
            "directions": entries,
            **io_spec,
            "training": training or {},
        }
        try:
            _write_file(staging / CONFIG_NAME, _json_bytes(config))
        except OSError as err:
            raise _disk_full(err, directory / CONFIG_NAME, f"{directory} is left as it was") from err
        _carry_over(directory, staging)
        _fsync_dir(staging)
        if before_commit is not None:
            before_commit()
        _commit_folder(staging, directory)
    finally:
        if staging.exists():  # failed before the swap (the new one), or after it (the old one)
            shutil.rmtree(staging, ignore_errors=True)
    return directory


def _is_model_file(path: Path) -> bool:
    return path.name == CONFIG_NAME or path.suffix == ".safetensors"


def _carry_over(old: Path, new: Path) -> None:
    """Other files of an existing model folder (an exported .onnx, notes) go into the new one as hard links."""
    if not old.is_dir():
        return
    for entry in old.iterdir():
        if _is_model_file(entry) or entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(new / entry.name))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _commit_folder(staging: Path, target: Path) -> None:
    """Put the complete folder ``staging`` in place of ``target``; ``staging`` then holds the old one.

    One atomic ``renameat2(RENAME_EXCHANGE)`` on Linux. Elsewhere (or on file systems without it)
    two renames: ``target`` -> ``.<name>.<tag>.old``, ``staging`` -> ``target``; a kill between
    them leaves no ``target`` and a complete ``.old`` folder, which :func:`clean_run_folder` puts back.
    """
    if not target.exists():
        os.rename(staging, target)
    elif not _exchange(staging, target):
        old = staging.with_name(staging.name[: -len(".tmp")] + ".old")
        os.rename(target, old)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(old, target)
            raise
        os.rename(old, staging)  # the caller removes it
    _fsync_dir(target.parent)


def clean_run_folder(run_dir: str | os.PathLike) -> list[Path]:
    """Remove what killed writes left in a run folder; returns the removed paths.

    Hidden temporary files and folders (``.<name>.<tag>.tmp``) in the run folder and in its
    ``checkpoints/``, ``model/``, ``best/`` and ``samples/`` are deleted. A model folder moved
    aside (``.<name>.<tag>.old``, see :func:`_commit_folder`) is put back when ``<name>`` is
    missing, else deleted. Only one process may write a run folder (rank 0 of one job: ``train``
    holds ``RUN/.img2img.lock`` while it runs).
    """
    run_dir = Path(run_dir)
    removed: list[Path] = []
    for folder in (run_dir, *(run_dir / sub for sub in ("checkpoints", "model", "best", "samples"))):
        if not folder.is_dir() or folder.is_symlink():
            continue
        for entry in sorted(folder.iterdir()):
            name = entry.name
            if not name.startswith(".") or not name.endswith((".tmp", ".old")):
                continue
            if name.endswith(".old") and entry.is_dir() and not entry.is_symlink():
                target = folder / name[1:].rsplit(".", 2)[0]
                if not target.exists():
                    os.rename(entry, target)
                    log.warning("put back %s from %s (a write was killed between two renames)", target, entry)
                    continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run in %s", len(removed), run_dir)
    return removed


# ------------------------------------------------------------------------------------ run log
def append_jsonl(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Append one JSON record as one line, with a single unbuffered ``write`` (a kill can at worst
    leave a torn last line, which :func:`read_jsonl` ignores)."""
    data = memoryview((json.dumps(record) + "\n").encode())
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError as err:
        raise _disk_full(err, path, "the log keeps its earlier lines") from err
    finally:
        os.close(fd)


def read_jsonl(path: str | os.PathLike, *, require_step: bool = True) -> list[dict[str, Any]]:
    """The records of a ``log.jsonl``, in order.

    A torn last line (a write cut off by a kill or a crash) is ignored with a warning; any other
    line that is not a JSON object (with an integer ``step``, when ``require_step``) raises
    :class:`LogFormatError` naming the file and the line.
    """
    path = Path(path)
    lines = path.read_bytes().split(b"\n")
    content = [i for i, line in enumerate(lines) if line.strip(b" \t\r\x00")]
    last = content[-1] if content else -1
    records = []
    for i in content:
        line = lines[i]
        try:
            record = json.loads(line.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError(f"a {type(record).__name__}, not a JSON object")
            step = record.get("step")
            if require_step and (isinstance(step, bool) or not isinstance(step, int)):
                raise ValueError(f"no integer 'step' (got {step!r})")
        except ValueError as err:  # also JSONDecodeError and UnicodeDecodeError
            if i == last and not line.endswith(b"}"):
                log.warning(
                    "%s, line %d: ignoring a torn last line (a write was cut off, e.g. by a kill): %r",
                    path,
                    i + 1,
                    line[:60],
                )
                break
            raise LogFormatError(f"{path}, line {i + 1}: not a log record ({err}); fix or delete that line") from err
        records.append(record)
    return records


def write_jsonl(path: str | os.PathLike, records: list[Mapping[str, Any]]) -> None:
    """Replace a ``.jsonl`` file atomically (whole lines only)."""
    _atomic_bytes(path, "".join(json.dumps(r) + "\n" for r in records).encode())


# ------------------------------------------------------------------------------------ reading model folders
def _read_json(path: Path, error: type[ValueError] = ValueError) -> Any:
    """A small JSON file, refused (``error`` naming the file) when too large, too deeply nested or invalid."""
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise error(f"{path}: {size} bytes is too large for a model config (at most {MAX_CONFIG_BYTES})")
    text = path.read_bytes()
    try:
        check_json_depth(text.decode("utf-8"), MAX_JSON_DEPTH)
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise error(f"{path}: not valid JSON ({err})") from err


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A model folder, a run folder holding one (``RUN/best`` if present, else ``RUN/model``), or the
    name of a shipped model (``img2img models``; its files are checked against their SHA-256)."""
    from img2img_runtime import zoo

    if zoo.is_model_name(path):  # a shipped model (img2img models): its checked model folder
        return zoo.model_dir(str(path))
    path = Path(path)
    problem: ModelConfigError | None = None
    if (path / CONFIG_NAME).is_file():
        try:
            cfg = _read_json(path / CONFIG_NAME, ModelConfigError)
        except ModelConfigError as err:
            cfg, problem = None, err
        if isinstance(cfg, dict) and (cfg.get("format") == MODEL_FORMAT or "directions" in cfg):
            return path  # (a damaged model config is reported field by field by load_pretrained)
    for sub in ("best", "model"):
        if (path / sub / CONFIG_NAME).is_file():
            return path / sub
    if problem is not None:
        raise problem
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    raise FileNotFoundError(
        f"{path} is neither an img2img model folder (config.json + *.safetensors) nor a run folder with model/ inside"
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Schema:
    """Hand-written checks of one JSON document; every failure is one ModelConfigError naming file and field."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def fail(self, field: str, problem: str) -> None:
        raise ModelConfigError(f"{self.source}: field {field!r} {problem}")

    def obj(self, value: Any, field: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, f"must be a JSON object, got {_show(value)}")
        for key in required:
            if key not in value:
                self.fail(f"{field}.{key}" if field else key, "is missing")
        return value

    def integer(self, value: Any, field: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.fail(field, f"must be an integer in {lo}..{hi}, got {_show(value)}")
        return value

    def number(self, value: Any, field: str, lo: float, hi: float, *, hi_open: bool = False) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not lo <= value <= hi or (hi_open and value >= hi):
            self.fail(field, f"must be a number in [{lo}, {hi}{')' if hi_open else ']'}, got {_show(value)}")
        return float(value)

    def string(self, value: Any, field: str, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(value, str) or len(value) > 200 or (choices is not None and value not in choices):
            self.fail(
                field, f"must be {'one of ' + repr(choices) if choices else 'a short string'}, got {_show(value)}"
            )
        return value


#: bounds of the integer constructor arguments of the nets (by name); others: 0..MAX_CHANNELS
_NET_FLOAT_BOUNDS = {"detail_sigma": (0.0, 64.0)}  # others (dropout) in [0, 1]
_NET_INT_BOUNDS = {
    "num_downs": (2, 12),
    "num_blocks": (0, 256),
    "num_convs": (1, 256),
    "num_layers": (1, 12),
    "n_layers": (1, 12),
    "num_scales": (1, 8),
    "scale": (1, MAX_SCALE),
}
_NET_STR_CHOICES = {"norm": ("batch", "instance", "none")}


def _check_net(schema: _Schema, net: Any, field: str) -> None:
    import inspect

    schema.obj(net, field, ("arch",))
    arch = net["arch"]
    cls = _registry._ARCHS.get(arch) if isinstance(arch, str) else None
    if cls is None:
        schema.fail(f"{field}.arch", f"must be one of {sorted(_registry._ARCHS)}, got {_show(arch)}")
    params = {
        name: p
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    for key, value in net.items():
        if key == "arch":
            continue
        where = f"{field}.{key}"
        if key not in params:
            schema.fail(where, f"is not an argument of the {arch!r} net (expected some of {sorted(params)})")
        default = params[key].default
        if key == "net":  # a wrapper's inner net (nets.hint_spread)
            _check_net(schema, value, where)
        elif isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 8:
                schema.fail(where, f"must be a list of 1 to 8 whole numbers, got {_show(value)}")
            for i, item in enumerate(value):
                schema.integer(item, f"{where}[{i}]", 1, 1 << 16)
        elif key.endswith("channels"):
            schema.integer(value, where, 1, MAX_CHANNELS)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                schema.fail(where, f"must be true or false, got {_show(value)}")
        elif isinstance(default, int):
            schema.integer(value, where, *_NET_INT_BOUNDS.get(key, (0, MAX_CHANNELS)))
        elif isinstance(default, float):
            schema.number(value, where, *_NET_FLOAT_BOUNDS.get(key, (0.0, 1.0)), hi_open=key == "dropout")
        elif isinstance(default, str):
            schema.string(value, where, _NET_STR_CHOICES.get(key))
        else:
            schema.fail(where, "cannot be set in a config file")
    for key, p in params.items():
        if p.default is inspect.Parameter.empty and key not in net:
            schema.fail(f"{field}.{key}", "is missing")


def _weights_path(schema: _Schema, directory: Path, value: Any, field: str) -> Path:
    """The weights file of a direction: a plain ``*.safetensors`` name inside the model folder."""
    schema.string(value, field)
    posix, windows = PurePosixPath(value), PureWindowsPath(value)
    if (
        posix.is_absolute()
        or windows.is_absolute()
        or windows.drive
        or ".." in posix.parts
        or ".." in windows.parts
        or not value.endswith(".safetensors")
    ):
        schema.fail(field, f"must be a .safetensors file inside the model folder, got {_show(value)}")
    path = directory / value
    root = directory.resolve()
    if root not in path.resolve().parents:  # also a symlink that points outside
        schema.fail(field, f"must stay inside the model folder {directory}, got {_show(value)} (it leads outside)")
    if not path.is_file():
        raise FileNotFoundError(f"{schema.source}: field {field!r} names {path}, which does not exist")
    return path


def validate_model_config(config: Any, directory: str | os.PathLike) -> dict[str, Path]:
    """Check a model folder's ``config.json`` against the schema; returns ``{direction: weights path}``.

    Raises:
        ModelConfigError: the first problem, naming the file and the field (a ``ValueError``).
    """
    directory = Path(directory)
    s = _Schema(directory / CONFIG_NAME)
    s.obj(config, "", ("format", "format_version", "directions", "output"))
    if "latent" in config:  # a GAN lab model: noise (and a label) -> image
        latent = s.obj(config["latent"], "latent", ("dim",))
        s.integer(latent["dim"], "latent.dim", 1, 1 << 16)
        s.integer(latent.get("num_classes", 0), "latent.num_classes", 0, 1 << 16)
        if not isinstance(latent.get("class_names", []), list):
            s.fail("latent.class_names", f"must be a list, got {_show(latent['class_names'])}")
    elif "input" not in config:
        s.fail("input", "is missing")
    s.string(config["format"], "format", (MODEL_FORMAT,))
    version = config["format_version"]
    if not isinstance(version, bool) and isinstance(version, int) and version > MODEL_FORMAT_VERSION:
        raise ModelConfigError(f"{directory} was written by a newer img2img (format {version}); upgrade img2img")
    s.integer(version, "format_version", 1, MODEL_FORMAT_VERSION)
    for key in ("task", "img2img_version"):
        if key in config:
            s.string(config[key], key)
    directions = s.obj(config["directions"], "directions")
    if not 1 <= len(directions) <= 2:
        s.fail("directions", f"must name one or two generators, got {len(directions)}")
    weights = {}
    for direction, entry in directions.items():
        s.string(direction, "directions", ("AtoB", "BtoA"))
        field = f"directions.{direction}"
        s.obj(entry, field, ("net", "weights"))
        _check_net(s, entry["net"], f"{field}.net")
        weights[direction] = _weights_path(s, directory, entry["weights"], f"{field}.weights")
    if "default_direction" in config:
        s.string(config["default_direction"], "default_direction", tuple(directions))
    for side in ("input", "output") if "input" in config else ("output",):
        spec = s.obj(config[side], side, ("channels",))
        s.integer(spec["channels"], f"{side}.channels", 1, 8)
        if "color_space" in spec:
            s.string(spec["color_space"], f"{side}.color_space")
    if config.get("hints") is not None:
        hints = s.obj(config["hints"], "hints", ("space", "channels"))
        s.string(hints["space"], "hints.space", tuple(HINT_SPACES))
        s.integer(hints["channels"], "hints.channels", HINT_SPACES[hints["space"]], HINT_SPACES[hints["space"]])
        if "range" in spec and (not isinstance(spec["range"], list) or len(spec["range"]) != 2):
            s.fail(f"{side}.range", f"must be [low, high], got {_show(spec['range'])}")
        for i, bound in enumerate(spec.get("range", [])):
            s.number(bound, f"{side}.range[{i}]", -1e6, 1e6)
    if "scale" in config:
        s.integer(config["scale"], "scale", 1, MAX_SCALE)
    for key in ("size_multiple", "min_size"):
        if key in config:
            s.integer(config[key], key, 1, MAX_CHANNELS)
    if "image_statistics" in config and not isinstance(config["image_statistics"], bool):
        s.fail("image_statistics", f"must be true or false, got {_show(config['image_statistics'])}")
    if "color" in config:
        color = s.obj(config["color"], "color")
        if "space" in color:
            s.string(color["space"], "color.space", ("rgb", "lab"))
        if "ab_scale" in color:
            s.number(color["ab_scale"], "color.ab_scale", 1e-6, 1e6)
        if color.get("resolution") is not None:
            s.integer(color["resolution"], "color.resolution", 1, 1 << 16)
    if "training" in config:
        training = s.obj(config["training"], "training")
        if training.get("size") is not None:  # inference tiles encoder-decoders at the training crop
            s.integer(training["size"], "training.size", 1, 1 << 16)
        if training.get("direction") is not None:
            s.string(training["direction"], "training.direction", ("AtoB", "BtoA"))
    return weights


def _check_weights(schema: _Schema, net_config: Mapping[str, Any], path: Path, field: str) -> None:
    """The weights file holds exactly the tensors (names and shapes) of the net the config describes,
    checked on the file's header and a net built on the meta device (no memory used)."""
    try:
        with torch.device("meta"):
            net = build_model(net_config)
    except (ValueError, TypeError) as err:
        schema.fail(f"{field}.net", f"does not describe a valid net ({err})")
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    try:
        with safe_open(str(path), framework="pt") as f:
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise ModelConfigError(f"{path}: not a readable safetensors file ({err})") from err
    if found != expected:
        missing = sorted(set(expected) - set(found))[:3]
        extra = sorted(set(found) - set(expected))[:3]
        shapes = [f"{k} {found[k]} != {expected[k]}" for k in expected if k in found and found[k] != expected[k]][:3]
        raise ModelConfigError(
            f"{path}: does not match field {field + '.net'!r} of {schema.source} "
            f"(missing {missing}, unexpected {extra}, shapes {shapes})"
        )


def load_pretrained(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], dict[str, nn.Module]]:
    """Rebuild the generators of a model folder (or run folder). Returns ``(config, {direction: net})``.

    ``config.json`` is checked first (:func:`validate_model_config`), then each weights file's
    tensor names and shapes against its net, before any net is built for real.
    """
    directory = resolve_model_dir(path)
    config = _read_json(directory / CONFIG_NAME, ModelConfigError)
    weights = validate_model_config(config, directory)
    schema = _Schema(directory / CONFIG_NAME)
    for direction, entry in config["directions"].items():
        _check_weights(schema, entry["net"], weights[direction], f"directions.{direction}")
    nets = {}
    for direction, entry in config["directions"].items():
        net = build_model(entry["net"])
        net.load_state_dict(load_file(str(weights[direction]), device=str(map_location)))
        nets[direction] = net.eval()
    default = nets[config.get("default_direction", next(iter(nets)))]
    for side, attr in (("input", "in_channels"), ("output", "out_channels")):
        if side in config and config[side]["channels"] != getattr(default, attr, config[side]["channels"]):
            schema.fail(f"{side}.channels", f"is {config[side]['channels']} but the net has {getattr(default, attr)}")
    if int(config.get("scale", 1)) != int(getattr(default, "scale", 1)):
        schema.fail("scale", f"is {config.get('scale', 1)} but the net scales by {getattr(default, 'scale', 1)}")
    return config, nets
