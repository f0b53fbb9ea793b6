"""install.sh: the torch build that fits the machine (simulated: a PATH with or without nvidia-smi)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "install.sh"
TOOLS = ("dirname", "sed", "grep", "uname", "timeout", "du", "cut", "cat")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or sys.platform == "win32", reason="needs bash")


def _bin(tmp_path: Path, *, gpu: bool = False, system: str | None = None) -> Path:
    """A PATH folder with the tools install.sh uses and nothing else (so no real nvidia-smi)."""
    path = tmp_path / "bin"
    path.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (path / tool).symlink_to(found)
    if gpu:
        fake = path / "nvidia-smi"
        fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI fake'\n")
        fake.chmod(0o755)
    if system:
        (path / "uname").unlink(missing_ok=True)
        fake = path / "uname"
        fake.write_text(f"#!/bin/sh\necho {system}\n")
        fake.chmod(0o755)
    return path


def _run(tmp_path: Path, bin_dir: Path, *args: str, index: str = "http://127.0.0.1:9/") -> subprocess.CompletedProcess:
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "PYTHON": sys.executable,
        "VENV": str(tmp_path / "venv"),
        "IMG2IMG_CPU_INDEX": index,
        "IMG2IMG_PROBE_TIMEOUT": "5",
    }
    return subprocess.run(
        [shutil.which("bash"), str(SCRIPT), "--dry-run", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def cpu_index(tmp_path):
    """A reachable stand-in for the CPU wheel index (a folder served over HTTP on localhost)."""
    root = tmp_path / "index"
    (root / "torch").mkdir(parents=True)
    (root / "torch" / "index.html").write_text("<html></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _pip_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("+ ") and " pip install " in line]


def test_no_gpu_installs_cpu_torch_first(tmp_path, cpu_index):
    result = _run(tmp_path, _bin(tmp_path), "--dev", index=cpu_index)
    assert result.returncode == 0, result.stderr
    assert "no nvidia-smi" in result.stdout
    pip = _pip_lines(result.stdout)
    assert len(pip) == 2, result.stdout
    assert f"--index-url {cpu_index}" in pip[0] and "--timeout 15 --retries 0" in pip[0]
    assert "'torch>=2.6' 'torchvision>=0.21'" in pip[0]  # pyproject.toml's ranges
    assert "-e" in pip[1] and "[dev]" in pip[1] and "--index-url" not in pip[1]
    assert f"-m venv {tmp_path / 'venv'}" in result.stdout
    assert not (tmp_path / "venv").exists()  # a dry run creates nothing


def test_gpu_takes_the_default_wheel(tmp_path, cpu_index):
    result = _run(tmp_path, _bin(tmp_path, gpu=True), index=cpu_index)
    assert result.returncode == 0, result.stderr
    assert "nvidia-smi found" in result.stdout
    pip = _pip_lines(result.stdout)
    assert len(pip) == 1 and "--index-url" not in pip[0] and "[dev]" not in pip[0]


def test_macos_takes_the_default_wheel(tmp_path, cpu_index):
    result = _run(tmp_path, _bin(tmp_path, system="Darwin"), index=cpu_index)
    assert result.returncode == 0, result.stderr
    assert "--index-url" not in result.stdout


def test_unreachable_cpu_index_falls_back_in_one_line(tmp_path):
    start = time.monotonic()
    result = _run(tmp_path, _bin(tmp_path), "--dev", index="http://127.0.0.1:9/")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 30
    fallback = [line for line in result.stdout.splitlines() if line.startswith("install.sh: CPU index")]
    assert len(fallback) == 1 and "http://127.0.0.1:9/" in fallback[0] and "default torch wheel" in fallback[0]
    pip = _pip_lines(result.stdout)
    assert len(pip) == 1 and "--index-url" not in pip[0] and "[dev]" in pip[0]


def test_unknown_option_is_a_usage_error(tmp_path):
    result = _run(tmp_path, _bin(tmp_path), "--devv")
    assert result.returncode == 2 and "unknown option --devv" in result.stderr


def test_ci_sets_up_as_readme_says():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = "./install.sh --dev && .venv/bin/python -m pytest -q"
    assert command in readme
    assert "./install.sh --dev\n" in ci and ci.rstrip().endswith(".venv/bin/python -m pytest -q")
    assert os.access(SCRIPT, os.X_OK)
