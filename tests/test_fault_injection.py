"""Fault injection: a training run killed (SIGKILL) at random moments, 20 times, and resumed each
time, ends bit-identical to a run that was never interrupted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY_UNET
from safetensors.torch import load_file

from img2img.checkpoint import load_checkpoint
from img2img.training import train

KILLS = 20
STEPS = 150
ARGS = [
    "--size",
    "32",
    "--load-size",
    "36",
    "--batch-size",
    "2",
    "--num-downs",
    "4",
    "--base-channels",
    "8",
    "--d-channels",
    "8",
    "--norm",
    "batch",
    "--num-workers",
    "0",
    "--no-progress",
    "--device",
    "cpu",
    "--checkpoint-every",
    "1",
    "--val-every",
    "5",
    "--sample-every",
    "7",
    "--log-every",
    "1",
]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_twenty_random_kills_resume_bit_identical(tmp_path, paired_dir):
    kw = dict(
        size=32,
        load_size=36,
        batch_size=2,
        generator=TINY_UNET["generator"],
        generator_kwargs={**TINY_UNET["generator_kwargs"], "norm": "batch"},
        discriminator_kwargs=TINY_UNET["discriminator_kwargs"],
        num_workers=0,
        progress=False,
        device="cpu",
        checkpoint_every=1,
        val_every=5,
        sample_every=7,
        log_every=1,
    )
    straight = train("pix2pix", data=str(paired_dir), out=str(tmp_path / "straight"), steps=STEPS, **kw)

    run = tmp_path / "killed"
    rng = random.Random(0)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the same thread count as this process: bitwise equal sums
    first = [
        sys.executable,
        "-m",
        "img2img",
        "train",
        "pix2pix",
        "--data",
        str(paired_dir),
        "--out",
        str(run),
        "--steps",
        str(STEPS),
        *ARGS,
    ]
    resume = [sys.executable, "-m", "img2img", "train", "pix2pix", "--out", str(run), "--resume", "--steps", str(STEPS)]
    kills = 0
    log = run / "log.jsonl"
    for attempt in range(KILLS * 3):
        started = (run / "checkpoints" / "last.pt").exists()
        lines = len(log.read_text().splitlines()) if log.exists() else 0
        proc = subprocess.Popen(
            resume if started else first, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if rng.random() < 0.2:  # now and then during the start (imports, run-folder checks)
            time.sleep(rng.uniform(0.2, 1.5))
        else:  # mostly while it trains: inside steps, checkpoint and model writes, log appends
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if log.exists() and len(log.read_bytes().splitlines()) > lines:
                    break
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is not None:  # finished before the kill
            assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if kills >= KILLS:
            break
    assert kills >= KILLS // 2, f"only {kills} kills landed"
    if (
        not (run / "checkpoints" / "last.pt").exists()
        or load_checkpoint(run / "checkpoints" / "last.pt")["step"] < STEPS
    ):
        done = subprocess.run(
            resume if (run / "checkpoints" / "last.pt").exists() else first, env=env, capture_output=True, timeout=600
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]

    final = load_checkpoint(run / "checkpoints" / "last.pt")
    assert final["step"] == STEPS
    expected = straight.task.state_dict()
    assert all(torch.equal(final["task"][k], v) for k, v in expected.items()), (
        "weights differ from the uninterrupted run"
    )
    model = load_file(run / "model" / "AtoB.safetensors")
    reference = load_file(tmp_path / "straight" / "model" / "AtoB.safetensors")
    assert model.keys() == reference.keys() and all(torch.equal(model[k], reference[k]) for k in model)
    assert not list(run.rglob("*.tmp")), "temporary files left behind"
