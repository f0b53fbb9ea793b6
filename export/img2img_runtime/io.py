"""Image reading, atomic writing and folder listing: numpy + OpenCV only (no torch, no PIL).

Every image that enters img2img goes through :func:`read_image`, which applies one conversion,
whatever the file format (the decoder is chosen from the file's content, never its extension):

0. Pixel budget: the width and height declared by the header (:func:`image_size`: PNG, JPEG,
   WebP, BMP, TIFF, GIF, PNM, HDR) are checked against ``max_pixels`` (default
   :data:`MAX_PIXELS`, 100 megapixels, or ``$IMG2IMG_MAX_PIXELS``; 0 = no limit) before
   anything is decoded: a small file declaring 32767 x 32767 pixels is refused in milliseconds
   with :class:`ImageTooLargeError`, which names the file, the size, the limit and how to raise it.
1. Decode with ``cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)``
   (``np.fromfile`` also handles non-ASCII paths on Windows).
2. Bit depth to 8 bits: 8-bit stays as is; 16-bit ``v`` becomes ``round(v / 257)``
   (so 65535 -> 255 and 257 * k -> k exactly); floating point is clipped to ``[0, 1]``
   (NaN counts as 0), multiplied by 255 and rounded. Other sample types are an error.
3. Alpha is composited over WHITE, in 8 bits:
   ``out = round((color * alpha + 255 * (255 - alpha)) / 255)``, so a fully transparent pixel
   becomes white (255) and an opaque one keeps its colour. Gray + alpha works the same way.
4. Channels: colour is returned as RGB (OpenCV's BGR is swapped); a grayscale image is
   replicated to three equal channels. With ``channels=1`` a grayscale image is kept as it is and
   a colour image is converted to luminance with ITU-R BT.601 luma
   (``Y = 0.299 R + 0.587 G + 0.114 B``, OpenCV's ``COLOR_RGB2GRAY``).
5. EXIF orientation (tag 0x0112) is applied last, so the array is upright as a viewer shows it.
   It is read by :func:`exif_orientation` from JPEG (APP1 ``Exif``), PNG (``eXIf`` chunk),
   WebP (RIFF ``EXIF`` chunk) and TIFF files; a missing or unreadable tag means "as stored".

The result is always ``uint8`` of shape ``H x W x 3`` (RGB) or ``H x W x 1`` (luminance).

:func:`as_uint8_image` applies the same rules to images already in memory (numpy arrays, PIL
images, torch tensors), so the Python APIs (``img2img.Translator``, ``img2img_runtime.Model``)
read every input type alike; there floats must lie in ``[0, 1]`` and NaN/inf is an error.

Failures raise :class:`ImageReadError` (a ``ValueError``) whose message starts with the path.
A missing file raises :class:`ImageNotFoundError`, which is both an ``ImageReadError`` and a
``FileNotFoundError``, so ``except ImageReadError`` catches every unreadable input.

:func:`write_image` is atomic: the encoded bytes go to a hidden temporary file in the target
folder (``.<name>.<pid>.<random>.tmp``), are flushed and fsync'ed, then renamed over the target, so an
interrupted job never leaves a partial image behind.
"""

from __future__ import annotations

import os
import struct
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "ImageNotFoundError",
    "ImageReadError",
    "ImageTooLargeError",
    "apply_orientation",
    "as_uint8_image",
    "default_max_pixels",
    "atomic_write",
    "exif_orientation",
    "image_size",
    "is_image_file",
    "list_images",
    "list_non_images",
    "read_image",
    "write_image",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")

# Files that operating systems and archivers leave in folders; never images, never reported.
_JUNK_FILES = frozenset({"thumbs.db", "desktop.ini"})
_JUNK_DIRS = frozenset({"__MACOSX"})

_ORIENTATION_TAG = 0x0112

#: Default pixel budget of :func:`read_image` (width x height, 100 megapixels): larger images are
#: refused from their header, before anything is decoded or allocated.
MAX_PIXELS = 100_000_000
#: Environment variable that overrides :data:`MAX_PIXELS` (a whole number; 0 = no limit).
MAX_PIXELS_ENV = "IMG2IMG_MAX_PIXELS"


class ImageReadError(ValueError):
    """An image file could not be read; the message names the file and the problem."""


class ImageNotFoundError(ImageReadError, FileNotFoundError):
    """The image file does not exist (both an ``ImageReadError`` and a ``FileNotFoundError``)."""


class ImageTooLargeError(ImageReadError):
    """The image declares more pixels than the reader's budget (``max_pixels``)."""


