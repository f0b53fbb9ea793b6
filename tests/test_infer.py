"""Translator: any size, any input type, model/run/checkpoint loading, folder jobs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_UNET, pattern
from img2img.checkpoint import save_pretrained
from img2img.infer import Translator
from img2img.nets import create_model, list_models
from img2img.train import train
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
    train("pix2pix", data=str(data), out=str(root / "run"), steps=2, size=32, num_workers=0, progress=False, **TINY_UNET)
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
