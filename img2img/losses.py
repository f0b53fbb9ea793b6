"""The loss library: pure functions (tensors in, scalar tensor out), the terms the tasks use.

Nothing here owns an optimizer, calls ``.backward()`` or reads global options; tasks pick the
terms they need and weight them. Every loss computes in float32 (inputs are cast with
``.float()``), so it is safe to call under autocast.

Contents:
    GAN objective:   :func:`gan_loss` (``vanilla``, ``lsgan``, ``hinge``, ``wgangp``) and
                     :func:`gradient_penalty` (WGAN-GP).
    Reconstruction:  :func:`l1_loss`, :func:`l2_loss`, :func:`psnr_loss`, :func:`charbonnier_loss`
                     (a criterion of :class:`PerceptualLoss`), :func:`cycle_loss`,
                     :func:`identity_loss`, :func:`feature_matching_loss`.
    Perceptual:      :class:`PerceptualLoss` (VGG19 features from a LOCAL weights file; nothing is
                     ever downloaded) and :func:`find_vgg19_weights`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "GAN_MODES",
    "gan_loss",
    "gradient_penalty",
    "l1_loss",
    "l2_loss",
    "psnr_loss",
    "color_transform_loss",
    "charbonnier_loss",
    "cycle_loss",
    "identity_loss",
    "feature_matching_loss",
    "PerceptualLoss",
    "find_vgg19_weights",
    "VGG19_LAYERS",
    "VGG19_WEIGHTS_ENV",
    "SRGAN_VGG_FEATURE_SCALE",
    "VGG19_CACHE_FILENAME",
]

Predictions = Union[Tensor, Sequence[Tensor]]

# --------------------------------------------------------------------------------------------
# GAN objective
# --------------------------------------------------------------------------------------------

GAN_MODES = ("vanilla", "lsgan", "hinge", "wgangp")


def _check_mode(mode: str) -> None:
    if mode not in GAN_MODES:
        raise ValueError(f"unknown GAN mode {mode!r}; valid modes are {', '.join(GAN_MODES)}")


def _as_list(prediction: Predictions) -> list[Tensor]:
    """One discriminator output or a multi-scale list of them, as a non-empty list of tensors."""
    if isinstance(prediction, Tensor):
        return [prediction]
    if isinstance(prediction, (list, tuple)) and len(prediction) > 0:
        if all(isinstance(p, Tensor) for p in prediction):
            return list(prediction)
    raise TypeError(
        "prediction must be a tensor or a non-empty list/tuple of tensors (one logit map per "
        f"discriminator scale), got {type(prediction).__name__}"
    )


def _gan_loss_single(p: Tensor, target_is_real: bool, mode: str, for_discriminator: bool) -> Tensor:
    p = p.float()  # AMP safety: the objective is always computed in float32
    if mode == "vanilla":
        target = torch.ones_like(p) if target_is_real else torch.zeros_like(p)
        return F.binary_cross_entropy_with_logits(p, target)
    if mode == "lsgan":
        target = torch.ones_like(p) if target_is_real else torch.zeros_like(p)
        return F.mse_loss(p, target)
    if not for_discriminator:  # hinge and wgangp share the generator objective
        return -p.mean()
    if mode == "hinge":
        return F.relu(1.0 - p).mean() if target_is_real else F.relu(1.0 + p).mean()
    # wgangp critic
    return -p.mean() if target_is_real else p.mean()


def gan_loss(
    prediction: Predictions,
    target_is_real: bool,
    mode: str,
    *,
    for_discriminator: bool = True,
) -> Tensor:
    """Adversarial objective on discriminator logits; hides the target tensors from the caller.

    ============  ===========================  ===========================  =================
    mode          discriminator, real          discriminator, fake          generator
    ============  ===========================  ===========================  =================
    ``vanilla``   BCE-with-logits(p, 1)        BCE-with-logits(p, 0)        as "real"
    ``lsgan``     mean((p - 1)^2)              mean(p^2)                    as "real"
    ``hinge``     mean(relu(1 - p))            mean(relu(1 + p))            -mean(p)
    ``wgangp``    -mean(p)                     mean(p)                      -mean(p)
    ============  ===========================  ===========================  =================

    For ``vanilla``/``lsgan`` ``for_discriminator`` changes nothing: the generator simply asks for
    ``target_is_real=True``. For ``hinge``/``wgangp`` the generator objective exists only with
    ``target_is_real=True``. A multi-scale discriminator's list of logit maps gives the mean of
    the per-scale losses. The loss is computed in float32 even under autocast.

    Args:
        prediction: discriminator logits (never a sigmoid), a tensor or a list of tensors.
        target_is_real: whether ``prediction`` should be judged real.
        mode: one of :data:`GAN_MODES`.
        for_discriminator: ``False`` for the generator's objective.

    Returns:
        Scalar float32 tensor.

    Raises:
        ValueError: unknown ``mode``, or a generator loss with ``target_is_real=False`` for
            ``hinge``/``wgangp``.

    Shape:
        - prediction: any shape, usually :math:`(N, 1, H', W')`; scales may differ in size.
        - output: :math:`()`.

    Example:
        >>> logits = torch.randn(2, 1, 30, 30)
        >>> d_real = gan_loss(logits, True, "lsgan")
        >>> g_adv = gan_loss([logits, logits[..., ::2, ::2]], True, "hinge", for_discriminator=False)
    """
    _check_mode(mode)
    if not for_discriminator and mode in ("hinge", "wgangp") and not target_is_real:
        raise ValueError(
            f"the {mode!r} generator loss is defined only for target_is_real=True "
            "(the generator wants its fakes judged real)"
        )
    losses = [_gan_loss_single(p, target_is_real, mode, for_discriminator) for p in _as_list(prediction)]
    return torch.stack(losses).mean()


def gradient_penalty(
    discriminator: Callable[[Tensor], Predictions],
    real: Tensor,
    fake: Tensor,
    *,
    weight: float = 10.0,
    alpha: Tensor | None = None,
) -> Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017): ``weight * mean((||grad D(x_hat)||_2 - 1)^2)``.

    ``x_hat = alpha * real + (1 - alpha) * fake`` with one ``alpha ~ U[0, 1)`` per sample; both
    inputs are detached so ``x_hat`` is a fresh leaf. The critic value of a sample is the mean of
    its logit map (the same average :func:`gan_loss` takes); for a multi-scale discriminator it is
    the mean over scales, again matching :func:`gan_loss`. The gradient is taken with
    ``create_graph=True`` so the penalty trains the discriminator's parameters.

    Args:
        discriminator: callable returning a logit tensor or a list of them.
        real: real batch (for pix2pix, the condition already concatenated).
        fake: generated batch, same shape as ``real``.
        weight: the penalty coefficient lambda.
        alpha: optional fixed interpolation weights, shape :math:`(N,)` or broadcastable to
            ``real``; drawn at random when ``None``.

    Returns:
        Scalar float32 tensor.

    Shape:
        - real, fake: :math:`(N, *)`.
        - output: :math:`()`.

    Example:
        >>> disc = nn.Conv2d(3, 1, 4)
        >>> gp = gradient_penalty(disc, torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8))
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    n = real.shape[0]
    bshape = (n,) + (1,) * (real.dim() - 1)
    if alpha is None:
        alpha = torch.rand(bshape, device=real.device, dtype=real.dtype)
    else:
        alpha = alpha.to(device=real.device, dtype=real.dtype)
        if alpha.dim() == 1 and alpha.numel() == n:
            alpha = alpha.view(bshape)
    real, fake = real.detach(), fake.detach()
    x_hat = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
    outputs = _as_list(discriminator(x_hat))
    # per-sample critic value: mean over the logit map, then over scales; summed over the batch
    # so that each sample's gradient is its own critic's gradient
    critic = torch.stack([o.float().reshape(n, -1).mean(dim=1) for o in outputs]).mean(dim=0)  # (n,)
    (grad,) = torch.autograd.grad(outputs=critic.sum(), inputs=x_hat, create_graph=True)
    grad_norm = grad.float().reshape(n, -1).norm(2, dim=1)  # (n,)
    return weight * ((grad_norm - 1.0) ** 2).mean()


# --------------------------------------------------------------------------------------------
# Reconstruction terms
# --------------------------------------------------------------------------------------------


def l1_loss(x: Tensor, y: Tensor) -> Tensor:
    """Mean absolute error, in float32.

    Args:
        x: prediction.
        y: target, same shape.

    Shape:
        - x, y: :math:`(*)`; output :math:`()`.

    Example:
        >>> l1_loss(torch.zeros(2, 3), torch.ones(2, 3))
        tensor(1.)
    """
    return F.l1_loss(x.float(), y.float())


def l2_loss(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared error, in float32.

    Args:
        x: prediction.
        y: target, same shape.

    Shape:
        - x, y: :math:`(*)`; output :math:`()`.

    Example:
        >>> l2_loss(torch.zeros(2, 3), torch.full((2, 3), 2.0))
        tensor(4.)
    """
    return F.mse_loss(x.float(), y.float())


