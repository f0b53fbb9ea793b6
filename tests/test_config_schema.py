"""Validated model configs and ONNX metadata: hostile config.json / metadata give one clear error
(a ValueError subclass) naming the file and the field; weights paths stay inside the model folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from img2img.checkpoint import ModelConfigError, load_pretrained, save_pretrained
from img2img.infer import Translator
from img2img.nets import create_model
from img2img_runtime import Model
from img2img_runtime.metadata import MetadataError, build_metadata, parse_metadata
from img2img_runtime.processing import ModelSpec

IO_SPEC = {
    "input": {"channels": 3, "color_space": "rgb", "range": [-1.0, 1.0]},
    "output": {"channels": 3, "color_space": "rgb", "range": [-1.0, 1.0]},
    "scale": 2,
    "size_multiple": 1,
    "min_size": 1,
    "color": {"space": "rgb"},
}


def deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.fixture
def model_dir(tmp_path) -> Path:
    torch.manual_seed(0)
    net = create_model("compact_sr_x2", base_channels=8, num_convs=2)
    return save_pretrained({"AtoB": net}, tmp_path / "model", task="srgan", io_spec=IO_SPEC, training={"steps": 3})


def edit(directory: Path, change) -> None:
    config = json.loads((directory / "config.json").read_text())
    change(config)
    (directory / "config.json").write_text(json.dumps(config))


def net(c):
    return c["directions"]["AtoB"]["net"]


HOSTILE_CONFIGS = {
    "extra net keyword": (lambda c: net(c).update(evil=1), "directions.AtoB.net.evil"),
    "unknown arch": (lambda c: net(c).update(arch="os.system"), "directions.AtoB.net.arch"),
    "missing arch": (lambda c: net(c).pop("arch"), "directions.AtoB.net.arch"),
    "missing directions": (lambda c: c.pop("directions"), "directions"),
    "missing weights": (lambda c: c["directions"]["AtoB"].pop("weights"), "directions.AtoB.weights"),
    "missing input": (lambda c: c.pop("input"), "input"),
    "channels as a string": (lambda c: net(c).update(base_channels="8"), "directions.AtoB.net.base_channels"),
    "channels as a bool": (lambda c: net(c).update(in_channels=True), "directions.AtoB.net.in_channels"),
    "huge channels": (lambda c: net(c).update(base_channels=100_000), "directions.AtoB.net.base_channels"),
    "huge depth": (lambda c: net(c).update(num_convs=10**9), "directions.AtoB.net.num_convs"),
    "net scale 100": (lambda c: net(c).update(scale=100), "directions.AtoB.net.scale"),
    "scale 0": (lambda c: c.update(scale=0), "scale"),
    "scale as float": (lambda c: c.update(scale=2.0), "scale"),
    "input channels 1000": (lambda c: c["input"].update(channels=1000), "input.channels"),
    "directions as a list": (lambda c: c.update(directions=[]), "directions"),
    "unknown direction": (lambda c: c["directions"].update(CtoD=c["directions"]["AtoB"]), "directions"),
    "default direction elsewhere": (lambda c: c.update(default_direction="BtoA"), "default_direction"),
    "nan ab_scale": (lambda c: c["color"].update(ab_scale=float("nan")), "color.ab_scale"),
    "training not an object": (lambda c: c.update(training=[1]), "training"),
    "wrong format": (lambda c: c.update(format="pickle"), "format"),
    "deep nesting": (lambda c: c.update(training=deep(200)), "nested"),
    "weights ../": (lambda c: c["directions"]["AtoB"].update(weights="../x.safetensors"), "directions.AtoB.weights"),
    "weights absolute": (
        lambda c: c["directions"]["AtoB"].update(weights="/etc/passwd.safetensors"),
        "directions.AtoB.weights",
    ),
    "weights not safetensors": (lambda c: c["directions"]["AtoB"].update(weights="AtoB.pt"), "directions.AtoB.weights"),
    "scale 3 on a x2 net": (lambda c: c.update(scale=3), "scale"),
    "training size a word": (lambda c: c.setdefault("training", {}).update(size="big"), "training.size"),
    "training size a list": (lambda c: c.setdefault("training", {}).update(size=[256, 256]), "training.size"),
    "training direction": (lambda c: c.setdefault("training", {}).update(direction="sideways"), "training.direction"),
    "net does not match weights": (
        lambda c: net(c).update(base_channels=16),
        "does not match field 'directions.AtoB.net'",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_hostile_config_gives_one_clear_error(model_dir, case):
    change, field = HOSTILE_CONFIGS[case]
    edit(model_dir, change)
    with pytest.raises(ModelConfigError) as info:
        load_pretrained(model_dir)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert field in message, message
    assert str(model_dir) in message and ("config.json" in message or ".safetensors" in message), message


def test_valid_config_still_loads_and_translator_reports_hostile_ones(model_dir):
    config, nets = load_pretrained(model_dir)
    assert config["scale"] == 2 and nets["AtoB"].scale == 2
    edit(model_dir, lambda c: net(c).update(evil=1))
    with pytest.raises(ModelConfigError, match="evil"):
        Translator.from_pretrained(model_dir)


def test_deeply_nested_and_huge_config_files(model_dir):
    (model_dir / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelConfigError, match=r"config\.json.*nested"):
        load_pretrained(model_dir)
    (model_dir / "config.json").write_text(json.dumps({"format": "img2img-model", "pad": "x" * (2 << 20)}))
    with pytest.raises(ModelConfigError, match=r"config\.json.*too large"):
        load_pretrained(model_dir)


def test_weights_symlink_leading_outside_is_refused(model_dir, tmp_path):
    outside = tmp_path / "outside.safetensors"
    os.replace(model_dir / "AtoB.safetensors", outside)
    (model_dir / "AtoB.safetensors").symlink_to(outside)
    with pytest.raises(ModelConfigError, match=r"directions\.AtoB\.weights.*outside"):
        load_pretrained(model_dir)


# ------------------------------------------------------------------------------------ ONNX metadata
def upscale_onnx(path: Path, factor: int, metadata: dict[str, str]) -> Path:
    """A tiny graph that resizes x``factor`` (nearest), with the given metadata."""
    scales = onnx.helper.make_tensor("scales", onnx.TensorProto.FLOAT, [4], [1.0, 1.0, float(factor), float(factor)])
    node = onnx.helper.make_node("Resize", ["input", "", "scales"], ["output"], mode="nearest")
    value = lambda n: onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, ["N", 3, "H", "W"])  # noqa: E731
    graph = onnx.helper.make_graph([node], "up", [value("input")], [value("output")], initializer=[scales])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    for key, val in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, val
    onnx.save(model, str(path))
    return path


def metadata(net_scale: int = 4, **changes) -> dict[str, str]:
    spec = ModelSpec(scale=net_scale)
    props = build_metadata({"task": "srgan"}, spec, direction="AtoB", precision="fp32", version="test")
    config = json.loads(props["img2img.config"])
    config.update(changes)
    props["img2img.config"] = json.dumps(config)
    return props


def test_onnx_scale_that_does_not_match_the_graph_is_refused(tmp_path):
    good = Model(upscale_onnx(tmp_path / "x4.onnx", 4, metadata(net_scale=4)))
    assert good(np.zeros((5, 7, 3), np.uint8)).shape == (20, 28, 3)
    with pytest.raises(MetadataError, match=r"x4b\.onnx.*'scale'") as info:
        Model(upscale_onnx(tmp_path / "x4b.onnx", 4, metadata(net_scale=3)))
    assert isinstance(info.value, ValueError)


HOSTILE_METADATA = {
    "deep json": ({"training": deep(500)}, "nested"),
    "channels as a string": ({"input": {"channels": "3"}}, "input.channels"),
    "huge channels": ({"output": {"channels": 5000}}, "output.channels"),
    "missing input": ({"input": None}, "input"),
    "scale 99": ({"scale": 99}, "scale"),
    "scale as a string": ({"scale": "4"}, "scale"),
    "size_multiple huge": ({"size_multiple": 1 << 30}, "size_multiple"),
    "min_size negative": ({"min_size": -1}, "min_size"),
    "colour space": ({"color": {"space": "cmyk"}}, "color.space"),
    "tile size a string": ({"tile": {"size": "512", "overlap": 64}}, "tile.size"),
    "precision a number": ({"precision": 16}, "precision"),
    "training a list": ({"training": [1, 2]}, "training"),
    "format_version a string": ({"format_version": "1"}, "format_version"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_METADATA))
def test_hostile_onnx_metadata_gives_one_clear_error(tmp_path, case):
    changes, field = HOSTILE_METADATA[case]
    props = metadata(**changes)
    if changes.get("input", 0) is None:
        config = json.loads(props["img2img.config"])
        del config["input"]
        props["img2img.config"] = json.dumps(config)
    with pytest.raises(MetadataError, match=field) as info:
        parse_metadata(props, "evil.onnx")
    assert "evil.onnx" in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(MetadataError, match=field):
        Model(upscale_onnx(tmp_path / "evil.onnx", 4, props))


def test_metadata_that_is_not_json_or_too_large(tmp_path):
    with pytest.raises(MetadataError, match="not valid JSON"):
        parse_metadata({"img2img.config": "{"}, "bad.onnx")
    with pytest.raises(MetadataError, match="too large"):
        parse_metadata({"img2img.config": json.dumps({"x": "y" * (2 << 20)})}, "bad.onnx")
    with pytest.raises(MetadataError, match="nested"):
        parse_metadata({"img2img.config": "[" * 100_000 + "]" * 100_000}, "bad.onnx")


def test_net_numbers_have_their_own_bounds(tmp_path):
    """``detail_sigma`` is in pixels (up to 64), unlike dropout's [0, 1): a restore U-Net loads, a
    hostile sigma is refused by name."""
    torch.manual_seed(0)
    unet = create_model(
        "unet_256", num_downs=3, base_channels=8, norm="none", residual=True, global_color=True, detail_sigma=4.0
    )
    io_spec = {**IO_SPEC, "scale": 1}
    directory = save_pretrained({"AtoB": unet}, tmp_path / "unet", task="pix2pix", io_spec=io_spec, training={})
    config, nets = load_pretrained(directory)
    assert net(config)["detail_sigma"] == 4.0 and nets["AtoB"].detail is not None
    edit(directory, lambda c: net(c).update(detail_sigma=1e6))
    with pytest.raises(ModelConfigError, match="detail_sigma"):
        load_pretrained(directory)


@pytest.mark.parametrize(("key", "value"), [("scale", "four"), ("size_multiple", "0"), ("input_channels", "1")])
def test_a_flat_key_that_contradicts_the_config_is_refused(tmp_path, key, value):
    """They loaded silently: a runtime reading the flat keys would have run the model otherwise."""
    props = metadata(net_scale=4)
    Model(upscale_onnx(tmp_path / "good.onnx", 4, props))  # as exported: consistent
    props[f"img2img.{key}"] = value
    with pytest.raises(MetadataError, match=rf"bad\.onnx: metadata field 'img2img\.{key}' is '{value}' but"):
        Model(upscale_onnx(tmp_path / "bad.onnx", 4, props))
