"""Looking at and measuring GAN lab models: samples, grids, latent walks, training strips, scores.

Every function takes a run folder, a model folder or an exported ``.onnx`` file (run in the
torch-free runtime), like ``img2img translate`` and ``img2img eval``::

    sample_grid("runs/digits", n=64, label=7)      # uint8 picture
    latent_walk("runs/digits_2d")                  # the whole 2-D latent space in one picture
    training_strip("runs/digits", "strip.gif")     # the fixed-noise grid over training
    evaluate_gan("runs/digits")                    # coverage, entropy, inception, accuracy
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from img2img_runtime import sampler as _sampler


@dataclass
class LoadedSampler:
    """A GAN lab generator, from torch weights or ONNX: ``run(noise, labels) -> [-1, 1] N x C x H x W``."""

    config: dict[str, Any]
    latent: dict[str, Any]
    run: Any
    source: Path

    @property
    def class_names(self) -> list[str]:
        return [str(c) for c in self.latent.get("class_names") or []]

    @property
    def num_classes(self) -> int:
        return int(self.latent.get("num_classes") or 0)

    def sample(self, n: int, *, label: Any = None, seed: int | None = 0, noise: np.ndarray | None = None) -> np.ndarray:
        """uint8 ``n x H x W x C`` images (see :meth:`img2img_runtime.Model.sample`)."""
        dim = int(self.latent["dim"])
        z = _sampler.noise(n, dim, seed) if noise is None else np.asarray(noise, np.float32).reshape(n, dim)
        labels = _sampler.labels(self.latent, n, label, seed)
        return _sampler.to_images(self.run(z, labels))


def load_sampler(model: str | os.PathLike, *, device: str = "cpu") -> LoadedSampler:
    """Load a GAN lab generator from a run folder, a model folder or an ``.onnx`` file.

    Raises:
        ValueError: the model translates images (it has no ``latent`` entry).
    """
    path = Path(model)
    if path.suffix.lower() == ".onnx":
        from img2img_runtime import Model

        onnx_model = Model(path)
        if onnx_model.latent is None:
            raise ValueError(f"{path} translates images; sampling needs a GAN lab model (img2img train gan)")

        def run_onnx(z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
            feed = {"noise": z} if labels is None else {"noise": z, "label": labels}
            return onnx_model.session.run(None, feed)[0]

        return LoadedSampler(onnx_model.config, onnx_model.latent, run_onnx, path)
    import torch

    from .checkpoint import load_pretrained
    from .devices import pick_device

    config, nets = load_pretrained(path)
    latent = _sampler.latent_spec(config)
    if latent is None:
        raise ValueError(f"{path} translates images; sampling needs a GAN lab model (img2img train gan)")
    torch_device = pick_device(device)
    net = nets[config.get("default_direction", "AtoB")].to(torch_device).eval()

    @torch.no_grad()
    def run_torch(z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        outs = []
        for start in range(0, len(z), 500):
            zt = torch.from_numpy(z[start : start + 500]).to(torch_device)
            lt = None if labels is None else torch.from_numpy(labels[start : start + 500]).to(torch_device)
            outs.append(net(zt, lt).float().cpu().numpy())
        return np.concatenate(outs)

    return LoadedSampler(config, latent, run_torch, path)


def is_gan_model(model: str | os.PathLike) -> bool:
    """Whether a run folder, model folder or ``.onnx`` file holds a GAN lab model (noise -> image);
    False when it cannot be read (the caller's own loading then says why)."""
    import json

    path = Path(model)
    try:
        if path.suffix.lower() == ".onnx":
            from img2img_runtime.metadata import read_metadata

            return "latent" in read_metadata(path)
        from .checkpoint import resolve_model_dir

        return "latent" in json.loads((resolve_model_dir(path) / "config.json").read_text())
    except (OSError, ValueError):
        return False


def _loaded(model: Any) -> LoadedSampler:
    return model if isinstance(model, LoadedSampler) else load_sampler(model)


def sample_grid(
    model: Any, n: int = 64, *, label: Any = None, seed: int = 0, columns: int | None = None, scale: int = 2
) -> np.ndarray:
    """A picture of ``n`` samples (``columns`` per row, default about square). A conditional model
    without ``label`` draws one row per class, ``ceil(n / classes)`` samples each, the same noise
    in every row (so a column shows one "style" across the classes)."""
    loaded = _loaded(model)
    if loaded.num_classes and label is None:
        per_class = max(1, -(-n // loaded.num_classes))
        z = _sampler.noise(per_class, int(loaded.latent["dim"]), seed)
        z = np.tile(z, (loaded.num_classes, 1))
        labels = np.repeat(np.arange(loaded.num_classes), per_class)
        images = loaded.sample(len(z), label=labels, noise=z)
        return _sampler.grid(images, per_class, scale=scale)
    images = loaded.sample(n, label=label, seed=seed)
    return _sampler.grid(images, columns or int(np.ceil(np.sqrt(n))), scale=scale)


def latent_walk(model: Any, *, steps: int = 15, label: Any = None, seed: int = 0, scale: int = 2) -> np.ndarray:
    """``steps x steps`` samples over a plane of the latent space (:func:`img2img_runtime.sampler.walk_noise`):
    for a 2-D latent, the whole learned manifold. Conditional models walk within one class
    (``label``, default the first)."""
    loaded = _loaded(model)
    z = _sampler.walk_noise(int(loaded.latent["dim"]), steps, seed)
    if loaded.num_classes and label is None:
        label = 0
    images = loaded.sample(len(z), label=label, noise=z)
    return _sampler.grid(images, steps, gap=0, scale=scale)


_STEP_FILE = re.compile(r"step_(\d+)\.png$")


def training_strip(run_dir: str | os.PathLike, out: str | os.PathLike, *, frames: int = 8) -> Path:
    """The run's fixed-noise sample grids over training (``RUN/samples/step_*.png``): an animated
    GIF when ``out`` ends in ``.gif`` (Pillow), else one strip of ``frames`` evenly spaced grids
    side by side, each labelled with its step.

    Raises:
        FileNotFoundError: the run has no sample grids yet.
    """
    import cv2

    from img2img_runtime.io import atomic_write, read_image, write_image

    samples = sorted(
        (int(m.group(1)), p) for p in (Path(run_dir) / "samples").glob("step_*.png") if (m := _STEP_FILE.search(p.name))
    )
    if not samples:
        raise FileNotFoundError(
            f"no sample grids in {Path(run_dir) / 'samples'} (training writes them every --sample-every steps)"
        )
    out = Path(out)
    if out.suffix.lower() == ".gif":
        from PIL import Image

        pictures = [Image.fromarray(read_image(p)) for _, p in samples]
        atomic_write(
            out,
            lambda target: pictures[0].save(
                target, format="GIF", save_all=True, append_images=pictures[1:], duration=400, loop=0
            ),
        )
        return out
    picks = [samples[round(i)] for i in np.linspace(0, len(samples) - 1, min(frames, len(samples)))]
    tiles = []
    for step, path in picks:
        image = read_image(path)
        label = np.full((18, image.shape[1], 3), 255, np.uint8)
        cv2.putText(label, f"step {step}", (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([label, image], 0))
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 4), (0, 0)), constant_values=255) for t in tiles]
    write_image(out, np.concatenate(tiles, 1))
    return out


