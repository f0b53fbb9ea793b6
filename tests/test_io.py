"""Image I/O (img2img_runtime.io): conversion rules, EXIF orientation, errors, atomic writes, listing."""

import os
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from img2img_runtime.io import (
    ImageNotFoundError,
    ImageReadError,
    apply_orientation,
    exif_orientation,
    list_images,
    list_non_images,
    read_image,
    write_image,
)

# --------------------------------------------------------------------------------------------
# Hand-built files
# --------------------------------------------------------------------------------------------


def blocky_rgb(height=16, width=24, seed=0):
    """An RGB image of flat 4x4 blocks: survives JPEG well and shows any rotation or flip."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)


def tiff_ifd0(orientation, order="<"):
    """A minimal TIFF structure: header + IFD0 with one entry, Orientation (SHORT)."""
    header = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    entry = struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0)
    return header + struct.pack(order + "H", 1) + entry + struct.pack(order + "I", 0)


def jpeg_with_exif(jpeg, orientation, order="<"):
    payload = b"Exif\x00\x00" + tiff_ifd0(orientation, order)
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_exif(png, orientation):
    ihdr_end = 8 + 25  # signature + IHDR chunk
    return png[:ihdr_end] + png_chunk(b"eXIf", tiff_ifd0(orientation, ">")) + png[ihdr_end:]


def webp_with_exif(webp, orientation, height, width):
    """Turns a simple WebP into the extended format (VP8X) with an EXIF chunk."""
    vp8x = bytes([0x08, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    exif = tiff_ifd0(orientation)
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + vp8x + webp[12:] + b"EXIF" + struct.pack("<I", len(exif)) + exif
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tiff_rgb(rgb, orientation, order="<"):
    """An uncompressed RGB TIFF file with an Orientation tag."""
    height, width, _ = rgb.shape
    pixels = rgb.tobytes()
    data_offset = 8 + 2 + 12 * 10 + 4
    entries = [
        (256, 3, width),
        (257, 3, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 2),
        (273, 4, data_offset),
        (274, 3, orientation),
        (277, 3, 3),
        (278, 3, height),
        (279, 4, len(pixels)),
    ]
    out = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", len(entries))
    for tag, kind, value in entries:
        out += struct.pack(order + ("HHIHH" if kind == 3 else "HHII"), tag, kind, 1, value, *([0] if kind == 3 else []))
    return out + struct.pack(order + "I", 0) + pixels


def encode(ext, image, *params):
    ok, data = cv2.imencode(ext, image, list(params))
    assert ok
    return data.tobytes()


ROT90 = {3: 2, 6: -1, 8: 1}  # np.rot90 k that turns the stored image upright


# --------------------------------------------------------------------------------------------
# Reading: conversion rules
# --------------------------------------------------------------------------------------------


def test_png_round_trip_is_exact(tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (13, 17, 3), dtype=np.uint8)
    write_image(tmp_path / "x.png", image)
    out = read_image(tmp_path / "x.png")
    assert out.dtype == np.uint8 and out.shape == (13, 17, 3)
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".webp"])
def test_lossy_round_trip_is_close(tmp_path, ext):
    y, x = np.mgrid[0:32, 0:48]
    image = np.dstack([x * 5, y * 7, 255 - x * 3 - y * 2]).astype(np.uint8)  # smooth gradients
    write_image(tmp_path / f"x{ext}", image, quality=95)
    out = read_image(tmp_path / f"x{ext}")
    assert out.shape == image.shape
    assert np.abs(out.astype(int) - image).mean() < 4


@pytest.mark.parametrize("ext", [".bmp", ".tif", ".tiff"])
def test_lossless_formats_round_trip(tmp_path, ext):
    image = np.random.default_rng(2).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    write_image(tmp_path / f"x{ext}", image)
    np.testing.assert_array_equal(read_image(tmp_path / f"x{ext}"), image)


def test_rgb_order(tmp_path):
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0] = 255  # pure red in RGB
    (tmp_path / "red.png").write_bytes(encode(".png", image[..., ::-1]))  # OpenCV writes BGR
    assert read_image(tmp_path / "red.png")[0, 0].tolist() == [255, 0, 0]


def test_16bit_png_becomes_8bit_by_round_v_over_257(tmp_path):
    values = np.array([[0, 257, 385, 386, 128 * 257, 65535]], np.uint16)  # 385/257 = 1.498, 386/257 = 1.502
    (tmp_path / "g16.png").write_bytes(encode(".png", values))
    assert read_image(tmp_path / "g16.png", channels=1)[0, :, 0].tolist() == [0, 1, 1, 2, 128, 255]
    color = np.dstack([values, values // 2, np.full_like(values, 65535)])  # BGR
    (tmp_path / "c16.png").write_bytes(encode(".png", color))
    out = read_image(tmp_path / "c16.png")
    expected = np.rint(color[..., ::-1] / 257).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)


def test_float_tiff_is_clipped_and_scaled(tmp_path):
    values = np.array([[-0.5, 0.0, 0.25, 1.0, 2.0]], np.float32)
    (tmp_path / "f.tif").write_bytes(encode(".tif", values))
    assert read_image(tmp_path / "f.tif", channels=1)[0, :, 0].tolist() == [0, 0, 64, 255, 255]


def test_gray_is_replicated_to_three_equal_channels(tmp_path):
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    write_image(tmp_path / "g.png", gray)
    out = read_image(tmp_path / "g.png")
    assert out.shape == (4, 5, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)
    np.testing.assert_array_equal(read_image(tmp_path / "g.png", channels=1)[..., 0], gray)


def test_channels_1_from_color_is_bt601_luma(tmp_path):
    image = np.random.default_rng(3).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    write_image(tmp_path / "c.png", image)
    out = read_image(tmp_path / "c.png", channels=1)
    assert out.shape == (6, 7, 1)
    luma = image.astype(float) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(out[..., 0] - luma).max() <= 1


def test_alpha_is_composited_over_white(tmp_path):
    bgra = np.zeros((1, 3, 4), np.uint8)
    bgra[0, :, :3] = (40, 80, 120)  # BGR colour
    bgra[0, :, 3] = (0, 255, 128)
    (tmp_path / "a.png").write_bytes(encode(".png", bgra))
    out = read_image(tmp_path / "a.png")
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent -> white
    assert out[0, 1].tolist() == [120, 80, 40]  # opaque -> the colour, as RGB
    expected = [round((c * 128 + 255 * 127) / 255) for c in (120, 80, 40)]
    assert out[0, 2].tolist() == expected


def test_gray_alpha_png_is_composited_over_white(tmp_path):
    rows = b"".join(b"\x00" + bytes([10, 0, 20, 255, 30, 128]) for _ in range(2))  # (gray, alpha) x 3
    ihdr = struct.pack(">IIBBBBB", 3, 2, 8, 4, 0, 0, 0)  # colour type 4: gray + alpha
    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )
    (tmp_path / "ga.png").write_bytes(png)
    assert read_image(tmp_path / "ga.png", channels=1)[0, :, 0].tolist() == [
        255,
        20,
        round((30 * 128 + 255 * 127) / 255),
    ]
    assert read_image(tmp_path / "ga.png").shape == (2, 3, 3)


def test_decoder_follows_content_not_extension(tmp_path):
    image = blocky_rgb()
    (tmp_path / "really_a_png.jpg").write_bytes(encode(".png", image[..., ::-1]))
    np.testing.assert_array_equal(read_image(tmp_path / "really_a_png.jpg"), image)


def test_non_ascii_path(tmp_path):
    image = blocky_rgb()
    path = tmp_path / "фото été" / "画像 1.png"
    write_image(path, image)
    np.testing.assert_array_equal(read_image(path), image)


# --------------------------------------------------------------------------------------------
# EXIF orientation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_jpeg_exif_orientation_is_applied(tmp_path, orientation, order):
    jpeg = encode(".jpg", blocky_rgb(), cv2.IMWRITE_JPEG_QUALITY, 95)
    (tmp_path / "plain.jpg").write_bytes(jpeg)
    (tmp_path / "rotated.jpg").write_bytes(jpeg_with_exif(jpeg, orientation, order))
    stored = read_image(tmp_path / "plain.jpg")
    out = read_image(tmp_path / "rotated.jpg")
    np.testing.assert_array_equal(out, np.rot90(stored, k=ROT90[orientation]))
    assert out.flags.c_contiguous


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_orientations_match_opencv_own_exif_handling(orientation):
    jpeg = jpeg_with_exif(encode(".jpg", blocky_rgb(), cv2.IMWRITE_JPEG_QUALITY, 95), orientation)
    assert exif_orientation(jpeg) == orientation
    stored = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)  # ignores EXIF
    upright = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)  # applies EXIF
    np.testing.assert_array_equal(apply_orientation(stored, orientation), upright)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_png_exif_chunk_orientation_is_applied(tmp_path, orientation):
    image = blocky_rgb()
    (tmp_path / "x.png").write_bytes(png_with_exif(encode(".png", image[..., ::-1]), orientation))
    np.testing.assert_array_equal(read_image(tmp_path / "x.png"), np.rot90(image, k=ROT90[orientation]))


def test_webp_exif_orientation_is_applied(tmp_path):
    image = blocky_rgb()
    webp = encode(".webp", image[..., ::-1], cv2.IMWRITE_WEBP_QUALITY, 100)
    (tmp_path / "plain.webp").write_bytes(webp)
    (tmp_path / "x.webp").write_bytes(webp_with_exif(webp, 6, *image.shape[:2]))
    np.testing.assert_array_equal(read_image(tmp_path / "x.webp"), np.rot90(read_image(tmp_path / "plain.webp"), k=-1))


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("orientation", [2, 6, 7])
def test_tiff_orientation_is_applied_exactly_once(tmp_path, orientation, order):
    from PIL import Image

    from img2img_runtime.io import as_uint8_image

    image = blocky_rgb()
    (tmp_path / "x.tif").write_bytes(tiff_rgb(image, orientation, order))
    np.testing.assert_array_equal(read_image(tmp_path / "x.tif"), apply_orientation(image, orientation))
    # opened with PIL: Pillow turns a TIFF upright itself while loading (the tag was applied twice)
    with Image.open(tmp_path / "x.tif") as opened:
        np.testing.assert_array_equal(as_uint8_image(opened), apply_orientation(image, orientation))


def test_exif_orientation_defaults_to_1():
    png = encode(".png", blocky_rgb())
    assert exif_orientation(png) == 1
    assert exif_orientation(encode(".jpg", blocky_rgb())) == 1
    assert exif_orientation(b"") == 1
    assert exif_orientation(b"not an image at all") == 1
    assert exif_orientation(jpeg_with_exif(encode(".jpg", blocky_rgb()), 6)[:30]) == 1  # cut inside the IFD
    assert exif_orientation(png_with_exif(png, 9)) == 1  # out of range


# --------------------------------------------------------------------------------------------
# Reading: errors
# --------------------------------------------------------------------------------------------


def _random_png(path):
    path.write_bytes(np.random.default_rng(4).integers(0, 256, 500, dtype=np.uint8).tobytes())


def _truncated_jpeg(path):
    data = encode(".jpg", blocky_rgb(64, 64))
    path.write_bytes(data[: len(data) // 2])


def _empty(path):
    path.write_bytes(b"")


def _text(path):
    path.write_text("this is not a picture\n" * 20)


@pytest.mark.parametrize(
    "name, make",
    [("random.png", _random_png), ("cut.jpg", _truncated_jpeg), ("empty.png", _empty), ("notes.jpg", _text)],
)
def test_undecodable_files_raise_image_read_error_naming_the_path(tmp_path, name, make):
    path = tmp_path / name
    make(path)
    with pytest.raises(ImageReadError, match="cannot decode image") as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_missing_file_is_image_read_error_and_file_not_found(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(ImageNotFoundError) as info:
        read_image(path)
    assert isinstance(info.value, ImageReadError) and isinstance(info.value, FileNotFoundError)
    assert str(path) in str(info.value)


def test_directory_is_image_read_error(tmp_path):
    with pytest.raises(ImageReadError, match="cannot read file"):
        read_image(tmp_path)


def test_bad_channels_argument(tmp_path):
    with pytest.raises(ValueError, match="channels"):
        read_image(tmp_path / "x.png", channels=2)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def test_write_creates_parents_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "a" / "b" / "out.png"
    write_image(path, blocky_rgb())
    write_image(path, blocky_rgb(seed=5))  # overwrite
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]
    np.testing.assert_array_equal(read_image(path), blocky_rgb(seed=5))


def test_write_gray_shapes(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_image(tmp_path / "a.png", gray)
    write_image(tmp_path / "b.png", gray[:, :, None])
    for name in ("a.png", "b.png"):
        np.testing.assert_array_equal(read_image(tmp_path / name, channels=1)[..., 0], gray)


def test_unsupported_extension_raises_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"\.gif"):
        write_image(tmp_path / "out.gif", blocky_rgb())
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "out.png", blocky_rgb().astype(np.float32))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    write_image(path, blocky_rgb())
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_image(path, blocky_rgb(seed=9))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


# --------------------------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------------------------


def test_list_images_sorted_skipping_hidden_and_junk(tmp_path):
    for name in [
        "b.png",
        "a.JPG",
        "sub/c.webp",
        "sub/deeper/d.tiff",
        ".hidden.png",
        ".cache/e.png",
        "Thumbs.db",
        "desktop.ini",
        "notes.txt",
        "sub/readme.md",
        "__MACOSX/f.png",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    rel = lambda paths: [p.relative_to(tmp_path).as_posix() for p in paths]  # noqa: E731
    assert rel(list_images(tmp_path)) == ["a.JPG", "b.png", "sub/c.webp", "sub/deeper/d.tiff"]
    assert rel(list_images(tmp_path, recursive=False)) == ["a.JPG", "b.png"]
    assert rel(list_non_images(tmp_path)) == ["notes.txt", "sub/readme.md"]
    assert rel(list_non_images(tmp_path, recursive=False)) == ["notes.txt"]


def test_list_images_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_dir"):
        list_images(tmp_path / "missing_dir")


# --------------------------------------------------------------------------------------------
# Packaging
# --------------------------------------------------------------------------------------------


def test_runtime_io_imports_without_torch_or_pil():
    code = "import sys, img2img_runtime.io; bad = {'torch', 'PIL'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_torch_side_reexports_the_same_functions():
    import img2img.data.io as torch_side
    import img2img_runtime.io as runtime

    assert torch_side.read_image is runtime.read_image
    assert torch_side.ImageReadError is runtime.ImageReadError


# --------------------------------------------------------------------------------------------
# Pixel budget (issue 9, item 1): refused from the header, before decoding
# --------------------------------------------------------------------------------------------


def hostile_png(width=32767, height=32767, stream_bytes=4_000_000):
    """A small PNG whose header declares ``width x height`` RGB pixels (the IDAT holds only the
    first rows; the whole image would need ``3 * width * height`` bytes to decode)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * stream_bytes, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def test_png_declaring_32767_squared_pixels_is_refused_from_its_header(tmp_path):
    import time

    from img2img_runtime.io import MAX_PIXELS, ImageTooLargeError

    path = tmp_path / "bomb.png"
    path.write_bytes(hostile_png())
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as caught:
        read_image(path)
    assert time.perf_counter() - start < 1.0  # no decoding, no allocation of 3 GB
    message = str(caught.value)
    assert isinstance(caught.value, ImageReadError) and message.startswith(str(path))
    assert "32767 x 32767" in message and f"{MAX_PIXELS:,}" in message and MAX_PIXELS == 100_000_000
    assert "--max-pixels" in message and "IMG2IMG_MAX_PIXELS" in message and "max_pixels=" in message


