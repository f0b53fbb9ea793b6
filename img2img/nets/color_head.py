"""A photo-wide colour correction predicted from the photo's own histograms.

Fading, yellowing and sepia toning change every pixel of a photo by the same colour transform
(see ``img2img.data.degrade``: ``fade`` and ``color_cast`` are 3 x 4 affine maps). A convolutional
net sees one receptive field at a time and cannot tell a faded photo from a photo of a pale
subject; the photo's histograms can: a print whose darkest pixels are grey and whose blue channel
never reaches white has lost its blacks and turned yellow. :class:`GlobalColorHead` reads soft
per-channel histograms (cumulative, at fixed levels), the channel means and second moments of the
whole input, and an MLP turns them into a 3 x 4 affine transform that is applied to every pixel.
Its last layer starts at zero, so it starts as the identity.

Old prints are also darker towards their corners (``vignette`` in ``img2img.data.degrade``: every
pixel times ``1 - s r^e`` around a centre near the middle), which no colour transform undoes. With
``vignette=True`` the head also reads the layout of the photo's brightness (the mean of each cell
of a 4 x 4 grid against the whole photo's) and predicts that falloff's strength, exponent and
centre, and divides it out before its colour transform. The falloff is a function of the position
relative to the whole input, so a training crop (damaged as a photo of its own) and a whole photo
at inference are corrected alike.

Because the transform depends on the whole input, running a net with this head on tiles of a
photo is not the same as running it on the photo: it reports ``image_statistics = True`` and
inference runs it on whole images (see ``img2img_runtime.processing.tiling_policy``).

Every operation exports to ONNX with dynamic height and width (strided slice, sigmoid, means,
matmul; the grid cells and pixel positions come from ``arange`` of the input's size).
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
        vignette: also undo a darkening towards the corners (``x -> (x + 1) / g(r) - 1`` first,
            ``g = 1 - s r^e`` around a predicted centre), judged from the brightness of a
            ``layout`` x ``layout`` grid of cells.
        layout: cells per side of that grid.

    Shape:
        ``(N, C, H, W) -> (N, C, H, W)``, inputs in [-1, 1]; outputs are not clamped.
    """

    image_statistics = True

    def __init__(
        self,
        channels: int = 3,
        *,
        levels: int = 16,
        hidden: int = 64,
        stride: int = 4,
        vignette: bool = False,
        layout: int = 4,
    ) -> None:
        super().__init__()
        if levels < 2 or hidden < 1 or stride < 1 or layout < 1:
            raise ValueError(
                "GlobalColorHead needs levels >= 2, hidden >= 1, stride >= 1, layout >= 1; "
                f"got {levels}, {hidden}, {stride}, {layout}"
            )
        self.channels, self.stride, self.vignette, self.layout = channels, stride, vignette, layout
        self.register_buffer("thresholds", torch.linspace(-1.0, 1.0, levels + 2)[1:-1].view(1, 1, levels, 1))
        self.temperature = 1.0 / levels  # a soft step about one histogram bin wide
        pairs = channels * (channels + 1) // 2
        self.num_features = channels * levels + channels + pairs + (layout * layout if vignette else 0)
        self.num_params = channels * (channels + 1) + (4 if vignette else 0)
        self.mlp = nn.Sequential(
            nn.Linear(self.num_features, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, self.num_params),
        )
        zero_init_(self.mlp[-1])  # starts as the identity
        rows, cols = torch.triu_indices(channels, channels)
        self.register_buffer("pair_rows", rows, persistent=False)
        self.register_buffer("pair_cols", cols, persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, num_features)``: soft cumulative histograms, means and second moments of ``x``'s
        channels (and with ``vignette`` the brightness of each layout cell against the mean)."""
        n, c = x.shape[:2]
        grid = x[:, :, :: self.stride, :: self.stride]
        samples = grid.reshape(n, c, 1, -1)  # (n, c, 1, P)
        cdf = torch.sigmoid((self.thresholds - samples) / self.temperature).mean(dim=3)  # share below each level
        flat = samples.squeeze(2)
        mean = flat.mean(dim=2)
        moments = (flat[:, self.pair_rows] * flat[:, self.pair_cols]).mean(dim=2)
        found = [cdf.reshape(n, -1), mean, moments]
        if self.vignette:
            luma = grid.mean(dim=1)  # (n, h, w)
            cells = _cell_means(luma, self.layout)  # (n, layout, layout)
            found.append((cells - luma.mean(dim=(1, 2))[:, None, None]).reshape(n, -1))
        return torch.cat(found, dim=1)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """``(N, num_params)``: the correction's parameters for :meth:`features` (e.g. replayed)."""
        return self.mlp(features)

    def transform(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(M, b)``: the ``(N, C, C)`` matrix and ``(N, C, 1)`` offset for ``x``."""
        return self._affine(self.predict(self.features(x)))

    def _affine(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.channels
        affine = params[:, : c * (c + 1)].reshape(-1, c, c + 1)
        matrix = affine[:, :, :c] + torch.eye(c, dtype=params.dtype, device=params.device)
        return matrix, affine[:, :, c:]

    def falloff(
        self, params: torch.Tensor, height: int | torch.Tensor, width: int | torch.Tensor, *, cells: bool = False
    ) -> torch.Tensor:
        """``(N, 1, height, width)``: the predicted brightness gain ``g`` over an image of that size,
        at the pixels' positions from -1 to 1 across it; with ``cells``, at the centres of a grid
        of that many cells over the image (for block means of an image, e.g. replayed crops)."""
        strength = params[:, -4].clamp(-0.5, 0.8)[:, None, None, None]
        exponent = (2.0 + params[:, -3]).clamp(1.0, 3.0)[:, None, None, None]
        cy = params[:, -2].clamp(-0.3, 0.3)[:, None, None, None]
        cx = params[:, -1].clamp(-0.3, 0.3)[:, None, None, None]
        y = _positions(height, params, cells)[None, None, :, None] - cy
        x = _positions(width, params, cells)[None, None, None, :] - cx
        radius2 = ((x * x + y * y) * 0.5).clamp_min(1e-6)  # 1 at the corners, as in the degradation
        return (1.0 - strength * radius2 ** (exponent / 2)).clamp_min(0.2)

    def apply(self, params: torch.Tensor, x: torch.Tensor, *, cells: bool = False) -> torch.Tensor:
        """The correction with parameters ``params`` (:meth:`predict`) applied to ``x``; with
        ``cells``, ``x`` holds the block means of a grid over the image (see :meth:`falloff`)."""
        n, c, h, w = x.shape
        if self.vignette:
            x = (x + 1.0) / self.falloff(params, h, w, cells=cells) - 1.0
        matrix, offset = self._affine(params)
        return (torch.bmm(matrix, x.reshape(n, c, h * w)) + offset).view(n, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(self.predict(self.features(x)), x)


def _positions(size: int | torch.Tensor, like: torch.Tensor, cells: bool = False) -> torch.Tensor:
    """``size`` positions evenly from -1 to 1 (pixels), or the centres of ``size`` equal cells
    over [-1, 1] (``arange``, so ONNX keeps ``size`` dynamic)."""
    index = torch.arange(size, dtype=like.dtype, device=like.device)
    count = torch.ones_like(index).sum()  # a tensor, not the traced size: the exported graph keeps any size
    if cells:
        return (2.0 * index + 1.0) / count - 1.0
    return index * (2.0 / (count - 1.0).clamp_min(1.0)) - 1.0


def _cell_means(image: torch.Tensor, cells: int) -> torch.Tensor:
    """``(N, cells, cells)``: the mean of each cell of a ``cells`` x ``cells`` grid over ``(N, H, W)``
    (cells of pixel ``i`` of ``n``: ``floor(i * cells / n)``; any ``H, W >= 1``)."""

    def membership(size: int | torch.Tensor) -> torch.Tensor:  # (cells, size), rows summing to 1
        index = torch.arange(size, dtype=image.dtype, device=image.device)
        owner = torch.floor(index * cells / torch.ones_like(index).sum())
        hot = (owner[None, :] == torch.arange(cells, dtype=image.dtype, device=image.device)[:, None]).to(image.dtype)
        return hot / hot.sum(dim=1, keepdim=True).clamp_min(1.0)

    rows, cols = membership(image.shape[1]), membership(image.shape[2])
    return rows @ image @ cols.transpose(0, 1)
