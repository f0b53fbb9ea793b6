"""Ctrl-C (SIGINT) in the real command line: a stop at a safe point, exit status 130, no traceback,
ONE line on stderr naming what was kept and the command that continues, and that command works.

"One line": stderr may also hold img2img's own log lines (``INFO img2img...``) and progress bars;
every other line is a failure, and exactly one line speaks of the interrupt.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import TINY_CLI, pattern, save_tiny_model

from img2img_runtime.cli import command_line
from img2img_runtime.io import list_images, read_image, write_image

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a subprocess")

PY = [sys.executable, "-m", "img2img"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
OWN_LINES = re.compile(r"^(INFO|WARNING) img2img|\d+%\|")  # img2img's log lines, progress bars


def _default_sigint() -> None:  # a parent that ignores SIGINT (nohup, CI shells) must not make the child ignore it
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_when(args: list[str], ready: Callable[[], bool], cwd: Path, timeout: float = 300) -> tuple[int, str, str]:
    """Start ``img2img ARGS``, wait until ``ready()``, send SIGINT; (status, stdout, stderr)."""
    proc = subprocess.Popen(
        [*PY, *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the command ended (or hung) before it was interrupted: {proc.returncode}\n{out}\n{err}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def the_interrupt_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in re.split(r"[\r\n]+", err) if line.strip()]
    hits = [line for line in lines if "interrupted" in line]
    assert len(hits) == 1, err
    assert [line for line in lines if line not in hits and not OWN_LINES.search(line)] == [], err
    return hits[0]


def resume_command(line: str) -> list[str]:
    """The command at the end of the line, as arguments for ``python -m img2img``."""
    words = shlex.split(line[line.index(": img2img ") + 2 :])
    assert words[0] == "img2img"
    return [*PY, *words[1:]]


def no_partial_files(folder: Path) -> list[Path]:
    """Every image under ``folder`` decodes; no temporary files or lock are left."""
    leftovers = [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name == ".img2img.lock"]
    assert leftovers == []
    images = list_images(folder)
    for path in images:
        read_image(path)
    return images


def test_train_interrupt_saves_and_the_printed_command_resumes(tmp_path, paired_dir):
    from img2img.checkpoint import load_checkpoint

    steps = 300
    run = tmp_path / "run"
    args = [
        "train",
        "pix2pix",
        "--data",
        str(paired_dir),
        "--out",
        str(run),
        "--steps",
        str(steps),
        *TINY_CLI,
        "--log-every",
        "5",
    ]
    log = run / "log.jsonl"
    status, out, err = interrupt_when(args, lambda: log.exists() and log.stat().st_size > 0, tmp_path)
    assert status == 130, err
    line = the_interrupt_line(err)
    assert sum("--resume" in text for text in err.splitlines()) == 1
    saved = int(load_checkpoint(run / "checkpoints" / "last.pt")["step"])
    assert 0 < saved < steps
    assert f"checkpoint at step {saved} saved in {run}" in line
    command = resume_command(line)
    assert command[-1] == "--resume" and command[len(PY) : -1] == args

    done = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert int(load_checkpoint(run / "checkpoints" / "last.pt")["step"]) == steps
    assert f"trained {steps} steps" in done.stdout


def test_translate_interrupt_keeps_whole_outputs_and_the_same_command_finishes(tmp_path):
    model = save_tiny_model(tmp_path / "model")
    for i in range(40):
        write_image(tmp_path / "in" / f"p{i:02d}.png", pattern(i, 256))
    out = tmp_path / "out"
    args = [
        "translate",
        "--model",
        str(model),
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(out),
        "--batch-size",
        "1",
        "--device",
        "cpu",
        "--no-progress",
        "--overwrite",
    ]
    status, _, err = interrupt_when(args, lambda: any(out.glob("*.png")), tmp_path)
    assert status == 130, err
    line = the_interrupt_line(err)
    assert f"finished outputs are kept in {out}" in line
    finished = no_partial_files(out)
    assert 0 < len(finished) < 40
    command = resume_command(line)
    assert "--overwrite" not in command  # the rerun keeps what is done

    done = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert len(no_partial_files(out)) == 40
    assert f"{40 - len(finished)} written, {len(finished)} already done" in done.stdout


def test_prepare_interrupt_keeps_whole_pairs_and_the_same_command_finishes(tmp_path):
    base = [cv2.resize(pattern(i, 128), (512, 512)) for i in range(4)]
    count = 120
    for i in range(count):
        write_image(tmp_path / "photos" / f"p{i:03d}.png", np.roll(base[i % 4], 3 * i, axis=1))
    out = tmp_path / "pairs"
    args = ["prepare", "restore", str(tmp_path / "photos"), str(out)]
    status, _, err = interrupt_when(args, lambda: any(out.glob("*/A/*.png")), tmp_path)
    assert status == 130, err
    line = the_interrupt_line(err)
    assert f"finished pairs are kept in {out}" in line
    assert len(no_partial_files(out)) < 2 * count
    assert json.loads((out / "prepare.json").read_text())["complete"] is False  # the settings, from the start

    done = subprocess.run(resume_command(line), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    for side in ("A", "B"):
        assert len(list(out.glob(f"*/{side}/*.png"))) == count
    assert (out / "prepare.json").exists()
    no_partial_files(out)


def test_command_line_quotes_drops_and_adds():
    assert (
        command_line("img2img", ["translate", "--input", "my photos", "--overwrite"], drop=["--overwrite"])
        == "img2img translate --input 'my photos'"
    )
    assert command_line("img2img", ["translate", "--overw"], drop=["--overwrite"]) == "img2img translate"
    assert (
        command_line("img2img", ["train", "pix2pix", "--out", "RUN"], add=["--resume"])
        == "img2img train pix2pix --out RUN --resume"
    )
