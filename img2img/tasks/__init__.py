"""Tasks: which nets, which losses, one training step each. Registered by name."""

from __future__ import annotations

from typing import Any

from .base import ImagePool, Task
from .cyclegan import CycleGAN
from .pix2pix import Pix2Pix
from .srgan import SRGAN

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (Pix2Pix, CycleGAN, SRGAN)}


def build_task(name: str, **kwargs: Any) -> Task:
    """Create a task by name (``pix2pix``, ``cyclegan``, ``srgan``) with its keyword options."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}")
    return TASKS[name](**kwargs)


__all__ = ["TASKS", "CycleGAN", "ImagePool", "Pix2Pix", "SRGAN", "Task", "build_task"]