# --------------------------------------------------------------------------------------------
# EXIF orientation
# --------------------------------------------------------------------------------------------


def _orientation_entry(block: bytes) -> tuple[int, int, str] | None:
    """Finds tag 0x0112 in IFD0 of a TIFF structure (an EXIF block or a whole TIFF file).

    Returns ``(value, offset of the value field, struct format)`` or None when absent.
    """
    if len(block) < 8 or block[:2] not in (b"II", b"MM"):
        return None
    order = "<" if block[:2] == b"II" else ">"
    magic, ifd_offset = struct.unpack_from(order + "HI", block, 2)
    if magic != 42 or ifd_offset + 2 > len(block):
        return None
    (count,) = struct.unpack_from(order + "H", block, ifd_offset)
    for i in range(count):
        entry = ifd_offset + 2 + 12 * i
        if entry + 12 > len(block):
            break
        tag, kind, n = struct.unpack_from(order + "HHI", block, entry)
        if tag != _ORIENTATION_TAG or n < 1:
            continue
        # SHORT is the standard type; a few tools write LONG. The value sits at the start
        # of the 4-byte value field either way.
        fmt = {3: order + "H", 4: order + "I"}.get(kind)
        if fmt is None:
            return None
        (value,) = struct.unpack_from(fmt, block, entry + 8)
        return value, entry + 8, fmt
    return None


