"""Image I/O for the torch side: a re-export of :mod:`img2img_runtime.io`.

There is one implementation of image reading and writing (numpy + OpenCV, no torch), shared by
training, inference and the torch-free runtime, so they cannot drift apart. The conversion rules
(bit depth, alpha over white, channels, EXIF orientation) are documented in that module.
"""

from img2img_runtime.io import (
    IMAGE_EXTENSIONS,
    ImageNotFoundError,
    ImageReadError,
    apply_orientation,
    exif_orientation,
    is_image_file,
    list_images,
    list_non_images,
    read_image,
    write_image,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageNotFoundError",
    "ImageReadError",
    "apply_orientation",
    "exif_orientation",
    "is_image_file",
    "list_images",
    "list_non_images",
    "read_image",
    "write_image",
]
