"""The pix2pix U-Net generator (Isola et al., 2017), built from explicit encoder/decoder lists."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .color_head import GlobalColorHead
from .layers import NormSpec, check_input_size, conv_bias, get_norm_layer, zero_init_
from .registry import register_arch

UPSAMPLINGS = ("transpose", "resize")


class UNetDown(nn.Sequential):
    """One encoder step that halves the size: ``[LeakyReLU(0.2)] -> conv4x4 s2 -> [norm]``.

    Children ``act``, ``conv``, ``norm``; the outermost step has no activation and no norm
    (it sees the image), the innermost has no norm (its output is 1x1).
    """

    def __init__(self, in_channels: int, out_channels: int, *, norm: NormSpec, activation: bool) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if activation:
            layers["act"] = nn.LeakyReLU(0.2)
        has_norm = not (isinstance(norm, str) and norm == "none")
        layers["conv"] = nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=conv_bias(norm) if has_norm else True)
        if has_norm:
            layers["norm"] = get_norm_layer(norm, out_channels)
        super().__init__(layers)


class UNetUp(nn.Sequential):
    """One decoder step that doubles the size: ``ReLU -> up-conv -> norm [-> dropout]``, or
    ``ReLU -> up-conv -> tanh`` for the outermost step.

    The up-conv is a 4x4 stride-2 transposed conv (``upsample="transpose"``), or bilinear x2
    resizing then a 3x3 conv (``upsample="resize"``: no checkerboard artefacts, int8-friendly).
    Children ``act``, ``resize``, ``conv``, ``norm``, ``dropout``, ``tanh``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        norm: NormSpec,
        dropout: float,
        upsample: str,
        outermost: bool = False,
        tanh: bool = True,
    ) -> None:
        bias = True if outermost else conv_bias(norm)
        layers: OrderedDict[str, nn.Module] = OrderedDict(act=nn.ReLU())
        if upsample == "transpose":
            layers["conv"] = nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=bias)
        else:
            layers["resize"] = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            layers["conv"] = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=bias)
        if outermost:
            if tanh:
                layers["tanh"] = nn.Tanh()
        else:
            layers["norm"] = get_norm_layer(norm, out_channels)
            if dropout > 0:
                layers["dropout"] = nn.Dropout(dropout)
        super().__init__(layers)


