"""bench/train_speed.py: the recipe-profile configurations time the nets and stage they name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def train_speed():
    sys.path.insert(0, str(ROOT))  # bench.common, as the script itself does
    spec = importlib.util.spec_from_file_location("bench_train_speed", ROOT / "bench" / "train_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sr_cpu_configurations_differ_only_in_the_head_and_the_stage(train_speed, monkeypatch):
    # measure() runs in a process of its own in the script: here, undo what it sets for the process
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)
    monkeypatch.delenv("IMG2IMG_VGG19_WEIGHTS", raising=False)
    rows = {
        name: train_speed.measure(name, "fp32", steps=1, warmup=0, threads=None, device_name="cpu")
        for name in ("sr_cpu", "sr_cpu_warmup", "sr_cpu_9x9_warmup")
    }
    assert {row["task"] for row in rows.values()} == set(rows)
    assert all(row["batch_size"] == 8 and row["size"] == 96 for row in rows.values())  # the cpu profile's
    # the GAN stage adds the discriminator's passes; the warm-up is the generator alone
    assert rows["sr_cpu"]["gflop_per_step"] > 2 * rows["sr_cpu_warmup"]["gflop_per_step"]
    # the 9x9 head costs (81 - 9) taps more, forward and backward, at 96 x 96 from 32 to 3 channels
    head = 2 * 32 * 3 * 96 * 96 * 8 * (81 - 9)  # one pass, batch 8
    extra = (rows["sr_cpu_9x9_warmup"]["gflop_per_step"] - rows["sr_cpu_warmup"]["gflop_per_step"]) * 1e9
    assert extra == pytest.approx(3 * head, rel=1e-6)  # forward, input gradient, weight gradient


def test_unknown_configurations_are_refused(train_speed, capsys):
    with pytest.raises(SystemExit):
        train_speed.parse_args(["--tasks", "sr_gpu"])
    assert "sr_cpu_9x9" in capsys.readouterr().err
