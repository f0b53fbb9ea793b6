"""Shared building blocks: norm and activation factories, conv blocks, size checks.

Every architecture file builds from these, so the choices that must agree across nets
(which norm, whether a conv before it has a bias, which activation) are made here once.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Callable, Union

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

NormSpec = Union[str, Callable[[int], nn.Module]]
"""``"batch" | "instance" | "none"`` or a callable ``(num_features) -> nn.Module``."""

ActivationSpec = Union[str, Callable[[], nn.Module]]
"""``"relu" | "leaky_relu" | "prelu" | "tanh" | "none"`` or a callable ``() -> nn.Module``."""

NORMS = ("batch", "instance", "none")
ACTIVATIONS = ("relu", "leaky_relu", "prelu", "tanh", "none")


def get_norm_layer(norm: NormSpec, num_features: int) -> nn.Module:
    """Build a 2d normalisation layer.

    Args:
        norm: ``"batch"`` (``BatchNorm2d``), ``"instance"`` (``InstanceNorm2d`` with
            ``affine=False, track_running_stats=False``, as in the pix2pix/CycleGAN reference),
            ``"none"`` (``Identity``), or a callable ``(num_features) -> nn.Module``.
        num_features: number of channels to normalise.
    """
    if callable(norm):
        return norm(num_features)
    if norm == "batch":
        return nn.BatchNorm2d(num_features)
    if norm == "instance":
        return nn.InstanceNorm2d(num_features, affine=False, track_running_stats=False)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS} or a callable (num_features) -> nn.Module")


def conv_bias(norm: NormSpec) -> bool:
    """Whether a conv followed by ``norm`` should have a bias: the one place this is decided.

    A batch norm subtracts the batch mean and adds its own learnable shift, so a bias before it
    is redundant (False). ``"none"`` and ``"instance"`` keep the bias (True), as the reference does.
    A callable norm is judged without calling it: False when it is a batch-norm class or a
    ``functools.partial`` of one, True otherwise (a redundant bias is harmless, a missing one is not).
    """
    if callable(norm):
        target = norm.func if isinstance(norm, functools.partial) else norm
        return not (isinstance(target, type) and issubclass(target, nn.modules.batchnorm._BatchNorm))
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS} or a callable (num_features) -> nn.Module")
    return norm != "batch"


def get_activation(activation: ActivationSpec) -> nn.Module:
    """Build an activation: ``"relu"``, ``"leaky_relu"`` (slope 0.2), ``"prelu"`` (one learned
    slope), ``"tanh"``, ``"none"`` (``Identity``), or a callable ``() -> nn.Module``."""
    if callable(activation):
        return activation()
    if activation == "relu":
        return nn.ReLU()
    if activation == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if activation == "prelu":
        return nn.PReLU()
    if activation == "tanh":
        return nn.Tanh()
    if activation == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS} or a callable")


def _is_none(spec: NormSpec | ActivationSpec) -> bool:
    return isinstance(spec, str) and spec == "none"


class ConvBlock(nn.Sequential):
    """Convolution, then optional norm, then optional activation.

    Children are named ``conv``, ``norm`` and ``act``; a ``"none"`` norm or activation is left
    out, so state_dict keys read ``conv.weight``, ``norm.running_mean``, ``act.weight`` (PReLU).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        stride: convolution stride.
        padding: padding on each side; default ``kernel_size // 2`` (``"same"`` for stride 1).
        padding_mode: ``"zeros" | "reflect" | "replicate"`` (``"zeros"`` only when transposed).
        norm: see :func:`get_norm_layer`; the conv bias follows :func:`conv_bias`.
        activation: see :func:`get_activation`.
        spectral_norm: wrap the conv in spectral normalisation (a weight parametrization).
        transposed: use ``ConvTranspose2d`` (upsampling by ``stride``).
        output_padding: extra rows/cols on one side of a transposed conv's output.

    Shape:
        ``(N, in_channels, H, W) -> (N, out_channels, H', W')`` with the usual conv arithmetic.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int | None = None,
        padding_mode: str = "zeros",
        norm: NormSpec = "none",
        activation: ActivationSpec = "none",
        spectral_norm: bool = False,
        transposed: bool = False,
        output_padding: int = 0,
    ) -> None:
        padding = kernel_size // 2 if padding is None else padding
        bias = conv_bias(norm)
        if transposed:
            if padding_mode != "zeros":
                raise ValueError(f"a transposed conv only supports padding_mode='zeros', got {padding_mode!r}")
            conv: nn.Module = nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size, stride, padding, output_padding, bias=bias
            )
        else:
            conv = nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, padding, bias=bias, padding_mode=padding_mode
            )
        layers: OrderedDict[str, nn.Module] = OrderedDict(conv=_spectral_norm(conv) if spectral_norm else conv)
        if not _is_none(norm):
            layers["norm"] = get_norm_layer(norm, out_channels)
        if not _is_none(activation):
            layers["act"] = get_activation(activation)
        super().__init__(layers)


