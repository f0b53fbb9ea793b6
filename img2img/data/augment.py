"""Augmentation on the training device, batched, with kornia.

Batches arrive as uint8 from the CPU workers; :func:`to_model_range` maps them to ``[-1, 1]``
on the device (CUDA when present), then :class:`DeviceAugment` samples each geometric op's
parameters once per image and applies them to both sides of a pair (pix2pix, super-resolution),
or draws independently for A and B (CycleGAN). Photometric jitter touches the input A only, never
the target. Validation batches are not augmented.
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
    """Paired-aware batched augmentation.

    Args:
        hflip: random horizontal flip (p = 0.5).
        vflip: random vertical flip (p = 0.5; off by default: most photos have an up).
        crop_scale: random resized crop keeping ``crop_scale``..1 of the area (aspect 3/4..4/3),
            resized back to the batch size; None for off.
        degrees, translate, scale: small random affine (rotation in degrees, translation as a
            fraction of the size, zoom ``1 +- scale``), reflection padding; 0 for off.
        jitter: photometric jitter strength on the input only (brightness, contrast and
            saturation ``+- jitter``, hue ``+- jitter / 4``); 0 for off.
        paired: one sampled geometry for A and B (pix2pix, SR); independent draws otherwise.

    Super-resolution pairs differ in size, so only flips are allowed for them.

    Shape:
        ``a``: ``N x C x H x W``, ``b``: ``N x C' x H' x W'`` in ``[-1, 1]``; outputs the same.
    """

    def __init__(
        self,
        *,
        hflip: bool = True,
        vflip: bool = False,
        crop_scale: float | None = None,
        degrees: float = 0.0,
        translate: float = 0.0,
        scale: float = 0.0,
        jitter: float = 0.0,
        paired: bool = True,
    ) -> None:
        super().__init__()
        self.paired = paired
        geometry: list[nn.Module] = []
        if hflip:
            geometry.append(K.RandomHorizontalFlip(p=0.5))
        if vflip:
            geometry.append(K.RandomVerticalFlip(p=0.5))
        self.size_dependent = bool(crop_scale or degrees or translate or scale)
        if degrees or translate or scale:
            geometry.append(
                K.RandomAffine(
                    degrees=degrees,
                    translate=(translate, translate) if translate else None,
                    scale=(1 - scale, 1 + scale) if scale else None,
                    padding_mode="reflection",
                    p=1.0,
                )
            )
        self.crop_scale = crop_scale
        self.geometry = nn.ModuleList(geometry)
        self.jitter = jitter
        self.color = K.ColorJitter(jitter, jitter, jitter, jitter / 4, p=1.0) if jitter else None
        self.gray_jitter = K.ColorJitter(jitter, jitter, p=1.0) if jitter else None

    def single(self, x: torch.Tensor) -> torch.Tensor:
        """The geometric augmentation of one batch of images (the GAN lab's real images); no jitter."""
        ops = list(self.geometry)
        if self.crop_scale:
            ops.insert(0, K.RandomResizedCrop(tuple(x.shape[-2:]), scale=(self.crop_scale, 1.0)))
        for op in ops:
            x = op(x)
        return x

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.paired and self.size_dependent and a.shape[-2:] != b.shape[-2:]:
            raise ValueError(
                "random crops and affine transforms need A and B of one size; super-resolution supports flips only"
            )
        ops = list(self.geometry)
        if self.crop_scale:
            ops.insert(0, K.RandomResizedCrop(tuple(a.shape[-2:]), scale=(self.crop_scale, 1.0)))
        for op in ops:
            params = op.forward_parameters(a.shape)
            a = op(a, params=params)
            if self.paired:
                b = op(b, params=params)
            else:
                if isinstance(op, K.RandomResizedCrop):
                    op = K.RandomResizedCrop(tuple(b.shape[-2:]), scale=(self.crop_scale, 1.0))
                b = op(b, params=op.forward_parameters(b.shape))
        if self.jitter:
            jitter = self.color if a.shape[1] == 3 else self.gray_jitter
            a = jitter((a + 1.0) / 2.0) * 2.0 - 1.0  # kornia's colour ops work in [0, 1]
        return a, b
