"""Tests for img2img.nets: every registered generator through one interface, the U-Net's
readable parameter names, the PatchGAN's receptive field and outputs, CompactSR's cost, the
registry and the layer factories. Tiny configs, CPU only."""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import shutil
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.flop_counter import FlopCounterMode

from img2img.checkpoint import load_pretrained, save_pretrained
from img2img.nets import (
    CompactSR,
    PatchGAN,
    ResnetGenerator,
    SRResNet,
    UNetGenerator,
    build_model,
    create_model,
    get_model_class,
    get_norm_layer,
    init_weights,
    list_models,
    register_arch,
    register_model,
    registry,
)
from img2img.nets.layers import conv_bias, get_activation
from img2img.nets.patchgan import patchgan_kwargs

TINY = {"base_channels": 4, "num_blocks": 2, "num_convs": 2}
GENERATORS = list_models("generator")
# image nets (the GAN lab's noise -> image nets and their discriminators are tested in test_gan_lab.py)
ALL_MODELS = [name for name in list_models() if not getattr(get_model_class(name), "lab", False)]
LAB_MODELS = [name for name in list_models() if getattr(get_model_class(name), "lab", False)]
ARCHS = sorted({get_model_class(name) for name in list_models()}, key=lambda cls: cls.arch)


def tiny_overrides(name: str, **extra: Any) -> dict[str, Any]:
    """The TINY kwargs the preset's class accepts, plus ``extra``."""
    params = inspect.signature(get_model_class(name)).parameters
    return {**{k: v for k, v in TINY.items() if k in params}, **extra}


def tiny(name: str, **extra: Any) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, **tiny_overrides(name, **extra))


