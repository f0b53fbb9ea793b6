"""int8 quantization of an exported model with onnxruntime (static, calibrated on images; or dynamic).

This lives on the export side (``img2img export --int8``): it needs ``onnx`` and onnxruntime's
quantization tools, which the runtime package (numpy, onnxruntime and OpenCV only) does not.

Static quantization needs representative inputs: the images of a calibration folder go through
the same pre-processing as inference (:func:`img2img_runtime.processing.prepare`), are centre-
cropped to one calibration size and fed to onnxruntime's calibrator. ``percentile`` clips the
rarest 0.01 % of activation values; ``minmax`` keeps the full range; ``entropy`` minimises the KL
divergence; ``auto`` (the default) tries the percentiles of :data:`AUTO_PERCENTILES` and keeps the
model closest to the float one on the calibration crops. The best clipping differs between nets
(for a trained CycleGAN ResNet 99.98 beat 99.99 by 0.4 dB and minmax by 3.6 dB), and the PSNR on
the calibration crops ranked the candidates as a held-out photo did.

The int8 graph is QDQ with per-channel weights. Only convolutions and LeakyReLUs are quantized:
additions (residual streams), concatenations (U-Net skips) and normalisations stay float between
the int8 convolutions, and the last convolution (few output channels at full resolution: slower
in int8, and the most sensitive) stays float too. Measured on nets trained 300 steps
(bench/infer_speed.py), quantizing the additions and concatenations as well cost 2 to 4 dB of
PSNR and bought no speed. The int8 model's PSNR against the float model on the calibration crops
is measured and reported, so the quality cost is a figure, not a guess. Without a folder,
weights are quantized and activations quantized dynamically at run time.

Exporters should hand in a graph whose transposed convolutions are already rewritten as
convolutions (``img2img.nets.rewrite``): onnxruntime has no int8 ``ConvTranspose``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from img2img_runtime.logs import third_party_output
from img2img_runtime.progress import Progress

if TYPE_CHECKING:
    import numpy as np

    from img2img_runtime.processing import ModelSpec

# Light at import (the CLI's parser reads CALIBRATION_METHODS): numpy, OpenCV, onnx, onnxruntime
# and torch (metrics) load inside the functions that use them.

MAX_CALIBRATION_IMAGES = 32
CALIBRATION_METHODS = ("auto", "percentile", "minmax", "entropy")
AUTO_PERCENTILES = (99.9, 99.95, 99.98, 99.99, 99.995)
QUANTIZED_OPS = ["Conv", "LeakyRelu"]
PERCENTILE = 99.99


def calibration_batches(
    folder: str | os.PathLike, spec: ModelSpec, *, size: int | None = None, limit: int = MAX_CALIBRATION_IMAGES
) -> list[np.ndarray]:
    """Pre-processed ``1 x C x size x size`` inputs from the images in ``folder`` (unreadable files skipped)."""
    import numpy as np

    from img2img_runtime.io import ImageReadError, list_images, read_image
    from img2img_runtime.processing import prepare, suggested_tile

    paths = list_images(folder)
    if not paths:
        raise FileNotFoundError(f"no calibration images in {folder}")
    size = size or min(256, suggested_tile(spec)[0])
    multiple = max(spec.size_multiple, 1)
    size = max(-(-size // multiple) * multiple, spec.min_size)
    batches = []
    for path in paths[:limit]:
        try:
            net_input, _ = prepare(read_image(path, channels=spec.image_channels), spec)
        except ImageReadError:
            continue
        _, h, w = net_input.shape
        top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
        crop = net_input[None, :, top : top + size, left : left + size]
        short_h, short_w = size - crop.shape[2], size - crop.shape[3]  # small images: repeat the edge
        if short_h or short_w:
            crop = np.pad(crop, ((0, 0), (0, 0), (0, short_h), (0, short_w)), mode="edge")
        batches.append(crop)
    if not batches:
        raise ValueError(f"none of the images in {folder} could be read for calibration")
    return [np.ascontiguousarray(b, dtype=np.float32) for b in batches]


@dataclass
class QuantizeReport:
    """What :func:`quantize` did, and the int8 model's PSNR against the float one on the calibration crops."""

    mode: str  # "static" or "dynamic"
    method: str | None = None  # e.g. "percentile 99.98", "minmax"
    images: int = 0
    kept_float: list[str] = field(default_factory=list)
    psnr_db: float | None = None
    tried: dict[str, float] = field(default_factory=dict)  # method -> PSNR, when several were tried ("auto")

    def summary(self) -> str:
        if self.mode == "dynamic":
            return (
                "int8: dynamic quantization (weights int8, activations quantized at run time); on CPUs this is "
                "usually slower than fp32 for convolutional nets: pass --calibration DIR for static int8"
            )
        psnr = "" if self.psnr_db is None else f"; PSNR of int8 against fp32 on those crops: {self.psnr_db:.1f} dB"
        tried = (
            ""
            if len(self.tried) < 2
            else " (best of " + ", ".join(f"{m}: {v:.1f} dB" for m, v in self.tried.items()) + ")"
        )
        return (
            f"int8: static quantization (QDQ, per-channel weights, {self.method} calibration{tried}) on "
            f"{self.images} images; int8: {', '.join(QUANTIZED_OPS)}, except the output convolution "
            f"{self.kept_float}{psnr}"
        )


