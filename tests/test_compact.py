"""img2img.compact: fp16-stored weights with fp32 arithmetic, in model folders and ONNX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import export_tiny_sr, pattern
from safetensors import safe_open

from img2img import Translator
from img2img.compact import halve_model_folder, halve_onnx_weights
from img2img.export import export_onnx
from img2img_runtime import Model
from img2img_runtime.metadata import read_metadata


def test_halved_folder_holds_fp16_tensors_and_loads_into_fp32_nets(tmp_path: Path) -> None:
    export_tiny_sr(tmp_path)
    half = halve_model_folder(tmp_path / "model", tmp_path / "half")
    with safe_open(str(half / "AtoB.safetensors"), framework="pt") as f:
        dtypes = {str(f.get_tensor(k).dtype) for k in f.keys()}
    assert dtypes == {"torch.float16"}
    assert (half / "AtoB.safetensors").stat().st_size < 0.6 * (tmp_path / "model" / "AtoB.safetensors").stat().st_size
    full, halved = Translator.from_pretrained(tmp_path / "model"), Translator.from_pretrained(half)
    assert next(halved.net().parameters()).dtype.is_floating_point
    image = pattern(3, 40)
    assert np.abs(full(image).astype(int) - halved(image).astype(int)).max() <= 2  # weights rounded, nothing else
    with pytest.raises(FileExistsError):
        halve_model_folder(tmp_path / "model", half)


def test_halved_onnx_runs_in_fp32_like_the_float_file_and_keeps_its_metadata(tmp_path: Path) -> None:
    export_tiny_sr(tmp_path)
    halve_model_folder(tmp_path / "model", tmp_path / "half")
    export_onnx(tmp_path / "half", tmp_path / "float.onnx")  # fp16-representable weights, stored as float
    out = halve_onnx_weights(tmp_path / "float.onnx", tmp_path / "halved.onnx")
    graph = onnx.load(str(out)).graph
    large = [i for i in graph.initializer if np.prod(i.dims) >= 16]
    assert large and all(i.data_type == onnx.TensorProto.FLOAT16 for i in large)
    assert sum(n.op_type == "Cast" for n in graph.node) == len(large)
    assert read_metadata(out) == read_metadata(tmp_path / "float.onnx")
    image = pattern(4, 48)
    a, b = Model(tmp_path / "float.onnx")(image), Model(out)(image)
    assert b.dtype == np.uint8 and a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # the same values, computed in fp32
    assert out.stat().st_size < (tmp_path / "float.onnx").stat().st_size
