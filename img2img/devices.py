"""Device choice, one place for training and inference."""

from __future__ import annotations

import torch


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA (``cuda:<local_rank>``), then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:  # a ValueError: a usage error, one line from the CLI
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps ({error})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was requested but CUDA is not available; use --device cpu or auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} was requested but Apple MPS is not available; use --device cpu or auto")
    if device.type == "cuda" and device.index is None:  # one GPU per process under torchrun, as auto does
        device = torch.device("cuda", local_rank)
    return device