def color_transform_loss(corrected: Tensor, target: Tensor, pool: int = 8) -> Tensor:
    """:func:`psnr_loss` between ``pool`` x ``pool`` block means of a colour-corrected input and its target.

    The deep supervision of a photo-wide colour correction (:class:`~img2img.nets.color_head.GlobalColorHead`):
    fading and casts change every pixel by one colour transform, while blur, noise, scratches and
    dust are local and mostly average out over blocks, so the block means of the corrected input
    should match the target's whatever else is damaged. Without it the head learns only through the
    net behind it, which can make the same correction locally (and slowly) instead.

    Shape:
        - corrected, target: :math:`(N, C, H, W)` with ``H, W >= pool``; output :math:`()`.

    Example:
        >>> color_transform_loss(torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.1))
        tensor(-19.9568)
    """
    return psnr_loss(F.avg_pool2d(corrected.float(), pool), F.avg_pool2d(target.float(), pool), eps=1e-4)


def psnr_loss(x: Tensor, y: Tensor, eps: float = 1e-4) -> Tensor:
    """Negative PSNR in dB, per sample then averaged: ``mean_i 10 * log10(mse_i + eps)`` (float32).

    Images are in [-1, 1] (a data range of 2), so ``-psnr_loss`` is the mean PSNR of the batch
    minus ``10 * log10(4)`` (6.02 dB). Unlike the MSE of the whole batch, every sample counts by
    its own relative error: a nearly clean crop made worse costs as much as a badly damaged one
    left unrepaired, which is what the mean PSNR of a test set measures (the "PSNR loss" of
    image-restoration codebases). ``eps`` caps a sample's PSNR near ``10 * log10(4 / eps)``
    (46 dB for 1e-4), so that perfect crops do not dominate the gradient.

    Args:
        x: prediction, ``(N, *)``.
        y: target, same shape.
        eps: added to each sample's mean squared error.

    Shape:
        - x, y: :math:`(N, *)`; output :math:`()`.

    Example:
        >>> psnr_loss(torch.zeros(2, 3), torch.full((2, 3), 0.1), eps=0.0)
        tensor(-20.)
    """
    diff = (x.float() - y.float()).reshape(x.shape[0], -1)
    return (10.0 * torch.log10(diff.pow(2).mean(dim=1) + eps)).mean()


