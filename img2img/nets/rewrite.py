"""Export-time rewrites of a trained generator: the same function, in ops that run faster or
quantize to int8 in onnxruntime.

* :func:`fold_batch_norm`: an eval-mode ``BatchNorm2d`` right after a convolution (or transposed
  convolution) is folded into that convolution's weights and bias.
* :class:`SubPixelConvTranspose2d`: a stride-2 transposed convolution (the U-Net's and the
  ResNet's upsampling) computed as one 2x2 convolution to ``4 x out`` channels, shifted crops
  and a depth-to-space. Each output pixel of a stride-2 transposed conv sees a window of the
  input through one "phase" of the kernel, so this is the same sum of the same products;
  onnxruntime has an int8 kernel for it and none for ``ConvTranspose``.
* single-slope ``PReLU`` -> ``LeakyReLU`` (onnxruntime has no quantized PReLU).

:func:`for_export` applies all three to a copy; the caller's net is never changed. Each rewrite
is exact up to float rounding; the export checks torch's original net against onnxruntime.

Derivation of the phases (one axis; the other is the same), for the U-Net's layer: a transposed
conv with stride 2, padding 1 and kernel ``w[0..3]`` writes ``x[i] * w[k]`` to output
``2i - 1 + k``. Output ``2m`` (phase 0) therefore receives ``x[m-1] * w[3] + x[m] * w[1]`` and
output ``2m + 1`` (phase 1) receives ``x[m] * w[2] + x[m+1] * w[0]``. A 2x2 cross-correlation of
the input zero-padded by 1 gives, at position ``j``, ``x[j-1] * K[0] + x[j] * K[1]``: phase 0 is
position ``m`` with ``K = (w[3], w[1])`` and phase 1 is position ``m + 1`` with
``K = (w[2], w[0])``. :func:`_phase_taps` does this for any kernel, stride and padding.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from .layers import ResidualBlock


def _phase_taps(kernel: int, stride: int, padding: int) -> list[dict[int, int]]:
    """For each output phase ``a`` (outputs ``stride * m + a``): ``{input offset d: kernel tap k}``,
    i.e. the phase receives ``sum x[m + d] * w[k]``. From ``y[stride * i - padding + k] += x[i] * w[k]``."""
    phases = []
    for a in range(stride):
        taps = {}
        for k in range(kernel):
            if (k - a - padding) % stride == 0:
                taps[-(k - a - padding) // stride] = k
        phases.append(taps)
    return phases


class SubPixelConvTranspose2d(nn.Module):
    """A stride-``s`` ``ConvTranspose2d`` whose output is exactly ``s`` times its input, computed as
    one small conv to ``s*s x out`` channels, shifted crops and a depth-to-space.

    Build it with :meth:`from_transposed`; ``forward`` gives the transposed conv's output (to float
    rounding) for any input size. Each output phase ``(a, b)`` (rows ``s*m + a``, columns
    ``s*n + b``) sees a window of at most ``kernel`` input pixels per axis; the conv has that
    window size, its output channels are ordered ``(s*a + b) * out + channel``, and phase
    ``(a, b)`` is read from it at its own offset. For the U-Net's 4x4 stride-2 padding-1 layer the
    conv is 2x2 and the FLOPs equal the transposed conv's; for the ResNet's 3x3 stride-2
    ``output_padding=1`` layer it is 2x2 with some zero taps (16 instead of 9 products per
    input pixel, still faster than a float ``ConvTranspose`` once in int8).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        window: int,
        offsets: list[int],
        pad: tuple[int, int],
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.out_channels, self.stride, self.offsets, self.pad = out_channels, stride, offsets, pad
        self.conv = nn.Conv2d(in_channels, stride * stride * out_channels, window, bias=bias)

    @staticmethod
    def supports(layer: nn.Module) -> bool:
        if (
            not isinstance(layer, nn.ConvTranspose2d)
            or layer.groups != 1
            or layer.dilation != (1, 1)
            or layer.padding_mode != "zeros"
            or len(set(layer.stride)) != 1
            or layer.stride[0] < 2
        ):
            return False
        k, s, p, op = layer.kernel_size, layer.stride, layer.padding, layer.output_padding
        # output exactly s * input on both axes, and the same layout on both (square kernel)
        return k[0] == k[1] and p[0] == p[1] and op[0] == op[1] and k[0] + op[0] - 2 * p[0] == s[0]

    @classmethod
    def from_transposed(cls, layer: nn.ConvTranspose2d) -> SubPixelConvTranspose2d:
        if not cls.supports(layer):
            raise ValueError(
                f"only square stride-s transposed convolutions with an output of exactly s x the input "
                f"are rewritten, got {layer}"
            )
        s, kernel, padding = layer.stride[0], layer.kernel_size[0], layer.padding[0]
        phases = _phase_taps(kernel, s, padding)
        starts = [min(taps) for taps in phases]
        window = max(max(taps) - min(taps) + 1 for taps in phases)
        pad_before = max(0, -min(starts))
        pad_after = max(0, max(start + window - 1 for start in starts))  # conv output >= H + max offset
        offsets = [start + pad_before for start in starts]
        weight = layer.weight.detach()  # (in, out, k, k)
        kernels = torch.zeros(s * s, layer.out_channels, layer.in_channels, window, window, dtype=weight.dtype)
        for a in range(s):
            for b in range(s):
                for dy, ky in phases[a].items():
                    for dx, kx in phases[b].items():
                        kernels[s * a + b, :, :, dy - starts[a], dx - starts[b]] = weight[:, :, ky, kx].T
        module = cls(
            layer.in_channels,
            layer.out_channels,
            s,
            window,
            offsets,
            (pad_before, pad_after),
            bias=layer.bias is not None,
        )
        with torch.no_grad():
            module.conv.weight.copy_(kernels.flatten(0, 1))
            if layer.bias is not None:
                module.conv.bias.copy_(layer.bias.detach().repeat(s * s))
        return module.to(weight.device, weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        before, after = self.pad
        y = self.conv(F.pad(x, (before, after, before, after)) if before or after else x)
        c, s, off = self.out_channels, self.stride, self.offsets
        crops = [
            y[:, (s * a + b) * c : (s * a + b + 1) * c, off[a] : off[a] + h, off[b] : off[b] + w]
            for a in range(s)
            for b in range(s)
        ]
        # stack to (n, out, s*s, h, w): channel index out * s*s + phase, the order pixel_shuffle expects
        return F.pixel_shuffle(torch.stack(crops, dim=2).reshape(n, s * s * c, h, w), s)


def _fold_into(conv: nn.Conv2d | nn.ConvTranspose2d, norm: nn.BatchNorm2d) -> nn.Module:
    """A copy of ``conv`` with the eval-mode ``norm`` that follows it folded in."""
    conv = copy.deepcopy(conv)
    mean = norm.running_mean if norm.running_mean is not None else torch.zeros(norm.num_features)
    var = norm.running_var if norm.running_var is not None else torch.ones(norm.num_features)
    scale = torch.rsqrt(var + norm.eps)
    if norm.affine:
        scale = scale * norm.weight.detach()
    shift = -mean * scale + (norm.bias.detach() if norm.affine else 0.0)
    with torch.no_grad():
        out_axis = 1 if isinstance(conv, nn.ConvTranspose2d) else 0
        shape = [1] * conv.weight.dim()
        shape[out_axis] = -1
        conv.weight.mul_(scale.reshape(shape))
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(scale)
        conv.bias = nn.Parameter(bias * scale + shift)
    return conv


def _foldable(conv: nn.Module, norm: nn.Module) -> bool:
    return (
        isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d))
        and conv.groups == 1
        and type(norm) is nn.BatchNorm2d
        and norm.track_running_stats
    )