def _judge(loaded: LoadedSampler, data: str | None, run_dir: Path | None) -> tuple[Any, dict[str, Any], Any]:
    """The classifier of the scores (the run's cached one when there is one) and the real val images."""
    from .classifier import CLASSIFIER_DIR, cached_classifier
    from .data.labeled import labeled_images

    training = loaded.config.get("training") or {}
    data = data or training.get("data")
    if not data:
        raise ValueError(f"{loaded.source} does not say what it was trained on: give --data (the labelled images)")
    size = int(loaded.config["output"].get("size", [training.get("size", 28)])[0])
    channels = int(loaded.config["output"]["channels"])
    classes = loaded.class_names or None
    train_set = labeled_images(data, split="train", size=size, channels=channels, classes=classes, train=False)
    names = list(getattr(train_set, "classes", []))
    if len(names) < 2:
        raise ValueError(f"{data} has no classes: the scores need labelled images (digits, or class sub-folders)")
    val_set = labeled_images(data, split="val", size=size, channels=channels, classes=names, train=False)
    folder = run_dir / CLASSIFIER_DIR if run_dir is not None else None
    net, info = cached_classifier(folder, train_set, names, image_size=size, channels=channels, val_set=val_set)
    return net, info, val_set


def evaluate_gan(model: str | os.PathLike, *, data: str | None = None, n: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Scores of a GAN lab model's samples by a classifier of the real images (see
    :mod:`img2img.classifier`), beside the same scores of real val images (the best a model can do).

    ``data``: the labelled images (default: what the model was trained on). A run folder's cached
    classifier is used (and made if missing); otherwise one is trained on ``data`` (seconds).

    Returns:
        ``{"rows": {"real images": {...}, "model": {...}}, "classes": [...], "classifier_val_accuracy": ...,
        "samples": n}``.
    """
    import torch

    from .classifier import class_scores, classify

    path = Path(model)
    run_dir = path if (path / "checkpoints").is_dir() else None
    loaded = load_sampler(path)
    net, info, val_set = _judge(loaded, data, run_dir)
    labels = _sampler.labels(loaded.latent, n, None, seed)
    images = loaded.sample(n, label=labels, seed=seed)
    if images.shape[1] != info["image_size"]:
        raise ValueError(f"the model draws {images.shape[1]} px images, the classifier judges {info['image_size']} px")
    rows = {"model": class_scores(classify(net, images), None if labels is None else torch.from_numpy(labels))}
    if val_set is not None and len(val_set):
        real = torch.stack([val_set[i]["B"] for i in range(len(val_set))]).permute(0, 2, 3, 1).numpy()
        real_labels = torch.stack([val_set[i]["label"] for i in range(len(val_set))])
        rows = {
            "real images": class_scores(classify(net, real), real_labels if loaded.num_classes else None),
            **rows,
        }
    return {
        "rows": rows,
        "classes": info["classes"],
        "classifier_val_accuracy": info.get("val_accuracy"),
        "samples": n,
        "conditional": bool(loaded.num_classes),
    }


def format_gan_report(report: dict[str, Any]) -> str:
    """The table ``img2img eval`` prints for a GAN lab model."""
    keys = ["coverage", "entropy", "inception"] + (["accuracy"] if report["conditional"] else [])
    lines = [f"{'':14s}" + "".join(f"{k:>11s}" for k in keys)]
    for name, row in report["rows"].items():
        lines.append(f"{name:14s}" + "".join(f"{row.get(k, float('nan')):11.3f}" for k in keys))
    accuracy = report.get("classifier_val_accuracy")
    judge = f"{accuracy:.1%} on real val images" if accuracy is not None else "no val images"
    lines.append(f"{report['samples']} samples judged by a classifier of {len(report['classes'])} classes ({judge})")
    return "\n".join(lines)


__all__ = [
    "LoadedSampler",
    "evaluate_gan",
    "format_gan_report",
    "is_gan_model",
    "latent_walk",
    "load_sampler",
    "sample_grid",
    "training_strip",
]
