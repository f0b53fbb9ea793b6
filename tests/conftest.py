"""Shared fixtures: tiny image folders made on the fly (no downloads, no shared data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from img2img_runtime.io import write_image


def pattern(seed: int, size: int = 64) -> np.ndarray:
    """A smooth colourful image with a few shapes: something a net can learn from."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = np.stack(
        [np.sin(6 * xx + rng.uniform(0, 6)), np.cos(5 * yy + rng.uniform(0, 6)), np.sin(4 * (xx + yy))], -1
    )
    image = (image * 0.5 + 0.5) * 200 + 20
    for _ in range(3):
        y, x, r = rng.integers(8, size - 8, 2).tolist() + [int(rng.integers(3, 8))]
        image[max(0, y - r) : y + r, max(0, x - r) : x + r] = rng.uniform(0, 255, 3)
    return image.astype(np.uint8)


def degrade(image: np.ndarray) -> np.ndarray:
    """A deterministic paired 'input': darker, inverted blue channel."""
    out = image.astype(np.int16)
    out[:, :, 2] = 255 - out[:, :, 2]
    return (out * 0.8).astype(np.uint8)


def make_paired(root: Path, names: list[str], size: int = 64, seed: int = 0) -> Path:
    for i, name in enumerate(names):
        b = pattern(seed + i, size)
        write_image(root / "A" / f"{name}.png", degrade(b))
        write_image(root / "B" / f"{name}.png", b)
    return root


@pytest.fixture
def paired_dir(tmp_path: Path) -> Path:
    """DIR/train/{A,B} with 4 pairs and DIR/val/{A,B} with 2, 64 x 64."""
    root = tmp_path / "paired"
    make_paired(root / "train", ["a", "b", "c", "d"])
    make_paired(root / "val", ["v1", "v2"], seed=100)
    return root


@pytest.fixture
def unpaired_dir(tmp_path: Path) -> Path:
    root = tmp_path / "unpaired"
    for i in range(3):
        write_image(root / "A" / f"a{i}.png", pattern(i))
    for i in range(2):
        write_image(root / "B" / f"b{i}.jpg", degrade(pattern(50 + i)))
    return root


@pytest.fixture
def sr_dir(tmp_path: Path) -> Path:
    root = tmp_path / "hr"
    for i in range(3):
        write_image(root / f"hr{i}.png", pattern(i, 64))
    return root


# Tiny nets for fast tests (the training API takes these as keyword arguments).
# the CLI flags of a tiny pix2pix run on the CPU (what TINY_UNET is for the Python API)
TINY_CLI = ["--num-downs", "4", "--base-channels", "8", "--d-channels", "8", "--size", "32",
            "--num-workers", "0", "--device", "cpu", "--no-progress"]  # fmt: skip
TINY_UNET = {
    "generator": "unet_256",
    "generator_kwargs": {"num_downs": 4, "base_channels": 8},
    "discriminator_kwargs": {"base_channels": 8},
}
TINY_RESNET = {
    "generator": "resnet_6blocks",
    "generator_kwargs": {"num_blocks": 1, "base_channels": 8},
    "discriminator_kwargs": {"base_channels": 8},
}
TINY_SR = {
    "generator": "srresnet_x4",
    "generator_kwargs": {"num_blocks": 1, "base_channels": 8},
    "discriminator_kwargs": {"base_channels": 8},
}


def save_tiny_model(folder: Path, task: str = "pix2pix") -> Path:
    """An untrained tiny ResNet generator (size multiple 4, min size 8) saved as a model folder."""
    import torch

    from img2img.checkpoint import save_pretrained
    from img2img.nets import create_model
    from img2img.tasks.base import generator_io_spec

    torch.manual_seed(0)
    net = create_model("resnet_6blocks", num_blocks=1, base_channels=4).eval()
    io_spec = generator_io_spec(net)
    save_pretrained({"AtoB": net}, folder, task=task, io_spec=io_spec)
    return folder


def export_tiny_sr(root: Path, scale: int = 2) -> Path:
    """A tiny x2 compact super-resolution generator (PyTorch's default init: structured outputs),
    saved as ``root/model`` and exported to ``root/sr.onnx``; returns the .onnx path."""
    import torch

    from img2img.checkpoint import save_pretrained
    from img2img.export import export_onnx
    from img2img.nets import create_model
    from img2img.tasks.base import generator_io_spec

    torch.manual_seed(0)
    net = create_model(f"compact_sr_x{scale}", base_channels=8, num_convs=2).eval()
    io_spec = generator_io_spec(net)
    save_pretrained({"AtoB": net}, root / "model", task="srgan", io_spec=io_spec)
    export_onnx(root / "model", root / "sr.onnx")
    return root / "sr.onnx"
