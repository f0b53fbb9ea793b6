"""The torch-free runtime: no torch at all, the ``img2img-onnx`` command, ``img2img translate`` on .onnx files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import export_tiny_sr, pattern

import img2img_runtime
from img2img.cli import main as img2img_main
from img2img.infer import Translator
from img2img_runtime import Model
from img2img_runtime.cli import main as onnx_main
from img2img_runtime.io import read_image, write_image

SCALE = 2
# relative path -> (height, width) of the input; several formats and nesting levels
INPUTS = {"a.png": (40, 30), "sub/b.jpg": (24, 20), "sub/deeper/c.bmp": (17, 23)}
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff", ".bmp": b"BM"}


@pytest.fixture(scope="module")
def sr_model(tmp_path_factory) -> Path:
    """A tiny x2 super-resolution generator, exported (conftest.export_tiny_sr)."""
    return export_tiny_sr(tmp_path_factory.mktemp("runtime"), SCALE)


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runtime_inputs") / "in"
    for i, (rel, (h, w)) in enumerate(INPUTS.items()):
        write_image(root / rel, pattern(i, 48)[:h, :w])
    return root


def relative_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def assert_sr_outputs(out: Path) -> None:
    """Relative paths and formats kept; every output is the input size times the scale."""
    assert relative_files(out) == sorted(INPUTS)
    for rel, (h, w) in INPUTS.items():
        assert (out / rel).read_bytes().startswith(MAGIC[Path(rel).suffix])
        assert read_image(out / rel).shape == (h * SCALE, w * SCALE, 3)


# The blocker records every attempt to import torch and makes it fail, as on a machine without torch.
NO_TORCH = r"""
import json, sys
attempts = []

class BlockTorch:
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torch" or fullname.startswith("torch."):
            attempts.append(fullname)
            raise ImportError(f"torch is not installed here ({fullname})")
        return None

sys.meta_path.insert(0, BlockTorch())
sys.modules.pop("torch", None)
try:
    import torch  # noqa: F401
    blocker_works = False
except ImportError:
    blocker_works = True
attempts.clear()

model_path, src, out = sys.argv[1:4]
import numpy as np
import img2img_runtime
from img2img_runtime import Model, read_image, translate_folder
from img2img_runtime.cli import main

