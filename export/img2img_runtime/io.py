"""Image reading, atomic writing and folder listing: numpy + OpenCV only (no torch, no PIL).

Every image that enters img2img goes through :func:`read_image`, which applies one conversion,
whatever the file format (the decoder is chosen from the file's content, never its extension):

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

Failures raise :class:`ImageReadError` (a ``ValueError``) whose message starts with the path.
A missing file raises :class:`ImageNotFoundError`, which is both an ``ImageReadError`` and a
``FileNotFoundError``, so ``except ImageReadError`` catches every unreadable input.

:func:`write_image` is atomic: the encoded bytes go to a hidden temporary file in the target
folder (``.<name>.<random>.tmp``), are flushed and fsync'ed, then renamed over the target, so an
interrupted job never leaves a partial image behind.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageNotFoundError",
    "ImageReadError",
    "apply_orientation",
    "atomic_write",
    "exif_orientation",
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


class ImageReadError(ValueError):
    """An image file could not be read; the message names the file and the problem."""


class ImageNotFoundError(ImageReadError, FileNotFoundError):
    """The image file does not exist (both an ``ImageReadError`` and a ``FileNotFoundError``)."""


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


def _exif_block_jpeg(data: bytes) -> bytes | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no metadata after this
            return None
        (length,) = struct.unpack_from(">H", data, pos + 2)
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            return payload[6:]
        pos += 2 + length
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
# Reading
# --------------------------------------------------------------------------------------------


def _to_uint8(image: np.ndarray, path: Path) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.rint(image / 257.0).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        scaled = np.clip(np.nan_to_num(image.astype(np.float32), nan=0.0), 0.0, 1.0) * 255.0
        return np.rint(scaled).astype(np.uint8)
    raise ImageReadError(f"{path}: unsupported pixel type {image.dtype} (expected 8-bit, 16-bit or float)")


def _over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.uint32)
    out = (color.astype(np.uint32) * a + 255 * (255 - a) + 127) // 255  # round half up
    return out.astype(np.uint8)


def read_image(path: str | os.PathLike, *, channels: int = 3) -> np.ndarray:
    """Reads an image file as uint8, upright, with the conversion in this module's docstring.

    Args:
        path: the image file; its extension is not used to choose the decoder.
        channels: 3 for RGB, 1 for luminance (ITU-R BT.601).

    Returns:
        ``uint8`` array, ``H x W x channels``.

    Raises:
        ImageNotFoundError: the file does not exist.
        ImageReadError: the file cannot be read or decoded (empty, truncated, not an image).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
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

    image = _to_uint8(image, path)
    if image.ndim == 2:
        image = image[:, :, None]
    depth = image.shape[2]
    if depth == 2:  # gray + alpha
        image = _over_white(image[:, :, :1], image[:, :, 1:2])
    elif depth == 4:  # BGRA
        image = _over_white(image[:, :, :3], image[:, :, 3:4])
    elif depth not in (1, 3):
        raise ImageReadError(f"{path}: cannot decode image (unsupported channel count {depth})")

    if image.shape[2] == 1:
        if channels == 3:
            image = np.repeat(image, 3, axis=2)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if channels == 1:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]

    return np.ascontiguousarray(apply_orientation(image, orientation))


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _encode_params(suffix: str, quality: int) -> list[int]:
    if suffix in (".jpg", ".jpeg"):
        return [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    if suffix == ".webp":
        return [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    return []


def write_image(path: str | os.PathLike, image: np.ndarray, *, quality: int = 95) -> None:
    """Writes an image atomically; the format comes from the extension.

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

    atomic_write(path, lambda temp: Path(temp).write_bytes(encoded.tobytes()))


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Create ``path`` all at once: ``write(temp)`` fills a hidden ``.<name>.<random>.tmp`` next to
    it, which is fsync'ed and renamed over ``path``; on any failure the temporary file is removed.
    Every file img2img writes (images, checkpoints, model folders) goes through here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        write(str(temp))
        with open(temp, "rb") as file:
            os.fsync(file.fileno())
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


def _visible_files(folder: str | os.PathLike, recursive: bool) -> list[Path]:
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    found: list[tuple[str, Path]] = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _JUNK_DIRS] if recursive else []
        base = Path(current)
        for name in files:
            if name.startswith(".") or name.lower() in _JUNK_FILES:
                continue
            file = base / name
            found.append((file.relative_to(folder).as_posix(), file))
    found.sort(key=lambda item: item[0])
    return [file for _, file in found]


def list_images(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (by extension, any case), sorted by relative POSIX path.

    Hidden files and folders (names starting with ``.``), ``__MACOSX`` folders and OS junk
    (``Thumbs.db``, ``desktop.ini``) are ignored.

    Raises:
        FileNotFoundError: ``folder`` does not exist (``NotADirectoryError`` if it is a file).
    """
    return [file for file in _visible_files(folder, recursive) if is_image_file(file)]


def list_non_images(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """The visible files under ``folder`` that are not images by extension, sorted like
    :func:`list_images`, so callers can report them."""
    return [file for file in _visible_files(folder, recursive) if not is_image_file(file)]
