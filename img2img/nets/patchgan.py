"""PatchGAN: the one discriminator for every task (Isola et al., 2017), optionally multi-scale."""

from __future__ import annotations

from typing import Any, ClassVar, Union

import torch
from torch import nn

from .layers import ConvBlock, NormSpec
from .registry import register_arch, rename_deprecated

Logits = Union[torch.Tensor, list[torch.Tensor]]

WGANGP_BATCH_NORM_ERROR = (
    "gan_mode 'wgangp' needs a critic without batch norm: the gradient penalty constrains each "
    "sample's gradient, and batch norm makes every critic output depend on the whole batch "
    "(Gulrajani et al. 2017). Use --d-norm instance or --d-norm none "
    "(discriminator_kwargs={'norm': 'instance'}), or another --gan-mode."
)


def is_batch_norm(norm: Any) -> bool:
    """Whether a PatchGAN ``norm`` spec builds batch norm: ``"batch"``, a ``_BatchNorm`` class, or a
    ``functools.partial`` of one."""
    if isinstance(norm, str):
        return norm == "batch"
    target = getattr(norm, "func", norm)
    return isinstance(target, type) and issubclass(target, nn.modules.batchnorm._BatchNorm)


def patchgan_kwargs(
    kwargs: dict[str, Any] | None, *, gan_mode: str, default_norm: NormSpec = "batch"
) -> dict[str, Any]:
    """``PatchGAN`` keyword arguments with the norm resolved for the GAN objective.

    An unset (or ``None``) ``norm`` becomes ``default_norm`` (the task's: batch for pix2pix and
    SRGAN, instance for CycleGAN), except that a WGAN-GP critic defaults to instance norm instead
    of batch norm. An explicit batch norm with ``gan_mode="wgangp"`` raises ``ValueError``. The
    deprecated ``n_layers`` becomes ``num_layers`` (with a ``DeprecationWarning``).
    """
    out = rename_deprecated(PatchGAN, kwargs or {})
    if out.get("norm") is None:
        out["norm"] = "instance" if gan_mode == "wgangp" and is_batch_norm(default_norm) else default_norm
    if gan_mode == "wgangp" and is_batch_norm(out["norm"]):
        raise ValueError(WGANGP_BATCH_NORM_ERROR)
    return out


def check_wgangp_critic(discriminator: nn.Module) -> None:
    """Raise ``ValueError`` if a WGAN-GP critic holds batch-norm layers."""
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules()):
        raise ValueError(WGANGP_BATCH_NORM_ERROR)


@register_arch
class PatchGAN(nn.Module):
    """Fully convolutional discriminator that scores overlapping patches with logits.

    Each scale is: conv4x4 s2 + LeakyReLU(0.2) (no norm); ``num_layers - 1`` x [conv4x4 s2, norm,
    LeakyReLU] with doubling widths capped at ``8 * base_channels``; conv4x4 s1 + norm + LeakyReLU;
    conv4x4 s1 to one channel. Padding is 1 everywhere. Scale ``k`` sees the input average-pooled
    ``k`` times (3x3, stride 2). The output is a logit map: no sigmoid, the GAN loss decides.
    For pix2pix the caller concatenates input and output images (``in_channels=6``).

    Args:
        in_channels: channels of the image (or concatenated images) to score.
        base_channels: width of the first conv (``ndf``).
        num_layers: number of stride-2 convs; receptive field 34, 70, 142 for 2, 3, 4 (``n_layers``,
            its former name, still works, with a ``DeprecationWarning``).
        norm: ``"batch" | "instance" | "none"`` or a callable, see ``layers.get_norm_layer``
            (``"none"`` is the usual choice with spectral norm).
        spectral_norm: wrap every conv in ``torch.nn.utils.parametrizations.spectral_norm``.
        num_scales: number of discriminators on successively downsampled inputs.

    Shape:
        ``(N, in_channels, H, W) -> (N, 1, h, w)`` with ``h = H // 2**num_layers - 2`` for H a
        multiple of ``2**num_layers``; a list of ``num_scales`` such maps, finest first, when ``num_scales > 1``.
    """

    arch: ClassVar[str] = "patchgan"
    kind: ClassVar[str] = "discriminator"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "patchgan_34": {"num_layers": 2},  # 34x34 patches
        "patchgan_70": {"num_layers": 3},  # the reference 70x70 patches
        "patchgan_142": {"num_layers": 4},  # 142x142 patches
    }
    renamed_arguments: ClassVar[dict[str, str]] = {"n_layers": "num_layers"}

    def __init__(
        self,
        *,
        in_channels: int = 3,
        base_channels: int = 64,
        num_layers: int = 3,
        norm: NormSpec = "batch",
        spectral_norm: bool = False,
        num_scales: int = 1,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"PatchGAN needs num_layers >= 1, got {num_layers}")
        if num_scales < 1:
            raise ValueError(f"PatchGAN needs num_scales >= 1, got {num_scales}")
        self.in_channels = in_channels
        self.num_scales = num_scales
        self.scales = nn.ModuleList(
            self._make_scale(in_channels, base_channels, num_layers, norm, spectral_norm) for _ in range(num_scales)
        )
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    @staticmethod
    def _make_scale(in_channels: int, base: int, num_layers: int, norm: NormSpec, sn: bool) -> nn.Sequential:
        block = dict(padding=1, activation="leaky_relu", spectral_norm=sn)
        widths = [base * min(2**i, 8) for i in range(num_layers + 1)]
        layers = [ConvBlock(in_channels, widths[0], 4, stride=2, **block)]
        for i in range(1, num_layers):
            layers.append(ConvBlock(widths[i - 1], widths[i], 4, stride=2, norm=norm, **block))
        layers.append(ConvBlock(widths[num_layers - 1], widths[num_layers], 4, stride=1, norm=norm, **block))
        layers.append(ConvBlock(widths[num_layers], 1, 4, stride=1, padding=1, spectral_norm=sn))
        return nn.Sequential(*layers)

    def receptive_field(self) -> int:
        """Side, in input pixels, of the square seen by one logit of the finest scale
        (70 for ``num_layers=3``), computed from the layers' kernel sizes and strides."""
        size = 1
        for block in reversed(self.scales[0]):
            kernel, stride = block.conv.kernel_size[0], block.conv.stride[0]
            size = size * stride + (kernel - stride)
        return size

    def forward(self, x: torch.Tensor, return_features: bool = False) -> Logits | tuple[Logits, list[torch.Tensor]]:
        """Score ``x``.

        Args:
            x: ``(N, in_channels, H, W)`` images.
            return_features: also return the activations after every LeakyReLU (all scales,
                finest first), for a feature-matching loss.

        Returns:
            The logit map (a list of maps, finest first, if ``num_scales > 1``), and with
            ``return_features`` a tuple ``(logits, features)``.
        """
        logits: list[torch.Tensor] = []
        features: list[torch.Tensor] = []
        for i, layers in enumerate(self.scales):
            if i > 0:
                x = self.downsample(x)  # (n, c, ceil(H / 2), ceil(W / 2))
            h = x
            for block in layers[:-1]:
                h = block(h)
                features.append(h)
            logits.append(layers[-1](h))  # (n, 1, h_i, w_i)
        out: Logits = logits[0] if self.num_scales == 1 else logits
        return (out, features) if return_features else out
