"""SRResNet, the SRGAN generator (Ledig et al., 2017)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvBlock, PixelShuffleUpsample, ResidualBlock, zero_init_
from .registry import register_arch

SCALES = (2, 4, 8)


@register_arch
class SRResNet(nn.Module):
    """Residual super-resolution network with sub-pixel upsampling.

    Layout: 9x9 conv + PReLU; ``num_blocks`` residual blocks (conv3x3-BN-PReLU-conv3x3-BN + skip);
    conv3x3-BN plus a long skip from the first conv; ``log2(scale)`` upsampling stages
    (conv3x3 to 4x channels, ``PixelShuffle(2)``, PReLU); 9x9 conv to ``out_channels`` and tanh.

    Args:
        in_channels: low-resolution input channels.
        out_channels: high-resolution output channels.
        base_channels: width of the trunk.
        num_blocks: number of residual blocks.
        scale: upscaling factor, 2, 4 or 8.
        residual: predict a correction to the bicubically upscaled input,
            ``out = hardtanh(bicubic(x) + head(h))`` (the head has no tanh), for
            ``in_channels == out_channels``: the net starts near bicubic upscaling instead of gray.
        head_kernel: kernel size of the last conv, which runs at the output resolution: 9 as in
            the paper, or a smaller odd size (3, as ESRGAN's last convs). At x4 on a CPU the 9x9
            head takes about half of a pixel-loss training step (``bench/train_speed.py``).

    Shape:
        ``(N, in_channels, H, W) -> (N, out_channels, scale*H, scale*W)``, values in [-1, 1];
        any H, W (``size_multiple = 1``).
    """

    arch: ClassVar[str] = "srresnet"
    kind: ClassVar[str] = "generator"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "srresnet_x2": {"scale": 2},
        "srresnet_x4": {"scale": 4},  # the SRGAN paper's generator
        "srresnet_x8": {"scale": 8},
    }

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        base_channels: int = 64,
        num_blocks: int = 16,
        scale: int = 4,
        residual: bool = False,
        head_kernel: int = 9,
    ) -> None:
        super().__init__()
        if residual and in_channels != out_channels:
            raise ValueError(
                f"a residual SRResNet needs in_channels == out_channels, got {in_channels} and {out_channels}"
            )
        if scale not in SCALES:
            raise ValueError(f"SRResNet scale must be one of {SCALES}, got {scale}")
        if head_kernel < 1 or head_kernel % 2 == 0:
            raise ValueError(f"SRResNet head_kernel must be a positive odd number, got {head_kernel}")
        if num_blocks < 0:
            raise ValueError(f"SRResNet needs num_blocks >= 0, got {num_blocks}")
        self.residual = residual
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale = scale
        self.size_multiple = 1
        self.min_size = 1

        c = base_channels
        self.stem = ConvBlock(in_channels, c, 9, activation="prelu")
        self.blocks = nn.Sequential(*(ResidualBlock(c, norm="batch", activation="prelu") for _ in range(num_blocks)))
        self.trunk_out = ConvBlock(c, c, 3, norm="batch")
        self.upsample = nn.Sequential(
            *(PixelShuffleUpsample(c, c, 2, activation="prelu") for _ in range(scale.bit_length() - 1))
        )
        self.head = ConvBlock(c, out_channels, head_kernel, activation="none" if residual else "tanh")
        if residual:
            zero_init_(self.head.conv)  # starts as bicubic upscaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)  # (n, c, H, W)
        h = h + self.trunk_out(self.blocks(h))  # long skip
        h = self.upsample(h)  # (n, c, scale * H, scale * W)
        if self.residual:
            upscaled = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
            return F.hardtanh(upscaled + self.head(h))
        return self.head(h)
