"""Export-time rewrites (img2img.nets.rewrite): each one is the same function as the original."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from img2img.nets import create_model, get_model_class, list_models
from img2img.nets.rewrite import (
    SubPixelConvTranspose2d,
    _phase_taps,
    fold_batch_norm,
    for_export,
)


@pytest.mark.parametrize(
    "kernel,stride,padding,output_padding",
    [(4, 2, 1, 0), (3, 2, 1, 1), (2, 2, 0, 0), (6, 2, 2, 0), (3, 3, 0, 0), (5, 3, 1, 0), (8, 4, 2, 0)],
)
@pytest.mark.parametrize("bias", [True, False])
def test_subpixel_equals_the_transposed_conv(kernel, stride, padding, output_padding, bias):
    torch.manual_seed(kernel * 10 + stride)
    layer = nn.ConvTranspose2d(5, 7, kernel, stride, padding, output_padding=output_padding, bias=bias)
    rewritten = SubPixelConvTranspose2d.from_transposed(layer)
    for h, w in [(9, 6), (1, 1), (4, 13)]:
        x = torch.randn(2, 5, h, w)
        with torch.no_grad():
            expected, got = layer(x), rewritten(x)
        assert got.shape == expected.shape == (2, 7, stride * h, stride * w)
        assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


def test_unet_layer_is_a_2x2_conv_with_the_same_products():
    layer = nn.ConvTranspose2d(8, 3, 4, 2, 1)
    rewritten = SubPixelConvTranspose2d.from_transposed(layer)
    assert rewritten.conv.kernel_size == (2, 2) and rewritten.conv.out_channels == 12
    # 4 phases x 2x2 taps = the 16 taps of the 4x4 kernel, each used exactly once
    assert sum(len(taps) for taps in _phase_taps(4, 2, 1)) == 4
    assert sorted(k for taps in _phase_taps(4, 2, 1) for k in taps.values()) == [0, 1, 2, 3]
    assert _phase_taps(4, 2, 1) == [{0: 1, -1: 3}, {1: 0, 0: 2}]


@pytest.mark.parametrize(
    "layer",
    [
        nn.ConvTranspose2d(4, 4, 4, 2, 1, output_padding=1),
        nn.ConvTranspose2d(4, 4, 4, 2, 1, groups=2),
        nn.ConvTranspose2d(4, 4, 3, 1, 1),
        nn.ConvTranspose2d(4, 4, (4, 2), 2, (1, 0)),
        nn.Conv2d(4, 4, 3),
    ],
    ids=["output-not-2x", "groups", "stride-1", "non-square", "not-transposed"],
)
def test_unsupported_layers_are_refused(layer):
    assert not SubPixelConvTranspose2d.supports(layer)
    with pytest.raises(ValueError, match="transposed"):
        SubPixelConvTranspose2d.from_transposed(layer)


def _randomise_batch_norms(net: nn.Module) -> nn.Module:
    torch.manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
            m.bias.data.normal_()
    return net.eval()


def test_fold_batch_norm_after_conv_and_transposed_conv():
    torch.manual_seed(0)
    for conv in (nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.ConvTranspose2d(3, 6, 4, 2, 1)):
        seq = _randomise_batch_norms(nn.Sequential(conv, nn.BatchNorm2d(6), nn.ReLU()))
        x = torch.randn(2, 3, 8, 8)
        with torch.no_grad():
            expected = seq(x)
            folded = fold_batch_norm(seq)
            got = folded(x)
        assert isinstance(folded[1], nn.Identity) and folded[0].bias is not None
        assert torch.allclose(got, expected, atol=1e-5)


# small versions of every generator preset (arguments a preset's class does not take are left out)
SMALL = {"base_channels": 8, "num_downs": 5, "num_blocks": 2, "num_convs": 2}


def small(preset, **extra):
    params = inspect.signature(get_model_class(preset)).parameters
    return create_model(preset, **{k: v for k, v in SMALL.items() if k in params}, **extra)


@pytest.mark.parametrize(
    "preset,extra",
    [(name, {}) for name in list_models("generator")] + [("unet_128", {"upsample": "resize"})],
)
def test_for_export_is_the_same_function_and_leaves_the_net_alone(preset, extra):
    torch.manual_seed(0)
    net = _randomise_batch_norms(small(preset, **extra))
    size = max(16, net.min_size)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rewritten = for_export(net)
    x = torch.randn(2, net.in_channels, size, size + net.size_multiple)
    with torch.no_grad():
        assert torch.allclose(rewritten(x), net(x), atol=1e-4)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()), "for_export changed the caller's net"
    kinds = {type(m) for m in rewritten.modules()}
    assert nn.ConvTranspose2d not in kinds and nn.PReLU not in kinds and nn.BatchNorm2d not in kinds