model = Model(model_path)
image = read_image(src + "/a.png")
single = model(image)
np.save(out + "/single.npy", single)
report = translate_folder(model.translate_arrays, src, out + "/api", progress=False)
code = main(["--model", model_path, "--input", src, "--output", out + "/cli", "--no-progress"])
print("RESULT " + json.dumps({
    "blocker_works": blocker_works,
    "attempts": attempts,
    "torch_modules": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")),
    "img2img_modules": sorted(m for m in sys.modules if m == "img2img" or m.startswith("img2img.")),
    "runtime_file": img2img_runtime.__file__,
    "written": len(report.written), "ok": report.ok, "cli_code": code, "shape": list(single.shape),
}))
"""


def test_runtime_runs_without_torch(sr_model, input_dir, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(sr_model), str(input_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0][len("RESULT ") :])
    assert result["blocker_works"], "the torch blocker did not block"
    assert result["attempts"] == [], f"the runtime tried to import torch: {result['attempts']}"
    assert result["torch_modules"] == [] and result["img2img_modules"] == []
    assert result["runtime_file"] == img2img_runtime.__file__  # the package under test, not another copy
    assert result["ok"] and result["written"] == len(INPUTS) and result["cli_code"] == 0
    assert result["shape"] == [40 * SCALE, 30 * SCALE, 3]
    # the torch-free run gives what the same runtime gives here (where torch is loaded)
    model = Model(sr_model)
    assert np.array_equal(np.load(tmp_path / "single.npy"), model(read_image(input_dir / "a.png")))
    for folder in ("api", "cli"):
        assert_sr_outputs(tmp_path / folder)
    for rel in INPUTS:
        assert (tmp_path / "api" / rel).read_bytes() == (tmp_path / "cli" / rel).read_bytes()
    assert np.array_equal(read_image(tmp_path / "cli" / "a.png"), model(read_image(input_dir / "a.png")))


def test_console_script_and_module_translate_a_folder(sr_model, input_dir, tmp_path):
    script = Path(sys.executable).parent / "img2img-onnx"
    assert script.is_file(), "the img2img-onnx console script is not installed"
    args = ["--model", str(sr_model), "--input", str(input_dir), "--no-progress"]
    for name, command in (("script", [str(script)]), ("module", [sys.executable, "-m", "img2img_runtime.cli"])):
        done = subprocess.run(
            [*command, *args, "--output", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert f"{len(INPUTS)} written" in done.stdout
        assert_sr_outputs(tmp_path / name)
    for rel in INPUTS:
        assert (tmp_path / "script" / rel).read_bytes() == (tmp_path / "module" / rel).read_bytes()
    # PNG and BMP are lossless: the files hold exactly the model's output
    model = Model(sr_model)
    for rel in ("a.png", "sub/deeper/c.bmp"):
        assert np.array_equal(read_image(tmp_path / "script" / rel), model(read_image(input_dir / rel)))
    # a single image as --input
    done = subprocess.run(
        [
            str(script),
            "--model",
            str(sr_model),
            "--input",
            str(input_dir / "sub" / "b.jpg"),
            "--output",
            str(tmp_path / "one"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert relative_files(tmp_path / "one") == ["b.jpg"] and read_image(tmp_path / "one" / "b.jpg").shape == (48, 40, 3)


def test_img2img_translate_uses_the_runtime_for_onnx_files(sr_model, input_dir, tmp_path, monkeypatch, capsys):
    assert (
        onnx_main(
            ["--model", str(sr_model), "--input", str(input_dir), "--output", str(tmp_path / "onnx"), "--no-progress"]
        )
        == 0
    )

    created = []

    class SpyModel(Model):
        def __init__(self, *args, **kwargs):
            created.append((args, kwargs))
            super().__init__(*args, **kwargs)

    def no_torch_path(*args, **kwargs):
        raise AssertionError("img2img translate loaded the torch Translator for an .onnx file")

    monkeypatch.setattr(img2img_runtime, "Model", SpyModel)
    monkeypatch.setattr(Translator, "from_pretrained", no_torch_path)
    code = img2img_main(
        [
            "translate",
            "--model",
            str(sr_model),
            "--input",
            str(input_dir),
            "--output",
            str(tmp_path / "cli"),
            "--no-progress",
        ]
    )
    assert code == 0
    assert len(created) == 1 and str(created[0][0][0]) == str(sr_model)
    assert relative_files(tmp_path / "cli") == relative_files(tmp_path / "onnx") == sorted(INPUTS)
    for rel in INPUTS:
        assert (tmp_path / "cli" / rel).read_bytes() == (tmp_path / "onnx" / rel).read_bytes()
    assert_sr_outputs(tmp_path / "cli")
    capsys.readouterr()
    # an .onnx file holds one direction
    assert (
        img2img_main(
            [
                "translate",
                "--model",
                str(sr_model),
                "--input",
                str(input_dir),
                "--output",
                str(tmp_path / "x"),
                "--direction",
                "BtoA",
            ]
        )
        == 2
    )
    assert "one direction" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------------------------
# Issue 9: one input contract (item 6), the pixel budget and per-tile progress (item 1)
# --------------------------------------------------------------------------------------------


def test_model_inputs_follow_the_reading_rules_of_files(sr_model, tmp_path):
    import cv2
    from PIL import Image

    model = Model(sr_model)
    rgba = np.dstack([pattern(5, 24), np.tile(np.array([0, 255, 128, 64], np.uint8), (24, 6))])
    cv2.imwrite(str(tmp_path / "a.png"), rgba[..., [2, 1, 0, 3]])
    ref = model(tmp_path / "a.png")
    np.testing.assert_array_equal(model(rgba), ref)  # alpha over white (was: TypeError or no compositing)
    out = model(Image.open(tmp_path / "a.png"))
    assert isinstance(out, Image.Image) and np.array_equal(np.asarray(out), ref)  # PIL in, PIL out
    image = pattern(6, 24)
    ref = model(image)
    np.testing.assert_array_equal(model(image.astype(np.float32) / 255), ref)  # floats in [0, 1]
    np.testing.assert_array_equal(model(image.astype(np.uint16) * 257), ref)  # 16-bit scaled
    outs = model([image, tmp_path / "a.png"])
    assert isinstance(outs, list) and np.array_equal(outs[0], ref)
    for bad, match in [
        (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
        (np.zeros((8, 0, 3), np.uint8), "empty image"),
        (image * 1.0, r"\[0, 1\]"),
    ]:
        with pytest.raises(ValueError, match=match):
            model(bad)
    with pytest.raises(TypeError, match="Translator"):
        model(torch.zeros(3, 8, 8))


def test_max_pixels_in_the_runtime_cli_and_img2img_translate(sr_model, input_dir, tmp_path, capsys, monkeypatch):
    # the inputs: a.png 40 x 30 = 1200 pixels, b.jpg 480, c.bmp 391
    code = onnx_main(
        [
            "--model",
            str(sr_model),
            "--input",
            str(input_dir),
            "--output",
            str(tmp_path / "onnx"),
            "--no-progress",
            "--max-pixels",
            "1000",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1 and "2 written" in out and "1 failed" in out
    assert "a.png" in out and "30 x 40 pixels" in out and "--max-pixels" in out
    assert relative_files(tmp_path / "onnx") == ["sub/b.jpg", "sub/deeper/c.bmp"]
    code = img2img_main(
        [
            "translate",
            "--model",
            str(sr_model),
            "--input",
            str(input_dir),
            "--output",
            str(tmp_path / "cli"),
            "--no-progress",
            "--max-pixels",
            "450",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1 and "1 written" in out and "2 failed" in out
    monkeypatch.setenv("IMG2IMG_MAX_PIXELS", "300")  # the environment sets the default; the flag wins
    assert (
        onnx_main(
            ["--model", str(sr_model), "--input", str(input_dir), "--output", str(tmp_path / "env"), "--no-progress"]
        )
        == 1
    )
    assert "3 failed" in capsys.readouterr().out
    assert (
        onnx_main(
            [
                "--model",
                str(sr_model),
                "--input",
                str(input_dir),
                "--output",
                str(tmp_path / "env"),
                "--no-progress",
                "--max-pixels",
                "0",
            ]
        )
        == 0
    )
    with pytest.raises(SystemExit):
        onnx_main(
            ["--model", str(sr_model), "--input", str(input_dir), "--output", str(tmp_path / "x"), "--max-pixels", "-5"]
        )
    assert "--max-pixels" in capsys.readouterr().err


def test_runtime_folder_progress_moves_per_tile(sr_model, tmp_path):
    write_image(tmp_path / "in" / "a_small.png", pattern(1, 24)[:8, :8])
    write_image(tmp_path / "in" / "b_huge.png", pattern(2, 48))
    model = Model(sr_model, tile=16, overlap=4, batch_size=1)
    seen = []
    report = model.translate_folder(tmp_path / "in", tmp_path / "out", progress=lambda done, total: seen.append(done))
    assert report.ok and len(report.written) == 2
    assert seen == sorted(seen) and seen[-1] == 2
    assert len([d for d in seen if 1 < d < 2]) >= 8  # the huge image (second) moves the bar per tile: 16 tiles
    expected = Model(sr_model, tile=16, overlap=4)(pattern(2, 48))
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "b_huge.png"), expected)


def test_a_file_onnxruntime_cannot_load_is_a_clear_error(sr_model, input_dir, tmp_path, capsys):
    """A truncated download or another kind of file: a ValueError naming the file (CLI: exit 2,
    one line), not onnxruntime's traceback and exit 1 (which means "some inputs failed")."""
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(sr_model.read_bytes()[:3000])
    text = tmp_path / "notes.onnx"
    text.write_text("not a model")
    for bad in (truncated, text):
        with pytest.raises(ValueError, match=f"{bad.name}: not an ONNX model onnxruntime can load"):
            Model(bad)
        code = onnx_main(["--model", str(bad), "--input", str(input_dir), "--output", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2 and "not an ONNX model" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_one_provider_name_is_one_provider(sr_model):
    """``providers="CPUExecutionProvider"`` is that provider, not a list of its letters (onnxruntime
    warned about each and fell back to the CPU: a CUDA request was lost silently)."""
    model = Model(sr_model, providers="CPUExecutionProvider")
    assert model.session.get_providers() == ["CPUExecutionProvider"]
    with pytest.warns(UserWarning, match="'NoSuchExecutionProvider' is not in available"):  # named whole
        Model(sr_model, providers="NoSuchExecutionProvider")


def test_tile_metadata_without_overlap_gets_the_default_overlap(sr_model, tmp_path):
    """``tile.overlap`` is optional for the metadata validator, so the loader defaults it too."""
    import onnx

    from img2img_runtime.metadata import validate_metadata

    graph = onnx.load(str(sr_model))
    entry = next(e for e in graph.metadata_props if e.key == "img2img.config")
    config = json.loads(entry.value)
    tile = config["tile"]
    del tile["overlap"]
    validate_metadata(config)  # valid without it
    entry.value = json.dumps(config)
    kept = [e for e in graph.metadata_props if e.key != "img2img.tile_overlap"]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    onnx.save(graph, str(tmp_path / "no_overlap.onnx"))
    model = Model(tmp_path / "no_overlap.onnx")
    assert model.tile == tile["size"] and model.overlap == max(16, tile["size"] // 8)