def test_hostile_png_needs_little_memory_to_refuse(tmp_path):
    (tmp_path / "bomb.png").write_bytes(hostile_png())
    code = (
        "import resource, sys\n"
        "from img2img_runtime.io import ImageTooLargeError, read_image\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    read_image(sys.argv[1])\nexcept ImageTooLargeError:\n    pass\n"
        "else:\n    raise SystemExit('not refused')\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"  # MiB on Linux
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "bomb.png")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) < 50  # the file is read (a few MB), nothing is decoded


def test_max_pixels_per_call_environment_and_no_limit(tmp_path, monkeypatch):
    from img2img_runtime.io import ImageTooLargeError, default_max_pixels

    write_image(tmp_path / "x.png", blocky_rgb(32, 40))  # 1280 pixels
    monkeypatch.delenv("IMG2IMG_MAX_PIXELS", raising=False)
    assert default_max_pixels() == 100_000_000
    with pytest.raises(ImageTooLargeError, match=r"40 x 32 pixels .*limit of 1,279 pixels"):
        read_image(tmp_path / "x.png", max_pixels=1279)
    assert read_image(tmp_path / "x.png", max_pixels=1280).shape == (32, 40, 3)
    monkeypatch.setenv("IMG2IMG_MAX_PIXELS", "1000")
    assert default_max_pixels() == 1000
    with pytest.raises(ImageTooLargeError, match="limit of 1,000 pixels"):
        read_image(tmp_path / "x.png")
    assert read_image(tmp_path / "x.png", max_pixels=0).shape == (32, 40, 3)  # the call wins; 0 = no limit
    monkeypatch.setenv("IMG2IMG_MAX_PIXELS", "0")
    assert read_image(tmp_path / "x.png").shape == (32, 40, 3)
    monkeypatch.setenv("IMG2IMG_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="IMG2IMG_MAX_PIXELS"):
        read_image(tmp_path / "x.png")
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(tmp_path / "x.png", max_pixels=-1)


def _encoded(ext, image):
    """``encode``, and a bare JPEG 2000 codestream (``.j2k``: the ``jp2c`` box of a JP2 file)."""
    if ext != ".j2k":
        return encode(ext, image)
    data = encode(".jp2", image)
    return data[data.find(b"jp2c") + 4 :]


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".tif", ".jp2", ".j2k", ".ras"])
def test_every_format_is_measured_from_its_header(tmp_path, ext):
    from img2img_runtime.io import ImageTooLargeError, image_size

    data = _encoded(ext, blocky_rgb(32, 40))
    assert image_size(data) == (40, 32)
    (tmp_path / f"x{ext}").write_bytes(data)
    with pytest.raises(ImageTooLargeError, match="declares 40 x 32 pixels"):
        read_image(tmp_path / f"x{ext}", max_pixels=40 * 32 - 1)
    assert read_image(tmp_path / f"x{ext}", max_pixels=40 * 32).shape == (32, 40, 3)


