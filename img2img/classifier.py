"""A small image classifier that measures a GAN lab model: class coverage, entropy, inception score
and the accuracy of conditional samples.

The classifier (:class:`~img2img.nets.gan_lab.ImageClassifier`) is trained on the run's real,
labelled training images (about 6 s on two CPU cores for the 4,500 training digits: 97% on the 500 val digits) and cached in
the run folder (``RUN/classifier/``), so validation, ``img2img eval`` and the benchmark score
every model of a run with the same judge.

Scores of generated samples (:func:`class_scores`), from the classifier's probabilities:

* ``coverage``: the fraction of classes that receive at least half their fair share of the
  samples (1.0: every class drawn; a GAN that draws only ones scores 0.1 on digits);
* ``entropy``: entropy of the predicted-class histogram over ``log(classes)`` (1.0 = uniform);
* ``inception``: ``exp(E[KL(p(y|x) || p(y))])``, the inception score with this classifier
  (1 .. classes: high when each sample is clearly one class and the classes are balanced);
* ``accuracy`` (conditional models): the fraction classified as the label they were asked for.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .data.augment import to_model_range
from .nets.gan_lab import ImageClassifier

log = logging.getLogger(__name__)

CLASSIFIER_DIR = "classifier"  # inside a run folder
COVERAGE_SHARE = 0.5  # a class is covered when it gets at least this fraction of its fair share


def fit_classifier(
    train_set: Dataset,
    classes: list[str],
    *,
    image_size: int,
    channels: int,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    val_set: Dataset | None = None,
) -> tuple[ImageClassifier, float | None]:
    """Train the judge on labelled real images (``{"B", "label"}`` items); returns it (in eval
    mode, on the CPU) and its accuracy on ``val_set`` (None without one). Uses its own random
    stream: the global torch RNG (a training run's) is left as it was."""
    if len(classes) < 2:
        raise ValueError(f"a classifier needs two or more classes, got {classes}")
    with torch.random.fork_rng(devices=[]):  # the fit and the val loader's seed draw
        torch.manual_seed(seed)
        net = ImageClassifier(in_channels=channels, num_classes=len(classes), image_size=image_size)
        loader = DataLoader(
            train_set, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
        )
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        steps = epochs * len(loader)
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps))
        net.train()
        for _ in range(epochs):
            for batch in loader:
                keep = batch["label"] >= 0
                if not keep.any():
                    continue
                loss = F.cross_entropy(net(to_model_range(batch["B"][keep])), batch["label"][keep])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
        net.eval()
        accuracy = None
        if val_set is not None and len(val_set):
            correct = total = 0
            with torch.no_grad():
                for batch in DataLoader(val_set, batch_size=256):
                    keep = batch["label"] >= 0
                    predicted = net(to_model_range(batch["B"][keep])).argmax(1)
                    correct += int((predicted == batch["label"][keep]).sum())
                    total += int(keep.sum())
            accuracy = correct / total if total else None  # no labelled val image: unknown, not 0%
    return net, accuracy


def save_classifier(net: ImageClassifier, folder: str | os.PathLike, info: dict[str, Any]) -> Path:
    """``folder/config.json`` (the net's config and ``info``) + ``folder/weights.safetensors``."""
    from safetensors.torch import save_file

    from img2img_runtime.io import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    atomic_write(folder / "weights.safetensors", lambda target: save_file(state, str(target)))
    text = json.dumps({"net": net.config, **info}, indent=2)
    atomic_write(folder / "config.json", lambda target: Path(target).write_text(text))
    return folder


def load_classifier(folder: str | os.PathLike) -> tuple[ImageClassifier, dict[str, Any]] | None:
    """The classifier cached in ``folder`` and its info, or None when there is none (or it is damaged)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        info = json.loads((folder / "config.json").read_text())
        config = dict(info.pop("net"))
        if config.pop("arch", None) != ImageClassifier.arch:
            return None
        with torch.random.fork_rng(devices=[]):  # its throw-away initial weights leave a run's RNG alone
            net = ImageClassifier(**config)
        net.load_state_dict(load_file(str(folder / "weights.safetensors")))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        if (folder / "config.json").exists():
            log.warning("ignoring the cached classifier in %s (%s); training a new one", folder, error)
        return None
    return net.eval(), info


def cached_classifier(
    folder: str | os.PathLike | None,
    train_set: Dataset,
    classes: list[str],
    *,
    image_size: int,
    channels: int,
    val_set: Dataset | None = None,
    seed: int = 0,
) -> tuple[ImageClassifier, dict[str, Any]]:
    """The classifier cached in ``folder`` when it matches ``classes``, else a new one (saved there
    when ``folder`` is given). Info: ``classes``, ``image_size``, ``channels``, ``val_accuracy``."""
    if folder is not None:
        found = load_classifier(folder)
        if found is not None and found[1].get("classes") == list(classes) and found[1].get("image_size") == image_size:
            return found
    net, accuracy = fit_classifier(
        train_set, classes, image_size=image_size, channels=channels, val_set=val_set, seed=seed
    )
    info = {"classes": list(classes), "image_size": image_size, "channels": channels, "val_accuracy": accuracy}
    if accuracy is not None:
        log.info(
            "classifier for the sample scores: %.1f%% accurate on %d real val images", 100 * accuracy, len(val_set)
        )
    if folder is not None:
        save_classifier(net, folder, info)
    return net, info


def class_scores(probabilities: torch.Tensor, requested: torch.Tensor | None = None) -> dict[str, float]:
    """Coverage, entropy and inception score of samples from the classifier's ``(N, K)``
    probabilities, and ``accuracy`` when the ``requested`` labels ``(N,)`` are given (see the module)."""
    p = probabilities.double()
    n, k = p.shape
    counts = torch.bincount(p.argmax(1), minlength=k).double()
    share = counts / max(n, 1)
    entropy = max(0.0, float(-(share[share > 0] * share[share > 0].log()).sum() / math.log(k)))
    marginal = p.mean(0, keepdim=True)
    kl = (p * (p.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1)
    scores = {
        "coverage": float((share >= COVERAGE_SHARE / k).double().mean()),
        "entropy": entropy,
        "inception": float(kl.mean().exp()),
    }
    if requested is not None:
        scores["accuracy"] = float((p.argmax(1).cpu() == requested.cpu()).double().mean())
    return scores


@torch.no_grad()
def classify(classifier: ImageClassifier, images: torch.Tensor | np.ndarray, batch_size: int = 500) -> torch.Tensor:
    """Class probabilities ``(N, K)`` of images: a float tensor in ``[-1, 1]`` (``N x C x H x W``)
    or uint8 arrays ``N x H x W (x C)``."""
    if isinstance(images, np.ndarray):
        array = images[..., None] if images.ndim == 3 else images
        images = to_model_range(torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2))))
    classifier = classifier.eval()
    device = next(classifier.parameters()).device
    out = [
        F.softmax(classifier(images[i : i + batch_size].float().to(device)), 1).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out)


__all__ = [
    "CLASSIFIER_DIR",
    "cached_classifier",
    "class_scores",
    "classify",
    "fit_classifier",
    "load_classifier",
    "save_classifier",
]
