"""CompactSR: a small plain-convolution super-resolution generator for fast CPU inference."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvBlock, PixelShuffleUpsample
from .registry import register_arch


@register_arch
class CompactSR(nn.Module):
    """A few 3x3 convs at low resolution, sub-pixel upsampling, and a global residual.

    In the spirit of ESPCN/FSRCNN: ``num_convs`` 3x3 conv + PReLU layers of width
    ``base_channels`` run on the low-resolution input, a 3x3 conv maps to
    ``out_channels * scale**2`` and ``PixelShuffle(scale)`` rearranges that to the output size.
    The net predicts a correction to the bilinearly upsampled input (added when
    ``in_channels == out_channels``), clamped to [-1, 1] with hardtanh. Only convs, PReLU,
    pixel shuffle and a resize: cheap on CPUs and easy for ONNX/int8 runtimes. With the
    defaults it costs about a tenth of SRResNet's FLOPs at the same scale.

    Args:
        in_channels: low-resolution input channels.
        out_channels: high-resolution output channels.
        base_channels: width of the low-resolution convs.
        num_convs: number of 3x3 conv + PReLU layers before the upsampling conv.
        scale: integer upscaling factor.

    Shape:
        ``(N, in_channels, H, W) -> (N, out_channels, scale*H, scale*W)``, values in [-1, 1];
        any H, W (``size_multiple = 1``).
    """

    arch: ClassVar[str] = "compact_sr"
    kind: ClassVar[str] = "generator"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"compact_sr_x2": {"scale": 2}, "compact_sr_x4": {"scale": 4}}

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        base_channels: int = 64,
        num_convs: int = 5,
        scale: int = 4,
    ) -> None:
        super().__init__()
        if scale < 1:
            raise ValueError(f"CompactSR scale must be a positive integer, got {scale}")
        if num_convs < 1:
            raise ValueError(f"CompactSR needs num_convs >= 1, got {num_convs}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale = scale
        self.size_multiple = 1
        self.min_size = 1
        self.residual = in_channels == out_channels

        c = base_channels
        self.body = nn.Sequential(
            *(ConvBlock(in_channels if i == 0 else c, c, 3, activation="prelu") for i in range(num_convs))
        )
        self.upsample = PixelShuffleUpsample(c, out_channels, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.upsample(self.body(x))  # (n, out_channels, scale * H, scale * W)
        if self.residual:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return F.hardtanh(y)