def charbonnier_loss(x: Tensor, y: Tensor, eps: float = 1e-3) -> Tensor:
    """Charbonnier (smooth L1) loss: ``mean(sqrt((x - y)^2 + eps^2))``.

    Args:
        x: prediction.
        y: target, same shape.
        eps: smoothing constant; the loss of a perfect prediction is ``eps``.

    Shape:
        - x, y: :math:`(*)`; output :math:`()`.

    Example:
        >>> charbonnier_loss(torch.tensor([0.0, 3.0]), torch.zeros(2), eps=4.0)
        tensor(4.5000)
    """
    diff = x.float() - y.float()
    return torch.sqrt(diff * diff + eps * eps).mean()


def cycle_loss(reconstructed: Tensor, original: Tensor) -> Tensor:
    """CycleGAN cycle-consistency term: L1 between ``G_BA(G_AB(a))`` and ``a``.

    Args:
        reconstructed: the image after the round trip.
        original: the input image.

    Shape:
        - reconstructed, original: :math:`(N, C, H, W)`; output :math:`()`.

    Example:
        >>> a = torch.rand(1, 3, 8, 8) * 2 - 1
        >>> cycle_loss(a, a)
        tensor(0.)
    """
    return l1_loss(reconstructed, original)


def identity_loss(output: Tensor, original: Tensor) -> Tensor:
    """CycleGAN identity term: L1 between ``G_AB(b)`` and ``b``.

    Args:
        output: the generator applied to an image already in its output domain.
        original: that image.

    Shape:
        - output, original: :math:`(N, C, H, W)`; output :math:`()`.

    Example:
        >>> b = torch.rand(1, 3, 8, 8) * 2 - 1
        >>> identity_loss(b, b)
        tensor(0.)
    """
    return l1_loss(output, original)


