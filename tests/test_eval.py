"""``img2img eval``: the evaluation metrics, the baselines, skipping, paired folders and the CLI.

Everything runs on a few synthetic 64-96 px photos and, for the CLI, on a tiny untrained model
folder (and its ONNX export): no training, a few seconds in all.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from img2img.cli import main as cli_main
from img2img.evaluate import BICUBIC_ROW, FLAT_ROW, INPUT_ROW, MODEL_ROW, TARGET_ROW, evaluate_model
from img2img.metrics import colorfulness, laplacian_variance, psnr, psnr_y, rgb_to_y, sharpness_ratio, ssim_y
from img2img_runtime.io import write_image

SCORES = ("psnr", "psnr_y", "ssim_y", "colorfulness", "sharpness")  # every column but the timing


def textured(seed: int, height: int, width: int) -> np.ndarray:
    """A colourful photo-like image: smooth gradients, a few blocks and fine noise (texture)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack(
        [np.sin(7 * xx + rng.uniform(0, 6)), np.cos(5 * yy + rng.uniform(0, 6)), np.sin(4 * (xx - yy))], -1
    )
    image = (image * 0.5 + 0.5) * 180 + 30
    for _ in range(3):
        y, x = rng.integers(4, min(height, width) - 12, 2)
        image[y : y + 10, x : x + 10] = rng.uniform(0, 255, 3)
    image += rng.normal(0, 8, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for i, (h, w) in enumerate([(64, 80), (72, 64), (96, 88)]):
        write_image(root / ("sub" if i == 2 else "") / f"p{i}.png", textured(i, h, w))
    return root


def scores(row: dict[str, float]) -> dict[str, float]:
    return {key: row[key] for key in SCORES}


# ------------------------------------------------------------------------------------------ metrics


def test_psnr_from_known_mse():
    a = textured(0, 32, 32).clip(0, 250)
    b = a + 5  # every value 5 levels off: MSE 25
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1)[None].float() for x in (a, b))
    assert psnr(ta, tb, data_range=255.0).item() == pytest.approx(20 * math.log10(255 / 5), rel=1e-5)
    # on Y a uniform RGB offset of 5 is an offset of 5 * 219 / 255
    assert psnr_y(a, b) == pytest.approx(20 * math.log10(255 / (5 * 219 / 255)), rel=1e-5)
    assert psnr_y(a, a) == math.inf and ssim_y(a, a) == pytest.approx(1.0)
    assert ssim_y(a, b, border=4) < 1.0


def test_rgb_to_y_exact_values():
    colours = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    expected = [16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966]
    np.testing.assert_allclose(rgb_to_y(colours)[0], expected, atol=1e-9)
    tensor = torch.from_numpy(colours[0].T.astype(np.float32) / 255.0)[:, :, None]  # 3 x 5 x 1, in [0, 1]
    np.testing.assert_allclose(rgb_to_y(tensor, data_range=1.0)[:, 0].numpy(), expected, atol=1e-4)


def test_colorfulness_formula():
    gray = np.repeat(textured(1, 32, 32)[:, :, :1], 3, axis=2)
    assert colorfulness(gray) == 0.0
    two = np.zeros((8, 8, 3), np.uint8)
    two[:, :4] = (255, 0, 0)  # half red: rg = 255, yb = 127.5
    two[:, 4:] = (0, 0, 255)  # half blue: rg = 0, yb = -255
    std_rg, mean_rg = 127.5, 127.5
    std_yb, mean_yb = (127.5 + 255) / 2, (127.5 - 255) / 2
    expected = math.hypot(std_rg, std_yb) + 0.3 * math.hypot(mean_rg, mean_yb)
    assert colorfulness(two) == pytest.approx(expected, rel=1e-12)


def test_sharpness_ratio():
    image = textured(2, 48, 48)
    assert sharpness_ratio(image, image) == 1.0
    blurred = cv2.GaussianBlur(image, (5, 5), 1.5)
    assert 0 < sharpness_ratio(blurred, image) < 0.5
    assert laplacian_variance(np.full((16, 16, 3), 90, np.uint8)) == 0.0


# ------------------------------------------------------------------------------------------ tasks


