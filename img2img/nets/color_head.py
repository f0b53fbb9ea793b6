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

A whole photo's composition can look like a vignette too: a bright subject in the middle and
darker surroundings is what a crop with a strong falloff looks like, and a head that learnt from
crops then brightens the corners of photos that were never darkened. ``vignette_scale`` (a buffer,
saved with the weights and exported; 1 for weights saved before it existed) multiplies the
predicted strength outside training; the restore recipe sets it to 0.75. Measured on five
15-minute restore runs on three splits, the gain over the damaged input of 10 photos never
trained on, at scales 0 / 0.25 / 0.5 / 0.75 / 1: +2.23 / +2.79 / +3.46 / +4.12 / +4.16 dB, +4.04 /
+4.07 / +3.82 / +3.23 / +2.49, +3.95 / +4.12 / +4.05 / +3.73 / +3.16, +1.78 / +2.35 / +3.04 /
+3.78 / +3.99 and +2.85 / +3.02 / +3.21 / +3.37 / +3.28: which scale is best depends on the
photos and the run; 0.75 has the best mean (+3.65) and the best worst case (+3.23). To choose it
for a model of your own, score photos it never trained on at several scales
(``Translator(...).net().color.vignette_scale.fill_(s)``, then :func:`img2img.evaluate_model`):
photos it trained on favour 1 (the head knows their compositions; on the second split's training
photos, the head's correction alone scored 22.79 dB at 1, 22.48 at 0.5 and 21.90 at 0, whole,
rotated or flipped).

