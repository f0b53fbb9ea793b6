"""The CycleGAN ResNet generator (Johnson et al., 2016; Zhu et al., 2017)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from .layers import ConvBlock, NormSpec, ResidualBlock, check_input_size
from .registry import register_arch

PADDINGS = ("reflect", "replicate", "zeros")


@register_arch
class ResnetGenerator(nn.Module):
    """Encoder, residual blocks at 1/4 resolution, decoder (CycleGAN).

    Layout: 7x7 conv (``base_channels``), two 3x3 stride-2 convs (2x, 4x ``base_channels``),
    ``num_blocks`` residual blocks (conv3x3-norm-ReLU-conv3x3-norm + skip), two 3x3 stride-2
    transposed convs (``output_padding=1``), 7x7 conv to ``out_channels`` and tanh. Every conv
    but the last is followed by norm and ReLU; the 7x7 convs and the residual blocks use
    ``padding``, the stride-2 convs zero padding, as in the reference.

    Args:
        in_channels: input image channels.
        out_channels: output image channels.
        base_channels: width of the first conv (``ngf``).
        num_blocks: number of residual blocks (6 for 128px, 9 for 256px in the reference).
        norm: ``"batch" | "instance" | "none"`` or a callable, see ``layers.get_norm_layer``.
        dropout: dropout probability inside the residual blocks (0 disables it).
        padding: ``"reflect" | "replicate" | "zeros"``.

    Shape:
        ``(N, in_channels, H, W) -> (N, out_channels, H, W)``, values in [-1, 1]; H and W
        multiples of ``size_multiple = 4`` and at least ``min_size`` (8 with reflection padding).
    """

    arch: ClassVar[str] = "resnet"
    kind: ClassVar[str] = "generator"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "resnet_6blocks": {"num_blocks": 6},  # 128x128 images in the reference
        "resnet_9blocks": {"num_blocks": 9},  # 256x256 images in the reference
    }

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        base_channels: int = 64,
        num_blocks: int = 9,
        norm: NormSpec = "instance",
        dropout: float = 0.0,
        padding: str = "reflect",
    ) -> None:
        super().__init__()
        if num_blocks < 0:
            raise ValueError(f"ResnetGenerator needs num_blocks >= 0, got {num_blocks}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale = 1
        self.size_multiple = 4
        # Reflection padding of 1 in the residual blocks, and instance norm (statistics over more than
        # one pixel), need at least 2x2 at 1/4 resolution.
        self.min_size = 8

        b = base_channels
        self.stem = ConvBlock(in_channels, b, 7, padding_mode=padding, norm=norm, activation="relu")
        self.down = nn.Sequential(
            ConvBlock(b, 2 * b, 3, stride=2, norm=norm, activation="relu"),
            ConvBlock(2 * b, 4 * b, 3, stride=2, norm=norm, activation="relu"),
        )
        self.blocks = nn.Sequential(
            *(
                ResidualBlock(4 * b, norm=norm, activation="relu", padding_mode=padding, dropout=dropout)
                for _ in range(num_blocks)
            )
        )
        up = dict(stride=2, transposed=True, output_padding=1, norm=norm, activation="relu")
        self.up = nn.Sequential(ConvBlock(4 * b, 2 * b, 3, **up), ConvBlock(2 * b, b, 3, **up))
        self.head = ConvBlock(b, out_channels, 7, padding_mode=padding, activation="tanh")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, multiple=self.size_multiple, min_size=self.min_size, name="ResnetGenerator")
        h = self.down(self.stem(x))  # (n, 4 * base, H / 4, W / 4)
        h = self.up(self.blocks(h))  # (n, base, H, W)
        return self.head(h)
