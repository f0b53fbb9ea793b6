"""ONNX export: torch/onnxruntime parity, the metadata contract, dynamic axes, fp16/int8, errors, CLI.

Every model is trained (1 step, tiny nets) and exported once per module; the tests compare the
exported file with the torch generator it came from, on raw net inputs and through the two
full pipelines (torch ``Translator`` and the torch-free ``img2img_runtime.Model``).

One training step leaves the generators close to their N(0, 0.02) initialisation, whose outputs
are nearly constant images (std < 1 grey level), which would make every comparison weak. So
after training, the conv weights of the model folder are redrawn (Xavier, small random biases)
and saved back with the same config: the nets then produce structured outputs (std 10-70 grey
levels) and a wrong export cannot hide behind a flat output.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import TINY_RESNET, TINY_SR, TINY_UNET, degrade, make_paired, pattern
from torch import nn

import img2img
from img2img.checkpoint import load_pretrained, save_pretrained
from img2img.cli import main as cli_main
from img2img.export import export_onnx
from img2img.infer import Translator
from img2img.training import train
from img2img_runtime import Model, metadata
from img2img_runtime.color import rgb_to_lab
from img2img_runtime.io import write_image
from img2img_runtime.metadata import read_metadata
from img2img_runtime.metrics import psnr_uint8
from img2img_runtime.processing import ModelSpec, pad_to_multiple, suggested_tile

FP32_TOLERANCE = 1e-4

UNET_RESIZE = {**TINY_UNET, "generator_kwargs": {**TINY_UNET["generator_kwargs"], "upsample": "resize"}}
COMPACT_SR = {
    "generator": "compact_sr_x4",
    "generator_kwargs": {"base_channels": 8, "num_convs": 2},
    "discriminator_kwargs": {"base_channels": 8},
}

# name -> (task, data folder, nets, extra training options)
RUNS = {
    "pix2pix": ("pix2pix", "paired", TINY_UNET, {}),
    "pix2pix_resize": ("pix2pix", "paired", UNET_RESIZE, {}),
    "cyclegan": ("cyclegan", "unpaired", TINY_RESNET, {}),
    "srgan": ("srgan", "sr", TINY_SR, {}),
    "compact_sr_x4": ("srgan", "sr", COMPACT_SR, {}),
    # batch norm: an untrained instance-norm net predicts colours far outside the sRGB gamut, whose clipping
    # moves L, and the lightness checks below are about the Lab join, not about gamut clipping
    "colorize": (
        "pix2pix",
        "paired",
        {**TINY_UNET, "generator_kwargs": {**TINY_UNET["generator_kwargs"], "norm": "batch"}},
        {"color_space": "lab"},
    ),
}
# (run, direction): None = the model's default direction
EXPORTS = [
    ("pix2pix", None),
    ("pix2pix_resize", None),
    ("cyclegan", "AtoB"),
    ("cyclegan", "BtoA"),
    ("srgan", None),
    ("compact_sr_x4", None),
]
EXPORT_IDS = [f"{name}-{direction or 'default'}" for name, direction in EXPORTS]


def liven(run: Path) -> None:
    """Redraw the conv weights of RUN/model (see the module docstring); config and format unchanged."""
    config, nets = load_pretrained(run)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for net in nets.values():
            for module in net.modules():
                if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.xavier_normal_(module.weight, generator=generator)
                    if module.bias is not None:
                        module.bias.normal_(0.0, 0.05, generator=generator)
    io_spec = {key: config[key] for key in ("input", "output", "scale", "size_multiple", "min_size", "color")}
    save_pretrained(
        nets,
        run / "model",
        task=config["task"],
        io_spec=io_spec,
        default_direction=config["default_direction"],
        training=config["training"],
    )


class Workspace:
    """Trains each run and exports each (run, options) once, on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        make_paired(root / "paired" / "train", ["a", "b"])
        for i in range(2):
            write_image(root / "unpaired" / "A" / f"a{i}.png", pattern(i))
            write_image(root / "unpaired" / "B" / f"b{i}.png", degrade(pattern(50 + i)))
            write_image(root / "sr" / f"hr{i}.png", pattern(10 + i))
        for i in range(3):
            write_image(root / "calibration" / f"c{i}.png", pattern(20 + i, 48))
        self._runs: dict[str, Path] = {}
        self._exports: dict[tuple, tuple[Path, object]] = {}
        self.cli_output: dict[str, tuple[int, str]] = {}

    def run(self, name: str) -> Path:
        if name not in self._runs:
            task, data, nets, extra = RUNS[name]
            out = self.root / "runs" / name
            train(
                task,
                data=str(self.root / data),
                out=str(out),
                steps=1,
                size=32,
                num_workers=0,
                progress=False,
                log_every=1000,
                sample_every=1000,
                val_every=1000,
                checkpoint_every=1000,
                **nets,
                **extra,
            )
            liven(out)
            self._runs[name] = out
        return self._runs[name]

    def export(self, name: str, direction: str | None = None, **options) -> tuple[Path, object]:
        key = (name, direction, tuple(sorted(options.items())))
        if key not in self._exports:
            tag = "_".join([name, direction or "default", *(f"{k}{v}" for k, v in sorted(options.items()) if v)])
            path = self.root / "onnx" / f"{tag}.onnx"
            if options.get("calibration") == "folder":
                options = {**options, "calibration": self.root / "calibration"}
            report = export_onnx(self.run(name), path, direction=direction, **options)
            self._exports[key] = (path, report)
        return self._exports[key]

    def export_with_cli(self, name: str) -> tuple[Path, int, str]:
        """``img2img export RUN out.onnx`` through ``img2img.cli.main``, stdout captured."""
        path = self.root / "onnx" / f"{name}_cli.onnx"
        if name not in self.cli_output:
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                code = cli_main(["export", str(self.run(name)), str(path)])
            self.cli_output[name] = (code, buffer.getvalue())
        return (path, *self.cli_output[name])


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("export"))