def test_a_one_colour_photo_leaves_the_sharpness_mean_finite(photos):
    """Its target has no texture: its ratio (inf) made the whole sharpness column inf."""
    write_image(photos / "flat.png", np.full((64, 64, 3), (90, 140, 200), np.uint8))

    def noisy(a):  # texture everywhere, so the flat target's ratio is infinite
        return np.clip(a.astype(int) + np.random.default_rng(0).integers(-20, 21, a.shape), 0, 255).astype(np.uint8)

    report = evaluate_model(noisy, photos, task="restore", preset="light")
    assert report.images == 4
    flat = next(item for item in report.per_image if item["path"].endswith("flat.png"))
    assert math.isinf(flat["rows"][MODEL_ROW]["sharpness"])
    others = [item["rows"][MODEL_ROW]["sharpness"] for item in report.per_image if item is not flat]
    assert report.rows[MODEL_ROW]["sharpness"] == pytest.approx(np.mean(others))


def test_restore_identity_equals_input_baseline(photos):
    report = evaluate_model(lambda a: a, photos, task="restore", preset="light")
    assert report.images == 3 and not report.skipped
    assert set(report.rows) == {MODEL_ROW, INPUT_ROW, TARGET_ROW}
    assert scores(report.rows[MODEL_ROW]) == scores(report.rows[INPUT_ROW])
    assert all(math.isfinite(v) for v in report.rows[MODEL_ROW].values())
    assert report.rows[MODEL_ROW]["psnr"] < 60  # the damage is real
    again = evaluate_model(lambda a: a, photos, task="restore", preset="light")  # seeded: the same inputs
    assert scores(again.rows[MODEL_ROW]) == scores(report.rows[MODEL_ROW])
    other = evaluate_model(lambda a: a, photos, task="restore", preset="light", seed=1)
    assert scores(other.rows[MODEL_ROW]) != scores(report.rows[MODEL_ROW])
    text = report.table()
    assert MODEL_ROW in text and INPUT_ROW in text and "3 image(s) evaluated, 0 skipped" in text


def test_colorize_gray_identity_and_skips(photos):
    write_image(photos / "gray.png", np.repeat(textured(5, 64, 64)[:, :, 1:2], 3, axis=2))
    (photos / "broken.png").write_bytes(b"not a png")
    (photos / "gone.png").symlink_to(photos / "nowhere.png")  # was only a raw warning
    seen = []

    def gray_to_rgb(a):
        seen.append(a.shape)
        return np.repeat(a, 3, axis=2)

    report = evaluate_model(gray_to_rgb, photos, task="colorize")
    assert report.images == 3 and all(shape[2] == 1 for shape in seen)
    assert scores(report.rows[MODEL_ROW]) == scores(report.rows[INPUT_ROW])
    assert report.rows[MODEL_ROW]["colorfulness"] == 0.0 < report.rows[TARGET_ROW]["colorfulness"]
    reasons = dict(report.skipped)
    assert set(reasons) == {str(photos / "gray.png"), str(photos / "broken.png"), str(photos / "gone.png")}
    assert "colour" in reasons[str(photos / "gray.png")] and "decode" in reasons[str(photos / "broken.png")]
    assert "broken symlink" in reasons[str(photos / "gone.png")]
    assert "broken.png" in report.table() and "3 skipped" in report.table()


def test_sr_bicubic_model_equals_bicubic_baseline(photos):
    def bicubic(a):
        return cv2.resize(a, (a.shape[1] * 2, a.shape[0] * 2), interpolation=cv2.INTER_CUBIC)

    report = evaluate_model(bicubic, photos, task="sr", scale=2, max_images=2)
    assert report.images == 2 and set(report.rows) == {MODEL_ROW, BICUBIC_ROW, TARGET_ROW}
    assert scores(report.rows[MODEL_ROW]) == scores(report.rows[BICUBIC_ROW])
    assert report.rows[MODEL_ROW]["sharpness"] < 0.5
    # a model of the wrong scale is an error that says so
    with pytest.raises(ValueError, match="wrong --scale"):
        evaluate_model(bicubic, photos, task="sr", scale=4)


def test_sketch_rows(photos):
    report = evaluate_model(lambda a: a, photos, task="sketch", max_images=1)  # 1-channel in and out
    assert set(report.rows) == {MODEL_ROW, INPUT_ROW, FLAT_ROW, TARGET_ROW}
    assert scores(report.rows[MODEL_ROW]) == scores(report.rows[INPUT_ROW])
    assert report.rows[FLAT_ROW]["sharpness"] == 0.0


# ------------------------------------------------------------------------------------------ paired folders


