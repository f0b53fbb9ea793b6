"""A photo-wide colour correction predicted from the photo's own histograms.

Fading, yellowing and sepia toning change every pixel of a photo by the same colour transform
(see ``img2img.data.degrade``: ``fade`` and ``color_cast`` are 3 x 4 affine maps). A convolutional
net sees one receptive field at a time and cannot tell a faded photo from a photo of a pale
subject; the photo's histograms can: a print whose darkest pixels are grey and whose blue channel
never reaches white has lost its blacks and turned yellow. :class:`GlobalColorHead` reads soft
per-channel histograms (cumulative, at fixed levels), the channel means and second moments of the
whole input, and an MLP turns them into a 3 x 4 affine transform that is applied to every pixel.
Its last layer starts at zero, so it starts as the identity.

Because the transform depends on the whole input, running a net with this head on tiles of a
photo is not the same as running it on the photo: it reports ``image_statistics = True`` and
inference runs it on whole images (see ``img2img_runtime.processing.tiling_policy``).

Every operation exports to ONNX with dynamic height and width (strided slice, sigmoid, means,
matmul).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import zero_init_

__all__ = ["GlobalColorHead"]


class GlobalColorHead(nn.Module):
    """``x -> M(x) x + b(x)`` per pixel, with ``M, b`` predicted from statistics of all of ``x``.

    Args:
        channels: image channels (3 for RGB).
        levels: points of the soft cumulative histogram per channel, evenly spaced in (-1, 1).
        hidden: width of the MLP.
        stride: statistics are read from every ``stride``-th pixel in each direction (a 128 px
            crop still gives 1024 samples; a large photo costs little memory).

    Shape:
        ``(N, C, H, W) -> (N, C, H, W)``, inputs in [-1, 1]; outputs are not clamped.
    """

    image_statistics = True

    def __init__(self, channels: int = 3, *, levels: int = 16, hidden: int = 64, stride: int = 4) -> None:
        super().__init__()
        if levels < 2 or hidden < 1 or stride < 1:
            raise ValueError(
                f"GlobalColorHead needs levels >= 2, hidden >= 1, stride >= 1; got {levels}, {hidden}, {stride}"
            )
        self.channels, self.stride = channels, stride
        self.register_buffer("thresholds", torch.linspace(-1.0, 1.0, levels + 2)[1:-1].view(1, 1, levels, 1))
        self.temperature = 1.0 / levels  # a soft step about one histogram bin wide
        pairs = channels * (channels + 1) // 2
        features = channels * levels + channels + pairs
        self.mlp = nn.Sequential(
            nn.Linear(features, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, channels * (channels + 1)),
        )
        zero_init_(self.mlp[-1])  # starts as the identity
        rows, cols = torch.triu_indices(channels, channels)
        self.register_buffer("pair_rows", rows, persistent=False)
        self.register_buffer("pair_cols", cols, persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, F)``: soft cumulative histograms, means and second moments of ``x``'s channels."""
        n, c = x.shape[:2]
        samples = x[:, :, :: self.stride, :: self.stride].reshape(n, c, 1, -1)  # (n, c, 1, P)
        cdf = torch.sigmoid((self.thresholds - samples) / self.temperature).mean(dim=3)  # share below each level
        flat = samples.squeeze(2)
        mean = flat.mean(dim=2)
        moments = (flat[:, self.pair_rows] * flat[:, self.pair_cols]).mean(dim=2)
        return torch.cat([cdf.reshape(n, -1), mean, moments], dim=1)

    def transform(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(M, b)``: the ``(N, C, C)`` matrix and ``(N, C, 1)`` offset for ``x``."""
        c = self.channels
        params = self.mlp(self.features(x)).view(-1, c, c + 1)
        matrix = params[:, :, :c] + torch.eye(c, dtype=x.dtype, device=x.device)
        return matrix, params[:, :, c:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        matrix, offset = self.transform(x)
        return (torch.bmm(matrix, x.reshape(n, c, h * w)) + offset).view(n, c, h, w)