def fold_batch_norm(net: nn.Module) -> nn.Module:
    """Fold every ``BatchNorm2d`` that directly follows a conv (in place; the norm becomes
    ``Identity``): consecutive children of an ``nn.Sequential``, and ``conv1``/``norm1``,
    ``conv2``/``norm2`` of a :class:`~img2img.nets.layers.ResidualBlock`. Only for eval mode:
    the running statistics are used."""
    for module in net.modules():
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            pairs = list(zip(names, names[1:]))
        elif isinstance(module, ResidualBlock):
            pairs = [("conv1", "norm1"), ("conv2", "norm2")]
        else:
            continue
        for first, second in pairs:
            conv, norm = module._modules[first], module._modules[second]
            if _foldable(conv, norm):
                module._modules[first] = _fold_into(conv, norm)
                module._modules[second] = nn.Identity()
    return net


def _replace(net: nn.Module, rule) -> nn.Module:  # noqa: ANN001 - rule: module -> module | None
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            new = rule(child)
            if new is not None:
                setattr(parent, name, new)
    return net


def for_export(net: nn.Module, *, subpixel: bool = True) -> nn.Module:
    """A rewritten eval-mode copy of ``net`` for ONNX export (see the module doc)."""
    net = fold_batch_norm(copy.deepcopy(net).eval())

    def leaky_relu(m: nn.Module) -> nn.Module | None:
        single_slope = isinstance(m, nn.PReLU) and m.weight.numel() == 1
        return nn.LeakyReLU(float(m.weight.detach())) if single_slope else None

    def sub_pixel(m: nn.Module) -> nn.Module | None:
        return SubPixelConvTranspose2d.from_transposed(m) if SubPixelConvTranspose2d.supports(m) else None

    _replace(net, leaky_relu)
    if subpixel:
        _replace(net, sub_pixel)
    return net


__all__ = ["SubPixelConvTranspose2d", "fold_batch_norm", "for_export"]
