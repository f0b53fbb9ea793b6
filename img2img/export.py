"""Export a trained generator to a self-describing ONNX file, and check the export.

``export_onnx("runs/facades", "facades.onnx")`` writes a model whose batch, height and width are
dynamic and whose metadata (see :mod:`img2img_runtime.metadata`) tells any runtime how to pre-
and post-process images: task, channels and colour space, value range, scale, size multiple,
suggested tile size and overlap, img2img version and a training summary. The torch-free runtime
(``img2img_runtime.Model``, ``img2img-onnx``) needs nothing else.

The export checks itself: ``onnx.checker``, then onnxruntime against torch on a random input of
a non-square size that is not a multiple of the net's size multiple (padded as the runtime pads
it); fp32 exports fail when the largest difference exceeds 1e-4.

Exporter: ``torch.onnx.export(dynamo=True)`` (``torch.export``), which keeps H and W symbolic
for every generator here (the U-Net's skip concatenations included). The TorchScript exporter is
used only if the dynamo exporter fails for a net, with ``dynamic_axes`` on the same three axes.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from img2img_runtime.io import atomic_write
from img2img_runtime.logs import quiet_third_party
from img2img_runtime.metadata import build_metadata
from img2img_runtime.processing import ModelSpec, pad_to_multiple

from . import __version__
from .infer import Translator
from .nets.rewrite import for_export

log = logging.getLogger(__name__)
FP32_TOLERANCE = 1e-4


@dataclass
class ExportReport:
    path: Path
    exporter: str
    max_abs_diff: float | None
    check_size: tuple[int, int]
    precision: str = "fp32"
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        diff = "not checked" if self.max_abs_diff is None else f"max |onnxruntime - torch| = {self.max_abs_diff:.2e}"
        return (
            f"wrote {self.path} ({self.precision}, {self.exporter} exporter); {diff} on a {self.check_size[0]}x{self.check_size[1]} input"
            + "".join(f"\n  {note}" for note in self.notes)
        )


class _Fp16Wrapper(nn.Module):
    """fp16 weights and arithmetic inside, float32 input and output (so callers need no casts)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.half()).float()


#: the lowest opset the dynamo exporter writes (asked for less, it writes this one): older opsets use TorchScript
DYNAMO_MIN_OPSET = 18


def _export_graph(net: nn.Module, example: torch.Tensor, path: str, opset: int | None) -> str:
    kwargs: dict[str, Any] = {"input_names": ["input"], "output_names": ["output"]}
    if opset is not None:
        kwargs["opset_version"] = opset
    if example.shape[0] == 1:  # torch.export specialises a size-1 dim: a batch of 2 keeps the batch dynamic
        example = torch.cat([example, example])  # in every reshape (the colour head's windows fold it)
    exporter = _export_with(net, example, path, opset, kwargs)
    if opset is not None:  # the file must have what was asked for: an older runtime may refuse anything newer
        import onnx

        written = next(
            (o.version for o in onnx.load(path, load_external_data=False).opset_import if o.domain in ("", "ai.onnx")),
            None,
        )
        if written != opset:
            raise ValueError(f"asked for ONNX opset {opset}, the {exporter} exporter wrote opset {written}")
    return exporter


def _export_with(net: nn.Module, example: torch.Tensor, path: str, opset: int | None, kwargs: dict[str, Any]) -> str:
    axes = {0: "batch", 2: "height", 3: "width"}
    if opset is not None and opset < DYNAMO_MIN_OPSET:
        torch.onnx.export(net, (example,), path, dynamo=False, dynamic_axes={"input": axes, "output": axes}, **kwargs)
        return "torchscript"
    try:
        from torch.export import Dim

        dims = {0: Dim.DYNAMIC, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC}
        program = torch.onnx.export(net, (example,), dynamo=True, dynamic_shapes={"x": dims}, verbose=False, **kwargs)
        program.save(path)
        return "dynamo"
    except Exception as error:  # noqa: BLE001 - fall back to the TorchScript exporter, and say so
        log.warning("dynamo ONNX export failed (%s); using the TorchScript exporter", error)
        torch.onnx.export(net, (example,), path, dynamo=False, dynamic_axes={"input": axes, "output": axes}, **kwargs)
        return "torchscript"


