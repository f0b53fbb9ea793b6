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

__version__ = "0.1.0"

from .folder import FolderReport, translate_folder  # noqa: E402
from .io import ImageReadError, read_image, write_image  # noqa: E402
from .model import Model  # noqa: E402
from .processing import ModelSpec, run_images  # noqa: E402

__all__ = ["FolderReport", "ImageReadError", "Model", "ModelSpec", "read_image", "run_images", "translate_folder", "write_image"]