def translator_for(ws: Workspace, name: str, direction: str | None, **kwargs) -> Translator:
    return Translator.from_pretrained(ws.run(name), device="cpu", direction=direction, precision="fp32", **kwargs)


def session_for(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_session(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [
        np.sin(xx / (9 + 3 * c) + rng.uniform(0, 6)) * np.cos(yy / (11 + 2 * c) + rng.uniform(0, 6)) for c in range(3)
    ]
    return np.rint(np.stack(channels, -1) * 90 + 128).astype(np.uint8)


def documented_keys() -> list[str]:
    """The keys of the table in img2img_runtime.metadata's docstring (the contract)."""
    keys = re.findall(r"^(img2img\.[a-z_]+)\s", metadata.__doc__, flags=re.MULTILINE)
    assert len(keys) >= 15, f"could not read the metadata table from the docstring: {keys}"
    return keys


# ---------------------------------------------------------------------------------------------
# fp32 parity
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,direction", EXPORTS, ids=EXPORT_IDS)
def test_fp32_parity_on_raw_net_inputs(ws, name, direction):
    path, report = ws.export(name, direction)
    assert report.precision == "fp32" and report.max_abs_diff is not None and report.max_abs_diff <= FP32_TOLERANCE
    translator = translator_for(ws, name, direction)
    net, spec = translator.net().eval(), translator.spec()
    session = session_for(path)
    rng = np.random.default_rng(1)
    inputs = {
        "64x64": rng.uniform(-1, 1, (1, spec.in_channels, 64, 64)),
        # a size that is no multiple of any net's size multiple, padded as the runtime pads it
        "100x75 padded": pad_to_multiple(
            rng.uniform(-1, 1, (1, spec.in_channels, 75, 100)), spec.size_multiple, spec.min_size
        ),
        "batch 2": pad_to_multiple(
            rng.uniform(-1, 1, (2, spec.in_channels, 75, 100)), spec.size_multiple, spec.min_size
        ),
    }
    for label, x in inputs.items():
        x = np.ascontiguousarray(x, dtype=np.float32)
        with torch.no_grad():
            expected = net(torch.from_numpy(x)).numpy()
        got = run_session(session, x)
        n, _, h, w = x.shape
        assert got.shape == expected.shape == (n, spec.out_channels, h * spec.scale, w * spec.scale), label
        assert np.abs(got - expected).max() <= FP32_TOLERANCE, f"{label}: max diff {np.abs(got - expected).max():.3g}"
        assert expected.std() > 0.02, f"{label}: the net's output is flat, the comparison proves nothing"


@pytest.mark.parametrize("name,direction", EXPORTS, ids=EXPORT_IDS)
def test_full_pipelines_agree(ws, name, direction):
    path, _ = ws.export(name, direction)
    image = pattern(5, 100)[:75]  # 75 x 100: not a multiple of the U-Net's 16 or the ResNet's 4
    torch_out = translator_for(ws, name, direction, tile=None)(image)
    onnx_out = Model(path, tile=None)(image)
    scale = {"srgan": 4, "compact_sr_x4": 4}.get(name, 1)
    assert torch_out.shape == onnx_out.shape == (75 * scale, 100 * scale, 3)
    assert torch_out.dtype == onnx_out.dtype == np.uint8
    assert np.abs(torch_out.astype(int) - onnx_out.astype(int)).max() <= 1
    assert torch_out.std() > 5  # a flat output would make the comparison meaningless


# ---------------------------------------------------------------------------------------------
# metadata and dynamic axes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,direction", EXPORTS, ids=EXPORT_IDS)
def test_metadata_round_trip(ws, name, direction):
    path, _ = ws.export(name, direction)
    props = session_for(path).get_modelmeta().custom_metadata_map
    missing = [key for key in documented_keys() if key not in props]
    assert not missing, f"documented metadata keys missing from the file: {missing}"
    assert all(isinstance(value, str) for value in props.values())

    source = json.loads((ws.run(name) / "model" / "config.json").read_text())
    direction = direction or source["default_direction"]
    net_config = source["directions"][direction]["net"]
    translator = translator_for(ws, name, direction)
    net = translator.net()
    assert props["img2img.format"] == "img2img-onnx" and props["img2img.format_version"] == "1"
    assert props["img2img.task"] == source["task"] == RUNS[name][0]
    assert props["img2img.direction"] == direction
    assert props["img2img.precision"] == "fp32"
    assert props["img2img.input_channels"] == str(net_config["in_channels"]) == str(net.in_channels)
    assert props["img2img.output_channels"] == str(net_config["out_channels"]) == str(net.out_channels)
    assert props["img2img.color_space"] == source["color"]["space"] == "rgb"
    assert props["img2img.value_range"] == "-1,1"
    assert props["img2img.scale"] == str(source["scale"]) == str(net.scale)
    assert props["img2img.size_multiple"] == str(source["size_multiple"]) == str(net.size_multiple)
    assert props["img2img.min_size"] == str(source["min_size"]) == str(getattr(net, "min_size", 1))
    assert props["img2img.version"] == img2img.__version__
    assert json.loads(props["img2img.training"]) == source["training"]
    assert json.loads(props["img2img.training"])["steps"] == 1

    config = json.loads(props["img2img.config"])
    assert config == read_metadata(path)
    assert config["task"] == source["task"] and config["direction"] == direction
    assert config["input"]["channels"] == net.in_channels and config["output"]["channels"] == net.out_channels
    spec = ModelSpec.from_config(config)
    assert spec == translator.spec()
    tile, overlap = suggested_tile(spec)
    assert (props["img2img.tile_size"], props["img2img.tile_overlap"]) == (str(tile), str(overlap))
    assert props["img2img.image_statistics"] == str(config["image_statistics"]).lower()  # the contract's flat key
    assert props["img2img.color_resolution"] == str(config["color"].get("resolution") or 0)
    assert (config["tile"]["size"], config["tile"]["overlap"]) == (tile, overlap)
    model = Model(path)
    assert model.spec == spec
    assert model.config == config


def test_expected_specs_per_task(ws):
    """The round trip above compares with the source; here the source itself is what each task implies."""
    specs = {name: ModelSpec.from_config(read_metadata(ws.export(name, direction)[0])) for name, direction in EXPORTS}
    assert (specs["pix2pix"].scale, specs["pix2pix"].size_multiple) == (1, 16)
    assert (specs["cyclegan"].scale, specs["cyclegan"].size_multiple, specs["cyclegan"].min_size) == (1, 4, 8)
    assert (specs["srgan"].scale, specs["compact_sr_x4"].scale) == (4, 4)
    assert specs["compact_sr_x4"].size_multiple == 1
    assert all(spec.color == "rgb" and (spec.in_channels, spec.out_channels) == (3, 3) for spec in specs.values())


@pytest.mark.parametrize("name,direction", EXPORTS, ids=EXPORT_IDS)
def test_batch_height_width_are_symbolic(ws, name, direction):
    path, _ = ws.export(name, direction)
    session = session_for(path)
    in_channels = int(session.get_modelmeta().custom_metadata_map["img2img.input_channels"])
    for value, channels in ((session.get_inputs()[0], in_channels), (session.get_outputs()[0], 3)):
        batch, c, height, width = value.shape
        assert c == channels, value.shape
        for dim in (batch, height, width):
            assert isinstance(dim, str) and dim, f"{value.name} has a fixed axis: {value.shape}"
    graph = onnx.load(str(path), load_external_data=False).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [bool(dims[i].dim_param) for i in range(4)] == [True, False, True, True]
    assert dims[1].dim_value == in_channels


def test_plain_onnx_file_is_rejected_with_a_clear_error(ws, tmp_path):
    node = onnx.helper.make_node("Identity", ["input"], ["output"])
    value = lambda n: onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, ["N", 3, "H", "W"])  # noqa: E731
    plain = onnx.helper.make_model(
        onnx.helper.make_graph([node], "plain", [value("input")], [value("output")]),
        opset_imports=[onnx.helper.make_opsetid("", 17)],
    )
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    # the same net as a real export, with its metadata stripped
    stripped = onnx.load(str(ws.export("pix2pix")[0]))
    assert len(stripped.metadata_props) >= 15
    del stripped.metadata_props[:]
    onnx.save(stripped, str(tmp_path / "stripped.onnx"))
    for name in ("plain.onnx", "stripped.onnx"):
        with pytest.raises(ValueError, match="img2img export"):
            Model(tmp_path / name)
        with pytest.raises(ValueError, match="img2img export"):
            read_metadata(tmp_path / name)


# ---------------------------------------------------------------------------------------------
# fp16 and int8
# ---------------------------------------------------------------------------------------------


def test_fp16_export_runs_on_cpu_and_matches_fp32(ws):
    fp32_path, _ = ws.export("pix2pix")
    path, report = ws.export("pix2pix", fp16=True)
    assert report.precision == "fp16"
    assert read_metadata(path)["precision"] == "fp16"
    model_proto = onnx.load(str(path))
    float_types = {init.data_type for init in model_proto.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in float_types, "fp16 export holds no fp16 weights"
    session = session_for(path)
    assert session.get_inputs()[0].type == session.get_outputs()[0].type == "tensor(float)"
    x = pad_to_multiple(np.random.default_rng(3).uniform(-1, 1, (2, 3, 75, 100)).astype(np.float32), 16)
    got, expected = run_session(session, x), run_session(session_for(fp32_path), x)
    assert got.dtype == np.float32 and got.shape == expected.shape
    diff = np.abs(got - expected).max()
    assert 0 < diff < 1e-2, diff  # 0 would mean the arithmetic is not fp16 at all
    image = smooth_image(75, 100)
    assert np.abs(Model(path, tile=None)(image).astype(int) - Model(fp32_path, tile=None)(image).astype(int)).max() <= 3


QUANTIZED_OPS = (
    "ConvInteger",
    "QLinearConv",
    "DynamicQuantizeLinear",
    "QuantizeLinear",
    "MatMulInteger",
    "QLinearMatMul",
)


@pytest.mark.parametrize("calibration", [None, "folder"], ids=["dynamic", "static"])
def test_int8_export_runs_and_stays_close_to_fp32(ws, calibration):
    fp32_path, _ = ws.export("compact_sr_x4")
    path, report = ws.export("compact_sr_x4", int8=True, calibration=calibration)
    assert report.precision == "int8" and read_metadata(path)["precision"] == "int8"
    kind = "dynamic" if calibration is None else "static"
    assert any(kind in note for note in report.notes), report.notes
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert ops & set(QUANTIZED_OPS), f"no quantized ops in the int8 model: {sorted(ops)}"
    image = smooth_image(48, 64, seed=4)
    int8_out = Model(path, tile=None)(image)
    fp32_out = Model(fp32_path, tile=None)(image)
    assert int8_out.shape == fp32_out.shape == (192, 256, 3)
    assert psnr_uint8(int8_out, fp32_out) > 20


@pytest.mark.parametrize("name", ["pix2pix", "cyclegan"])
def test_static_int8_runs_every_conv_but_the_last_in_int8(ws, name):
    """Transposed convs (U-Net, ResNet) are exported as sub-pixel convs so that they quantize."""
    fp32_path, _ = ws.export(name)
    path, report = ws.export(name, int8=True, calibration="folder")
    graph = onnx.load(str(path)).graph
    ops = [node.op_type for node in graph.node]
    assert "ConvTranspose" not in ops and "BatchNormalization" not in ops, sorted(set(ops))
    # QDQ: every weight is int8 behind a DequantizeLinear, except the float output conv's
    int8_weights = {init.name for init in graph.initializer if init.data_type == onnx.TensorProto.INT8}
    dq_outputs = {
        node.output[0] for node in graph.node if node.op_type == "DequantizeLinear" and node.input[0] in int8_weights
    }
    convs = [node for node in graph.node if node.op_type == "Conv"]
    quantized = [node.name for node in convs if node.input[1] in dq_outputs]
    assert len(quantized) == len(convs) - 1 and convs[-1].name not in quantized, (quantized, [c.name for c in convs])
    # additions and concatenations stay float: none of their inputs comes out of a DequantizeLinear
    dq_any = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    merges = [
        node
        for node in graph.node
        if node.op_type in ("Add", "Concat") and node.input[0] not in {i.name for i in graph.initializer}
    ]
    assert not [node.name for node in merges if set(node.input) <= dq_any], "an Add/Concat of quantized tensors"
    # the measured PSNR is reported, stored, and agrees with a run of both models
    psnr_db = float(session_for(path).get_modelmeta().custom_metadata_map["img2img.int8_psnr_db"])
    assert f"{psnr_db:.1f} dB" in " ".join(report.notes)
    assert 15 < psnr_db < 100
    image = smooth_image(32, 48, seed=2)
    assert psnr_uint8(Model(path, tile=None)(image), Model(fp32_path, tile=None)(image)) > 15


def test_calibration_methods(ws, tmp_path):
    for method in ("percentile", "minmax", "entropy"):
        path, report = ws.export("srgan", int8=True, calibration="folder", calibration_method=method)
        assert f"{method}" in " ".join(report.notes) and "best of" not in " ".join(report.notes)
    # auto: one candidate per percentile, the best kept (its PSNR is the highest tried), no leftovers
    path, report = ws.export("srgan", int8=True, calibration="folder")
    note = " ".join(report.notes)
    tried = dict((float(p), float(db)) for p, db in re.findall(r"percentile ([0-9.]+): ([0-9.]+) dB", note))
    assert len(tried) == 5, note
    assert (
        float(session_for(path).get_modelmeta().custom_metadata_map["img2img.int8_psnr_db"])
        >= max(tried.values()) - 0.05
    )
    assert not list(path.parent.glob("*candidate*")) and not list(path.parent.glob("*.pre.onnx"))
    with pytest.raises(ValueError, match="auto, percentile, minmax, entropy"):
        export_onnx(
            ws.run("srgan"),
            tmp_path / "x.onnx",
            int8=True,
            calibration=ws.root / "calibration",
            calibration_method="kl",
        )


def test_psnr_against_itself_is_infinite_and_drops_with_noise(ws, tmp_path):
    from img2img.quantize import psnr_against

    fp32_path, _ = ws.export("srgan")
    x = [np.random.default_rng(0).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)]
    assert psnr_against(fp32_path, fp32_path, x) == float("inf")
    noisy = onnx.load(str(fp32_path))
    for init in noisy.graph.initializer:  # perturb the weights a little
        if init.data_type == onnx.TensorProto.FLOAT and len(init.dims) == 4:
            array = onnx.numpy_helper.to_array(init).copy()
            array += np.random.default_rng(1).normal(0, 0.05 * array.std(), array.shape).astype(np.float32)
            init.CopyFrom(onnx.numpy_helper.from_array(array, init.name))
    onnx.save(noisy, str(tmp_path / "noisy.onnx"))
    assert 10 < psnr_against(fp32_path, tmp_path / "noisy.onnx", x) < 80


# ---------------------------------------------------------------------------------------------
# colorization, errors, CLI
# ---------------------------------------------------------------------------------------------


def test_colorization_export_keeps_the_input_lightness(ws):
    path, code, _ = ws.export_with_cli("colorize")
    assert code == 0
    props = session_for(path).get_modelmeta().custom_metadata_map
    source = json.loads((ws.run("colorize") / "model" / "config.json").read_text())
    assert props["img2img.color_space"] == "lab" == source["color"]["space"]
    assert (props["img2img.input_channels"], props["img2img.output_channels"]) == ("1", "2")
    assert float(props["img2img.ab_scale"]) == float(source["color"]["ab_scale"])
    config = json.loads(props["img2img.config"])
    assert (config["input"]["color_space"], config["output"]["color_space"]) == ("lab_l", "lab_ab")
    translator = Translator.from_pretrained(ws.run("colorize"), device="cpu", tile=None, precision="fp32")
    assert ModelSpec.from_config(config) == translator.spec()

    model = Model(path, tile=None)
    assert model.spec.color == "lab" and model.spec.image_channels == 3
    photo = pattern(8, 100)[:75]
    gray = np.repeat(np.rint(photo.mean(2, keepdims=True)).astype(np.uint8), 3, axis=2)
    for image in (gray, photo):
        out = model(image)
        assert out.shape == image.shape and out.dtype == np.uint8
        error = np.abs(rgb_to_lab(out / 255.0)[:, :, 0] - rgb_to_lab(image / 255.0)[:, :, 0])
        # uint8 rounding moves L by < 0.5; predicted colours outside the sRGB gamut are clipped
        # (a few pixels of the colourful photo), which moves their L a little more
        assert np.percentile(error, 99) < 1.0 and error.max() < 2.0, (error.max(), np.percentile(error, 99))
        if image is gray:
            assert error.max() < 1.0
        assert np.abs(out.astype(int) - translator(image).astype(int)).max() <= 1
    # the gray input gets colour from the net: a and b are not all zero
    assert np.abs(rgb_to_lab(model(gray) / 255.0)[:, :, 1:]).max() > 5


def test_fp16_and_int8_together_are_rejected(ws, tmp_path, capsys):
    with pytest.raises(ValueError, match="fp16 and int8"):
        export_onnx(ws.run("pix2pix"), tmp_path / "x.onnx", fp16=True, int8=True)
    assert not (tmp_path / "x.onnx").exists()
    assert cli_main(["export", str(ws.run("pix2pix")), str(tmp_path / "y.onnx"), "--fp16", "--int8"]) == 2
    assert "fp16 and int8" in capsys.readouterr().err
    assert not (tmp_path / "y.onnx").exists()


def test_cli_export_returns_0_and_prints_the_max_diff(ws):
    path, code, printed = ws.export_with_cli("colorize")
    assert code == 0, printed
    match = re.search(r"max \|onnxruntime - torch\| = ([0-9.eE+-]+)", printed)
    assert match, printed
    assert 0 <= float(match.group(1)) <= FP32_TOLERANCE
    assert str(path) in printed
    assert path.is_file() and read_metadata(path)["task"] == "pix2pix"


def test_suggested_tile_is_the_training_crop_for_encoder_decoders():
    unet = ModelSpec(size_multiple=64, min_size=64, train_size=128)
    assert suggested_tile(unet) == (128, 32)
    assert suggested_tile(ModelSpec(size_multiple=64, min_size=64, train_size=100)) == (128, 32)  # rounded up
    assert suggested_tile(ModelSpec(size_multiple=16, train_size=8)) == (32, 16)  # at least twice the multiple
    assert suggested_tile(ModelSpec(size_multiple=64, min_size=64)) == (512, 64)  # crop unknown: as before
    assert suggested_tile(ModelSpec(scale=4, train_size=96)) == (128, 16)  # super-resolution: as before
    config = {"input": {"channels": 3}, "output": {"channels": 3}, "size_multiple": 64, "training": {"size": 128}}
    assert ModelSpec.from_config(config).train_size == 128


def test_checkpoints_export_and_load_with_their_averaged_weights(tmp_path, paired_dir):
    """``export RUN/checkpoints/last.pt`` (it failed: not a model folder) and
    ``Translator.from_pretrained(last.pt)`` of an ``--ema`` run (it failed on the average's keys)
    give what ``RUN/model`` serves: the averaged weights."""
    run = tmp_path / "run"
    kw = dict(size=64, load_size=64, batch_size=2, steps=3, num_workers=0, progress=False, ema=0.5, **TINY_UNET)
    train("pix2pix", data=str(paired_dir), out=str(run), **kw)
    image = pattern(3, 64)[:40, :52]
    served = Translator.from_pretrained(run / "model")(image)
    assert np.array_equal(Translator.from_pretrained(run / "checkpoints" / "last.pt")(image), served)
    report = export_onnx(run / "checkpoints" / "last.pt", tmp_path / "from_pt.onnx")
    assert report.path.is_file()
    assert np.abs(Model(tmp_path / "from_pt.onnx")(image).astype(int) - served).max() <= 1


def test_an_opset_that_cannot_be_written_is_an_error_not_ignored(tmp_path):
    """Below 18 the dynamo exporter wrote 18 whatever was asked: older opsets go through TorchScript,
    and the file's opset is checked."""
    from conftest import save_tiny_model

    model = save_tiny_model(tmp_path / "model")
    export_onnx(model, tmp_path / "o17.onnx", opset=17)
    assert [o.version for o in onnx.load(str(tmp_path / "o17.onnx")).opset_import if o.domain in ("", "ai.onnx")] == [
        17
    ]
    export_onnx(model, tmp_path / "o20.onnx", opset=20)
    assert [o.version for o in onnx.load(str(tmp_path / "o20.onnx")).opset_import if o.domain in ("", "ai.onnx")] == [
        20
    ]


@pytest.mark.parametrize("options", [{"num_blocks": 0}, {"padding": "zeros"}])
def test_resnet_generators_without_reflection_still_export_and_run_small_images(tmp_path, options):
    """Instance norm needs more than one pixel at 1/4 resolution: min_size is 8 (it said 4 for these,
    and the export's 4 x 4 example failed outright)."""
    from img2img.nets import create_model

    torch.manual_seed(0)
    nets = {"AtoB": create_model("resnet_6blocks", base_channels=8, **{"num_blocks": 1, **options})}
    assert nets["AtoB"].min_size == 8
    from img2img.tasks.base import generator_io_spec

    nets["BtoA"] = create_model("resnet_6blocks", base_channels=8, **{"num_blocks": 1, **options})
    folder = save_pretrained(nets, tmp_path / "model", task="cyclegan", io_spec=generator_io_spec(nets["AtoB"]))
    export_onnx(folder, tmp_path / "resnet.onnx")
    small = pattern(1, 32)[:3, :5]  # padded up to the net's minimum
    out = Model(tmp_path / "resnet.onnx")(small)
    assert out.shape == small.shape
    assert np.abs(out.astype(int) - Translator.from_pretrained(folder)(small)).max() <= 1


def test_translator_batches_a_list_like_the_runtime(tmp_path):
    model = save_tiny_model_here(tmp_path)
    translator = Translator.from_pretrained(model, batch_size=3)
    shapes = []
    handle = translator.net().register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].shape)))
    images = [pattern(i, 64)[:40, :52] for i in range(5)]
    outs = translator(images)
    handle.remove()
    assert [s[0] for s in shapes] == [3, 2]  # five same-size images, batch_size 3: two forward passes
    assert all(np.array_equal(o, translator(im)) for o, im in zip(outs, images))
    from PIL import Image

    mixed = translator([images[0], Image.fromarray(images[1])])
    assert isinstance(mixed[0], np.ndarray) and isinstance(mixed[1], Image.Image)


