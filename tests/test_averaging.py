"""The generators' weight average (``--ema``): exact updates, swapping in and out, the loop's use."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY_UNET
from safetensors.torch import load_file
from torch import nn

from img2img.averaging import WARMUP, WeightAverage
from img2img.config import TrainConfig
from img2img.divergence import weight_norm
from img2img.monitor import evaluate
from img2img.training import _val_batches, build_dataset, train

FAST = dict(num_workers=0, progress=False, log_every=1, sample_every=1000, val_every=1000, checkpoint_every=1000)


def _net(value: float) -> nn.Module:
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    with torch.no_grad():
        for t in [*net.parameters(), net[1].running_mean, net[1].running_var]:
            t.fill_(value)
    return net


def test_update_follows_the_warm_up_then_the_decay():
    live = _net(0.0)
    average = WeightAverage({"AtoB": live}, decay=0.2)  # warm-up 0.1, 0.18, then capped at 0.2
    expected = 0.0
    for n, value in enumerate([10.0, 20.0, 30.0]):
        decay = min(0.2, (1 + n) / (WARMUP + n))
        assert average.current_decay() == pytest.approx(decay)
        with torch.no_grad():
            for t in [*live.parameters(), live[1].running_mean, live[1].running_var]:
                t.fill_(value)
        live[1].num_batches_tracked.fill_(7 + n)
        average.update({"AtoB": live})
        expected = decay * expected + (1 - decay) * value
        net = average.nets["AtoB"]
        for t in [*net.parameters(), net[1].running_mean, net[1].running_var]:  # float buffers averaged too
            assert torch.allclose(t, torch.full_like(t, expected)), (n, t)
        assert int(net[1].num_batches_tracked) == 7 + n  # integer buffers copied
    assert int(average.updates) == 3
    assert average.current_decay() == 0.2  # (1 + 3) / (10 + 3) > 0.2
    assert not any(p.requires_grad for p in average.parameters())


def test_applied_swaps_the_average_in_and_back_out():
    live, other = _net(1.0), _net(5.0)
    average = WeightAverage({"AtoB": other}, decay=0.9)  # holds 5.0
    x = torch.ones(1, 1, 2, 2)
    live.eval()
    before = live(x).clone()
    with average.applied({"AtoB": live}):
        assert all(torch.equal(p, torch.full_like(p, 5.0)) for p in live.parameters())
    assert torch.equal(live(x), before)
    with pytest.raises(RuntimeError, match="inside"), average.applied({"AtoB": live}):
        raise RuntimeError("inside")
    assert all(torch.equal(p, torch.full_like(p, 1.0)) for p in live.parameters())  # back after an exception


def test_refuses_bad_decays_and_other_generators():
    for decay in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="decay"):
            WeightAverage({"AtoB": _net(0.0)}, decay)
    average = WeightAverage({"AtoB": _net(0.0)}, 0.9)
    with pytest.raises(ValueError, match="BtoA"):
        average.update({"BtoA": _net(0.0)})
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="ema"):
            TrainConfig(task="pix2pix", data="x", out="y", steps=1, ema=bad)


def test_weight_norm_leaves_out_frozen_parameters():
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(3.0)
        net[1].weight.fill_(4.0)
    assert weight_norm(net) == pytest.approx(5.0)
    net[1].requires_grad_(False)
    assert weight_norm(net) == pytest.approx(3.0)


def test_a_run_serves_the_average(tmp_path, paired_dir):
    run = tmp_path / "run"
    result = train(
        "pix2pix",
        data=str(paired_dir),
        out=str(run),
        steps=4,
        size=32,
        load_size=36,
        ema=0.9,
        **TINY_UNET,
        **{**FAST, "val_every": 4, "checkpoint_every": 4},
    )
    task = result.task
    average = task.weight_average
    assert average is not None and int(average.updates) == 4
    saved = load_file(str(run / "model" / "AtoB.safetensors"))
    averaged = average.nets["AtoB"].state_dict()
    live = {k: v.clone() for k, v in task.generator.state_dict().items()}
    assert saved.keys() == averaged.keys()
    assert all(torch.equal(saved[k], averaged[k].cpu()) for k in saved)  # RUN/model holds the average
    assert any(not torch.equal(averaged[k], live[k]) for k in live if live[k].is_floating_point())
    for name in ("best", "model"):  # the validated weights are the saved ones
        best = load_file(str(run / name / "AtoB.safetensors"))
        assert all(torch.equal(best[k], saved[k]) for k in saved)
    # validation scored the average (the live weights score otherwise)
    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    val = build_dataset(cfg, "val")
    task.eval()
    live_score = evaluate(task, _val_batches(val, cfg, torch.device("cpu")))["val_psnr"]
    with task.serving():
        averaged_score = evaluate(task, _val_batches(val, cfg, torch.device("cpu")))["val_psnr"]
    assert all(torch.equal(p, task.generator.state_dict()[k]) for k, p in live.items())  # swapped back out
    assert result.metrics["val_psnr"] == pytest.approx(averaged_score, abs=1e-9)
    assert averaged_score != pytest.approx(live_score, abs=1e-6)
