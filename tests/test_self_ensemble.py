"""Self-ensembling (``self_ensemble=2, 4, 8``): flipped and transposed views, run and averaged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import export_tiny_sr

from img2img.evaluate import evaluate_model
from img2img.infer import Translator
from img2img_runtime import Model
from img2img_runtime.io import write_image
from img2img_runtime.processing import ModelSpec, check_self_ensemble, run_images, self_ensembled


def add_column_index(batch: np.ndarray) -> np.ndarray:
    """Not flip-invariant: adds each pixel's column index (0 .. W-1)."""
    return batch + np.arange(batch.shape[3], dtype=np.float32)


def nearest_x2(batch: np.ndarray) -> np.ndarray:
    """Equivariant under flips and transposes: nearest-neighbour upsampling."""
    return np.repeat(np.repeat(batch, 2, axis=2), 2, axis=3)


def test_views_average_known_functions_exactly():
    batch = np.random.default_rng(0).random((2, 3, 5, 7), dtype=np.float32)
    height, width = batch.shape[2:]
    assert self_ensembled(add_column_index, 1) is add_column_index
    # a mirror image adds W-1-j where the plain run adds j: the average adds (W-1)/2 everywhere
    for views in (2, 4):
        np.testing.assert_allclose(self_ensembled(add_column_index, views)(batch), batch + (width - 1) / 2, atol=1e-5)
    # the transposed views add the row index instead: half of the views each way
    np.testing.assert_allclose(
        self_ensembled(add_column_index, 8)(batch), batch + ((width - 1) / 2 + (height - 1) / 2) / 2, atol=1e-5
    )
    # an equivariant net (x2, non-square) is unchanged by any number of views
    for views in (2, 4, 8):
        np.testing.assert_allclose(self_ensembled(nearest_x2, views)(batch), nearest_x2(batch), atol=1e-6)


def test_each_view_is_seen_once_and_turned_back():
    seen = []

    def record(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.copy())
        return batch

    batch = np.arange(2 * 1 * 3 * 4, dtype=np.float32).reshape(2, 1, 3, 4)
    out = self_ensembled(record, 8)(batch)
    np.testing.assert_array_equal(out, batch)  # every view turned back onto the input
    assert [v.shape[2:] for v in seen] == [(3, 4)] * 4 + [(4, 3)] * 4
    np.testing.assert_array_equal(seen[1], batch[:, :, :, ::-1])
    np.testing.assert_array_equal(seen[2], batch[:, :, ::-1, :])
    np.testing.assert_array_equal(seen[4], batch.swapaxes(2, 3))
    assert len({v.tobytes() for v in seen}) == 8  # eight different views


@pytest.mark.parametrize("bad", [0, 3, 16, True, 2.5, "8"])
def test_bad_view_counts_are_refused(bad):
    with pytest.raises(ValueError, match="self_ensemble takes 1"):
        check_self_ensemble(bad)


def test_run_images_self_ensembles_whole_images_and_tiles():
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)]
    spec = ModelSpec(scale=2, size_multiple=4)
    for tile in (None, 16):
        plain = run_images(nearest_x2, images, spec, tile=tile, overlap=4)
        for views in (2, 8):
            outs = run_images(nearest_x2, images, spec, tile=tile, overlap=4, self_ensemble=views)
            for a, b in zip(outs, plain):
                np.testing.assert_array_equal(a, b)
    shifted = run_images(add_column_index, [images[0]], ModelSpec(), self_ensemble=2)[0]
    assert shifted.shape == images[0].shape


@pytest.fixture(scope="module")
def sr(tmp_path_factory) -> Path:
    """A random compact_sr_x2 (``root/model`` and ``root/sr.onnx``): not flip-equivariant, so views change its output."""
    return export_tiny_sr(tmp_path_factory.mktemp("self_ensemble")).parent


