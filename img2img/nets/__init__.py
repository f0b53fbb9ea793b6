"""Networks: generators (U-Net, ResNet, SRResNet, CompactSR) and the one PatchGAN discriminator.

Every generator maps ``N x C x H x W`` in [-1, 1] to ``N x C' x scale*H x scale*W`` in [-1, 1]
and declares ``in_channels``, ``out_channels``, ``scale``, ``size_multiple`` and ``min_size``;
every net carries a JSON-serialisable ``config`` (its constructor arguments, recorded by
:func:`register_arch`) that :func:`build_model` rebuilds it from.

Importing this package imports every module in it, which registers the nets they declare: a new
net is one module here and nothing else (see :mod:`img2img.nets.registry`).

Example:
    >>> from img2img.nets import create_model, build_model, list_models
    >>> list_models("discriminator")
    ['patchgan_142', 'patchgan_34', 'patchgan_70']
    >>> g = create_model("unet_256", base_channels=32)
    >>> g2 = build_model(g.config)
"""

import importlib
import pkgutil

from .compact_sr import CompactSR
from .layers import conv_bias, get_activation, get_norm_layer, init_weights
from .patchgan import PatchGAN
from .registry import (
    build_model,
    create_model,
    get_model_class,
    list_models,
    register_arch,
    register_model,
)
from .resnet import ResnetGenerator
from .srresnet import SRResNet
from .unet import UNetGenerator

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")  # each net module registers its nets
del _module

__all__ = [
    "CompactSR",
    "PatchGAN",
    "ResnetGenerator",
    "SRResNet",
    "UNetGenerator",
    "build_model",
    "conv_bias",
    "create_model",
    "get_activation",
    "get_model_class",
    "get_norm_layer",
    "init_weights",
    "list_models",
    "register_arch",
    "register_model",
]