def valid_sizes(net: nn.Module) -> list[tuple[int, int]]:
    """Two different valid (H, W): the smallest valid square, and a non-square one."""
    m = net.size_multiple
    side = max(net.min_size, m * -(-8 // m))  # smallest multiple of m that is >= 8 and >= min_size
    return [(side, side), (2 * side, side + m)]


def randn_image(n: int, c: int, h: int, w: int) -> torch.Tensor:
    return torch.rand(n, c, h, w) * 2 - 1


# --------------------------------------------------------------------------------------------
# Generators, parametrized over the registry


def test_registry_lists_every_architecture() -> None:
    documented = {  # the README's "Networks" table; new nets only add to it
        "compact_sr_x2", "compact_sr_x4", "resnet_6blocks", "resnet_9blocks",
        "srresnet_x2", "srresnet_x4", "srresnet_x8", "unet_128", "unet_256",
    }  # fmt: skip
    assert documented <= set(GENERATORS)
    assert {"patchgan_142", "patchgan_34", "patchgan_70"} <= set(list_models("discriminator"))
    assert list_models() == sorted(GENERATORS + list_models("discriminator") + list_models("sampler"))
    assert {"mlp_generator", "dcgan_generator"} == set(list_models("sampler"))
    assert {"mlp_discriminator", "dcgan_discriminator"} <= set(LAB_MODELS)
    from img2img.nets.hint_spread import HintSpread  # a wrapper around a preset's net, built by pix2pix --hints

    wrappers = {HintSpread}
    assert set(registry._ARCHS.values()) - wrappers == set(ARCHS), "every architecture has a preset"


@pytest.mark.parametrize("name", GENERATORS)
def test_generator_shape_and_range(name: str) -> None:
    net = tiny(name)
    assert net.kind == "generator"
    for h, w in valid_sizes(net):
        x = randn_image(2, net.in_channels, h, w)
        for train in (True, False):
            net.train(train)
            with torch.no_grad():
                y = net(x)
            assert y.shape == (2, net.out_channels, net.scale * h, net.scale * w)
            assert y.min() >= -1 and y.max() <= 1
            assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", GENERATORS)
def test_generator_interface_attributes(name: str) -> None:
    net = tiny(name, in_channels=1, out_channels=2)
    known_multiple = {"unet_128": 128, "unet_256": 256, "resnet_6blocks": 4, "resnet_9blocks": 4}
    assert (net.in_channels, net.out_channels) == (1, 2)
    assert net.scale == net.config.get("scale", 1)
    assert net.size_multiple == known_multiple.get(name, net.size_multiple)
    assert net.min_size % net.size_multiple == 0
    for attr in ("scale", "size_multiple", "min_size"):
        assert isinstance(getattr(net, attr), int)
    # The smallest valid size works, with the declared channels.
    net.eval()
    side = net.min_size
    with torch.no_grad():
        y = net(randn_image(1, 1, side, side))
    assert y.shape == (1, 2, net.scale * side, net.scale * side)


@pytest.mark.parametrize("name", GENERATORS)
def test_generator_rejects_size_not_multiple(name: str) -> None:
    net = tiny(name).eval()
    m = net.size_multiple
    if m == 1:  # every size is valid
        assert net(randn_image(1, 3, net.min_size + 1, net.min_size + 2)).shape[-2:] == (
            net.scale * (net.min_size + 1),
            net.scale * (net.min_size + 2),
        )
        return
    with pytest.raises(ValueError, match=f"multiples of {m}"):
        net(randn_image(1, 3, net.min_size + m // 2, net.min_size))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_config_round_trip(name: str) -> None:
    net = tiny(name).eval()
    config = json.loads(json.dumps(net.config))  # JSON-serialisable, as a checkpoint stores it
    assert config["arch"] == net.arch
    torch.manual_seed(1)  # different initial weights
    rebuilt = build_model(config).eval()
    assert type(rebuilt) is type(net) and rebuilt.config == net.config
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes
    rebuilt.load_state_dict(net.state_dict())
    size = valid_sizes(net)[0] if net.kind == "generator" else (64, 64)
    x = randn_image(2, net.in_channels, *size)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), net(x))


@pytest.mark.parametrize("cls", ARCHS, ids=lambda cls: cls.arch)
def test_config_holds_every_constructor_argument(cls: type[nn.Module]) -> None:
    params = inspect.signature(cls).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    given = {"base_channels": 4} if "base_channels" in params else {}  # small; a contributor's net may differ
    net = cls(**given)
    assert list(net.config) == ["arch", *params]  # in signature order, as configs were always written
    expected = {k: p.default for k, p in params.items()} | given
    assert {k: net.config[k] for k in params} == expected
    assert net.config["arch"] == cls.arch and build_model(net.config).config == net.config


# config.json "directions.<d>.net" dicts as img2img wrote them before configs were recorded by
# register_arch (hand-written per net); a PatchGAN config from before num_layers was n_layers
SAVED_CONFIGS = [
    {
        "arch": "unet",
        "in_channels": 3,
        "out_channels": 3,
        "num_downs": 5,
        "base_channels": 4,
        "norm": "instance",
        "dropout": 0.5,
        "upsample": "resize",
        "residual": True,
        "global_context": False,
    },
    {
        "arch": "resnet",
        "in_channels": 3,
        "out_channels": 1,
        "base_channels": 4,
        "num_blocks": 2,
        "norm": "instance",
        "dropout": 0.0,
        "padding": "reflect",
    },
    {
        "arch": "srresnet",
        "in_channels": 3,
        "out_channels": 3,
        "base_channels": 4,
        "num_blocks": 1,
        "scale": 2,
        "residual": False,
    },
    {"arch": "compact_sr", "in_channels": 1, "out_channels": 1, "base_channels": 4, "num_convs": 2, "scale": 3},
]
# constructor arguments added since those configs were written: an old config loads with these
# defaults (the old behaviour) and is written back with them appended, nothing else changed
ADDED_SINCE: dict[str, dict[str, Any]] = {
    "unet": {
        "global_color": False,
        "global_vignette": False,
        "detail_sigma": 0.0,
        "zero_start": False,
        "color_window": 0,
        "vignette_scale": 1.0,
    },
    "srresnet": {"head_kernel": 9},
}


@pytest.mark.parametrize("saved", SAVED_CONFIGS, ids=lambda c: c["arch"])
def test_model_folders_keep_their_config_format(tmp_path: Path, saved: dict[str, Any]) -> None:
    torch.manual_seed(0)
    net = build_model(saved).eval()
    current = {**saved, **ADDED_SINCE.get(saved["arch"], {})}
    assert net.config == current and list(net.config) == list(current)  # same keys, values and order
    spec = {
        "input": {"channels": net.in_channels},
        "output": {"channels": net.out_channels},
        "scale": net.scale,
        "size_multiple": net.size_multiple,
    }
    save_pretrained({"AtoB": net}, tmp_path / "model", task="test", io_spec=spec)
    written = json.loads((tmp_path / "model" / "config.json").read_text())["directions"]["AtoB"]["net"]
    assert written == current and list(written) == list(current)
    _, nets = load_pretrained(tmp_path / "model")
    x = randn_image(1, net.in_channels, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(nets["AtoB"](x), net(x))


def test_config_round_trip_keeps_non_default_arguments() -> None:
    net = UNetGenerator(num_downs=4, base_channels=4, norm="instance", dropout=0.0, upsample="resize")
    rebuilt = build_model(net.config)
    assert [(k, v.shape) for k, v in rebuilt.state_dict().items()] == [
        (k, v.shape) for k, v in net.state_dict().items()
    ]
    assert rebuilt.config == net.config


# --------------------------------------------------------------------------------------------
# U-Net


def test_unet_state_dict_keys_are_readable() -> None:
    keys = list(UNetGenerator(num_downs=5, base_channels=4).state_dict())
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert keys[:8] == ["down.0.conv.weight", "down.0.conv.bias", "down.1.conv.weight"] + [
        f"down.1.norm.{k}" for k in bn
    ]
    assert keys[-8:] == ["up.3.conv.weight"] + [f"up.3.norm.{k}" for k in bn] + ["up.4.conv.weight", "up.4.conv.bias"]
    # The innermost step has no norm and its conv keeps a bias.
    assert [k for k in keys if k.startswith("down.4.")] == ["down.4.conv.weight", "down.4.conv.bias"]
    assert not any("model.model" in k for k in keys)
    assert all(k.split(".")[0] in ("down", "up") for k in keys)


def test_unet_layout_matches_reference() -> None:
    net = UNetGenerator(num_downs=8, base_channels=4)
    widths = [m.conv.out_channels for m in net.down]
    assert widths == [4, 8, 16, 32, 32, 32, 32, 32]
    assert [m.conv.in_channels for m in net.up] == [32, 64, 64, 64, 64, 32, 16, 8]
    assert net.up[-1].conv.out_channels == 3 and isinstance(net.up[-1].tanh, nn.Tanh)
    dropout_steps = [j for j, m in enumerate(net.up) if any(isinstance(c, nn.Dropout) for c in m)]
    assert dropout_steps == [1, 2, 3]
    assert not any(isinstance(m, nn.Dropout) for m in UNetGenerator(num_downs=8, dropout=0.0).modules())


def test_unet_dropout_is_stochastic_in_train_mode_only() -> None:
    torch.manual_seed(0)
    net = UNetGenerator(num_downs=6, base_channels=4)
    x = randn_image(2, 3, 64, 64)
    with torch.no_grad():
        assert not torch.equal(net.train()(x), net(x))
        net.eval()
        assert torch.equal(net(x), net(x))


def test_unet_resize_upsample() -> None:
    net = UNetGenerator(num_downs=5, base_channels=4, upsample="resize")
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in net.modules())
    assert all(isinstance(m.resize, nn.Upsample) for m in net.up)
    assert "up.0.conv.weight" in net.state_dict()
    y = net.eval()(randn_image(2, 3, 32, 64))
    assert y.shape == (2, 3, 32, 64) and y.abs().max() <= 1


def test_unet_instance_norm_keeps_conv_bias() -> None:
    net = UNetGenerator(num_downs=5, base_channels=4, norm="instance")
    assert net.down[1].conv.bias is not None and isinstance(net.down[1].norm, nn.InstanceNorm2d)
    assert UNetGenerator(num_downs=5, base_channels=4).down[1].conv.bias is None


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (UNetGenerator, {"upsample": "nearest"}, "upsample must be one of"),
        (UNetGenerator, {"num_downs": 1}, "num_downs >= 2"),
        (UNetGenerator, {"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        (UNetGenerator, {"in_channels": 1, "residual": True}, "in_channels == out_channels"),
        (ResnetGenerator, {"num_blocks": -1}, "num_blocks >= 0"),
        (ResnetGenerator, {"padding": "circular"}, "padding must be one of"),
        (SRResNet, {"scale": 3}, "scale must be one of"),
        (SRResNet, {"num_blocks": -1}, "num_blocks >= 0"),
        (SRResNet, {"out_channels": 1, "residual": True}, "in_channels == out_channels"),
        (SRResNet, {"head_kernel": 4}, "positive odd number"),
        (SRResNet, {"head_kernel": 0}, "positive odd number"),
        (CompactSR, {"scale": 0}, "positive integer"),
        (CompactSR, {"num_convs": 0}, "num_convs >= 1"),
        (PatchGAN, {"num_layers": 0}, "num_layers >= 1"),
        (PatchGAN, {"num_scales": 0}, "num_scales >= 1"),
    ],
)
def test_nets_reject_bad_arguments_with_value_error(cls: type[nn.Module], kwargs: dict[str, Any], message: str) -> None:
    """ValueError, not assert: the checks hold under ``python -O`` too."""
    with pytest.raises(ValueError, match=message):
        cls(base_channels=4, **kwargs)


# --------------------------------------------------------------------------------------------
# SR generators


@pytest.mark.parametrize("scale", [2, 4])
def test_compact_sr_costs_a_fraction_of_srresnet(scale: int) -> None:
    x = randn_image(1, 3, 16, 16)

    def flops(net: nn.Module) -> int:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net.eval()(x)
        return counter.get_total_flops()

    ratio = flops(create_model(f"compact_sr_x{scale}")) / flops(create_model(f"srresnet_x{scale}"))
    assert 0.05 <= ratio <= 0.15, ratio


def test_srresnet_head_kernel_sets_the_last_conv_and_cuts_its_cost() -> None:
    """The head runs at the output resolution: 3x3 instead of the paper's 9x9 costs 9 times fewer
    multiply-adds there; the net keeps its shape, its residual start and its saved config."""
    x = randn_image(1, 3, 8, 8)

    def flops(net: nn.Module) -> int:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net.eval()(x)
        return counter.get_total_flops()

    paper = SRResNet(base_channels=8, num_blocks=1, scale=4, residual=True)
    small = SRResNet(base_channels=8, num_blocks=1, scale=4, residual=True, head_kernel=3)
    assert paper.head.conv.kernel_size == (9, 9) and small.head.conv.kernel_size == (3, 3)
    head_flops = 2 * 8 * 3 * 32 * 32  # per tap: 8 in, 3 out channels at 32 x 32
    assert flops(paper) - flops(small) == head_flops * (81 - 9)
    expected = nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False).clamp(-1, 1)
    torch.testing.assert_close(small.eval()(x), expected)  # zero head: bicubic
    assert build_model(small.config).head.conv.kernel_size == (3, 3)


def test_compact_sr_starts_near_the_upsampled_input() -> None:
    """The global residual: with the last conv zeroed, the output is the bilinear upsampling."""
    net = CompactSR(base_channels=8, num_convs=2, scale=2)
    nn.init.zeros_(net.upsample.conv.weight)
    nn.init.zeros_(net.upsample.conv.bias)
    x = randn_image(1, 3, 8, 8)
    expected = nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(net(x), expected.clamp(-1, 1))


# --------------------------------------------------------------------------------------------
# PatchGAN


@pytest.mark.parametrize(("num_layers", "expected"), [(2, 34), (3, 70), (4, 142)])
def test_patchgan_receptive_field_from_gradient(num_layers: int, expected: int) -> None:
    net = PatchGAN(base_channels=4, num_layers=num_layers, norm="none")
    for p in net.parameters():
        nn.init.ones_(p)  # with positive LeakyReLU slopes every path adds: no cancellations
    x = randn_image(1, 3, 256, 256).requires_grad_(True)
    logits = net(x)  # (1, 1, h, w)
    h, w = logits.shape[-2:]
    logits[0, 0, h // 2, w // 2].backward()
    grad = x.grad[0].abs().sum(0)  # (256, 256)
    rows = int((grad.sum(1) > 0).sum())
    cols = int((grad.sum(0) > 0).sum())
    assert rows == cols == expected == net.receptive_field()


def test_patchgan_returns_logits() -> None:
    torch.manual_seed(0)
    net = create_model("patchgan_70", base_channels=8).eval()
    assert not any(isinstance(m, nn.Sigmoid) for m in net.modules())
    y = net(randn_image(2, 3, 64, 64))
    assert y.shape == (2, 1, 6, 6)
    with torch.no_grad():
        net.scales[0][-1].conv.bias.fill_(-3.0)  # a sigmoid output could never go negative
    assert (net(randn_image(2, 3, 64, 64)) < 0).any()


def test_patchgan_conditional_input() -> None:
    net = PatchGAN(in_channels=6, base_channels=4)
    a, b = randn_image(2, 3, 64, 64), randn_image(2, 3, 64, 64)
    assert net(torch.cat([a, b], 1)).shape == (2, 1, 6, 6)


def test_patchgan_multiscale_shapes() -> None:
    net = PatchGAN(base_channels=4, num_scales=2).eval()
    out = net(randn_image(2, 3, 64, 64))
    assert isinstance(out, list) and len(out) == 2
    assert out[0].shape == (2, 1, 6, 6)  # 64 -> 32 -> 16 -> 8 -> 7 -> 6
    assert out[1].shape == (2, 1, 2, 2)  # pooled to 32 -> 16 -> 8 -> 4 -> 3 -> 2: coarsest last


@pytest.mark.parametrize("num_scales", [1, 2])
def test_patchgan_return_features(num_scales: int) -> None:
    net = PatchGAN(base_channels=4, num_layers=3, num_scales=num_scales).eval()
    x = randn_image(2, 3, 64, 64)
    logits, features = net(x, return_features=True)
    assert len(features) == num_scales * 4  # one per LeakyReLU: 3 stride-2 convs + 1 stride-1 conv
    assert [f.shape[1] for f in features[:4]] == [4, 8, 16, 32]
    assert features[0].shape == (2, 4, 32, 32)
    plain = net(x)
    for a, b in zip(logits if num_scales > 1 else [logits], plain if num_scales > 1 else [plain]):
        torch.testing.assert_close(a, b)


def test_patchgan_spectral_norm_trains() -> None:
    torch.manual_seed(0)
    net = create_model("patchgan_70", base_channels=4, norm="none", spectral_norm=True)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5 and all(parametrize.is_parametrized(c, "weight") for c in convs)
    before = convs[0].parametrizations.weight.original.detach().clone()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        loss = nn.functional.softplus(-net(randn_image(2, 3, 64, 64))).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, convs[0].parametrizations.weight.original)
    # The effective weight is scaled to spectral norm about 1 (power iteration, one step a call).
    for _ in range(10):
        net(randn_image(1, 3, 32, 32))
    sigma = torch.linalg.matrix_norm(convs[1].weight.detach().flatten(1), ord=2)
    assert 0.9 < float(sigma) < 1.1
    rebuilt = build_model(net.config)
    assert rebuilt.state_dict().keys() == net.state_dict().keys()


def test_patchgan_n_layers_is_a_deprecated_alias_of_num_layers() -> None:
    with pytest.warns(DeprecationWarning, match="'n_layers' is deprecated, use 'num_layers'"):
        net = PatchGAN(base_channels=4, n_layers=2)
    assert net.config["num_layers"] == 2 and "n_layers" not in net.config and net.receptive_field() == 34
    with pytest.warns(DeprecationWarning):
        assert create_model("patchgan_70", base_channels=4, n_layers=4).receptive_field() == 142
    with pytest.warns(DeprecationWarning):
        assert patchgan_kwargs({"n_layers": 2}, gan_mode="vanilla") == {"num_layers": 2, "norm": "batch"}
    with pytest.raises(TypeError, match="both"):
        PatchGAN(n_layers=2, num_layers=3)
    saved = {
        "arch": "patchgan",
        "in_channels": 6,
        "base_channels": 4,
        "n_layers": 2,
        "norm": "batch",
        "spectral_norm": False,
        "num_scales": 1,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a config saved with the old name loads silently
        rebuilt = build_model(saved)
    assert rebuilt.config == {**{k: v for k, v in saved.items() if k != "n_layers"}, "num_layers": 2}
    assert rebuilt.state_dict().keys() == net.state_dict().keys()


# --------------------------------------------------------------------------------------------
# Registry


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register nets and presets without leaking them into the real registry."""
    monkeypatch.setattr(registry, "_PRESETS", dict(registry._PRESETS))
    monkeypatch.setattr(registry, "_ARCHS", dict(registry._ARCHS))


def test_register_model_rejects_duplicates(scratch_registry: None) -> None:
    def unet_256(**overrides: Any) -> UNetGenerator:
        return UNetGenerator(**overrides)

    with pytest.raises(ValueError, match="already registered"):
        register_model(unet_256)


def test_register_model_adds_a_preset(scratch_registry: None) -> None:
    @register_model
    def tiny_unet(**overrides: Any) -> UNetGenerator:
        return UNetGenerator(**{"num_downs": 3, "base_channels": 4, **overrides})

    assert "tiny_unet" in list_models("generator") and "tiny_unet" not in list_models("discriminator")
    assert create_model("tiny_unet").size_multiple == 8

    def no_annotation(**overrides: Any):
        return UNetGenerator(**overrides)

    with pytest.raises(TypeError, match="annotate"):
        register_model(no_annotation)


def test_unknown_names_list_the_available_ones() -> None:
    with pytest.raises(ValueError, match="unknown model 'unet_512'.*unet_256"):
        create_model("unet_512")
    with pytest.raises(ValueError, match="arch 'vgg'") as caught:
        build_model({"arch": "vgg", "in_channels": 3})
    listed = str(caught.value).split("available: ")[1].split(", ")  # a contributor's new net joins the list
    assert listed == sorted(listed) and set(listed) >= {"compact_sr", "patchgan", "resnet", "srresnet", "unet"}
    with pytest.raises(ValueError, match="unknown kind"):
        list_models("critic")


def test_create_model_overrides() -> None:
    net = create_model("unet_128", base_channels=4, in_channels=1, norm="instance")
    assert net.config["num_downs"] == 7 and net.size_multiple == 128
    assert net.config["base_channels"] == 4 and net.in_channels == 1
    assert create_model("unet_128", base_channels=4, num_downs=5).size_multiple == 32  # presets can be overridden
    with pytest.raises(TypeError):
        create_model("srresnet_x4", num_downs=3)
    # also a ValueError, which the command line reports as a bad option, naming the argument and the net's
    with pytest.raises(ValueError, match=r"UNetGenerator takes no argument 'head_kernel'.*num_downs"):
        create_model("unet_256", head_kernel=3)


def test_register_arch_checks_the_declaration(scratch_registry: None) -> None:
    def scratch(arch: str = "scratch", presets: dict[str, Any] | None = None) -> type[nn.Module]:
        class Scratch(nn.Module):
            kind = "generator"

            def __init__(self, *, width: int = 1) -> None:
                super().__init__()

        Scratch.arch, Scratch.presets = arch, presets or {}
        return Scratch

    class Loose(nn.Module):
        arch, kind = "loose", "generator"

        def __init__(self, **extra: Any) -> None:
            super().__init__()

    with pytest.raises(ValueError, match="architecture 'unet' is already registered"):
        register_arch(scratch(arch="unet"))
    with pytest.raises(ValueError, match="model 'unet_256' is already registered"):
        register_arch(scratch(presets={"unet_256": {}}))
    with pytest.raises(TypeError, match=r"preset 'scratch_1' sets \['depth'\]"):
        register_arch(scratch(presets={"scratch_1": {"depth": 2}}))
    with pytest.raises(TypeError, match=r"takes \*\*extra"):
        register_arch(Loose)

    class Positional(nn.Module):  # registered, trained and saved fine before; rebuilt by name it could break
        arch, kind = "positional", "generator"

        def __init__(self, width: int = 1) -> None:
            super().__init__()

    with pytest.raises(TypeError, match=r"Positional.__init__ takes 'width' by position"):
        register_arch(Positional)
    cls = register_arch(scratch(presets={"scratch_1": {"width": 2}}))
    assert cls().config == {"arch": "scratch", "width": 1}
    assert create_model("scratch_1").config == {"arch": "scratch", "width": 2}
    assert build_model({"arch": "scratch", "width": 3}).config == {"arch": "scratch", "width": 3}


# --------------------------------------------------------------------------------------------
# A new net is one file

NEW_NET = '''
"""A tiny generator written as a contributor would: this file and nothing else."""

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from {registry} import register_arch


@register_arch
class NearestSR(nn.Module):
    arch: ClassVar[str] = "nearest_sr"
    kind: ClassVar[str] = "generator"
    presets: ClassVar[dict[str, dict[str, Any]]] = {{"nearest_sr_x2": {{"scale": 2}}, "nearest_sr_x3": {{"scale": 3}}}}

    def __init__(self, *, in_channels: int = 3, out_channels: int = 3, width: int = 8, scale: int = 2) -> None:
        super().__init__()
        if scale < 1:
            raise ValueError(f"NearestSR scale must be >= 1, got {{scale}}")
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, scale
        self.size_multiple = self.min_size = 1
        self.body = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(width, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardtanh(self.body(F.interpolate(x, scale_factor=self.scale, mode="nearest")))
'''


def test_a_new_net_is_one_file(tmp_path: Path, scratch_registry: None) -> None:
    """A module with one decorated class is a preset to create_model, a config to build_model and
    a model folder to save_pretrained/load_pretrained; no other file names it."""
    path = tmp_path / "nearest_sr.py"
    path.write_text(textwrap.dedent(NEW_NET.format(registry="img2img.nets")))
    spec = importlib.util.spec_from_file_location("nearest_sr", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))

    assert {"nearest_sr_x2", "nearest_sr_x3"} <= set(list_models("generator"))
    torch.manual_seed(0)
    net = create_model("nearest_sr_x3", width=4, out_channels=1).eval()
    assert net.config == {"arch": "nearest_sr", "in_channels": 3, "out_channels": 1, "width": 4, "scale": 3}
    with pytest.raises(ValueError, match="scale must be >= 1"):
        create_model("nearest_sr_x2", scale=0)

    spec = {"input": {"channels": 3}, "output": {"channels": 1}, "scale": 3, "size_multiple": 1}
    save_pretrained({"AtoB": net}, tmp_path / "model", task="test", io_spec=spec)
    _, nets = load_pretrained(tmp_path / "model")
    x = randn_image(1, 3, 5, 7)
    with torch.no_grad():
        torch.testing.assert_close(nets["AtoB"](x), net(x))
    assert nets["AtoB"].config == net.config


def test_the_nets_package_registers_every_module_in_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping the same file into (a copy of) img2img/nets is all it takes: no import line, no list."""
    source = Path(registry.__file__).parent
    copy = tmp_path / "nets_copy"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "nearest_sr.py").write_text(textwrap.dedent(NEW_NET.format(registry=".registry")))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        nets_copy = importlib.import_module("nets_copy")  # its own registry: the real one is untouched
        assert set(nets_copy.list_models()) == set(ALL_MODELS + LAB_MODELS) | {"nearest_sr_x2", "nearest_sr_x3"}
        assert "nearest_sr_x2" not in list_models()
    finally:
        for name in [m for m in sys.modules if m == "nets_copy" or m.startswith("nets_copy.")]:
            del sys.modules[name]


# --------------------------------------------------------------------------------------------
# Layer factories


def test_get_norm_layer() -> None:
    assert isinstance(get_norm_layer("batch", 8), nn.BatchNorm2d)
    inorm = get_norm_layer("instance", 8)
    assert isinstance(inorm, nn.InstanceNorm2d) and not inorm.affine and not inorm.track_running_stats
    assert isinstance(get_norm_layer("none", 8), nn.Identity)
    group = get_norm_layer(lambda c: nn.GroupNorm(2, c), 8)
    assert isinstance(group, nn.GroupNorm) and group.num_channels == 8
    with pytest.raises(ValueError, match="unknown norm"):
        get_norm_layer("layer", 8)


def test_conv_bias_is_decided_by_the_norm() -> None:
    assert conv_bias("batch") is False
    assert conv_bias("instance") is True and conv_bias("none") is True
    assert conv_bias(nn.BatchNorm2d) is False
    assert conv_bias(functools.partial(nn.BatchNorm2d, momentum=0.01)) is False
    assert conv_bias(lambda c: nn.GroupNorm(1, c)) is True
    with pytest.raises(ValueError):
        conv_bias("group")


def test_get_activation() -> None:
    assert isinstance(get_activation("relu"), nn.ReLU)
    leaky = get_activation("leaky_relu")
    assert isinstance(leaky, nn.LeakyReLU) and leaky.negative_slope == 0.2
    assert isinstance(get_activation("prelu"), nn.PReLU)
    assert isinstance(get_activation("tanh"), nn.Tanh)
    assert isinstance(get_activation("none"), nn.Identity)
    assert isinstance(get_activation(nn.SiLU), nn.SiLU)
    with pytest.raises(ValueError, match="unknown activation"):
        get_activation("gelu")


def test_init_weights_reference_recipe() -> None:
    torch.manual_seed(0)
    net = init_weights(PatchGAN(base_channels=16, norm="batch", spectral_norm=True))
    weight = net.scales[0][1].conv.parametrizations.weight.original.detach()
    assert abs(float(weight.std()) - 0.02) < 0.002
    assert float(net.scales[0][0].conv.bias.detach().abs().max()) == 0.0
    assert abs(float(net.scales[0][1].norm.weight.detach().mean()) - 1.0) < 0.01
    with pytest.raises(ValueError, match="unknown init scheme"):
        init_weights(net, scheme="orthogonal")
    # spectral norm estimates the new weights' norm: no step of the first forward passes is past the bound
    net.eval()
    for conv in (m for m in net.modules() if isinstance(m, nn.Conv2d) and hasattr(m, "parametrizations")):
        matrix = conv.weight.detach().flatten(1)  # the normalised weight (eval: no power iteration)
        assert abs(float(torch.linalg.matrix_norm(matrix, ord=2)) - 1.0) < 0.05
    # the DCGAN lab's dense layers: N(0, 0.02) as well with linear=True, PyTorch's default without
    dense = nn.Sequential(nn.Linear(400, 300))
    assert abs(float(init_weights(dense)[0].weight.detach().std()) - 0.02) > 0.005
    assert abs(float(init_weights(dense, linear=True)[0].weight.detach().std()) - 0.02) < 0.002


def test_custom_norm_callable_builds_a_generator() -> None:
    net = ResnetGenerator(base_channels=4, num_blocks=1, norm=lambda c: nn.GroupNorm(2, c))
    assert net.stem.conv.bias is not None and isinstance(net.stem.norm, nn.GroupNorm)
    assert net(randn_image(1, 3, 16, 16)).shape == (1, 3, 16, 16)
