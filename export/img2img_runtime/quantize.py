"""int8 quantization of an exported model with onnxruntime (static, calibrated on images; or dynamic).

Static quantization needs representative inputs: the images of a calibration folder go through
the same pre-processing as inference (:func:`img2img_runtime.processing.prepare`), are centre-
cropped to one calibration size and fed to onnxruntime's calibrator (MinMax). Without a folder,
weights are quantized and activations quantized dynamically at run time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .io import ImageReadError, list_images, read_image
from .processing import ModelSpec, prepare, suggested_tile

MAX_CALIBRATION_IMAGES = 32


def calibration_batches(folder: str | os.PathLike, spec: ModelSpec, *, size: int | None = None, limit: int = MAX_CALIBRATION_IMAGES) -> list[np.ndarray]:
    """Pre-processed ``1 x C x size x size`` inputs from the images in ``folder`` (unreadable files skipped)."""
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


def quantize(fp32_path: str | os.PathLike, out_path: str | os.PathLike, spec: ModelSpec, *, calibration: str | os.PathLike | None = None) -> str:
    """Write an int8 model; returns a one-line description of what was done."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = str(Path(out_path).with_suffix(".pre.onnx"))
    quant_pre_process(str(fp32_path), pre, skip_symbolic_shape=True)
    if calibration is None:
        quantize_dynamic(pre, str(out_path), weight_type=QuantType.QInt8)
        return ("int8: dynamic quantization (weights int8, activations quantized at run time); on CPUs this is "
                "usually slower than fp32 for convolutional nets: pass --calibration DIR for static int8")
    batches = calibration_batches(calibration, spec)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self):  # noqa: ANN201 - onnxruntime's interface
            batch = next(self.items, None)
            return None if batch is None else {"input": batch}

    keep_float = _output_convs(pre)
    quantize_static(pre, str(out_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=keep_float)
    return (f"int8: static quantization (QDQ, per-channel weights) calibrated on {len(batches)} images from {calibration}; "
            f"kept in float: the output convolution {keep_float}")


def _output_convs(path: str) -> list[str]:
    """The last convolution (to the few output channels at full resolution): slower in int8 than
    in float on CPUs, and the most sensitive to rounding, so it stays float."""
    import onnx

    convs = [node.name for node in onnx.load(path, load_external_data=False).graph.node if node.op_type == "Conv"]
    return convs[-1:]