class ResidualBlock(nn.Module):
    """``x + norm2(conv2(dropout(act(norm1(conv1(x))))))`` with two 3x3 convs of equal width.

    Used by the CycleGAN ResNet generator (instance norm, ReLU, reflection padding) and by
    SRResNet (batch norm, PReLU, zero padding).

    Args:
        channels: input and output channels.
        norm: see :func:`get_norm_layer`.
        activation: see :func:`get_activation`.
        padding_mode: ``"zeros" | "reflect" | "replicate"``.
        dropout: dropout probability after the activation (0 disables it).

    Shape:
        ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(
        self,
        channels: int,
        *,
        norm: NormSpec,
        activation: ActivationSpec,
        padding_mode: str = "zeros",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        bias = conv_bias(norm)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding_mode, bias=bias)
        self.norm1 = get_norm_layer(norm, channels)
        self.act = get_activation(activation)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding_mode, bias=bias)
        self.norm2 = get_norm_layer(norm, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.act(self.norm1(self.conv1(x))))
        return x + self.norm2(self.conv2(h))


class PixelShuffleUpsample(nn.Sequential):
    """Sub-pixel upsampling: 3x3 conv to ``out_channels * factor**2``, ``PixelShuffle(factor)``,
    optional activation. Children ``conv``, ``shuffle``, ``act``.

    Shape:
        ``(N, in_channels, H, W) -> (N, out_channels, factor*H, factor*W)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, factor: int, *, activation: ActivationSpec = "none"
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels * factor**2, 3, padding=1),
            shuffle=nn.PixelShuffle(factor),
        )
        if not _is_none(activation):
            layers["act"] = get_activation(activation)
        super().__init__(layers)


def check_input_size(x: torch.Tensor, *, multiple: int, min_size: int, name: str) -> None:
    """Raise a ``ValueError`` naming the constraint when ``x``'s height or width is not a multiple
    of ``multiple`` or is below ``min_size``. Nets never pad: callers pad and crop back.

    Skipped while tracing, scripting or compiling/exporting, where sizes may be symbolic.
    """
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return
    h, w = x.shape[-2:]
    if h % multiple or w % multiple or h < min_size or w < min_size:
        raise ValueError(
            f"{name} needs height and width that are multiples of {multiple} and at least {min_size}, "
            f"got {h}x{w}; pad the input and crop the output (img2img's Translator does this)"
        )


_NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LayerNorm)


def is_unnormalized(net: nn.Module) -> bool:
    """Whether ``net`` has convolutions and no normalisation layer (batch, instance, group, layer norm)."""
    modules = list(net.modules())
    return any(isinstance(m, nn.Conv2d) for m in modules) and not any(isinstance(m, _NORM_LAYERS) for m in modules)


@torch.no_grad()
def init_weights(net: nn.Module, *, scheme: str = "normal", gain: float = 0.02, linear: bool = False) -> nn.Module:
    """Re-initialise conv weights in place, as the pix2pix/CycleGAN reference does.

    Conv weights get ``N(0, gain)`` (``"normal"``), Xavier-normal or Kaiming-normal (``"xavier"``,
    ``"kaiming"``), conv biases 0; batch-norm weights ``N(1, gain)`` and biases 0; with ``linear``,
    dense layers as the convs (DCGAN: every weight ``N(0, 0.02)``). Spectral-norm convs get their
    singular-vector estimates again for the new weights (the old ones overstated the norm up to
    190-fold until training had run its power iterations). Constructors keep PyTorch's default
    init; training tasks call this when they want the reference recipe.

    Returns:
        ``net``, for chaining.
    """
    if scheme not in ("normal", "xavier", "kaiming"):
        raise ValueError(f"unknown init scheme {scheme!r}; expected 'normal', 'xavier' or 'kaiming'")
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear) if linear else (nn.Conv2d, nn.ConvTranspose2d)
    for module in net.modules():
        if isinstance(module, kinds):
            weight = module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight
            if scheme == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif scheme == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            else:
                nn.init.kaiming_normal_(weight, a=0.0, mode="fan_in")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            for parametrization in getattr(getattr(module, "parametrizations", None), "weight", ()):
                if hasattr(parametrization, "_power_method"):  # spectral norm: estimate the new weight's norm
                    parametrization._power_method(parametrization._reshape_weight_to_matrix(weight.detach()), 15)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    for module in net.modules():  # residual heads keep starting at zero whatever the scheme
        if getattr(module, "zero_init", False):
            zero_init_(module)
    return net


def uses_image_statistics(net: nn.Module) -> bool:
    """True if ``net`` normalises by statistics of each input (instance norm), or otherwise reads
    statistics of the whole input (a module with ``image_statistics = True``, such as
    :class:`~img2img.nets.color_head.GlobalColorHead`), so that running it on tiles of an image
    is not the same as running it on the whole image."""
    return any(isinstance(m, nn.InstanceNorm2d) or getattr(m, "image_statistics", False) for m in net.modules())


def zero_init_(conv: nn.Module) -> nn.Module:
    """Zero a conv's weight and bias and mark it ``zero_init`` so :func:`init_weights` keeps it at zero.

    Used for the last conv of a net that predicts a correction to its input (a global residual):
    the net starts as exactly its baseline (identity, or bicubic upscaling) and learns from there.
    """
    weight = conv.parametrizations.weight.original if hasattr(conv, "parametrizations") else conv.weight
    with torch.no_grad():
        weight.zero_()
        if conv.bias is not None:
            conv.bias.zero_()
    conv.zero_init = True
    return conv
