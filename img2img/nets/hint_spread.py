"""Colour hints spread over the image before a generator sees them.

A hint model's input ends with sparse hint channels: a few patches of colour and their mask
(:mod:`img2img_runtime.hints`). A net trained for minutes on a few dozen photos learns slowly
to carry a colour from a handful of pixels to a whole region. :class:`HintSpread` does the
carrying that needs no learning and hands the generator dense guesses beside the sparse hints:
for each cell size (and for the whole image), the hints' mean colour over the cell
(normalised convolution: the pooled ``colour * mask`` over the pooled ``mask``), upsampled
bilinearly, and a confidence in ``[0, 1)`` (0 where no hint is near). The generator then
refines those guesses along the edges of its input. Every operation exports to ONNX and runs
on any input size.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .registry import build_model, register_arch


@register_arch
class HintSpread(nn.Module):
    """``net`` behind a hint spreader: input ``image + hints`` (the last ``hint_channels``:
    colour then mask), the inner net reads ``image + hints + (len(cells) + 1) * hint_channels``.

    Args:
        net: the inner generator's config (``build_model``); its ``in_channels`` must be the
            outer input's plus the spread channels (:meth:`extra_channels`).
        hint_channels: colour channels + 1 (the mask).
        cells: cell sizes of the spread guesses, in pixels (a whole-image guess is added).
    """

    arch = "hint_spread"
    kind = "generator"

    def __init__(self, *, net: dict[str, Any], hint_channels: int = 3, cells: tuple[int, ...] = (4, 16, 64)) -> None:
        super().__init__()
        self.hint_channels = int(hint_channels)
        self.cells = tuple(int(c) for c in cells)
        self.net = build_model(net)
        extra = self.extra_channels(self.hint_channels, self.cells)
        self.in_channels = self.net.in_channels - extra
        if self.in_channels <= self.hint_channels:
            raise ValueError(
                f"the inner net reads {self.net.in_channels} channels: that leaves no image channel beside "
                f"{self.hint_channels} hint and {extra} spread channels"
            )
        self.out_channels = self.net.out_channels
        self.scale = getattr(self.net, "scale", 1)
        self.size_multiple = getattr(self.net, "size_multiple", 1)
        self.min_size = getattr(self.net, "min_size", 1)

    @staticmethod
    def extra_channels(hint_channels: int, cells: tuple[int, ...] = (4, 16, 64)) -> int:
        """Channels the spreader adds: a colour guess and a confidence per cell size and the whole image."""
        return (len(cells) + 1) * hint_channels

    def spread(self, hints: torch.Tensor) -> torch.Tensor:
        """``N x hint_channels x H x W`` -> the guesses ``N x extra x H x W``."""
        colour, mask = hints[:, :-1], hints[:, -1:].clamp(0.0, 1.0)
        weighted = torch.cat([colour * mask, mask], 1)
        size = hints.shape[-2:]
        guesses = []
        for cell in self.cells:  # zero-padded to whole cells (a partial cell is a cell with fewer hints)
            padded = F.pad(weighted, (0, (-size[1]) % cell, 0, (-size[0]) % cell))
            pooled = F.avg_pool2d(padded, cell, cell)
            pooled = F.interpolate(pooled, scale_factor=cell, mode="bilinear", align_corners=False)
            guesses.append(self._guess(pooled[:, :, : size[0], : size[1]], 1.0 / (cell * cell)))
        pooled = weighted.mean(dim=(2, 3), keepdim=True)
        guesses.append(self._guess(pooled, 1e-4).expand(-1, -1, size[0], size[1]))
        return torch.cat(guesses, 1)

    @staticmethod
    def _guess(pooled: torch.Tensor, one_pixel: float) -> torch.Tensor:
        """(pooled colour * mask, pooled mask) -> (mean colour of the hints, confidence)."""
        colour, cover = pooled[:, :-1], pooled[:, -1:]
        return torch.cat([colour / (cover + 1e-6), cover / (cover + one_pixel)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hints = x[:, x.shape[1] - self.hint_channels :]
        return self.net(torch.cat([x, self.spread(hints)], 1))
