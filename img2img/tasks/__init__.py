"""Tasks: which nets, which losses, one training step each. Registered by name.

Every module of this package is imported here, and each ``@register_task`` class in it becomes
trainable by its name: adding a task is one module (see CONTRIBUTING.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from .base import TASKS, ImagePool, RowReplay, Task, register_task

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

from .cyclegan import CycleGAN  # noqa: E402  (imported above; named here for the public API)
from .pix2pix import Pix2Pix  # noqa: E402
from .srgan import SRGAN  # noqa: E402


def build_task(name: str, **kwargs: Any) -> Task:
    """Create a task by name (``pix2pix``, ``cyclegan``, ``srgan``, or a registered one) with its keyword options."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}")
    return TASKS[name](**kwargs)


__all__ = ["TASKS", "CycleGAN", "ImagePool", "Pix2Pix", "RowReplay", "SRGAN", "Task", "build_task", "register_task"]