def test_paired_folder_identity(tmp_path):
    root = tmp_path / "pairs"
    for split, names in (("train", ["t0", "t1", "t2"]), ("val", ["v0", "v1"])):
        for i, name in enumerate(names):
            b = textured(10 + i, 64, 64)
            write_image(root / split / "B" / f"{name}.png", b)
            write_image(root / split / "A" / f"{name}.jpg", (b * 0.7).astype(np.uint8))
    write_image(root / "val" / "A" / "lonely.png", textured(3, 64, 64))
    report = evaluate_model(lambda a: a, root)
    assert report.images == 2  # val/ is preferred
    assert scores(report.rows[MODEL_ROW]) == scores(report.rows[INPUT_ROW])
    assert [path for path, _ in report.skipped] == [str(root / "val" / "A" / "lonely.png")]
    off = evaluate_model(lambda a: np.clip(a.astype(int) + 5, 0, 255).astype(np.uint8), root)
    assert off.rows[MODEL_ROW]["psnr"] != report.rows[MODEL_ROW]["psnr"]
    with pytest.raises(ValueError, match="not a paired folder"):
        evaluate_model(lambda a: a, root / "val" / "A")


# ------------------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained tiny ResNet generator: ROOT/model, a model folder."""
    from conftest import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("eval_model") / "model")


@pytest.fixture(scope="module")
def tiny_onnx(tiny_model) -> Path:
    """``tiny_model`` exported to ONNX (the export is the slow part of these tests: ~4 s)."""
    from img2img.export import export_onnx

    export_onnx(tiny_model, tiny_model.parent / "model.onnx", check=False)
    return tiny_model.parent / "model.onnx"


@pytest.mark.parametrize("kind", ["folder", "onnx"])
def test_cli_eval_writes_json(request, photos, tmp_path, capsys, kind):
    model = request.getfixturevalue("tiny_model" if kind == "folder" else "tiny_onnx")
    out = tmp_path / "eval.json"
    code = cli_main(
        [
            "eval",
            "--model",
            str(model),
            "--data",
            str(photos),
            "--task",
            "restore",
            "--device",
            "cpu",
            "--max-images",
            "2",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert MODEL_ROW in printed and INPUT_ROW in printed
    result = json.loads(out.read_text())
    assert result["images"] == 2 and result["settings"]["task"] == "restore"
    for row in (MODEL_ROW, INPUT_ROW):
        assert set(result["rows"][row]) == set(SCORES) | {"sec_per_mp"}
        assert all(isinstance(v, float) and math.isfinite(v) for v in result["rows"][row].values())


def test_cli_eval_bad_arguments(tiny_model, photos, capsys):
    assert (
        cli_main(["eval", "--model", str(tiny_model), "--data", str(photos), "--task", "sr", "--preset", "heavy"]) == 2
    )
    assert cli_main(["eval", "--model", str(tiny_model), "--data", str(photos)]) == 2
    assert "not a paired folder" in capsys.readouterr().err


def test_paired_folder_follows_the_direction_the_model_maps(tmp_path, paired_dir):
    """A pix2pix run trained with --direction BtoA maps B images to A: eval feeds it B and scores
    against A (it fed A and scored against B, silently), from the run, its model folder and its
    ONNX export alike; the report records the direction."""
    from conftest import TINY_UNET

    from img2img.export import export_onnx
    from img2img.infer import Translator
    from img2img.training import train
    from img2img_runtime.io import read_image

    kw = dict(size=64, load_size=64, batch_size=2, steps=3, num_workers=0, progress=False, hflip=False, **TINY_UNET)
    run = tmp_path / "btoa"
    train("pix2pix", data=str(paired_dir), out=str(run), direction="BtoA", **kw)
    translator = Translator.from_pretrained(run / "model")
    assert translator.config["training"]["direction"] == "BtoA"
    expected = np.mean(
        [
            psnr(
                torch.from_numpy(translator(read_image(paired_dir / "val" / "B" / f"{name}.png"))).double(),
                torch.from_numpy(read_image(paired_dir / "val" / "A" / f"{name}.png")).double(),
                data_range=255.0,
            ).item()
            for name in ("v1", "v2")
        ]
    )
    export_onnx(run / "model", tmp_path / "btoa.onnx")
    for model in (run / "model", run, run / "checkpoints" / "last.pt", tmp_path / "btoa.onnx"):
        report = evaluate_model(model, paired_dir)
        assert report.settings["direction"] == "BtoA", model
        assert report.rows[MODEL_ROW]["psnr"] == pytest.approx(expected, abs=0.05), model
    forward = tmp_path / "atob"
    train("pix2pix", data=str(paired_dir), out=str(forward), **kw)
    assert evaluate_model(forward / "model", paired_dir).settings["direction"] == "AtoB"