def test_translator_and_onnx_model_average_the_mirrored_run(sr):
    image = np.random.default_rng(2).integers(0, 256, (24, 30, 3), dtype=np.uint8)
    plain = Translator.from_pretrained(sr / "model", device="cpu", tile=None)
    mirrored = plain(np.ascontiguousarray(image[:, ::-1]))[:, ::-1]
    expected = (plain(image).astype(float) + mirrored) / 2
    two = Translator.from_pretrained(sr / "model", device="cpu", tile=None, self_ensemble=2)(image)
    assert np.abs(two - expected).max() <= 1.0  # both rounded once more
    assert np.abs(two.astype(int) - plain(image)).max() > 2  # the views do change this net's output
    eight = Translator.from_pretrained(sr / "model", device="cpu", tile=None, self_ensemble=8)(image)
    onnx_eight = Model(sr / "sr.onnx", tile=None, self_ensemble=8)(image)
    assert eight.shape == onnx_eight.shape == (48, 60, 3)
    assert np.abs(eight.astype(int) - onnx_eight).max() <= 1
    with pytest.raises(ValueError, match="self_ensemble"):
        Model(sr / "sr.onnx", self_ensemble=3)
    with pytest.raises(ValueError, match="self_ensemble"):
        Translator.from_pretrained(sr / "model", device="cpu", self_ensemble=5)


def test_eval_and_both_command_lines_take_self_ensemble(sr, tmp_path):
    photos = tmp_path / "photos"
    rng = np.random.default_rng(3)
    for i in range(2):
        write_image(photos / f"p{i}.png", rng.integers(0, 256, (32, 40, 3), dtype=np.uint8))
    translator = Translator.from_pretrained(sr / "model", device="cpu", self_ensemble=4)
    by_path = evaluate_model(sr / "model", photos, task="sr", scale=2, device="cpu", self_ensemble=4)
    by_call = evaluate_model(translator, photos, task="sr", scale=2)
    plain = evaluate_model(sr / "model", photos, task="sr", scale=2, device="cpu")
    assert by_path.rows["model"]["psnr"] == pytest.approx(by_call.rows["model"]["psnr"], abs=1e-9)
    assert by_path.rows["model"]["psnr"] != pytest.approx(plain.rows["model"]["psnr"], abs=1e-6)
    assert by_path.settings["self_ensemble"] == 4 and plain.settings["self_ensemble"] == 1
    assert "4 views averaged" in by_path.table() and "views" not in plain.table()
    with pytest.raises(ValueError, match="self_ensemble applies to model paths"):
        evaluate_model(translator, photos, task="sr", scale=2, self_ensemble=2)

    report = tmp_path / "eval.json"
    cmd = [sys.executable, "-m", "img2img", "eval", "--model", str(sr / "sr.onnx"), "--data", str(photos)]
    cmd += ["--task", "sr", "--scale", "2", "--self-ensemble", "4", "--json", str(report)]
    subprocess.run(cmd, check=True, capture_output=True)
    assert json.loads(report.read_text())["rows"]["model"]["psnr"] == pytest.approx(
        by_path.rows["model"]["psnr"], abs=0.02
    )
    for prog in (
        ["-m", "img2img", "translate", "--model", str(sr / "model")],
        ["-m", "img2img_runtime.cli", "--model", str(sr / "sr.onnx")],
    ):
        out = tmp_path / f"out_{prog[1]}"
        run = subprocess.run(
            [
                sys.executable,
                *prog,
                "--input",
                str(photos),
                "--output",
                str(out),
                "--self-ensemble",
                "4",
                "--no-progress",
            ],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        from img2img_runtime.io import read_image

        got = read_image(out / "p0.png")
        assert np.abs(got.astype(int) - translator(photos / "p0.png")).max() <= 1
    refused = subprocess.run(
        [sys.executable, "-m", "img2img_runtime.cli", "--model", str(sr / "sr.onnx"), "--input", str(photos)]
        + ["--output", str(tmp_path / "x"), "--self-ensemble", "3"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "--self-ensemble" in refused.stderr