def export_onnx(
    model: str | os.PathLike,
    out: str | os.PathLike,
    *,
    direction: str | None = None,
    opset: int | None = None,
    fp16: bool = False,
    int8: bool = False,
    calibration: str | os.PathLike | None = None,
    calibration_method: str = "auto",
    check: bool = True,
    progress: bool = False,
) -> ExportReport:
    """Export one direction of a run/model folder/checkpoint to ``out`` (an ``.onnx`` file).

    Args:
        direction: which generator of a two-way (CycleGAN) model; default the model's default.
        opset: ONNX opset (default: the exporter's).
        fp16: fp16 weights and arithmetic with float32 input/output, for GPU runtimes.
        int8: quantize for CPU inference with onnxruntime: static (QDQ, calibrated on the images
            in ``calibration``) or, without ``calibration``, dynamic. The graph is exported from
            :func:`img2img.nets.rewrite.for_export` (batch norm folded, transposed convs as
            sub-pixel convs, PReLU as LeakyReLU) so that every convolution but the last runs in
            int8; the static report gives the int8 model's PSNR against fp32 on the calibration
            crops, also stored as the ``img2img.int8_psnr_db`` metadata key.
        calibration_method: ``"auto"`` (default: the best of several percentiles), ``"percentile"``,
            ``"minmax"`` or ``"entropy"`` (static int8); see :mod:`img2img.quantize`.
        progress: a labelled progress bar over the int8 calibration (the CLI's default).
    """
    if fp16 and int8:
        raise ValueError("choose one of fp16 and int8")
    quiet_third_party()  # the exporters' and onnxruntime's logs (the CLI's --verbose keeps them)
    from .checkpoint import load_pretrained

    config, nets = ({}, {}) if Path(model).suffix == ".pt" else load_pretrained(model)  # .pt: a checkpoint
    if "latent" in config:  # a GAN lab generator: noise (and a label) in
        if fp16 or int8:
            raise ValueError("GAN lab generators export in fp32 only (they are small)")
        return _export_sampler(config, nets[config.get("default_direction", "AtoB")], Path(out), opset, check)
    translator = Translator.from_pretrained(model, device="cpu", direction=direction, precision="fp32")
    direction = translator.direction
    net = translator.net().float().eval()
    spec = translator.spec()
    multiple = max(spec.size_multiple, 1)
    side = max(spec.min_size, multiple, 16 if multiple == 1 else multiple)
    example = torch.zeros(1, spec.in_channels, side, side)
    # a non-square size that is not a multiple of the net's multiple, padded as the runtime pads it
    check_size = (
        (side + max(3, multiple // 2 + 3), side + max(5, multiple // 3 + 1)) if multiple > 1 else (side + 13, side + 7)
    )
    if check_size[0] == check_size[1]:  # multiple 4 (ResNets): 5 and 5; a transposed H and W would pass unseen
        check_size = (check_size[0], check_size[1] + multiple)
    out = Path(out)
    precision = "fp16" if fp16 else "int8" if int8 else "fp32"
    metadata = build_metadata(translator.config, spec, direction=direction, precision=precision, version=__version__)
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = os.path.join(tmp, "model.onnx")
        exporter = _export_graph(for_export(net) if int8 else net, example, fp32_path, opset)
        graph_path = fp32_path
        if fp16:
            graph_path = os.path.join(tmp, "model_fp16.onnx")
            exporter = _export_graph(_Fp16Wrapper(copy.deepcopy(net)).eval(), example, graph_path, opset)
        elif int8:
            from .quantize import quantize

            graph_path = os.path.join(tmp, "model_int8.onnx")
            quantized = quantize(
                fp32_path, graph_path, spec, calibration=calibration, method=calibration_method, progress=progress
            )
            notes.append(quantized.summary())
            if quantized.psnr_db is not None:
                metadata["img2img.int8_psnr_db"] = f"{quantized.psnr_db:.2f}"
        _finalize(graph_path, metadata)
        diff = None
        if check:
            diff = _check(net, graph_path, spec, check_size, precision)
            if precision == "fp32" and diff > FP32_TOLERANCE:
                raise RuntimeError(
                    f"ONNX export check failed: max |onnxruntime - torch| = {diff:.3g} > {FP32_TOLERANCE}"
                )
        atomic_write(out, lambda target: Path(target).write_bytes(Path(graph_path).read_bytes()))
    return ExportReport(out, exporter, diff, check_size, precision, notes)


class _SamplerGraph(nn.Module):
    """The exported signature of a GAN lab generator: ``(noise, label)`` or ``(noise)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, noise: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(noise, label)


def _export_sampler(config: dict[str, Any], net: nn.Module, out: Path, opset: int | None, check: bool) -> ExportReport:
    """Export a noise -> image generator: inputs ``noise`` (N x dim) and, conditional, ``label`` (N,)."""
    from img2img_runtime.metadata import build_sampler_metadata

    net = net.float().eval()
    conditional = bool(config["latent"].get("num_classes"))
    graph = _SamplerGraph(net).eval()
    n = 3
    noise = torch.randn(n, int(config["latent"]["dim"]), generator=torch.Generator().manual_seed(0))
    label = torch.arange(n, dtype=torch.int64) % max(1, int(config["latent"].get("num_classes") or 1))
    example = (noise, label) if conditional else (noise,)
    names = ["noise", "label"] if conditional else ["noise"]
    metadata = build_sampler_metadata(config, precision="fp32", version=__version__)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        # the TorchScript exporter: a fixed graph of linear layers and transposed convs, batch axis dynamic
        axes = {name: {0: "batch"} for name in [*names, "output"]}
        with warnings.catch_warnings():  # the tracer's notes on the nets' input checks
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: fine for these nets
            torch.onnx.export(
                graph,
                example,
                path,
                dynamo=False,
                input_names=names,
                output_names=["output"],
                dynamic_axes=axes,
                **({"opset_version": opset} if opset is not None else {}),
            )
        _finalize(path, metadata)
        diff = None
        if check:
            import onnxruntime as ort

            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            feed = {name: tensor.numpy() for name, tensor in zip(names, example)}
            with torch.no_grad():
                expected = graph(*example).numpy()
            diff = float(np.abs(session.run(None, feed)[0] - expected).max())
            if diff > FP32_TOLERANCE:
                raise RuntimeError(
                    f"ONNX export check failed: max |onnxruntime - torch| = {diff:.3g} > {FP32_TOLERANCE}"
                )
        atomic_write(out, lambda target: Path(target).write_bytes(Path(path).read_bytes()))
    size = tuple(config["output"].get("size", [0, 0]))
    return ExportReport(out, "torchscript", diff, size, "fp32", [f"inputs: {', '.join(names)}"])


def _finalize(path: str, metadata: dict[str, str]) -> None:
    """Write the metadata into the model and validate it with ``onnx.checker``."""
    import onnx

    model = onnx.load(path)
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def _check(net: nn.Module, path: str, spec: ModelSpec, size: tuple[int, int], precision: str) -> float:
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, spec.in_channels, *size)).astype(np.float32)
    if spec.hint_channels:  # hint channels as a model gets them: a few patches of colour, a 0/1 mask
        mask = (rng.uniform(0, 1, (2, 1, *size)) < 0.02).astype(np.float32)
        x[:, -spec.hint_channels : -1] *= mask
        x[:, -1:] = mask
    x = pad_to_multiple(x, spec.size_multiple, spec.min_size)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    return float(np.abs(got.astype(np.float32) - expected).max())


__all__ = ["ExportReport", "export_onnx"]
