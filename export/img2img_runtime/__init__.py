"""img2img_runtime: run img2img's exported ONNX models with numpy, onnxruntime and OpenCV only.

Example:
    >>> from img2img_runtime import Model
    >>> model = Model("restore.onnx")
    >>> restored = model(image)          # uint8 H x W x 3 RGB -> uint8
    >>> model.translate_folder("old_photos/", "restored/")

Also the torch-free image reader/writer (:mod:`img2img_runtime.io`), the pre/post-processing
and tiling shared with the torch Translator (:mod:`img2img_runtime.processing`) and folder jobs
(:mod:`img2img_runtime.folder`). Importing this package never imports torch.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers and editors; at run time the names below load on first use
    from .folder import FolderReport, translate_folder
    from .io import ImageReadError, read_image, write_image
    from .model import Model
    from .processing import ModelSpec, run_images

# Loaded on first use (PEP 562), so `import img2img_runtime.cli` and the argument parsers built on it
# answer --help without loading OpenCV or onnxruntime. `from img2img_runtime import Model` works as usual.
_LAZY = {
    "FolderReport": ".folder",
    "translate_folder": ".folder",
    "ImageReadError": ".io",
    "read_image": ".io",
    "write_image": ".io",
    "Model": ".model",
    "ModelSpec": ".processing",
    "run_images": ".processing",
}


def __getattr__(name: str):  # noqa: ANN202 - PEP 562
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "FolderReport",
    "ImageReadError",
    "Model",
    "ModelSpec",
    "read_image",
    "run_images",
    "translate_folder",
    "write_image",
]
