"""The runtime needs only what it declares: ``pip install ./export`` into an empty virtual environment
(numpy, onnxruntime and OpenCV come from pip's configured indexes), then every module of the package
imports there and an exported model runs, through the API and the ``img2img-onnx`` command, with
neither torch nor onnx installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import export_tiny_sr, pattern

from img2img_runtime import Model
from img2img_runtime.io import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
SCALE = 2

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="venv layout (bin/) of POSIX systems")

# Runs inside the new environment: imports every runtime module, runs the model, reports what it saw.
PROBE = r"""
import importlib, importlib.metadata, importlib.util, json, pkgutil, sys
import numpy as np
import img2img_runtime
from img2img_runtime import Model, read_image

model_path, image_path, out = sys.argv[1:4]
modules = [info.name for info in pkgutil.walk_packages(img2img_runtime.__path__, "img2img_runtime.")]
for name in modules:
    importlib.import_module(name)
np.save(out, Model(model_path)(read_image(image_path)))
print("RESULT " + json.dumps({
    "file": img2img_runtime.__file__,
    "modules": modules,
    "installed": {name: importlib.util.find_spec(name) is not None for name in ("torch", "onnx", "img2img")},
    "loaded": sorted({m.split(".")[0] for m in sys.modules} & {"torch", "onnx", "img2img"}),
    "distributions": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
}))
"""


@pytest.fixture(scope="module")
def sr_model(tmp_path_factory) -> Path:
    """A tiny x2 super-resolution generator, exported (conftest.export_tiny_sr)."""
    return export_tiny_sr(tmp_path_factory.mktemp("runtime_install"), SCALE)


def test_pip_install_export_into_an_empty_venv_runs_a_model(sr_model, tmp_path):
    source = tmp_path / "src"  # a copy, so the build leaves nothing in the working tree
    shutil.copytree(ROOT / "export", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=300)
    python, script = venv / "bin" / "python", venv / "bin" / "img2img-onnx"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--prefer-binary", str(source)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "a.png", pattern(0, 48)[:40, :30])
    image, saved = tmp_path / "in" / "a.png", tmp_path / "out.npy"
    done = subprocess.run(
        [str(python), "-c", PROBE, str(sr_model), str(image), str(saved)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0][len("RESULT ") :])
    # the installed copy, not this checkout
    assert Path(result["file"]).resolve().is_relative_to(venv.resolve()), result["file"]
    assert "img2img_runtime.cli" in result["modules"] and "img2img_runtime.model" in result["modules"]
    assert result["installed"] == {"torch": False, "onnx": False, "img2img": False}, result["installed"]
    assert result["loaded"] == []
    for name in ("numpy", "onnxruntime", "opencv-python-headless", "img2img-runtime"):
        assert name in result["distributions"], result["distributions"]
    # the same numbers as this environment's runtime (onnxruntime's version may differ: allow rounding)
    here = Model(sr_model)(read_image(image))
    there = np.load(saved)
    assert there.shape == here.shape == (40 * SCALE, 30 * SCALE, 3)
    assert np.abs(there.astype(int) - here.astype(int)).max() <= 1

    command = [
        str(script),
        "--model",
        str(sr_model),
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert read_image(tmp_path / "out" / "a.png").shape == (40 * SCALE, 30 * SCALE, 3)

    # the shipped models come with the package: every name runs in the torch-free install, offline
    names = subprocess.run(
        [
            str(python),
            "-c",
            "import json, numpy as np\n"
            "from img2img_runtime import Model, zoo\n"
            "out = {}\n"
            "for m in zoo.list_models():\n"
            "    model = Model(m.name)\n"
            "    channels = 1 if m.task in ('colorize', 'sketch') else 3\n"
            "    image = np.full((24, 32, channels), 128, np.uint8)\n"
            "    out[m.name] = [str(model.path), list(model(image).shape)]\n"
            "print('RESULT ' + json.dumps(out))",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert names.returncode == 0, names.stderr
    shipped = json.loads(next(line for line in names.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert {"restore", "sr-x4", "sr-x4-gan", "colorize", "sketch"} <= set(shipped)
    for name, (path, shape) in shipped.items():
        assert Path(path).resolve().is_relative_to(venv.resolve()), path  # the installed package's own file
        assert shape == ([96, 128, 3] if name.startswith("sr-x4") else [24, 32, 3]), (name, shape)