def _orientation_from_tiff(block: bytes) -> int:
    found = _orientation_entry(block)
    return found[0] if found is not None and 1 <= found[0] <= 8 else 1


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int]]:
    """``(marker, position)`` of each JPEG marker segment before the image data (the walk that
    both the EXIF and the frame-size readers need); stops at the first malformed byte."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no metadata after this
            return
        yield marker, pos
        (length,) = struct.unpack_from(">H", data, pos + 2)
        pos += 2 + length


def _exif_block_jpeg(data: bytes) -> bytes | None:
    for marker, pos in _jpeg_segments(data):
        (length,) = struct.unpack_from(">H", data, pos + 2)
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            return payload[6:]
    return None


def _exif_block_png(data: bytes) -> bytes | None:
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"eXIf":
            return data[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            return None
        pos += 12 + length
    return None


def _exif_block_webp(data: bytes) -> bytes | None:
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        if kind == b"EXIF":
            block = data[pos + 8 : pos + 8 + length]
            return block[6:] if block.startswith(b"Exif\x00\x00") else block
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
    return None


def exif_orientation(data: bytes) -> int:
    """Returns the EXIF orientation (1..8) of an encoded image, 1 when absent or unreadable.

    Args:
        data: the bytes of a JPEG, PNG, WebP or TIFF file. Other formats give 1.
    """
    data = bytes(data)  # no copy for bytes; accepts bytearray / memoryview
    try:
        if data.startswith(b"\xff\xd8"):
            block = _exif_block_jpeg(data)
        elif data.startswith(b"\x89PNG\r\n\x1a\n"):
            block = _exif_block_png(data)
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            block = _exif_block_webp(data)
        elif data[:4] in (b"II*\x00", b"MM\x00*"):
            block = data
        else:
            block = None
        return 1 if block is None else _orientation_from_tiff(block)
    except struct.error:
        return 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turns an image stored with EXIF ``orientation`` upright (H x W or H x W x C arrays)."""
    if orientation == 2:  # mirrored left-right
        return image[:, ::-1]
    if orientation == 3:  # rotated 180
        return image[::-1, ::-1]
    if orientation == 4:  # mirrored top-bottom
        return image[::-1]
    if orientation == 5:  # transposed about the main diagonal
        return image.swapaxes(0, 1)
    if orientation == 6:  # needs 90 degrees clockwise
        return np.rot90(image, k=-1)
    if orientation == 7:  # transposed about the anti-diagonal
        return image[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:  # needs 90 degrees counter-clockwise
        return np.rot90(image, k=1)
    return image


# --------------------------------------------------------------------------------------------
# Image size from the header, and the pixel budget
# --------------------------------------------------------------------------------------------


def _size_png(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack_from(">II", data, 16)
    return None


def _size_jpeg(data: bytes) -> tuple[int, int] | None:
    for marker, pos in _jpeg_segments(data):
        # SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return (width, height) if height else None  # height 0: defined later by DNL
    return None


def _size_webp(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    return None


def _size_bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    (header,) = struct.unpack_from("<I", data, 14)
    if header == 12:  # BITMAPCOREHEADER
        return struct.unpack_from("<HH", data, 18)
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)  # a negative height means top-down rows


def _size_j2k(data: bytes, at: int = 0) -> tuple[int, int] | None:
    """A JPEG 2000 codestream: SOC, then the SIZ marker (Xsiz, Ysiz minus the image offsets)."""
    if data[at + 2 : at + 4] != b"\xff\x51":
        return None
    x_size, y_size, x_offset, y_offset = struct.unpack_from(">IIII", data, at + 8)
    return max(0, x_size - x_offset), max(0, y_size - y_offset)


def _size_jp2(data: bytes) -> tuple[int, int] | None:
    """A JP2 file: boxes; the image header box (``ihdr``, in ``jp2h``) holds height then width."""
    at = data.find(b"ihdr")
    if at < 4:
        return None
    height, width = struct.unpack_from(">II", data, at + 4)
    return width, height


def _size_tiff(data: bytes) -> tuple[int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    (version,) = struct.unpack_from(order + "H", data, 2)
    if version == 42:  # classic TIFF: 12-byte entries, 4-byte values
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        count_fmt, entry_fmt, entry_size, value_at = "H", "HHI", 12, 8
    elif version == 43:  # BigTIFF: 20-byte entries, 8-byte values
        (ifd,) = struct.unpack_from(order + "Q", data, 8)
        count_fmt, entry_fmt, entry_size, value_at = "Q", "HHQ", 20, 12
    else:
        return None
    (count,) = struct.unpack_from(order + count_fmt, data, ifd)
    first = ifd + struct.calcsize(order + count_fmt)
    found: dict[int, int] = {}
    for i in range(min(count, 4096)):
        entry = first + entry_size * i
        if entry + entry_size > len(data):
            break
        tag, kind, n = struct.unpack_from(order + entry_fmt, data, entry)
        if tag in (256, 257) and n >= 1:  # ImageWidth, ImageLength: SHORT, LONG or LONG8
            fmt = {3: "H", 4: "I", 16: "Q"}.get(kind)
            if fmt is not None:
                (found[tag],) = struct.unpack_from(order + fmt, data, entry + value_at)
    return (found[256], found[257]) if len(found) == 2 else None


def _size_pnm(data: bytes) -> tuple[int, int] | None:
    head = data[:4096]
    if data[:2] == b"P7":  # PAM: WIDTH and HEIGHT lines
        fields = dict(line.split(None, 1) for line in head.split(b"\n")[1:] if len(line.split(None, 1)) == 2)
        try:
            return int(fields[b"WIDTH"]), int(fields[b"HEIGHT"])
        except (KeyError, ValueError):
            return None
    tokens = []
    for line in head[2:].split(b"\n"):
        tokens += line.split(b"#", 1)[0].split()
        if len(tokens) >= 2:
            break
    try:
        return int(tokens[0]), int(tokens[1])
    except (IndexError, ValueError):
        return None


def _size_hdr(data: bytes) -> tuple[int, int] | None:
    lines = data[:8192].split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip() and i + 1 < len(lines):  # the resolution line follows the blank line
            parts = lines[i + 1].split()
            if len(parts) == 4:
                try:
                    size = {parts[0][1:]: int(parts[1]), parts[2][1:]: int(parts[3])}
                    return size[b"X"], size[b"Y"]
                except (KeyError, ValueError):
                    return None
            return None
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` declared by an encoded image's header, without decoding it.

    Reads PNG (IHDR), JPEG (the SOF frame header), WebP (VP8, VP8L, VP8X), BMP, TIFF and BigTIFF
    (IFD0), GIF, PNM/PAM/PFM, Radiance HDR, JPEG 2000 (codestream and JP2) and Sun raster
    headers. Returns None for other formats or an unreadable header (the decoder then decides).
    """
    data = bytes(data)  # no copy for bytes; accepts bytearray / memoryview
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return _size_png(data)
        if data.startswith(b"\xff\xd8"):
            return _size_jpeg(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _size_webp(data)
        if data[:2] == b"BM":
            return _size_bmp(data)
        if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _size_tiff(data)
        if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
            return struct.unpack_from("<HH", data, 6)
        if len(data) >= 3 and data[0:1] == b"P" and data[1:2] in b"1234567fF" and data[2:3].isspace():
            return _size_pnm(data)
        if data.startswith((b"#?RADIANCE", b"#?RGBE")):
            return _size_hdr(data)
        if data.startswith(b"\xff\x4f\xff\x51"):
            return _size_j2k(data)
        if data.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
            return _size_jp2(data)
        if data.startswith(b"\x59\xa6\x6a\x95") and len(data) >= 12:  # Sun raster
            return struct.unpack_from(">II", data, 4)
    except struct.error:
        return None
    return None


def default_max_pixels() -> int:
    """The pixel budget used when ``max_pixels`` is not given: ``$IMG2IMG_MAX_PIXELS`` if set,
    else :data:`MAX_PIXELS` (100 megapixels). 0 means no limit."""
    value = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not value:
        return MAX_PIXELS
    return _check_max_pixels(value, f"the environment variable {MAX_PIXELS_ENV}")


def _check_max_pixels(value: object, what: str) -> int:
    try:
        number = float(value) if isinstance(value, str) else value
        limit = int(number)  # type: ignore[arg-type]
        if limit != number or limit < 0:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} must be a whole number of pixels >= 0 (0 = no limit), got {value!r}") from None
    return limit


def _resolve_max_pixels(max_pixels: int | None) -> int:
    return default_max_pixels() if max_pixels is None else _check_max_pixels(max_pixels, "max_pixels")


def _check_budget(path: Path, width: int, height: int, limit: int, *, declared: bool) -> None:
    if limit and width * height > limit:
        raise ImageTooLargeError(
            f"{path}: image {'declares' if declared else 'is'} {width} x {height} pixels "
            f"({width * height / 1e6:.1f} megapixels), more than the limit of {limit:,} pixels "
            f"({limit / 1e6:g} megapixels){'; refused before decoding' if declared else ''}. To read it, raise the limit: "
            f"--max-pixels N on the command line, max_pixels=N in Python, or the environment variable "
            f"{MAX_PIXELS_ENV}=N (0 = no limit)"
        )


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _uint16_to_uint8(image: np.ndarray) -> np.ndarray:
    """``round(v / 257)`` exactly, in integers (257 is odd, so ``v / 257`` is never a tie)."""
    return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _to_uint8(image: np.ndarray, path: Path) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return _uint16_to_uint8(image)
    if np.issubdtype(image.dtype, np.floating):
        scaled = np.clip(np.nan_to_num(image.astype(np.float32), nan=0.0), 0.0, 1.0) * 255.0
        return np.rint(scaled).astype(np.uint8)
    raise ImageReadError(f"{path}: unsupported pixel type {image.dtype} (expected 8-bit, 16-bit or float)")


def _over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.uint32)
    out = (color.astype(np.uint32) * a + 255 * (255 - a) + 127) // 255  # round half up
    return out.astype(np.uint8)


def read_image(path: str | os.PathLike, *, channels: int = 3, max_pixels: int | None = None) -> np.ndarray:
    """Reads an image file as uint8, upright, with the conversion in this module's docstring.

    Args:
        path: the image file; its extension is not used to choose the decoder.
        channels: 3 for RGB, 1 for luminance (ITU-R BT.601), 4 for RGBA with the alpha kept
            (not composited; an image without alpha gets alpha 255): colour-hint strokes.
        max_pixels: refuse images with more than this many pixels (width x height), from the
            header alone, before decoding (:func:`image_size`). None: ``$IMG2IMG_MAX_PIXELS``
            if set, else :data:`MAX_PIXELS` (100 megapixels); 0: no limit. A format whose header
            is not parsed is checked right after decoding (OpenCV caps decoding at 2^30 pixels).

    Returns:
        ``uint8`` array, ``H x W x channels``.

    Raises:
        ImageNotFoundError: the file does not exist.
        ImageTooLargeError: the image has more than ``max_pixels`` pixels.
        ImageReadError: the file cannot be read or decoded (empty, truncated, not an image).
    """
    if channels not in (1, 3, 4):
        raise ValueError(f"channels must be 1, 3 or 4, got {channels}")
    limit = _resolve_max_pixels(max_pixels)
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageNotFoundError(f"{path}: file not found") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot read file ({error.strerror or error})") from None
    if data.size == 0:
        raise ImageReadError(f"{path}: cannot decode image (the file is empty)")
    raw = data.tobytes()
    declared = image_size(raw)
    if declared is not None:
        _check_budget(path, *declared, limit, declared=True)
    orientation = exif_orientation(raw)
    if orientation != 1 and raw[:4] in (b"II*\x00", b"MM\x00*"):
        # OpenCV's TIFF decoder applies the orientation tag itself, even with
        # IMREAD_UNCHANGED (unlike JPEG/PNG/WebP). Set it to 1 in a copy so that the
        # orientation is applied exactly once, here, whatever the OpenCV version.
        _, offset, fmt = _orientation_entry(raw)
        patched = bytearray(raw)
        struct.pack_into(fmt, patched, offset, 1)
        data = np.frombuffer(bytes(patched), dtype=np.uint8)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        message = str(error).strip().splitlines()[-1] if str(error).strip() else "OpenCV error"
        raise ImageReadError(f"{path}: cannot decode image ({message})") from None
    if image is None or image.size == 0:
        raise ImageReadError(
            f"{path}: cannot decode image (not an image, an unsupported format, or a truncated/corrupt file)"
        )
    if declared is None:
        _check_budget(path, image.shape[1], image.shape[0], limit, declared=False)

    image = _to_uint8(image, path)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] not in (1, 2, 3, 4):
        raise ImageReadError(f"{path}: cannot decode image (unsupported channel count {image.shape[2]})")
    return _finish(image, channels, orientation, bgr=True)


def _finish(image: np.ndarray, channels: int | None, orientation: int, *, bgr: bool) -> np.ndarray:
    """uint8 ``H x W x {1,2,3,4}`` -> alpha over white, RGB (or luma), upright: rules 3-5.
    ``channels`` 4: RGBA with the alpha kept (255 where the image has none)."""
    depth = image.shape[2]
    if channels == 4:
        return np.ascontiguousarray(apply_orientation(_rgba(image, bgr=bgr), orientation))
    if depth == 2:  # gray + alpha
        image = _over_white(image[:, :, :1], image[:, :, 1:2])
    elif depth == 4:  # BGRA / RGBA
        image = _over_white(image[:, :, :3], image[:, :, 3:4])

    if image.shape[2] == 1:
        if channels == 3:
            image = np.repeat(image, 3, axis=2)
    else:
        if bgr:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if channels == 1:
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[:, :, None]

    return np.ascontiguousarray(apply_orientation(image, orientation))


def _rgba(image: np.ndarray, *, bgr: bool) -> np.ndarray:
    """uint8 ``H x W x {1,2,3,4}`` -> RGBA, the alpha kept (255 where there is none)."""
    depth = image.shape[2]
    color = image[:, :, :1] if depth in (1, 2) else image[:, :, :3]
    alpha = image[:, :, depth - 1 :] if depth in (2, 4) else np.full(image.shape[:2] + (1,), 255, np.uint8)
    if color.shape[2] == 1:
        color = np.repeat(color, 3, axis=2)
    elif bgr:
        color = color[:, :, ::-1]
    return np.concatenate([color, alpha], axis=2)


# --------------------------------------------------------------------------------------------
# In-memory images (the Python API's input contract)
# --------------------------------------------------------------------------------------------

# Float samples may overshoot [0, 1] by less than half a grey level (rounding gives 0 or 255).
_FLOAT_TOLERANCE = 0.5 / 255.0


def _is_torch_tensor(obj: object) -> bool:
    torch = sys.modules.get("torch")  # never imported here: a tensor exists only if torch is loaded
    return torch is not None and isinstance(obj, torch.Tensor)


def _pil_image_class() -> type | None:
    module = sys.modules.get("PIL.Image")
    return getattr(module, "Image", None)


def _from_pil(image: object) -> tuple[np.ndarray, int]:
    """A PIL image -> (array with the mode's own samples, EXIF orientation)."""
    try:
        # loaded first: Pillow turns some formats (TIFF) upright while loading and drops their tag
        image.load()  # type: ignore[attr-defined]
        orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - an unreadable tag means "as stored", as for files
        orientation = 1
    if not 1 <= orientation <= 8:
        orientation = 1
    mode = image.mode  # type: ignore[attr-defined]
    if mode in ("L", "LA", "RGB", "RGBA", "F") or mode.startswith("I;16"):
        array = np.asarray(image)
    elif mode == "I":  # 32-bit integers: what PIL makes of 16-bit files
        array = np.asarray(image)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ValueError(
                f"PIL image of mode I has values in [{array.min()}, {array.max()}]; expected 16-bit samples (0..65535)"
            )
        array = array.astype(np.uint16)
    elif mode in ("P", "PA"):  # palette: transparency becomes alpha, composited over white
        has_alpha = mode == "PA" or "transparency" in image.info  # type: ignore[attr-defined]
        array = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))  # type: ignore[attr-defined]
    elif mode in ("La", "RGBa"):  # premultiplied alpha
        array = np.asarray(image.convert(mode[:-1] + "A"))  # type: ignore[attr-defined]
    elif mode == "1":
        array = np.asarray(image.convert("L"))  # type: ignore[attr-defined]
    else:  # CMYK, YCbCr, LAB, HSV, ...
        array = np.asarray(image.convert("RGB"))  # type: ignore[attr-defined]
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:
        array = array.astype(np.uint16, copy=False)  # native byte order (I;16B)
    return array, orientation


def as_uint8_image(image: object, *, channels: int | None = None, max_pixels: int | None = None) -> np.ndarray:
    """Any image the Python API accepts -> ``uint8 H x W x C``, with :func:`read_image`'s rules.

    One input contract for ``img2img.Translator`` and ``img2img_runtime.Model``:

    * a path (``str`` / ``os.PathLike``): :func:`read_image` (``max_pixels`` applies);
    * a numpy array ``H x W`` or ``H x W x C`` (C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA;
      channels last, RGB order);
    * a ``PIL.Image`` of any mode (palette, 16-bit ``I;16``/``I``, float ``F``, premultiplied,
      CMYK, ...); its EXIF orientation is applied, as for files;
    * a torch tensor ``C x H x W`` (any device).

    Samples follow the file rules: uint8 as is; uint16 becomes ``round(v / 257)``; floats are
    read as ``[0, 1]`` (``0.5 -> 128``): values further than half a grey level outside ``[0, 1]``
    are a ValueError (a ``[0, 255]`` or ``[-1, 1]`` array is not silently clipped), as are NaN and
    infinities; other sample types are a TypeError. Alpha is composited over white. With
    ``channels`` 3 gray is replicated, with 1 colour becomes BT.601 luma, with 4 the result is
    RGBA with the alpha kept (255 where there is none); None keeps 1 or 3.

    Raises:
        ValueError: an empty image, NaN/inf or out-of-range floats, an unsupported shape.
        TypeError: an unsupported input or sample type.
        ImageReadError: a path that cannot be read (see :func:`read_image`).
    """
    if channels not in (None, 1, 3, 4):
        raise ValueError(f"channels must be 1, 3, 4 or None, got {channels}")
    if isinstance(image, (str, os.PathLike)):
        return read_image(image, channels=channels or 3, max_pixels=max_pixels)
    orientation = 1
    pil_class = _pil_image_class()
    if pil_class is not None and isinstance(image, pil_class):
        what, layout = f"PIL image (mode {image.mode})", "a PIL image"  # type: ignore[attr-defined]
        array, orientation = _from_pil(image)
    elif _is_torch_tensor(image):
        what, layout = f"tensor of shape {tuple(image.shape)}", "C x H x W (channels first)"  # type: ignore[attr-defined]
        if image.dim() != 3:  # type: ignore[attr-defined]
            raise ValueError(f"{what}: an image tensor must be C x H x W")
        if image.numel() == 0:  # type: ignore[attr-defined]
            raise ValueError(f"empty image: {what}")
        tensor = image.detach()  # type: ignore[attr-defined]
        if tensor.is_floating_point() and tensor.dtype != sys.modules["torch"].float64:
            tensor = tensor.float()  # float16 / bfloat16 have no numpy type
        array = tensor.cpu().numpy().transpose(1, 2, 0)
    elif isinstance(image, np.ndarray):
        what, layout = f"array of shape {image.shape} ({image.dtype})", "H x W or H x W x C (channels last)"
        array = image
    else:
        raise TypeError(
            f"unsupported input type {type(image).__name__}; pass numpy arrays, PIL images, "
            "paths, or (img2img.Translator) torch tensors"
        )

    if array.size == 0:
        raise ValueError(f"empty image: {what}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4:
        raise ValueError(f"{what}: expected {layout} with 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels")

    kind = array.dtype.kind
    if array.dtype == np.uint8:
        pass
    elif kind == "u" and array.dtype.itemsize == 2:
        array = _uint16_to_uint8(array)
    elif kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            raise ValueError(f"{what} holds {int(array.size - np.count_nonzero(finite))} NaN or infinite values")
        del finite
        low, high = float(array.min()), float(array.max())
        if low < -_FLOAT_TOLERANCE or high > 1.0 + _FLOAT_TOLERANCE:
            raise ValueError(
                f"{what}: float images must be in [0, 1], got values in [{low:.4g}, {high:.4g}] "
                "(divide 0..255 floats by 255; map [-1, 1] with (x + 1) / 2; or pass uint8)"
            )
        scaled = np.clip(array.astype(np.float32), 0.0, 1.0)
        scaled *= 255.0
        array = np.rint(scaled, out=scaled).astype(np.uint8)
    else:
        raise TypeError(f"{what}: unsupported sample type {array.dtype}; pass uint8, uint16 or float in [0, 1]")
    return _finish(array, channels, orientation, bgr=False)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _encode_params(suffix: str, quality: int) -> list[int]:
    if suffix in (".jpg", ".jpeg"):
        return [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    if suffix == ".webp":
        return [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    return []


def write_image(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    quality: int = 95,
    before_replace: Callable[[], object] | None = None,
) -> None:
    """Writes an image atomically; the format comes from the extension (``before_replace``: see
    :func:`atomic_write`).

    Args:
        path: target file (``.png``, ``.jpg``/``.jpeg``, ``.webp``, ``.bmp``, ``.tif``/``.tiff``);
            missing parent folders are created.
        image: ``uint8``, ``H x W x 3`` RGB, or ``H x W`` / ``H x W x 1`` gray.
        quality: 1..100, used by JPEG and WebP.

    Raises:
        ValueError: unsupported extension, dtype or shape, or the encoder failed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise ValueError(
            f"{path}: unsupported image extension {path.suffix!r} (supported: {', '.join(IMAGE_EXTENSIONS)})"
        )
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: image must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    elif image.ndim != 2:
        raise ValueError(f"{path}: image must be H x W x 3 (RGB) or H x W (x 1) gray, got shape {image.shape}")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(image), _encode_params(suffix, quality))
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the image as {suffix}")

    atomic_write(path, lambda temp: Path(temp).write_bytes(encoded.tobytes()), before_replace=before_replace)


def atomic_write(
    path: str | os.PathLike, write: Callable[[str], object], *, before_replace: Callable[[], object] | None = None
) -> None:
    """Create ``path`` all at once: ``write(temp)`` fills a hidden ``.<name>.<pid>.<random>.tmp``
    next to it, which is fsync'ed and renamed over ``path``; on any failure the temporary file is removed.
    Every file img2img writes (images, checkpoints, model folders) goes through here.
    ``before_replace()`` runs just before the rename; if it raises, nothing is replaced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the writer's pid in the name: a later job removes only the temp files of dead processes,
    # never those of a job that is still writing (img2img_runtime.folder)
    temp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        write(str(temp))
        with open(temp, "rb") as file:
            os.fsync(file.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------------------------


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file name has one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _visible_files(
    folder: str | os.PathLike,
    recursive: bool,
    skipped: list[tuple[Path, str]] | None = None,
    errors: list[tuple[Path, str]] | None = None,
    exclude: dict[str | os.PathLike, str] | None = None,
) -> list[Path]:
    """The regular files under ``folder`` with visible names, sorted by relative POSIX path.

    Every entry that is not returned goes to ``skipped`` (left out on purpose) or ``errors``
    (cannot be read: an unreadable subfolder; a broken, looping or special file with an image
    name) with its reason. Symlinked folders are followed, each real folder once: real folders
    are searched first, and a link to a folder already searched is one ``skipped`` entry ("symlink
    loop" when it leads back to one of its own parent folders). ``exclude`` maps folders (matched
    by identity, whatever the path that reaches them) to the reason they are not searched.
    Names starting with ``..`` (not ``.`` alone) are ordinary names.
    """
    import errno
    import stat as stat_module

    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    left_out: list[tuple[Path, str]] = []
    broken: list[tuple[Path, str]] = []

    def key(st: os.stat_result) -> tuple[int, int]:
        return st.st_dev, st.st_ino

    excluded = {}
    for path, reason in (exclude or {}).items():
        try:
            excluded[key(os.stat(path))] = reason
        except OSError:  # not there (yet): nothing under it to leave out
            pass
    seen = {key(os.stat(folder)): folder}

    def already_seen(path: Path, k: tuple[int, int]) -> str | None:
        if k in excluded:
            return excluded[k]
        first = seen.get(k)
        if first is None:
            return None
        if first == path.parent or first in path.parent.parents:
            return f"symlink loop: leads back to {first} (searched once)"
        return f"the same folder as {first} (searched once)"

    found: list[Path] = []
    real_dirs: list[Path] = [folder]
    linked_dirs: list[tuple[Path, tuple[int, int]]] = []  # searched after every real folder
    while real_dirs or linked_dirs:
        if real_dirs:
            current = real_dirs.pop()
        else:
            current, k = linked_dirs.pop(0)
            reason = already_seen(current, k)
            if reason:
                left_out.append((current, reason))
                continue
            seen[k] = current
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except OSError as error:
            if current == folder:
                raise PermissionError(f"cannot read folder {folder} ({error.strerror or error})") from None
            broken.append((current, f"cannot read folder ({error.strerror or error})"))
            continue
        for entry in entries:
            path, name = current / entry.name, entry.name
            if name.startswith(".") and not name.startswith(".."):
                kind = "folder" if entry.is_dir() else "file"
                left_out.append((path, f"hidden {kind} (name starts with '.')"))
                continue
            if name.lower() in _JUNK_FILES or name in _JUNK_DIRS:
                left_out.append((path, "operating-system or archiver metadata"))
                continue
            try:
                st = entry.stat()  # follows symlinks
            except OSError as error:
                if error.errno == errno.ELOOP:
                    reason = "symlink loop (the link leads back to itself)"
                elif entry.is_symlink() and error.errno == errno.ENOENT:
                    reason = f"broken symlink (its target {os.readlink(path)} does not exist)"
                else:
                    reason = f"cannot read ({error.strerror or error})"
                (broken if is_image_file(name) else left_out).append((path, reason))
                continue
            if stat_module.S_ISDIR(st.st_mode):
                if not recursive:
                    left_out.append((path, "subfolder (not searched: not recursive)"))
                elif entry.is_symlink():
                    linked_dirs.append((path, key(st)))
                elif reason := already_seen(path, key(st)):
                    left_out.append((path, reason))
                else:
                    seen[key(st)] = path
                    real_dirs.append(path)
            elif stat_module.S_ISREG(st.st_mode):
                found.append(path)
            else:  # reading a FIFO would block the job forever
                reason = "not a regular file (a device, FIFO or socket)"
                (broken if is_image_file(name) else left_out).append((path, reason))
    found.sort(key=lambda file: file.relative_to(folder).as_posix())
    if errors is None and skipped is not None:
        errors = skipped
    for entries, target in ((left_out, skipped), (broken, errors)):
        entries.sort(key=lambda item: item[0].relative_to(folder).as_posix())
        if target is not None:
            target.extend(entries)
    if errors is None:
        import warnings

        for path, reason in broken:
            warnings.warn(f"{path}: {reason}; left out", stacklevel=3)
    return found


def list_images(
    folder: str | os.PathLike,
    *,
    recursive: bool = True,
    skipped: list[tuple[Path, str]] | None = None,
    errors: list[tuple[Path, str]] | None = None,
    exclude: dict[str | os.PathLike, str] | None = None,
) -> list[Path]:
    """Image files under ``folder`` (by extension, any case), sorted by relative POSIX path.

    Hidden files and folders (names starting with ``.``, but not ``..``), ``__MACOSX`` folders
    and OS junk (``Thumbs.db``, ``desktop.ini``) are left out. Symlinks are followed, each real
    folder once (a link to a folder already searched, a symlink loop included, is one entry).

    Args:
        skipped: when given, receives ``(path, reason)`` for every entry left out on purpose:
            hidden or junk names, non-image files, folders already searched, symlink loops,
            subfolders when not ``recursive``, and the ``exclude`` folders.
        errors: when given, receives ``(path, reason)`` for what cannot be read: unreadable
            subfolders, and broken, looping or special files with an image name (without
            ``errors`` they go to ``skipped``; with neither, each is a warning).
        exclude: ``{folder: reason}``: folders not to search (e.g. an output folder inside).

    Raises:
        FileNotFoundError: ``folder`` does not exist (``NotADirectoryError`` if it is a file).
        PermissionError: ``folder`` itself cannot be read.
    """
    images, others, left_out = [], [], []
    for file in _visible_files(
        folder,
        recursive,
        left_out if skipped is not None else None,
        errors if errors is not None else (left_out if skipped is not None else None),
        exclude,
    ):
        (images if is_image_file(file) else others).append(file)
    if skipped is not None:
        left_out += [(file, f"not an image file (supported: {', '.join(IMAGE_EXTENSIONS)})") for file in others]
        root = Path(folder)
        skipped.extend(sorted(left_out, key=lambda item: item[0].relative_to(root).as_posix()))
    return images


def list_non_images(
    folder: str | os.PathLike, *, recursive: bool = True, errors: list[tuple[Path, str]] | None = None
) -> list[Path]:
    """The visible files under ``folder`` that are not images by extension, sorted like
    :func:`list_images`, so callers can report them (``errors`` as in :func:`list_images`)."""
    return [file for file in _visible_files(folder, recursive, None, errors) if not is_image_file(file)]
