"""Shipped models: trained weights that come with the package, used by name.

Each shipped model lives in ``img2img_runtime/models/NAME/``:

* ``NAME.onnx``: the exported generator, for :class:`~img2img_runtime.Model` and ``img2img-onnx``
  (no torch needed);
* ``model/``: the same weights as an img2img model folder (``config.json`` + ``*.safetensors``),
  for :class:`img2img.Translator`, ``img2img eval`` and fine-tuning (``--init-from NAME``);
* ``card.json`` and ``MODEL_CARD.md``: how it was trained (the exact command, the photos and their
  licences, steps, time, hardware), its scores on photos it never saw beside the baselines, and
  where it fails; ``strip.jpg``: before/after pictures.

``models/index.json`` lists every model with the SHA-256 and size of each of its files. A file is
checked against it each time it is loaded by name (:func:`onnx_path`, :func:`model_dir`): a
changed, truncated or missing file is a :class:`ChecksumError` naming the file, never a silently
different model. They live in the runtime package, not in a download cache, so that the torch-free
runtime and apps that bundle it have them offline, and img2img (which installs the runtime) reads
the same files.

A name is looked up only when no file or folder of that name exists: ``--model restore`` runs a
local ``restore/`` folder if there is one. ``$IMG2IMG_MODELS`` may name another folder laid out
like ``models/`` (an ``index.json`` beside the model folders), searched first: a private zoo.

Example:
    >>> from img2img_runtime import zoo
    >>> [m.name for m in zoo.list_models()]
    ['colorize', 'restore', 'sketch', 'sr-x4', 'sr-x4-gan']
    >>> Model(zoo.onnx_path("restore"))            # what Model("restore") does
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ChecksumError",
    "ShippedModel",
    "UnknownModelError",
    "format_table",
    "get",
    "is_model_name",
    "list_models",
    "model_dir",
    "onnx_path",
    "sha256_file",
    "verify",
]

MODELS_DIR = Path(__file__).resolve().parent / "models"
INDEX_NAME = "index.json"
INDEX_FORMAT = "img2img-zoo"
ENV_DIR = "IMG2IMG_MODELS"


class ChecksumError(ValueError):
    """A shipped model's file differs from the one its index lists (changed, truncated or missing)."""


class UnknownModelError(ValueError):
    """A name that is neither an existing file or folder nor a shipped model."""


@dataclass(frozen=True)
class ShippedModel:
    """One entry of ``models/index.json``."""

    name: str
    root: Path  # the folder holding index.json
    task: str
    family: str
    summary: str
    files: dict[str, dict[str, Any]]  # path relative to root -> {"sha256": ..., "bytes": ...}
    onnx: str
    torch: str
    card: str
    scores: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return sum(int(entry["bytes"]) for entry in self.files.values())

    @property
    def card_path(self) -> Path:
        return self.root / self.card

    def card_data(self) -> dict[str, Any]:
        """The model card's fields (``card.json``)."""
        path = self.root / self.name / "card.json"
        return json.loads(path.read_text(encoding="utf-8"))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _roots() -> list[Path]:
    roots = []
    extra = os.environ.get(ENV_DIR)
    if extra:
        roots.append(Path(extra).expanduser())
    roots.append(MODELS_DIR)
    return roots


def _read_index(root: Path) -> dict[str, Any]:
    path = root / INDEX_NAME
    if not path.is_file():
        return {}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable model index ({error})") from error
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT or not isinstance(index.get("models"), dict):
        raise ValueError(f"{path}: not an img2img model index (format {INDEX_FORMAT!r} with a 'models' table)")
    return index["models"]


def list_models() -> list[ShippedModel]:
    """Every model by name, sorted; a name in ``$IMG2IMG_MODELS`` hides the shipped one."""
    found: dict[str, ShippedModel] = {}
    for root in _roots():
        for name, entry in _read_index(root).items():
            if name in found:
                continue
            try:
                found[name] = ShippedModel(name=name, root=root, **entry)
            except TypeError as error:
                raise ValueError(f"{root / INDEX_NAME}: entry {name!r} is malformed ({error})") from error
    return [found[name] for name in sorted(found)]


def get(name: str) -> ShippedModel:
    """The model called ``name``; :class:`UnknownModelError` listing the names otherwise."""
    for model in list_models():
        if model.name == name:
            return model
    names = ", ".join(m.name for m in list_models()) or "none are installed"
    raise UnknownModelError(f"{name!r} is not a file, a folder or a shipped model (shipped models: {names})")


def is_model_name(value: str | os.PathLike) -> bool:
    """True if ``value`` names a shipped model and no file or folder of that name exists."""
    text = os.fspath(value)
    if not text or os.sep in text or "/" in text or Path(text).exists():
        return False
    return any(m.name == text for m in list_models())


def verify(model: ShippedModel, prefix: str = "") -> None:
    """Check the SHA-256 of each of the model's files under ``prefix`` (all of them by default)."""
    for relative, entry in model.files.items():
        if not relative.startswith(prefix):
            continue
        path = model.root / relative
        if not path.is_file():
            raise ChecksumError(f"shipped model {model.name!r}: {path} is missing (reinstall img2img-runtime)")
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise ChecksumError(
                f"shipped model {model.name!r}: {path} fails its checksum (SHA-256 {digest[:16]}..., expected "
                f"{entry['sha256'][:16]}...): the file was changed or damaged; reinstall img2img-runtime"
            )


def onnx_path(name: str) -> Path:
    """The checked ``.onnx`` file of a shipped model."""
    model = get(name)
    verify(model, model.onnx)
    return model.root / model.onnx


def model_dir(name: str) -> Path:
    """The checked img2img model folder (torch weights) of a shipped model."""
    model = get(name)
    verify(model, model.torch.rstrip("/") + "/")
    return model.root / model.torch


def resolve_onnx(value: str | os.PathLike) -> Path:
    """A path as given, or the checked ``.onnx`` file of the shipped model it names."""
    return onnx_path(os.fspath(value)) if is_model_name(value) else Path(value)


def describe(model: ShippedModel) -> dict[str, Any]:
    """A JSON-able summary of one entry (``img2img models --json``)."""
    return {
        "task": model.task,
        "family": model.family,
        "summary": model.summary,
        "onnx": str(model.root / model.onnx),
        "model_dir": str(model.root / model.torch),
        "card": str(model.card_path),
        "bytes": model.size_bytes,
        "files": model.files,
        "scores": model.scores,
        "training": model.training,
    }


def _score(scores: dict[str, Any]) -> str:
    model, base = scores.get("model") or {}, scores.get("baseline") or {}
    key = scores.get("headline", "psnr")
    if key not in model:
        return ""
    text = f"{key} {model[key]:.2f}"
    if key in base:
        text += f" ({scores.get('baseline_name', 'baseline')} {base[key]:.2f})"
    return text


def format_table() -> str:
    """The ``img2img models`` listing: name, task, size, scores, training data and its licences."""
    models = list_models()
    if not models:
        return "no shipped models are installed"
    rows = [("name", "task", "size", "score on unseen photos", "trained on")]
    for m in models:
        rows.append(
            (
                m.name,
                f"{m.task} ({m.family})",
                f"{m.size_bytes / 1e6:.1f} MB",
                _score(m.scores),
                m.training.get("data_summary", ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"model cards: {models[0].root}/NAME/MODEL_CARD.md")
    return "\n".join(lines)
