"""Translator: any size, any input type, model/run/checkpoint loading, folder jobs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_UNET, pattern
from PIL import Image

from img2img.checkpoint import save_pretrained
from img2img.infer import Translator
from img2img.nets import create_model, list_models
from img2img.training import train
from img2img_runtime.io import read_image, write_image

SMALL = {"base_channels": 4, "num_blocks": 1, "num_convs": 2}


def tiny_generator(name: str):
    import inspect

    from img2img.nets.registry import get_model_class

    accepted = inspect.signature(get_model_class(name)).parameters
    return create_model(name, **{k: v for k, v in SMALL.items() if k in accepted})


@pytest.mark.parametrize("name", list_models("generator"))
def test_translator_handles_sizes_that_are_not_multiples(tmp_path, name):
    torch.manual_seed(0)
    net = tiny_generator(name)
    spec = {"input": {"channels": 3}, "output": {"channels": 3}, "scale": net.scale, "size_multiple": net.size_multiple}
    save_pretrained({"AtoB": net}, tmp_path / "model", task="test", io_spec=spec)
    translator = Translator.from_pretrained(tmp_path / "model", device="cpu")
    for h, w in [(37, 53), (net.size_multiple, 2 * net.size_multiple), (5, 3)]:
        image = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
        out = translator(image)
        assert out.shape == (h * net.scale, w * net.scale, 3) and out.dtype == np.uint8
    if net.size_multiple > 1:  # padding is cropped off exactly: a valid-sized input gives the net's own output
        h = w = -(-max(net.size_multiple, getattr(net, "min_size", 1)) // net.size_multiple) * net.size_multiple
        image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        with torch.no_grad():
            direct = net.eval()(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1)
        expected = np.rint(np.clip((direct[0].permute(1, 2, 0).numpy() + 1) * 127.5, 0, 255)).astype(np.uint8)
        assert np.abs(translator(image).astype(int) - expected.astype(int)).max() <= 1


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from conftest import make_paired

    root = tmp_path_factory.mktemp("infer")
    data = make_paired(root / "data", ["a", "b"])
    train(
        "pix2pix", data=str(data), out=str(root / "run"), steps=2, size=32, num_workers=0, progress=False, **TINY_UNET
    )
    return root / "run"


def test_input_types(trained_run, tmp_path):
    translator = Translator.from_pretrained(trained_run, device="cpu")
    image = pattern(1, 40)[:, :30]
    ref = translator(image)
    assert ref.shape == (40, 30, 3)
    write_image(tmp_path / "x.png", image)
    assert np.array_equal(translator(str(tmp_path / "x.png")), ref)
    assert np.array_equal(translator(tmp_path / "x.png"), ref)
    pil = translator(Image.fromarray(image))
    assert isinstance(pil, Image.Image) and np.array_equal(np.asarray(pil), ref)
    tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    out = translator(tensor)
    assert out.shape == (3, 40, 30) and torch.allclose(out, torch.from_numpy(ref).permute(2, 0, 1).float() / 255)
    assert translator(tensor[None]).shape == (1, 3, 40, 30)
    outs = translator([image, image[:20]])
    assert isinstance(outs, list) and np.array_equal(outs[0], ref) and outs[1].shape == (20, 30, 3)
    assert np.array_equal(translator(image.astype(np.float32) / 255), ref)
    gray = translator(image[:, :, 0])  # grayscale is replicated to the 3 channels the net expects
    assert gray.shape == (40, 30, 3)
    with pytest.raises(TypeError, match="unsupported input"):
        translator(42)


def test_checkpoint_model_folder_and_run_agree(trained_run):
    image = pattern(2, 32)
    a = Translator.from_pretrained(trained_run, device="cpu")(image)
    b = Translator.from_pretrained(trained_run / "model", device="cpu")(image)
    c = Translator.from_pretrained(trained_run / "checkpoints" / "last.pt", device="cpu")(image)
    assert np.array_equal(b, c)
    assert a.shape == b.shape
    with pytest.raises(ValueError, match="directions"):
        Translator.from_pretrained(trained_run, device="cpu", direction="BtoA")
    with pytest.raises(FileNotFoundError, match="neither"):
        Translator.from_pretrained(trained_run / "samples")


def test_folder_job_keeps_paths_skips_existing_and_reports_bad_files(trained_run, tmp_path):
    src = tmp_path / "in"
    write_image(src / "one.png", pattern(3, 40))
    write_image(src / "sub" / "two.jpg", pattern(4, 24)[:, :20])
    (src / "broken.png").write_bytes(b"not a png")
    translator = Translator.from_pretrained(trained_run, device="cpu")
    report = translator.translate_folder(src, tmp_path / "out", progress=False)
    assert not report.ok and [p.name for p, _ in report.failed] == ["broken.png"]
    assert "broken.png" in report.summary()
    assert read_image(tmp_path / "out" / "one.png").shape == (40, 40, 3)
    assert read_image(tmp_path / "out" / "sub" / "two.jpg").shape == (24, 20, 3)
    stamp = (tmp_path / "out" / "one.png").stat().st_mtime_ns
    again = translator.translate_folder(src, tmp_path / "out", progress=False)
    assert len(again.skipped_existing) == 2 and not again.written
    assert (tmp_path / "out" / "one.png").stat().st_mtime_ns == stamp
    forced = translator.translate_folder(src, tmp_path / "out", overwrite=True, progress=False)
    assert len(forced.written) == 2
    assert not list((tmp_path / "out").rglob("*.tmp"))


# --------------------------------------------------------------------------------------------
# Issue 9: one input contract (item 6) and the pixel budget (item 1)
# --------------------------------------------------------------------------------------------


def test_every_input_type_follows_the_reading_rules_of_files(trained_run, tmp_path):
    import cv2

    translator = Translator.from_pretrained(trained_run, device="cpu")
    rgba = np.dstack([pattern(5, 32), np.tile(np.array([0, 255, 128, 64], np.uint8), (32, 8))])
    rgba[..., :3][rgba[..., 3] == 0] = 0  # transparent pixels hold black, as many editors write them
    cv2.imwrite(str(tmp_path / "a.png"), rgba[..., [2, 1, 0, 3]])
    ref = translator(tmp_path / "a.png")  # alpha over white
    np.testing.assert_array_equal(translator(rgba), ref)
    pil = translator(Image.open(tmp_path / "a.png"))
    assert isinstance(pil, Image.Image)
    np.testing.assert_array_equal(np.asarray(pil), ref)  # was: alpha dropped (black)
    tensor = torch.from_numpy(rgba).permute(2, 0, 1).float() / 255
    np.testing.assert_array_equal((translator(tensor) * 255).round().byte().permute(1, 2, 0).numpy(), ref)

    image = pattern(6, 32)
    ref = translator(image)
    np.testing.assert_array_equal(translator(image.astype(np.uint16) * 257), ref)  # 16-bit scaled, not clipped
    with Image.fromarray(image[:, :, 0]) as gray:
        gray16 = Image.fromarray(image[:, :, 0].astype(np.uint16) * 257)
        np.testing.assert_array_equal(np.asarray(translator(gray16)), np.asarray(translator(gray)))
    half = np.full((16, 16), 0.5, np.float32)
    np.testing.assert_array_equal(
        np.asarray(translator(Image.fromarray(half, mode="F"))), translator(np.full((16, 16), 128, np.uint8))
    )


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
        (torch.full((3, 8, 8), float("inf")), "NaN or infinite"),
        (np.zeros((0, 8, 3), np.uint8), "empty image"),
        (torch.zeros(0, 3, 8, 8), "empty image"),
        (torch.zeros(3, 0, 8), "empty image"),
        (np.full((8, 8, 3), 255.0, np.float32), r"\[0, 1\]"),
        (torch.full((3, 8, 8), -1.0), r"\[0, 1\]"),
    ],
)
def test_nan_empty_and_out_of_range_inputs_are_clear_errors(trained_run, bad, match):
    translator = Translator.from_pretrained(trained_run, device="cpu")
    with pytest.raises(ValueError, match=match):
        translator(bad)


def test_translator_pixel_budget_for_paths_and_folders(trained_run, tmp_path):
    from img2img_runtime.io import ImageTooLargeError

    write_image(tmp_path / "in" / "big.png", pattern(7, 40))
    write_image(tmp_path / "in" / "small.png", pattern(8, 24))
    translator = Translator.from_pretrained(trained_run, device="cpu", max_pixels=1000)
    with pytest.raises(ImageTooLargeError, match="40 x 40 pixels"):
        translator(tmp_path / "in" / "big.png")
    report = translator.translate_folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert [p.name for p, _ in report.failed] == ["big.png"] and "max-pixels" in report.failed[0][1]
    assert [p.name for p in report.written] == ["small.png"]


def test_folder_progress_moves_per_tile(trained_run, tmp_path):
    write_image(tmp_path / "in" / "huge.png", pattern(9, 64))
    translator = Translator.from_pretrained(trained_run, device="cpu", tile=16, overlap=4, batch_size=2)
    seen = []
    report = translator.translate_folder(
        tmp_path / "in", tmp_path / "out", progress=lambda done, total: seen.append((done, total))
    )
    assert report.ok and len(report.written) == 1
    assert all(total == 1 for _, total in seen) and seen[-1][0] == 1
    inside = [done for done, _ in seen if 0 < done < 1]
    assert len(inside) >= 5 and inside == sorted(inside)  # 25 tiles in batches of 2: the bar moves during the image
