"""The classic GAN lab's nets: noise (and a class) in, an image out, and their discriminators.

* :class:`MLPGenerator` / :class:`MLPDiscriminator`: the first GAN lab (Goodfellow et al. 2014):
  two hidden layers each, a 2-D latent by default so the whole learned manifold fits in one
  picture (``img2img sample --latent-walk``).
* :class:`DCGANGenerator` / :class:`DCGANDiscriminator` (Radford et al. 2016): a projected and
  reshaped latent, transposed convs with batch norm and ReLU, tanh out; a discriminator of
  strided convs with leaky ReLU, no pooling and no dense layer except the last.

Conditioning (``num_classes > 0``): the generator concatenates a learned class embedding to the
noise (conditional GAN, Mirza & Osindero 2014); the discriminator adds the inner product of a
class embedding with its last features to the logit (projection discriminator, Miyato & Koyama
2018). ``auxiliary=True`` gives the discriminator a class head instead (AC-GAN, Odena et al.
2017): it returns ``(logit, class_logits)`` and judges real/fake without the label.

Generators (``kind = "sampler"``) map ``(z: N x latent_dim, labels: N int64 or None)`` to
``N x out_channels x image_size x image_size`` in ``[-1, 1]``; discriminators map
``(images, labels or None)`` to ``N x 1`` logits (and ``N x num_classes`` with ``auxiliary``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from .registry import register_arch

# a conditional net's class embedding width (generator) unless given
EMBED_DIM = 16


def dcgan_levels(image_size: int) -> tuple[int, int]:
    """``(start, levels)``: DCGAN nets work at ``start x start`` (3..7) after ``levels`` (>= 2)
    halvings of ``image_size`` (28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4)).

    Raises:
        ValueError: ``image_size`` is not 3..7 times a power of two, at least 4 (e.g. 25).
    """
    start, levels = int(image_size), 0
    while start > 7 and start % 2 == 0:
        start //= 2
        levels += 1
    if levels < 2 or start < 3 or start > 7:
        raise ValueError(
            f"image_size {image_size} does not suit DCGAN: it must be 3..7 times a power of two, at least 4 "
            "(e.g. 28, 32, 48, 64, 128); use --size to resize the images"
        )
    return start, levels


def _check_common(name: str, latent_or_none: int | None, num_classes: int, channels: int, image_size: int) -> None:
    if latent_or_none is not None and latent_or_none < 1:
        raise ValueError(f"{name}: latent_dim must be >= 1, got {latent_or_none}")
    if num_classes < 0:
        raise ValueError(f"{name}: num_classes must be >= 0 (0 = unconditional), got {num_classes}")
    if channels not in (1, 3):
        raise ValueError(f"{name}: channels must be 1 (gray) or 3 (RGB), got {channels}")
    if image_size < 4:
        raise ValueError(f"{name}: image_size must be >= 4, got {image_size}")


class _Sampler(nn.Module):
    """What every lab generator shares: the noise/label input and its checks."""

    kind: ClassVar[str] = "sampler"
    lab: ClassVar[bool] = True
    latent_dim: int
    num_classes: int
    out_channels: int
    image_size: int
    scale, size_multiple, min_size = 1, 1, 1  # the image-generator interface, for code that asks

    def _input(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected noise of shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        if not self.num_classes:
            return z
        if labels is None:
            raise ValueError(f"this generator is conditional ({self.num_classes} classes): give labels")
        return torch.cat([z, self.embed(labels.long().view(-1))], 1)


class _Critic(nn.Module):
    """What every lab discriminator shares: projection conditioning and the AC-GAN head."""

    kind: ClassVar[str] = "discriminator"
    lab: ClassVar[bool] = True

    def _heads(self, num_classes: int, auxiliary: bool, features: int) -> None:
        if auxiliary and num_classes < 2:
            raise ValueError(f"an AC-GAN head needs num_classes >= 2, got {num_classes}")
        self.num_classes, self.auxiliary = num_classes, auxiliary
        self.out = nn.Linear(features, 1)
        self.classes = nn.Linear(features, num_classes) if auxiliary else None
        self.embed = nn.Embedding(num_classes, features) if num_classes and not auxiliary else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def _judge(self, h: torch.Tensor, labels: torch.Tensor | None) -> Any:
        logit = self.out(h)
        if self.classes is not None:
            return logit, self.classes(h)
        if self.embed is not None:
            if labels is None:
                raise ValueError(f"this discriminator is conditional ({self.num_classes} classes): give labels")
            logit = logit + (self.embed(labels.long().view(-1)) * h).sum(1, keepdim=True)
        return logit


@register_arch
class MLPGenerator(_Sampler):
    """The lab's generator: ``latent -> hidden -> 2 * hidden -> image``, leaky ReLU, tanh out.

    Args:
        latent_dim: noise size (2: the learned manifold fits in one picture).
        base_channels: width of the first hidden layer (the second is twice as wide).
        image_size: side of the square output.
        out_channels: 1 (gray) or 3 (RGB).
        num_classes: > 0 for a conditional generator (class embedding concatenated to the noise).
        embed_dim: width of that embedding.
    """

    arch: ClassVar[str] = "mlp_gan"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"mlp_generator": {}}

    def __init__(
        self,
        *,
        latent_dim: int = 2,
        base_channels: int = 256,
        image_size: int = 28,
        out_channels: int = 1,
        num_classes: int = 0,
        embed_dim: int = EMBED_DIM,
    ) -> None:
        super().__init__()
        _check_common("MLPGenerator", latent_dim, num_classes, out_channels, image_size)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.out_channels, self.image_size = out_channels, image_size
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        width = latent_dim + (embed_dim if num_classes else 0)
        self.body = nn.Sequential(
            nn.Linear(width, base_channels),
            nn.LeakyReLU(0.2),
            nn.Linear(base_channels, 2 * base_channels),
            nn.LeakyReLU(0.2),
            nn.Linear(2 * base_channels, out_channels * image_size * image_size),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.body(self._input(z, labels))
        return out.view(-1, self.out_channels, self.image_size, self.image_size)


@register_arch
class MLPDiscriminator(_Critic):
    """The lab's discriminator: ``image -> 2 * hidden -> hidden -> logit``, leaky ReLU.

    Args:
        image_size, in_channels: the images it judges.
        base_channels: width of the last hidden layer (the first is twice as wide).
        num_classes: > 0: conditional (projection), or the AC-GAN head's classes with ``auxiliary``.
        auxiliary: AC-GAN: also predict the class; ``forward`` returns ``(logit, class_logits)``.
    """

    arch: ClassVar[str] = "mlp_gan_d"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"mlp_discriminator": {}}

    def __init__(
        self,
        *,
        image_size: int = 28,
        in_channels: int = 1,
        base_channels: int = 256,
        num_classes: int = 0,
        auxiliary: bool = False,
    ) -> None:
        super().__init__()
        _check_common("MLPDiscriminator", None, num_classes, in_channels, image_size)
        self.in_channels, self.image_size = in_channels, image_size
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * image_size * image_size, 2 * base_channels),
            nn.LeakyReLU(0.2),
            nn.Linear(2 * base_channels, base_channels),
            nn.LeakyReLU(0.2),
        )
        self._heads(num_classes, auxiliary, base_channels)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        return self._judge(self.body(images), labels)


@register_arch
class DCGANGenerator(_Sampler):
    """DCGAN's generator: project and reshape the noise to ``start x start`` (3..7), then
    ``levels`` transposed convs (4x4, stride 2) that halve the width and double the size, batch
    norm and ReLU between them, tanh out. 28 px: 7x7x128 -> 14x14x64 -> 28x28; 64 px: 4x4x512 ->
    ... -> 64x64 (the paper's).

    Args:
        latent_dim: noise size (100 in the paper).
        base_channels: width of the last hidden level (``ngf``); the first is ``base * 2**(levels-1)``.
        image_size: side of the output (see :func:`dcgan_levels`).
        out_channels: 1 (gray) or 3 (RGB).
        num_classes, embed_dim: as :class:`MLPGenerator`.
    """

    arch: ClassVar[str] = "dcgan"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"dcgan_generator": {}}

    def __init__(
        self,
        *,
        latent_dim: int = 100,
        base_channels: int = 64,
        image_size: int = 64,
        out_channels: int = 3,
        num_classes: int = 0,
        embed_dim: int = EMBED_DIM,
    ) -> None:
        super().__init__()
        _check_common("DCGANGenerator", latent_dim, num_classes, out_channels, image_size)
        start, levels = dcgan_levels(image_size)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.out_channels, self.image_size = out_channels, image_size
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        width = base_channels * 2 ** (levels - 1)
        self.start, self.width = start, width
        self.project = nn.Linear(latent_dim + (embed_dim if num_classes else 0), width * start * start, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(levels - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, out_channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.project(self._input(z, labels)).view(-1, self.width, self.start, self.start)
        return self.body(x)


@register_arch
class DCGANDiscriminator(_Critic):
    """DCGAN's discriminator: ``levels`` strided 4x4 convs doubling the width (leaky ReLU 0.2; a
    norm on all but the first), no pooling; one dense layer to the logit on the last features.

    Args:
        image_size, in_channels: the images it judges (``image_size`` as :func:`dcgan_levels`).
        base_channels: width of the first conv (``ndf``).
        norm: ``"batch"`` (the paper), ``"instance"`` or ``"none"`` (a WGAN-GP critic must not
            use batch norm: the penalty is per sample).
        num_classes, auxiliary: as :class:`MLPDiscriminator`.
    """

    arch: ClassVar[str] = "dcgan_d"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"dcgan_discriminator": {}}

    def __init__(
        self,
        *,
        image_size: int = 64,
        in_channels: int = 3,
        base_channels: int = 64,
        norm: str = "batch",
        num_classes: int = 0,
        auxiliary: bool = False,
    ) -> None:
        super().__init__()
        _check_common("DCGANDiscriminator", None, num_classes, in_channels, image_size)
        if norm not in ("batch", "instance", "none"):
            raise ValueError(f"DCGANDiscriminator: norm must be 'batch', 'instance' or 'none', got {norm!r}")
        start, levels = dcgan_levels(image_size)
        self.in_channels, self.image_size = in_channels, image_size
        width = base_channels
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(levels - 1):
            layers.append(nn.Conv2d(width, 2 * width, 4, 2, 1, bias=norm != "batch"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(2 * width))
            elif norm == "instance":
                layers.append(nn.InstanceNorm2d(2 * width, affine=True))
            layers.append(nn.LeakyReLU(0.2, True))
            width *= 2
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        self._heads(num_classes, auxiliary, width * start * start)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        return self._judge(self.body(images), labels)


class ImageClassifier(nn.Module):
    """The judge of a GAN lab model (:mod:`img2img.classifier`): two 3x3 conv + ReLU + 2x2
    max-pool stages (32, 64 channels), global 4x4 average pooling, a 128-unit hidden layer and
    ``num_classes`` logits. ~99% on MNIST digits after three epochs of the 4,500 training digits.
    Not a registered preset: it is never trained adversarially or exported.
    """

    arch: ClassVar[str] = "image_classifier"

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"ImageClassifier needs num_classes >= 2, got {num_classes}")
        self.config = {
            "arch": self.arch,
            "in_channels": in_channels,
            "num_classes": num_classes,
            "image_size": image_size,
        }
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(True),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(64 * 16, 128), nn.ReLU(True), nn.Linear(128, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "ImageClassifier",
    "MLPDiscriminator",
    "MLPGenerator",
    "dcgan_levels",
]