def _flatten_features(features: Sequence, what: str) -> list[Tensor]:
    if isinstance(features, Tensor):
        return [features]
    if isinstance(features, (list, tuple)):
        out: list[Tensor] = []
        for f in features:
            out.extend(_flatten_features(f, what))
        return out
    raise TypeError(f"{what} must be a tensor or (nested) list of tensors, got {type(features).__name__}")


def feature_matching_loss(fake_features: Sequence, real_features: Sequence) -> Tensor:
    """Feature matching (pix2pixHD): mean over layers of L1 between matching feature maps.

    The real features are detached (they are targets). Nested lists, one list of layers per
    discriminator scale, are flattened and every layer counts equally.

    Args:
        fake_features: discriminator features of the generated images, a list of tensors (or a
            list of such lists, one per scale).
        real_features: the same structure for the real images.

    Shape:
        - each pair of feature maps: same shape; output :math:`()`.

    Example:
        >>> f = [torch.zeros(1, 4, 8, 8), torch.zeros(1, 8, 4, 4)]
        >>> r = [torch.ones(1, 4, 8, 8), torch.full((1, 8, 4, 4), 3.0)]
        >>> feature_matching_loss(f, r)
        tensor(2.)
    """
    fake = _flatten_features(fake_features, "fake_features")
    real = _flatten_features(real_features, "real_features")
    if len(fake) != len(real) or not fake:
        raise ValueError(
            f"expected the same non-zero number of feature maps, got {len(fake)} fake and {len(real)} real"
        )
    for i, (f, r) in enumerate(zip(fake, real)):
        if f.shape != r.shape:
            raise ValueError(f"feature map {i}: fake shape {tuple(f.shape)} != real shape {tuple(r.shape)}")
    return torch.stack([l1_loss(f, r.detach()) for f, r in zip(fake, real)]).mean()


# --------------------------------------------------------------------------------------------
# Perceptual (VGG19) loss
# --------------------------------------------------------------------------------------------

VGG19_WEIGHTS_ENV = "IMG2IMG_VGG19_WEIGHTS"
#: SRGAN's rescaling of the VGG feature maps (Ledig et al. 2017, training details): features are divided by
#: 12.75 before the MSE, so the content loss is ``MSE(phi(x), phi(y)) / 12.75^2``. The paper used
#: Caffe's VGG19 (inputs in [0, 255]); with torchvision's ImageNet-normalised VGG19 the feature
#: magnitudes differ, so the factor is the paper's, not a re-derived one (tune the content weight
#: against the adversarial weight if needed).
SRGAN_VGG_FEATURE_SCALE = 1.0 / 12.75
#: torchvision's file name for ``vgg19(weights="IMAGENET1K_V1")``
VGG19_CACHE_FILENAME = "vgg19-dcbb9e9d.pth"

# torchvision's VGG19 ("E") feature configuration: channels per conv, "M" for a 2x2 max-pool.
_VGG19_CFG = (
    64, 64, "M",
    128, 128, "M",
    256, 256, 256, 256, "M",
    512, 512, 512, 512, "M",
    512, 512, 512, 512, "M",
)  # fmt: skip


def _vgg19_layer_names() -> dict[str, int]:
    """Layer name -> index into torchvision's ``vgg19().features``.

    ``{"conv1_1": 0, "relu1_1": 1, ..., "relu5_4": 35, "pool5": 36}``.
    """
    names: dict[str, int] = {}
    index, block, conv = 0, 1, 1
    for v in _VGG19_CFG:
        if v == "M":
            names[f"pool{block}"] = index
            index, block, conv = index + 1, block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index, conv = index + 2, conv + 1
    return names


#: layer name -> index into torchvision's ``vgg19().features`` (conv1_1 ... relu5_4, pool1 ... pool5)
VGG19_LAYERS: dict[str, int] = _vgg19_layer_names()


def _vgg19_features(num_layers: int) -> nn.Sequential:
    """The first ``num_layers`` modules of torchvision's ``vgg19().features``, same indices and keys.

    Built here rather than through ``torchvision.models.vgg19`` to skip allocating and
    initialising the 120M-parameter classifier that would be thrown away. ReLUs are not in-place
    so that any layer's output can be kept.
    """
    layers: list[nn.Module] = []
    in_channels = 3
    for v in _VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_channels = v
    return nn.Sequential(*layers[:num_layers])