The head learns from training crops (128 px on a CPU), and a whole photo's histograms are not
what it saw: a crop holds part of one scene, a photo all of it. With ``window`` (the training crop
size) the colour transform for an input larger than a crop comes from a 4 x 4 grid of overlapping
windows, each 3/4 of the input's side (never smaller than ``window``): the head's predictions for
the 16 windows, per parameter, without the 4 highest and 4 lowest, are averaged (a trimmed mean:
one window of sky or shadow does not pull the photo's colour); the vignette is still judged from
the whole input. An input no larger than ``window`` (a training crop) is its own window, so
training is unchanged. Measured on a restore model trained 5 minutes (2694 steps) on 40 photos, on
10 photos never trained on with four damage seeds: 24.49, 20.99, 21.54, 22.30 dB from the whole
photo, 25.21, 21.20, 21.46, 22.30 from windows of 3/4 of the side (+0.21 dB on average; windows
of half the side: +0.32, but the demo's temple photo lost 1.4 dB with them, 0.2 dB with 3/4).

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

# ``window > 0``: windows per side, the share of the input's side each covers, and how many of the
# WINDOWS**2 predictions are left out at each end (per parameter) before averaging.
WINDOWS = 4
WINDOW_SHARE = 0.75
WINDOW_TRIM = 4


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
        window: with ``window > 0`` (pixels), the colour transform is the trimmed mean of the
            predictions for ``WINDOWS`` x ``WINDOWS`` overlapping windows of ``max(window,
            WINDOW_SHARE * side)`` pixels (see the module docstring); 0: from the whole input.
        vignette_scale: outside training, the predicted vignette strength is multiplied by this
            (0 to 1; see the module docstring); a buffer, saved with the weights and exported.

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
        window: int = 0,
        vignette_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if levels < 2 or hidden < 1 or stride < 1 or layout < 1 or window < 0 or not 0.0 <= vignette_scale <= 1.0:
            raise ValueError(
                "GlobalColorHead needs levels >= 2, hidden >= 1, stride >= 1, layout >= 1, window >= 0, "
                f"0 <= vignette_scale <= 1; got {levels}, {hidden}, {stride}, {layout}, {window}, {vignette_scale}"
            )
        if vignette_scale != 1.0 and not vignette:
            raise ValueError(f"vignette_scale ({vignette_scale}) scales the predicted vignette: it needs vignette=True")
        self.channels, self.stride, self.vignette, self.layout = channels, stride, vignette, layout
        self.window = window
        self.register_buffer("thresholds", torch.linspace(-1.0, 1.0, levels + 2)[1:-1].view(1, 1, levels, 1))
        # outside training the predicted vignette strength is scaled by this (saved with the weights)
        self.register_buffer("vignette_scale", torch.tensor(float(vignette_scale)))
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

    def window_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, WINDOWS**2, num_features)``: :meth:`features` of each window of ``x`` (see
        ``window``), as region means on the sampled grid (matrix products: any size exports)."""
        grid = x[:, :, :: self.stride, :: self.stride]
        size = max(1, -(-self.window // self.stride))  # the smallest window, in grid samples
        rows, cols = (_window_membership(grid.shape[d], size, WINDOWS, 1, grid) for d in (2, 3))
        regions = WINDOWS * WINDOWS

        def means(values: torch.Tensor) -> torch.Tensor:  # (n, k, h, w) -> (n, regions, k)
            found = rows @ values @ cols.transpose(0, 1)  # (n, k, WINDOWS, WINDOWS)
            return found.permute(0, 2, 3, 1).reshape(-1, regions, values.shape[1])  # -1: any batch exports

        steps = torch.sigmoid((self.thresholds[..., None] - grid[:, :, None]) / self.temperature)  # (n, c, L, h, w)
        found = [
            means(steps.flatten(1, 2)),  # the share of each window below each level, channel by channel
            means(grid),
            means(grid[:, self.pair_rows] * grid[:, self.pair_cols]),
        ]
        if self.vignette:
            luma = grid.mean(dim=1, keepdim=True)  # (n, 1, h, w)
            cell_rows, cell_cols = (_window_membership(luma.shape[d], size, WINDOWS, self.layout, luma) for d in (2, 3))
            cells = (cell_rows @ luma @ cell_cols.transpose(0, 1))[:, 0]  # (n, WINDOWS * layout, WINDOWS * layout)
            k = self.layout
            cells = cells.reshape(-1, WINDOWS, k, WINDOWS, k).permute(0, 1, 3, 2, 4).reshape(-1, regions, k * k)
            found.append(cells - means(luma))
        return torch.cat(found, dim=2)

    def params_for(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, num_params)``: the correction for ``x``: :meth:`predict` of its :meth:`features`;
        with ``window``, the colour transform is the trimmed mean over its windows."""
        params = self.predict(self.features(x))
        if not self.window or (self.training and max(x.shape[2:]) <= self.window):
            return params  # a training crop is its own window: skip the 16 equal predictions
        affine = self.channels * (self.channels + 1)
        ranked = self.predict(self.window_features(x)).sort(dim=1).values  # (n, WINDOWS**2, num_params)
        windowed = ranked[:, WINDOW_TRIM : WINDOWS * WINDOWS - WINDOW_TRIM].mean(dim=1)
        return torch.cat([windowed[:, :affine], params[:, affine:]], dim=1)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """``(N, num_params)``: the correction's parameters for :meth:`features` (e.g. replayed)."""
        return self.mlp(features)

    def transform(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(M, b)``: the ``(N, C, C)`` matrix and ``(N, C, 1)`` offset for ``x``."""
        return self._affine(self.params_for(x))

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
        if not self.training:
            strength = strength * self.vignette_scale
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
        return self.apply(self.params_for(x), x)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        key = prefix + "vignette_scale"
        if key not in state_dict:  # weights saved before the scale existed: the constructor's (config's) value
            state_dict[key] = self.vignette_scale.detach().clone()
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


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


def _window_membership(
    size: int | torch.Tensor, smallest: int, count: int, cells: int, like: torch.Tensor
) -> torch.Tensor:
    """``(count * cells, size)``: rows averaging ``count`` overlapping windows of ``max(smallest,
    floor(WINDOW_SHARE * size))`` samples (at most ``size``) evenly placed from the start to the end, each split into
    ``cells`` equal cells (owner of sample ``i`` of a window of ``w``: ``floor(i * cells / w)``, as
    :func:`_cell_means`); rows sum to 1."""
    index = torch.arange(size, dtype=like.dtype, device=like.device)
    total = torch.ones_like(index).sum()  # a tensor: the exported graph keeps any size
    width = torch.minimum(torch.clamp(torch.floor(total * WINDOW_SHARE), min=float(smallest)), total)
    place = torch.arange(count, dtype=like.dtype, device=like.device)
    tops = torch.floor(place * (total - width) / max(count - 1, 1))
    local = index[None, :] - tops[:, None]  # (count, size)
    inside = (local >= 0) & (local < width)
    owner = torch.floor(local * cells / width)
    part = torch.arange(cells, dtype=like.dtype, device=like.device)
    hot = (inside[:, None, :] & (owner[:, None, :] == part[None, :, None])).to(like.dtype).reshape(count * cells, -1)
    return hot / hot.sum(dim=1, keepdim=True).clamp_min(1.0)
