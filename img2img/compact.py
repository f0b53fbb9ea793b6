"""Half-size model files with full-precision arithmetic: weights stored as fp16, computed in fp32.

Shipped models (``img2img models``) must be small: a 5.3M-parameter U-Net is 21 MB in fp32 per
copy, and each model ships twice (ONNX for the runtime, a model folder for torch). Rounding the
weights to fp16 halves both files. The arithmetic stays fp32, so a CPU runs them as fast as
before and the only change is the rounding of the weights (relative error <= 2**-11; measured on
the shipped models in their cards: a fraction of a grey level).

* :func:`halve_model_folder` writes a model folder whose ``*.safetensors`` hold fp16 tensors;
  :func:`img2img.checkpoint.load_pretrained` loads them into the fp32 nets as usual.
* :func:`halve_onnx_weights` replaces each large float initializer of an ONNX file by an fp16
  one and a ``Cast`` to float: onnxruntime folds the casts when it loads the session, so the
  graph runs in fp32 exactly as the float file with the rounded weights.

Export a halved folder and then halve the ONNX file: the two forms then hold the same values.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

__all__ = ["halve_model_folder", "halve_onnx_weights"]

MIN_ELEMENTS = 16  # smaller tensors (biases of tiny layers, scalars) stay float: nothing to gain


def halve_model_folder(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy an img2img model folder to ``target`` with its float weights rounded to fp16."""
    import torch
    from safetensors.torch import load_file, save_file

    from .checkpoint import CONFIG_NAME, resolve_model_dir

    source, target = resolve_model_dir(source), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists")
    target.mkdir(parents=True)
    json.loads((source / CONFIG_NAME).read_text())  # a readable config, or a clear error before copying
    shutil.copy2(source / CONFIG_NAME, target / CONFIG_NAME)
    for weights in sorted(source.glob("*.safetensors")):
        state = load_file(str(weights))
        half = {k: (v.half() if v.is_floating_point() and v.dtype == torch.float32 else v) for k, v in state.items()}
        save_file({k: v.contiguous() for k, v in half.items()}, str(target / weights.name), metadata={"format": "pt"})
    return target


def halve_onnx_weights(path: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Store the float initializers of ``path`` (with at least :data:`MIN_ELEMENTS` values) as fp16
    plus a ``Cast`` to float; metadata, inputs and outputs are kept. Writes ``out`` (default: in place)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    out = Path(out) if out is not None else path
    model = onnx.load(str(path))
    graph = model.graph
    kept, casts = [], []
    for initializer in graph.initializer:
        if initializer.data_type != TensorProto.FLOAT or int(np.prod(initializer.dims)) < MIN_ELEMENTS:
            kept.append(initializer)
            continue
        values = numpy_helper.to_array(initializer)
        half = numpy_helper.from_array(values.astype(np.float16), initializer.name + "__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [initializer.name], to=TensorProto.FLOAT))
    if not casts:
        if out != path:
            shutil.copy2(path, out)
        return out
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)  # the casts first: the graph stays topologically sorted
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return out