def _missing_weights_message() -> str:
    cache = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_CACHE_FILENAME
    return (
        "PerceptualLoss needs ImageNet-pretrained VGG19 weights from a local file, and img2img never "
        "downloads anything. Provide the file in one of these ways:\n"
        f"  1. pass it explicitly: PerceptualLoss(weights_path=...) in Python, or --vgg-weights PATH "
        "on the command line;\n"
        f"  2. set the environment variable {VGG19_WEIGHTS_ENV}=/path/to/{VGG19_CACHE_FILENAME};\n"
        f"  3. put it in torchvision's cache, where it was looked for: {cache}\n"
        "     (that is $TORCH_HOME/hub/checkpoints/, TORCH_HOME defaulting to ~/.cache/torch).\n"
        "To get the file, on a machine with internet access run\n"
        "  python -c \"import torchvision; torchvision.models.vgg19(weights='IMAGENET1K_V1')\"\n"
        f"and copy its ~/.cache/torch/hub/checkpoints/{VGG19_CACHE_FILENAME} to this machine, then use "
        "one of the ways above. Accepted formats: "
        "a torchvision vgg19 state dict or a features-only one, as .pth/.pt or .safetensors."
    )


def find_vgg19_weights(weights_path: str | os.PathLike | None = None) -> Path | None:
    """Locate a local VGG19 weights file; never downloads.

    Resolution order: ``weights_path`` > environment variable ``IMG2IMG_VGG19_WEIGHTS`` >
    torchvision's cache file ``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth``.

    Args:
        weights_path: explicit file, e.g. from the ``--vgg-weights`` flag.

    Returns:
        The path found, or ``None`` when nothing is configured and the cache file is absent.

    Raises:
        FileNotFoundError: ``weights_path`` or the environment variable names a file that does
            not exist (an explicit choice never silently falls back to another file).

    Example:
        >>> path = find_vgg19_weights()  # None on a machine without the cached file
    """
    explicit = (("weights_path", weights_path), (VGG19_WEIGHTS_ENV, os.environ.get(VGG19_WEIGHTS_ENV)))
    for source, value in explicit:
        if value is None or str(value) == "":
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"VGG19 weights file given by {source} does not exist: {path}\n\n" + _missing_weights_message()
            )
        return path
    cache = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_CACHE_FILENAME
    return cache if cache.is_file() else None