def test_other_header_sizes():
    from img2img_runtime.io import image_size

    lossless = encode(".webp", blocky_rgb(32, 40), cv2.IMWRITE_WEBP_QUALITY, 101)  # VP8L
    assert lossless[12:16] == b"VP8L" and image_size(lossless) == (40, 32)
    assert image_size(b"GIF89a" + struct.pack("<HH", 640, 480) + b"\x00" * 8) == (640, 480)
    assert image_size(b"P6\n# comment\n640 480\n255\n") == (640, 480)
    assert image_size(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 480 +X 640\n") == (640, 480)
    assert image_size(b"not an image") is None and image_size(b"\x89PNG\r\n\x1a\n") is None


@pytest.mark.parametrize("ext", [".jpg", ".bmp", ".tif", ".jp2", ".j2k"])
def test_forged_huge_headers_are_refused(tmp_path, ext):
    """A real small file whose header is patched to declare 60000 x 60000 pixels."""
    from img2img_runtime.io import ImageTooLargeError

    data = bytearray(_encoded(ext, blocky_rgb(32, 40)))
    if ext == ".jpg":
        sof = next(i for i in range(2, len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2))
        struct.pack_into(">HH", data, sof + 5, 60000, 60000)
    elif ext == ".bmp":
        struct.pack_into("<ii", data, 18, 60000, 60000)
    elif ext == ".jp2":  # a 171-byte JPEG 2000 file declaring gigapixels was decoded in full (4.4 GB)
        struct.pack_into(">II", data, data.find(b"ihdr") + 4, 60000, 60000)
    elif ext == ".j2k":
        struct.pack_into(">II", data, data.find(b"\xff\x51") + 6, 60000, 60000)
    else:
        order = "<" if data[:2] == b"II" else ">"
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        for i in range(count):
            entry = ifd + 2 + 12 * i
            tag, kind = struct.unpack_from(order + "HH", data, entry)
            if tag in (256, 257):
                struct.pack_into(order + ("H" if kind == 3 else "I"), data, entry + 8, 60000)
    (tmp_path / f"x{ext}").write_bytes(bytes(data))
    with pytest.raises(ImageTooLargeError, match="declares 60000 x 60000 pixels"):
        read_image(tmp_path / f"x{ext}")


# --------------------------------------------------------------------------------------------
# In-memory images follow the file rules (issue 9, item 6)
# --------------------------------------------------------------------------------------------


def test_arrays_follow_the_file_rules():
    from img2img_runtime.io import as_uint8_image

    assert as_uint8_image(np.full((2, 2), 0.5, np.float32), channels=3)[0, 0].tolist() == [128, 128, 128]
    assert as_uint8_image(np.full((2, 2), 0.5, np.float32)).shape == (2, 2, 1)  # channels=None keeps gray
    floats = np.array([[0.0, 0.25, 1.0, 1.0 + 0.4 / 255, -0.4 / 255]])
    assert as_uint8_image(floats, channels=1)[0, :, 0].tolist() == [0, 64, 255, 255, 0]
    values = np.array([[0, 257, 385, 386, 128 * 257, 65535]], np.uint16)
    assert as_uint8_image(values, channels=1)[0, :, 0].tolist() == [0, 1, 1, 2, 128, 255]
    rgba = np.array([[[120, 80, 40, 0], [120, 80, 40, 255], [120, 80, 40, 128]]], np.uint8)
    out = as_uint8_image(rgba)
    assert out[0, 0].tolist() == [255, 255, 255] and out[0, 1].tolist() == [120, 80, 40]
    assert out[0, 2].tolist() == [round((c * 128 + 255 * 127) / 255) for c in (120, 80, 40)]
    gray_alpha = np.array([[[10, 0], [20, 255]]], np.uint8)
    assert as_uint8_image(gray_alpha, channels=1)[0, :, 0].tolist() == [255, 20]
    image = blocky_rgb()
    assert as_uint8_image(image) is image or np.array_equal(as_uint8_image(image), image)  # uint8 RGB: as is
    assert as_uint8_image(image[:, :, 0], channels=3).shape == (16, 24, 3)


def test_uint16_rounding_is_exact_for_every_value():
    from img2img_runtime.io import as_uint8_image

    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    np.testing.assert_array_equal(as_uint8_image(values, channels=1)[:, :, 0], np.rint(values / 257.0).astype(np.uint8))


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.array([[0.5, np.nan]], np.float32), ValueError, "1 NaN or infinite"),
        (np.array([[0.5, np.inf]]), ValueError, "NaN or infinite"),
        (np.zeros((0, 4, 3), np.uint8), ValueError, "empty image"),
        (np.zeros((4, 0)), ValueError, "empty image"),
        (np.full((2, 2, 3), 255.0), ValueError, r"must be in \[0, 1\].*divide 0..255 floats by 255"),
        (np.full((2, 2, 3), -1.0), ValueError, r"must be in \[0, 1\]"),
        (np.zeros((2, 2, 5), np.uint8), ValueError, "channels"),
        (np.zeros((2, 2, 3, 1), np.uint8), ValueError, "channels"),
        (np.zeros((2, 2, 3), np.int64), TypeError, "unsupported sample type int64"),
        (42, TypeError, "unsupported input type int"),
    ],
)
def test_bad_arrays_are_clear_errors(bad, error, match):
    from img2img_runtime.io import as_uint8_image

    with pytest.raises(error, match=match):
        as_uint8_image(bad)