@register_arch
class UNetGenerator(nn.Module):
    """U-Net generator with skip connections by concatenation (pix2pix).

    ``down[i]`` (i = 0 .. num_downs-1) halves the size and outputs ``base_channels * min(2**i, 8)``
    channels. ``up[j]`` doubles it and runs in list order: ``up[0]`` follows the innermost
    (1x1 for the smallest input) step, every ``up[j]`` but the last is concatenated with the
    matching encoder output (skip first, as in the reference), and ``up[-1]`` ends in tanh.
    As in the reference, dropout is on the decoder steps of the ``8 * base_channels`` levels
    between the innermost and the four outermost levels: 3 steps for ``num_downs=8``, 2 for 7.
    With dropout the net is stochastic in train mode.

    Args:
        in_channels: input image channels.
        out_channels: output image channels.
        num_downs: number of stride-2 steps; inputs must be multiples of ``2**num_downs``.
        base_channels: channels after the first step (``ngf``); widths are capped at 8x this.
        norm: ``"batch" | "instance" | "none"`` or a callable, see ``layers.get_norm_layer``.
        dropout: dropout probability in the inner decoder steps (0 disables it).
        upsample: ``"transpose"`` (4x4 transposed conv) or ``"resize"`` (bilinear x2 + 3x3 conv).
        residual: predict a correction to the input: ``out = hardtanh(x + up[-1](h))`` (no tanh),
            for ``in_channels == out_channels``. With small initial weights the net starts as the
            identity, so a restoration model never starts below its input.
        global_context: add a summary of the whole picture to every position of the innermost
            level: ``h + mlp(mean(h))`` over all positions (the global-feature fusion of
            Iizuka et al., 2016). A photo-wide change (a colour cast, a fade) is then judged from
            the whole photo, not from one receptive field; the MLP's last layer starts at zero.
            Tiled inference judges each tile on its own.
        zero_start: the last conv starts at zero, so a new net outputs 0 everywhere: for Lab
            colorization (the net predicts the colour channels ab) that is no colour, i.e. the
            gray input itself, the trivial baseline, and training moves it from there (what
            ``residual`` does for nets whose input and output are the same kind of picture).
        global_color: first correct the whole input with a photo-wide 3 x 4 colour transform
            predicted from its histograms (:class:`~img2img.nets.color_head.GlobalColorHead`,
            starts as the identity); the U-Net then repairs the corrected picture. For fading and
            colour casts, which a receptive field cannot judge. The net then reports
            ``image_statistics``: inference runs it on whole images, not tiles.
        detail_sigma: with ``residual``, the correction is high-passed: its Gaussian blur of
            this sigma (pixels) is taken away, so the U-Net repairs detail (noise, scratches,
            dust) and leaves tone over larger areas to the input (and the colour head). 0: off.
        global_vignette: the colour head also undoes a darkening towards the photo's corners
            (``GlobalColorHead(vignette=True)``); needs ``global_color``.
        color_window: the colour head judges an input larger than this many pixels (the training
            crop size) from windows of it that look like training crops, and averages
            (``GlobalColorHead(window=...)``); needs ``global_color``. 0: from the whole input.
        vignette_scale: at inference the predicted vignette is undone at this share (0 to 1) of
            its strength (``GlobalColorHead(vignette_scale=...)``); needs ``global_vignette``
            when not 1.

    Shape:
        ``(N, in_channels, H, W) -> (N, out_channels, H, W)``, values in [-1, 1];
        H and W multiples of ``size_multiple = 2**num_downs`` (callers pad and crop).

    Example:
        >>> net = UNetGenerator(num_downs=8)
        >>> net(torch.zeros(1, 3, 256, 256)).shape
        torch.Size([1, 3, 256, 256])
    """

    arch: ClassVar[str] = "unet"
    kind: ClassVar[str] = "generator"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "unet_128": {"num_downs": 7},  # pix2pix U-Net for 128x128 inputs
        "unet_256": {"num_downs": 8},  # pix2pix U-Net for 256x256 inputs
    }

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        base_channels: int = 64,
        norm: NormSpec = "batch",
        dropout: float = 0.5,
        upsample: str = "transpose",
        residual: bool = False,
        global_context: bool = False,
        global_color: bool = False,
        global_vignette: bool = False,
        detail_sigma: float = 0.0,
        zero_start: bool = False,
        color_window: int = 0,
        vignette_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if residual and in_channels != out_channels:
            raise ValueError(
                f"a residual U-Net needs in_channels == out_channels, got {in_channels} and {out_channels}"
            )
        if num_downs < 2:
            raise ValueError(f"UNetGenerator needs num_downs >= 2, got {num_downs}")
        if upsample not in UPSAMPLINGS:
            raise ValueError(f"upsample must be one of {UPSAMPLINGS}, got {upsample!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.residual = residual
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale = 1
        self.size_multiple = 2**num_downs
        self.min_size = self.size_multiple

        widths = [base_channels * min(2**i, 8) for i in range(num_downs)]  # output width of down[i]
        innermost = num_downs - 1
        self.down = nn.ModuleList(
            UNetDown(
                in_channels if i == 0 else widths[i - 1],
                widths[i],
                norm="none" if i in (0, innermost) else norm,
                activation=i > 0,
            )
            for i in range(num_downs)
        )
        # Decoder in the order it runs: level i = innermost, ..., 0 (the outermost).
        self.up = nn.ModuleList(
            UNetUp(
                widths[i] if i == innermost else 2 * widths[i],  # skip concatenation doubles it
                out_channels if i == 0 else widths[i - 1],
                norm=norm,
                dropout=dropout if 4 <= i < innermost else 0.0,
                upsample=upsample,
                outermost=i == 0,
                tanh=not residual,
            )
            for i in reversed(range(num_downs))
        )
        if residual or zero_start:
            zero_init_(self.up[-1].conv)  # starts as the identity (residual) or at 0
        if detail_sigma < 0 or (detail_sigma > 0 and not residual):
            raise ValueError(
                f"detail_sigma (>= 0, got {detail_sigma}) high-passes the residual: it needs residual=True"
            )
        self.detail = GaussianBlur(detail_sigma) if detail_sigma > 0 else None
        if global_vignette and not global_color:
            raise ValueError("global_vignette is part of the colour head: it needs global_color=True")
        if vignette_scale != 1.0 and not global_vignette:
            raise ValueError(
                f"vignette_scale ({vignette_scale}) scales the colour head's vignette: it needs global_vignette=True"
            )
        if color_window and not global_color:
            raise ValueError("color_window is part of the colour head: it needs global_color=True")
        self.color = (
            GlobalColorHead(in_channels, vignette=global_vignette, window=color_window, vignette_scale=vignette_scale)
            if global_color
            else None
        )
        self.context: nn.Sequential | None = None
        if global_context:
            width = widths[innermost]
            self.context = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.2), nn.Linear(width, width))
            zero_init_(self.context[2])  # starts without effect

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, multiple=self.size_multiple, min_size=self.min_size, name="UNetGenerator")
        if self.color is not None:
            x = self.color(x)
        skips = []
        h = x
        for block in self.down:
            h = block(h)  # (n, widths[i], H / 2**(i+1), W / 2**(i+1))
            skips.append(h)
        skips.pop()  # the innermost output feeds the decoder directly
        if self.context is not None:
            h = h + self.context(h.mean(dim=(2, 3)))[:, :, None, None]
        for block in self.up[:-1]:
            h = torch.cat([skips.pop(), block(h)], dim=1)  # (n, 2 * widths[i], ...)
        if self.residual:
            correction = self.up[-1](h)
            if self.detail is not None:  # detail only: the photo-wide and regional tone is the colour head's
                correction = correction - self.detail(correction)
            return F.hardtanh(x + correction)
        return self.up[-1](h)


class GaussianBlur(nn.Module):
    """A fixed separable Gaussian blur of every channel (``sigma`` pixels, radius ``3 sigma``,
    edges replicated), as two depthwise convolutions: it exports to ONNX with any size."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        radius = max(1, math.ceil(3 * sigma))
        taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
        self.register_buffer("taps", taps / taps.sum(), persistent=False)
        self.radius = radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32 or torch.is_autocast_enabled(x.device.type):
            # in float32: bf16 depthwise convolutions with long taps take minutes a step on CPUs
            with torch.autocast(x.device.type, enabled=False):
                return self._blur(x.float()).to(x.dtype)
        return self._blur(x)

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        c, r = x.shape[1], self.radius
        taps = self.taps.to(x.dtype)
        x = F.pad(x, (r, r, r, r), mode="replicate")
        x = F.conv2d(x, taps.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(x, taps.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
