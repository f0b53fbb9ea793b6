"""Quiet by default: no log line of the libraries underneath (onnx, onnxscript, onnx_ir, onnxruntime,
torch.onnx, OpenCV) reaches the terminal unless ``--verbose``; a failed file is named once."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pattern, save_tiny_model

from img2img.prepare import PrepareReport
from img2img_runtime.folder import FolderReport
from img2img_runtime.io import write_image
from img2img_runtime.logs import quiet_third_party, third_party_output

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
THIRD_PARTY = re.compile(
    r"\b(onnx|onnxscript|onnx_ir|onnxruntime|torch\.onnx)[.:]|\[ ?WARN|\[W:onnxruntime|"
    r"Collecting tensor data|Percentile :|Number of tensors"
)
PROGRESS = re.compile(r"\d+%\|")


def img2img(*args: str, module: str = "img2img") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], env=ENV, capture_output=True, text=True, timeout=600)


def lines(text: str) -> list[str]:
    """Non-empty lines, progress bars left out."""
    return [line for line in re.split(r"[\r\n]+", text) if line.strip() and not PROGRESS.search(line)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("quiet")
    model = save_tiny_model(root / "model")
    done = img2img("export", str(model), str(root / "model.onnx"))
    return root, done


def test_default_export_prints_no_third_party_line(exported):
    _, done = exported
    assert done.returncode == 0, done.stderr
    assert lines(done.stderr) == []  # nothing at all on stderr: no onnx_ir/onnxscript INFO, no onnxruntime warnings
    assert len(lines(done.stdout)) == 1 and done.stdout.startswith("wrote ")


def test_verbose_export_lets_third_party_logs_through(exported):
    root, _ = exported
    done = img2img("export", str(root / "model"), str(root / "verbose.onnx"), "--verbose")  # after the subcommand
    assert done.returncode == 0, done.stderr
    assert any(THIRD_PARTY.search(line) for line in lines(done.stderr)), done.stderr  # this exporter logs INFO lines
    assert img2img("--verbose", "export", "--help").returncode == 0  # and before it


def test_int8_calibration_prints_a_few_lines(exported):
    root, _ = exported
    for i in range(4):
        write_image(root / "calibration" / f"{i}.png", pattern(i, 48))
    done = img2img(
        "export", str(root / "model"), str(root / "int8.onnx"), "--int8", "--calibration", str(root / "calibration")
    )
    assert done.returncode == 0, done.stderr
    assert lines(done.stderr) == []  # the progress bar only
    assert len(lines(done.stdout)) <= 3, done.stdout  # "wrote ..." and the int8 note
    assert not any(THIRD_PARTY.search(line) for line in lines(done.stdout))


def test_folder_job_quiet_and_each_failed_file_named_once(exported):
    root, _ = exported
    src = root / "inputs"
    write_image(src / "good.png", pattern(0, 32))
    truncated = src / "truncated.png"
    truncated.write_bytes((src / "good.png").read_bytes()[:300])  # OpenCV warns about these from C++
    for module in ("img2img_runtime.cli", "img2img"):
        args = [
            "--model",
            str(root / "model.onnx"),
            "--input",
            str(src),
            "--output",
            str(root / f"out-{module}"),
            "--no-progress",
        ]
        done = img2img(*(["translate", *args] if module == "img2img" else args), module=module)
        assert done.returncode == 1, done.stderr
        assert "[ WARN" not in done.stderr and lines(done.stderr) == [], done.stderr
        failed = [line for line in done.stdout.splitlines() if "FAILED" in line]
        assert len(failed) == 1 and failed[0].count(str(truncated)) == 1, done.stdout


def test_failed_lines_name_the_path_once():
    path = Path("photos/x.png")
    report = FolderReport(failed=[(path, f"{path}: cannot decode image"), (Path("y.png"), "translation failed: boom")])
    assert "  FAILED photos/x.png: cannot decode image" in report.summary().splitlines()
    assert "  FAILED y.png: translation failed: boom" in report.summary().splitlines()
    prepared = PrepareReport(failed=[(path, f"{path}: cannot decode image")])
    assert prepared.summary().count(str(path)) == 1


def test_quiet_third_party_switches_loggers_opencv_and_calibrator_prints(capsys):
    import cv2

    try:
        quiet_third_party(False)
        assert not logging.getLogger("onnxscript").isEnabledFor(logging.WARNING)
        assert logging.getLogger("onnx_ir.passes").getEffectiveLevel() == logging.ERROR
        assert cv2.utils.logging.getLogLevel() == cv2.utils.logging.LOG_LEVEL_ERROR
        with third_party_output():
            print("Collecting tensor data and making histogram ...")
        assert capsys.readouterr().out == ""
        quiet_third_party(None)  # the exporter's call keeps the earlier choice
        assert logging.getLogger("onnxscript").getEffectiveLevel() == logging.ERROR
        quiet_third_party(True)
        assert logging.getLogger("onnxscript").isEnabledFor(logging.INFO)
        quiet_third_party(None)
        assert logging.getLogger("onnxscript").isEnabledFor(logging.INFO)
        with third_party_output():
            print("shown")
        assert capsys.readouterr().out == "shown\n"
    finally:
        quiet_third_party(False)