def test_pil_images_follow_the_file_rules(tmp_path):
    from PIL import Image

    from img2img_runtime.io import as_uint8_image

    bgra = np.zeros((2, 3, 4), np.uint8)
    bgra[..., :3] = (40, 80, 120)
    bgra[..., 3] = [[0, 255, 128], [255, 0, 255]]
    (tmp_path / "a.png").write_bytes(encode(".png", bgra))
    from_file = read_image(tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as pil:
        np.testing.assert_array_equal(as_uint8_image(pil), from_file)  # alpha over white, not black
    np.testing.assert_array_equal(as_uint8_image(Image.open(tmp_path / "a.png").convert("RGBa")), from_file)
    values = np.array([[0, 257, 385, 386, 128 * 257, 65535]], np.uint16)
    (tmp_path / "g16.png").write_bytes(encode(".png", values))
    with Image.open(tmp_path / "g16.png") as pil:  # PIL gives mode I or I;16: scaled, not clipped
        np.testing.assert_array_equal(as_uint8_image(pil, channels=3), read_image(tmp_path / "g16.png"))
    assert as_uint8_image(Image.fromarray(values[0].reshape(2, 3).astype(np.uint16)), channels=1).max() == 255
    as_float = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), mode="F")
    assert as_uint8_image(as_float, channels=1)[0, :, 0].tolist() == [0, 128, 255]
    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 0
    assert as_uint8_image(palette)[0].tolist() == [[255, 255, 255], [200, 100, 50]]
    assert as_uint8_image(Image.new("1", (2, 2), 1), channels=3)[0, 0].tolist() == [255, 255, 255]
    with pytest.raises(ValueError, match="NaN"):
        as_uint8_image(Image.fromarray(np.array([[np.nan]], np.float32), mode="F"))


def test_pil_image_exif_orientation_is_applied_as_for_files(tmp_path):
    from PIL import Image

    from img2img_runtime.io import as_uint8_image

    image = blocky_rgb()
    (tmp_path / "o.jpg").write_bytes(jpeg_with_exif(encode(".jpg", image[..., ::-1], cv2.IMWRITE_JPEG_QUALITY, 100), 6))
    with Image.open(tmp_path / "o.jpg") as pil:
        out = as_uint8_image(pil)
    assert out.shape == (24, 16, 3)
    np.testing.assert_array_equal(out, read_image(tmp_path / "o.jpg"))


def test_paths_go_through_read_image_with_the_budget(tmp_path):
    from img2img_runtime.io import ImageTooLargeError, as_uint8_image

    write_image(tmp_path / "x.png", blocky_rgb(32, 40))
    np.testing.assert_array_equal(as_uint8_image(tmp_path / "x.png"), read_image(tmp_path / "x.png"))
    assert as_uint8_image(str(tmp_path / "x.png"), channels=1).shape == (32, 40, 1)
    with pytest.raises(ImageTooLargeError):
        as_uint8_image(tmp_path / "x.png", max_pixels=100)