def quantize(
    fp32_path: str | os.PathLike,
    out_path: str | os.PathLike,
    spec: ModelSpec,
    *,
    calibration: str | os.PathLike | None = None,
    method: str = "auto",
    progress: bool = False,
) -> QuantizeReport:
    """Write an int8 model: static (calibrated on the images in ``calibration``) or dynamic.

    ``method="auto"`` quantizes once per percentile of :data:`AUTO_PERCENTILES` and keeps the
    model whose outputs on the calibration crops are closest to the float model's (highest PSNR);
    the others are single runs (``"percentile"`` at :data:`PERCENTILE`). ``progress`` shows a
    labelled bar over the calibration crops of all candidates.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")
    out_path = Path(out_path)
    pre = str(out_path.with_suffix(".pre.onnx"))
    with third_party_output():
        quant_pre_process(str(fp32_path), pre, skip_symbolic_shape=True)
    if calibration is None:
        with third_party_output():
            quantize_dynamic(pre, str(out_path), weight_type=QuantType.QInt8)
        return QuantizeReport("dynamic")
    batches = calibration_batches(calibration, spec)

    candidates = [("percentile", p) for p in AUTO_PERCENTILES] if method == "auto" else [(method, PERCENTILE)]
    bar = Progress(len(batches) * len(candidates), "int8 calibration", unit="crop", enabled=progress)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self):  # noqa: ANN201 - onnxruntime's interface
            batch = next(self.items, None)
            if batch is not None:
                bar.update()
            return None if batch is None else {"input": batch}

    keep_float = _output_convs(pre)
    reference = _outputs(fp32_path, batches)
    tried: dict[str, float] = {}
    paths = [out_path.with_suffix(f".candidate{index}.onnx") for index in range(len(candidates))]
    best: tuple[float, str, Path] | None = None
    try:
        for (name, percentile), path in zip(candidates, paths):
            label = f"percentile {percentile:g}" if name == "percentile" else name
            calibrate_method = {
                "minmax": CalibrationMethod.MinMax,
                "percentile": CalibrationMethod.Percentile,
                "entropy": CalibrationMethod.Entropy,
            }[name]
            with third_party_output():  # the calibrators print their steps
                quantize_static(
                    pre,
                    str(path),
                    Reader(),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    nodes_to_exclude=keep_float,
                    op_types_to_quantize=QUANTIZED_OPS,
                    calibrate_method=calibrate_method,
                    extra_options={"CalibPercentile": percentile} if name == "percentile" else {},
                )
            tried[label] = _psnr(reference, _outputs(path, batches))
            if best is None or tried[label] > best[0]:
                best = (tried[label], label, path)
        assert best is not None
        os.replace(best[2], out_path)
    finally:  # the losing candidates, or all of them after an error
        bar.close()
        for path in paths:
            path.unlink(missing_ok=True)
    return QuantizeReport("static", best[1], len(batches), keep_float, best[0], tried)


def _outputs(path: str | os.PathLike, inputs: list[np.ndarray]) -> np.ndarray:
    """The model's outputs for ``inputs`` (batch 1 each), mapped from [-1, 1] to 0..255 as images are."""
    import numpy as np
    import onnxruntime as ort

    from img2img_runtime.processing import denormalize

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([denormalize(session.run(None, {name: x})[0][0]).ravel() for x in inputs])


def _psnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """PSNR (dB, peak 255) of two uint8 arrays (the outputs of :func:`_outputs`)."""
    from img2img_runtime.metrics import psnr_uint8  # the one numpy PSNR

    return psnr_uint8(candidate, reference)


def psnr_against(reference: str | os.PathLike, candidate: str | os.PathLike, inputs: list[np.ndarray]) -> float:
    """PSNR (dB, peak 255) of ``candidate``'s outputs against ``reference``'s, both mapped from
    [-1, 1] to 0..255 as images are (for colorization: the ab channels), over all ``inputs`` (batch 1 each)."""
    return _psnr(_outputs(reference, inputs), _outputs(candidate, inputs))


def _output_convs(path: str) -> list[str]:
    """The output convolution (the last ordinary one, to the few output channels at full
    resolution: slower in int8 than in float on CPUs, and the most sensitive to rounding) and the
    grouped (depthwise) convolutions after it, fixed filters on the output such as the detail
    high-pass's Gaussian blur (``detail_sigma``): all stay float."""
    import onnx

    def grouped(node: Any) -> bool:
        return any(a.name == "group" and a.i > 1 for a in node.attribute)

    convs = [node for node in onnx.load(path, load_external_data=False).graph.node if node.op_type == "Conv"]
    last = max((i for i, node in enumerate(convs) if not grouped(node)), default=None)
    if last is None:
        return [node.name for node in convs[-1:]]
    return [convs[last].name] + [node.name for node in convs[last + 1 :] if grouped(node)]