def _load_state_dict_file(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


_FEATURE_KEY = re.compile(r"^(?:module\.)?(?:features\.)?(\d+\.(?:weight|bias))$")


def _features_state_dict(state: dict[str, Tensor], path: Path) -> dict[str, Tensor]:
    """Keep the ``features`` part of a full torchvision vgg19 state dict or of a features-only one."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        match = _FEATURE_KEY.match(key)
        if match is not None:
            out[match.group(1)] = value
        elif not key.startswith(("classifier.", "module.classifier.")):
            raise ValueError(f"{path}: unexpected key {key!r}; expected a torchvision vgg19 state dict")
    return out


class PerceptualLoss(nn.Module):
    """VGG19 feature (content) loss, as in SRGAN: distance between frozen VGG19 activations.

    ``loss = sum_l layer_weight_l * criterion(s * phi_l(x), s * phi_l(y))`` with ``s`` the
    ``feature_scale`` (1 by default). Inputs are in ``[-1, 1]``;
    they are mapped to ``[0, 1]`` and ImageNet-normalised inside. One-channel inputs are
    repeated to three. The target's features are computed without gradient; gradients flow to
    ``x``. The VGG parameters are frozen and the network stays in eval mode whatever the parent
    module does.

    The weights come from a LOCAL file (see :func:`find_vgg19_weights` for the resolution order)
    holding a torchvision vgg19 state dict (``features.N.weight`` ...) or a features-only one
    (``N.weight`` ...), as ``.pth``/``.pt`` (loaded with ``weights_only=True``) or
    ``.safetensors``. Only the layers up to the deepest requested one are built and loaded.

    Note: the frozen VGG is a submodule, so it appears in this module's ``state_dict``; tasks
    should checkpoint their networks, not the loss.

    Args:
        weights_path: explicit weights file (the CLI's ``--vgg-weights``).
        layers: names from :data:`VGG19_LAYERS`, e.g. ``("relu2_2", "relu5_4")``.
        layer_weights: one weight per layer; all 1.0 when ``None``.
        criterion: ``"l1"``, ``"l2"`` (mean squared error) or ``"charbonnier"``.
        feature_scale: every feature map is multiplied by this before the criterion. SRGAN's
            content loss is ``PerceptualLoss(layers=("relu5_4",), criterion="l2",
            feature_scale=SRGAN_VGG_FEATURE_SCALE)``: the MSE between relu5_4 activations
            (the paper's phi_5,4, the 4th convolution after its ReLU, before the 5th max-pool)
            rescaled by 1/12.75, i.e. ``MSE / 12.75^2`` (about 0.006 times the plain MSE), which
            Ledig et al. (2017) chose to bring the VGG loss to the scale of the pixel MSE.

    Raises:
        FileNotFoundError: no weights file; the message says how to provide one.
        ValueError: unknown layer or criterion, or a weights file that does not fit.

    Shape:
        - x, y: :math:`(N, 3, H, W)` or :math:`(N, 1, H, W)` in ``[-1, 1]``; output :math:`()`.

    Example:
        >>> loss_fn = PerceptualLoss(layers=("relu5_4",))  # doctest: +SKIP
        >>> loss = loss_fn(sr, hr)  # doctest: +SKIP
    """

    _CRITERIA: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
        "l1": l1_loss,
        "l2": l2_loss,
        "charbonnier": charbonnier_loss,
    }

    def __init__(
        self,
        *,
        weights_path: str | os.PathLike | None = None,
        layers: Sequence[str] = ("relu5_4",),
        layer_weights: Sequence[float] | None = None,
        criterion: str = "l1",
        feature_scale: float = 1.0,
    ) -> None:
        super().__init__()
        layers = (layers,) if isinstance(layers, str) else tuple(layers)
        if not layers:
            raise ValueError("layers must name at least one VGG19 layer")
        unknown = [name for name in layers if name not in VGG19_LAYERS]
        if unknown:
            raise ValueError(f"unknown VGG19 layer(s) {unknown}; valid names: {', '.join(VGG19_LAYERS)}")
        if layer_weights is None:
            layer_weights = (1.0,) * len(layers)
        layer_weights = tuple(float(w) for w in layer_weights)
        if len(layer_weights) != len(layers):
            raise ValueError(f"got {len(layer_weights)} layer_weights for {len(layers)} layers")
        if criterion not in self._CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; valid: {', '.join(self._CRITERIA)}")
        feature_scale = float(feature_scale)
        if not feature_scale > 0 or feature_scale == float("inf"):
            raise ValueError(f"feature_scale must be a positive finite number, got {feature_scale}")

        path = find_vgg19_weights(weights_path)
        if path is None:
            raise FileNotFoundError(_missing_weights_message())

        self.layers = layers
        self.layer_weights = layer_weights
        self.criterion = criterion
        self.feature_scale = feature_scale
        self.weights_path = str(path)
        self._indices = tuple(VGG19_LAYERS[name] for name in layers)

        self.features = _vgg19_features(max(self._indices) + 1)
        state = _features_state_dict(_load_state_dict_file(path), path)
        expected = self.features.state_dict().keys()
        missing = [k for k in expected if k not in state]
        if missing:
            raise ValueError(f"{path}: VGG19 weights file lacks {missing} needed for layer(s) {layers}")
        self.features.load_state_dict({k: state[k] for k in expected})
        self.features.requires_grad_(False)
        self.features.eval()

        # ImageNet statistics, applied after mapping [-1, 1] -> [0, 1]
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.features.eval()  # a frozen feature extractor: always eval
        return self

    def _extract(self, x: Tensor) -> list[Tensor]:
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"PerceptualLoss expects (N, 3, H, W) or (N, 1, H, W) input, got {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = ((x + 1.0) * 0.5 - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        wanted = set(self._indices)
        feats: dict[int, Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                feats[i] = x
        return [feats[i] for i in self._indices]

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.shape != y.shape:
            raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        fx = self._extract(x)
        with torch.no_grad():
            fy = self._extract(y)
        crit = self._CRITERIA[self.criterion]
        total = None
        s = self.feature_scale
        for w, a, b in zip(self.layer_weights, fx, fy):
            term = w * (crit(a, b) if s == 1.0 else crit(a.float() * s, b.float() * s))
            total = term if total is None else total + term
        return total

    def extra_repr(self) -> str:
        return (
            f"layers={self.layers}, layer_weights={self.layer_weights}, criterion={self.criterion!r}, "
            f"feature_scale={self.feature_scale:g}"
        )
