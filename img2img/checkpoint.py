"""Checkpoints and model folders, loaded without executing code.

* A **training checkpoint** (``RUN/checkpoints/last.pt``) is a plain dict of tensors and
  numbers written with ``torch.save`` and read with ``torch.load(weights_only=True)``: nets,
  optimizers, gradient scaler, step, RNG states, image pools, and the run's config.
* A **model folder** (``RUN/model/``, ``RUN/best/``) is what inference and export need:
  ``config.json`` (architecture of each generator, task, input/output description) and one
  ``<direction>.safetensors`` per generator. ``Translator.from_pretrained`` rebuilds from it.
Every file is written to a temporary name and renamed, so a crash never leaves a half file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from img2img_runtime.io import atomic_write

from . import __version__
from .nets import build_model

MODEL_FORMAT = "img2img-model"
MODEL_FORMAT_VERSION = 1
CHECKPOINT_FORMAT = "img2img-checkpoint"
CONFIG_NAME = "config.json"


def write_json(path: str | os.PathLike, data: Any) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")

    atomic_write(path, write)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically save a training checkpoint (plain containers of tensors and numbers only)."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a training checkpoint without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an img2img training checkpoint")
    return state


def save_pretrained(
    generators: dict[str, nn.Module],
    directory: str | os.PathLike,
    *,
    task: str,
    io_spec: dict[str, Any],
    default_direction: str = "AtoB",
    training: dict[str, Any] | None = None,
) -> Path:
    """Write a model folder: ``config.json`` + one ``<direction>.safetensors`` per generator."""
    directory = Path(directory)
    entries = {}
    for direction, net in generators.items():
        weights = f"{direction}.safetensors"
        state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        atomic_write(directory / weights, lambda tmp, s=state: save_file(s, tmp, metadata={"format": "pt"}))
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
    write_json(directory / CONFIG_NAME, config)  # written last: a folder with a config is complete
    return directory


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A model folder, or a run folder holding one (``RUN/best`` if present, else ``RUN/model``)."""
    path = Path(path)
    if (path / CONFIG_NAME).is_file():
        cfg = json.loads((path / CONFIG_NAME).read_text())
        if cfg.get("format") == MODEL_FORMAT:
            return path
    for sub in ("best", "model"):
        if (path / sub / CONFIG_NAME).is_file():
            return path / sub
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    raise FileNotFoundError(f"{path} is neither an img2img model folder (config.json + *.safetensors) nor a run folder with model/ inside")


def load_pretrained(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], dict[str, nn.Module]]:
    """Rebuild the generators of a model folder (or run folder). Returns ``(config, {direction: net})``."""
    directory = resolve_model_dir(path)
    config = json.loads((directory / CONFIG_NAME).read_text())
    if config.get("format_version", 0) > MODEL_FORMAT_VERSION:
        raise ValueError(f"{directory} was written by a newer img2img (format {config['format_version']}); upgrade img2img")
    nets = {}
    for direction, entry in config["directions"].items():
        net = build_model(entry["net"])
        net.load_state_dict(load_file(str(directory / entry["weights"]), device=str(map_location)))
        nets[direction] = net.eval()
    return config, nets
