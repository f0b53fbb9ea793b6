"""Augmentation on the training device, batched, with kornia.

Batches arrive as uint8 from the CPU workers; :func:`to_model_range` maps them to ``[-1, 1]``
on the device, then :class:`DeviceAugment` samples one geometry per image and applies it to
both sides of a pair (paired tasks and super-resolution) or draws independently (unpaired).
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float ``[-1, 1]``."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float ``[-1, 1]`` -> uint8 ``[0, 255]`` (rounded, clamped)."""
    return ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round_().to(torch.uint8)


class DeviceAugment(nn.Module):
    """Random flips on the device, the same for A and B when ``paired``.

    Args:
        hflip: random horizontal flip with probability 0.5.
        vflip: random vertical flip with probability 0.5 (off by default: most photos have an up).
        paired: apply one sampled geometry to ``A`` and ``B`` (pix2pix, SR); independent
            draws otherwise (CycleGAN). Works when A and B differ in size (SR).
    """

    def __init__(self, *, hflip: bool = True, vflip: bool = False, paired: bool = True) -> None:
        super().__init__()
        self.paired = paired
        ops: list[nn.Module] = []
        if hflip:
            ops.append(K.RandomHorizontalFlip(p=0.5))
        if vflip:
            ops.append(K.RandomVerticalFlip(p=0.5))
        self.ops = nn.ModuleList(ops)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for op in self.ops:
            params = op.forward_parameters(a.shape)
            a = op(a, params=params)
            b = op(b, params=params if self.paired else op.forward_parameters(b.shape))
        return a, b
