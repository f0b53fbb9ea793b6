"""A CLI that answers at once: --help and argument errors load no torch, kornia or OpenCV, `import img2img`
is cheap (its public names load on first use), and no function hides a module of the same name.

Each check runs in a fresh interpreter (this one has torch loaded by the other tests).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import types

import pytest

import img2img

HEAVY = ("torch", "kornia", "cv2", "onnx", "onnxruntime", "albumentations", "torchvision")

# Runs argv through img2img.cli.main (or only builds the parser), then prints the exit status and the
# heavy modules that got loaded.
PROBE = r"""
import json, sys
HEAVY = %r
argv = json.loads(sys.argv[1])
code = None
import img2img.cli
if argv is None:
    img2img.cli.build_parser()
else:
    try:
        code = img2img.cli.main(argv)
    except SystemExit as exit:
        code = exit.code
print("RESULT " + json.dumps({"code": code, "heavy": sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)}))
"""


def probe(argv: list[str] | None) -> tuple[int | None, list[str], str]:
    """(exit status, heavy modules loaded, stderr) of ``img2img <argv>`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), json.dumps(argv)], capture_output=True, text=True, timeout=120
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and len(lines) == 1, (done.stdout, done.stderr)
    result = json.loads(lines[0][len("RESULT ") :])
    return result["code"], result["heavy"], done.stderr


def test_building_the_parser_imports_nothing_heavy():
    code, heavy, stderr = probe(None)
    assert heavy == [], f"building the CLI's parser imported {heavy}"


@pytest.mark.parametrize(
    "argv, code, says",
    [
        (["--help"], 0, None),
        (["train", "pix2pix", "--help"], 0, None),
        (["export", "--help"], 0, None),
        (["train", "pix2pix", "--data", "d", "--out", "r", "--bsae-channels", "8"], 2, "--base-channels"),  # a typo
        (["train", "pix2pix", "--out", "r"], 2, "--data is required"),  # checked before the training code loads
        (["train", "--data", "d", "--out", "r"], 2, "model family"),
        (["translate", "--model", "m.onnx"], 2, "required"),
        (["eval", "--model", "m", "--data", "d", "--preset", "heavy"], 2, "--preset is for --task restore"),
        (["export", "m", "m.onnx", "--calibration", "c"], 2, "--calibration is for --int8"),
        (["trian"], 2, "train"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_help_and_argument_errors_load_no_torch(argv, code, says):
    status, heavy, stderr = probe(argv)
    assert status == code, stderr
    assert heavy == [], f"img2img {' '.join(argv)} imported {heavy}"
    if says:
        assert says in stderr


def test_help_through_the_module_entry_point_imports_no_torch():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "img2img", "train", "pix2pix", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--base-channels" in done.stdout
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_import_img2img_is_light_and_its_names_load_on_use():
    script = (
        "import sys, img2img; heavy = sorted(m for m in sys.modules if m.split('.')[0] in %r); "
        "assert not heavy, heavy; print(img2img.__version__); img2img.TrainConfig; "
        "assert 'torch' not in sys.modules; img2img.train; assert 'torch' in sys.modules; "
        "assert img2img.sampling.sample_grid and img2img.nets.create_model and 'nope' not in dir(img2img)" % (HEAVY,)
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_public_names():
    training = importlib.import_module("img2img.training")
    from img2img import EvalReport, TrainConfig, TrainResult, Translator, evaluate_model, train

    assert train is img2img.train is training.train and callable(train)
    assert TrainResult is training.TrainResult and TrainConfig.__module__ == "img2img.config"
    assert Translator.__module__ == "img2img.infer"
    assert EvalReport.__module__ == evaluate_model.__module__ == "img2img.evaluate"
    assert set(img2img.__all__) <= set(dir(img2img))
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        img2img.trian  # noqa: B018


def test_no_name_hides_a_module():
    """After every module is loaded, each package's attribute of a submodule's name is that submodule."""
    seen = []
    for info in pkgutil.walk_packages(img2img.__path__, "img2img."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        module = importlib.import_module(info.name)
        parent, name = info.name.rsplit(".", 1)
        seen.append(info.name)
        value = getattr(sys.modules[parent], name)
        assert isinstance(value, types.ModuleType) and value is module, (
            f"{parent}.{name} is {value!r}, which hides the module {info.name}"
        )
    assert "img2img.training" in seen and "img2img.train" not in seen
    assert isinstance(img2img.train, types.FunctionType)


def test_runtime_help_loads_no_opencv_or_onnxruntime():
    """img2img_runtime's names load on first use too: `img2img-onnx --help` answers before OpenCV and onnxruntime."""
    script = (
        "import sys\nfrom img2img_runtime.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as exit:\n"
        "    assert exit.code == 0\nheavy = sorted(m for m in sys.modules if m.split('.')[0] in %r)\n"
        "assert not heavy, heavy\nfrom img2img_runtime import Model\n" % (HEAVY,)
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--model" in done.stdout