def save_tiny_model_here(tmp_path):
    from conftest import save_tiny_model

    return save_tiny_model(tmp_path / "model")


def test_int8_keeps_the_real_output_conv_float_behind_a_detail_blur(tmp_path):
    """With residual + detail_sigma (the restore recipe) the last Convs are the Gaussian blur's two
    depthwise passes: the float one must be the output conv (and the blur), not the blur alone."""
    from img2img.nets import create_model
    from img2img.quantize import _output_convs
    from img2img.tasks.base import generator_io_spec

    torch.manual_seed(0)
    kwargs = dict(num_downs=3, base_channels=8, upsample="resize", norm="none", residual=True, detail_sigma=2.0)
    nets = {"AtoB": create_model("unet_256", **kwargs)}
    folder = save_pretrained(nets, tmp_path / "model", task="pix2pix", io_spec=generator_io_spec(nets["AtoB"]))
    export_onnx(folder, tmp_path / "restore.onnx")
    graph = onnx.load(str(tmp_path / "restore.onnx")).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]

    def group(node):
        return next((a.i for a in node.attribute if a.name == "group"), 1)

    kept = _output_convs(str(tmp_path / "restore.onnx"))
    ordinary = [n.name for n in convs if group(n) == 1]
    assert kept[0] == ordinary[-1] and group(convs[-1]) > 1  # the blur comes last in the graph
    assert set(kept[1:]) == {n.name for n in convs[convs.index(next(n for n in convs if n.name == kept[0])) + 1 :]}
    assert all(group(n) > 1 for n in convs if n.name in kept[1:]) and len(kept) >= 2
