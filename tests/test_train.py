"""The training loop: exact resume, data parallelism, schedule, guards, run folder contents."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from conftest import TINY_RESNET, TINY_SR, TINY_UNET

from img2img.checkpoint import load_checkpoint
from img2img.data.sampler import ResumableSampler
from img2img.optimization import NonFiniteLossError, Optimization, lr_factor
from img2img.training import train

FAST = dict(num_workers=0, progress=False, log_every=1, sample_every=1000, val_every=1000, checkpoint_every=1000)


def differing_keys(a: dict, b: dict) -> list[str]:
    """The keys whose tensors differ (empty when the two states are equal)."""
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.mark.parametrize(
    "task,nets,extra",
    [
        ("pix2pix", TINY_UNET, {"size": 32, "load_size": 40, "batch_size": 2}),
        (  # the colour head trained apart from the generator, from replayed crop statistics (task_extra)
            "pix2pix",
            {**TINY_UNET, "generator_kwargs": {**TINY_UNET["generator_kwargs"], "norm": "none", "global_color": True}},
            {"size": 32, "load_size": 40, "batch_size": 2, "color_replay": 2},
        ),
        ("cyclegan", TINY_RESNET, {"size": 32, "load_size": 40, "batch_size": 1, "pool_size": 2}),
        ("cyclegan", TINY_RESNET, {"size": 32, "load_size": 40, "batch_size": 1, "pool_size": 2, "ema": 0.9}),
        ("srgan", TINY_SR, {"size": 32, "batch_size": 2}),
    ],
)
def test_resume_equals_straight_run(tmp_path, paired_dir, unpaired_dir, sr_dir, task, nets, extra):
    data = {"pix2pix": paired_dir, "cyclegan": unpaired_dir, "srgan": sr_dir}[task]
    kw = dict(data=str(data), steps=6, decay_steps=4, **nets, **extra, **FAST)
    straight = train(task, out=str(tmp_path / "straight"), **kw)
    first = train(task, out=str(tmp_path / "split"), stop_after=3, **kw)
    assert first.step == 3
    resumed = train(out=str(tmp_path / "split"), resume=True, steps=6)
    assert resumed.step == straight.step == 6
    assert differing_keys(straight.task.state_dict(), resumed.task.state_dict()) == [], "resumed weights differ"
    ckpt_a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    ckpt_b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    for name, opt_state in ckpt_a["optimization"]["optimizers"].items():
        other = ckpt_b["optimization"]["optimizers"][name]["state"]
        for idx, entry in opt_state["state"].items():
            assert torch.equal(entry["exp_avg"], other[idx]["exp_avg"])
    for key, value in ckpt_a["task_extra"].items():
        assert torch.equal(value, ckpt_b["task_extra"][key])
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 6 and len([s for s in steps if s == 3]) <= 2


def test_run_folder_contents_and_best_model(tmp_path, paired_dir):
    result = train(
        "pix2pix",
        data=str(paired_dir),
        out=str(tmp_path / "run"),
        steps=4,
        size=32,
        load_size=36,
        **TINY_UNET,
        **{**FAST, "sample_every": 2, "val_every": 2, "checkpoint_every": 2},
    )
    run = tmp_path / "run"
    assert (run / "config.json").is_file()
    assert (run / "model" / "config.json").is_file() and (run / "model" / "AtoB.safetensors").is_file()
    assert (run / "best" / "config.json").is_file()
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
    assert not list(run.rglob("*.tmp")), "temporary files left behind"
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any("val_psnr" in r and "val_ssim" in r for r in records)
    assert "val_psnr" in result.metrics
    with pytest.raises(FileExistsError, match="--resume"):
        train("pix2pix", data=str(paired_dir), out=str(run), steps=4, size=32, **TINY_UNET, **FAST)
    with pytest.raises(ValueError, match="cannot change 'size'"):
        train(out=str(run), resume=True, size=64)


def test_size_must_fit_the_generator(tmp_path, paired_dir):
    with pytest.raises(ValueError, match="multiple of 16"):
        train("pix2pix", data=str(paired_dir), out=str(tmp_path / "r"), steps=1, size=40, **TINY_UNET, **FAST)


def _ddp_worker(rank: int, world: int, init_file: str, data: str, out: str, results: str) -> None:
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank))
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    result = train(
        "pix2pix", data=data, out=out, steps=3, size=32, load_size=40, batch_size=1, device="cpu", **TINY_UNET, **FAST
    )
    torch.save(result.task.state_dict(), os.path.join(results, f"rank{rank}.pt"))
    torch.distributed.barrier()  # both ranks done with every collective before the group goes
    torch.distributed.destroy_process_group()


def test_ddp_two_gloo_processes_end_identical(tmp_path, paired_dir):
    results = tmp_path / "results"
    results.mkdir()
    mp.spawn(
        _ddp_worker,
        args=(2, str(tmp_path / "init"), str(paired_dir), str(tmp_path / "run"), str(results)),
        nprocs=2,
        join=True,
    )
    s0 = torch.load(results / "rank0.pt", weights_only=True)
    s1 = torch.load(results / "rank1.pt", weights_only=True)
    assert s0.keys() == s1.keys()
    assert differing_keys(s0, s1) == [], "ranks ended with different weights"
    single = train(
        "pix2pix",
        data=str(paired_dir),
        out=str(tmp_path / "single"),
        steps=3,
        size=32,
        load_size=40,
        batch_size=1,
        **TINY_UNET,
        **FAST,
    )
    assert differing_keys(single.task.state_dict(), s0), (
        "2 ranks should differ from 1 rank (they average gradients of different samples)"
    )


def test_sampler_resumes_and_shards():
    full = ResumableSampler(5, seed=3)
    it = iter(full)
    stream = [next(it) for _ in range(12)]
    assert sorted(i for e, i in stream[:5]) == list(range(5)) and {e for e, _ in stream[:5]} == {0}
    assert stream[5][0] == 1
    resumed = iter(ResumableSampler(5, seed=3, start=7))
    assert [next(resumed) for _ in range(5)] == stream[7:12]
    r0, r1 = (
        iter(ResumableSampler(5, seed=3, rank=0, world_size=2)),
        iter(ResumableSampler(5, seed=3, rank=1, world_size=2)),
    )
    a, b = [next(r0)[1] for _ in range(3)], [next(r1)[1] for _ in range(3)]
    assert set(a) | set(b) == set(range(5)) and len(set(a) & set(b)) <= 1  # padding repeats one index


def test_lr_schedule_constant_then_linear():
    assert [lr_factor(s, 10, 4) for s in (0, 5, 6, 7, 8, 9, 10)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    assert lr_factor(99, 10, 0) == 1.0


def test_non_finite_losses_are_skipped_then_abort():
    layer = torch.nn.Linear(2, 1)
    before = layer.weight.detach().clone()
    opt = Optimization({"G": torch.optim.Adam(layer.parameters())}, device=torch.device("cpu"), max_bad_steps=3)
    for i in range(2):
        assert opt.step("G", layer(torch.ones(1, 2)).sum() * float("nan")) is False
        opt.end_iteration()
    assert torch.equal(layer.weight, before), "a NaN loss must not change the weights"
    assert opt.step("G", layer(torch.ones(1, 2)).sum()) is True  # a good step resets the count
    opt.end_iteration()
    assert opt.bad_steps == 0 and opt.skipped_total == 2
    with pytest.raises(NonFiniteLossError, match="--lr"):
        for _ in range(3):
            opt.step("G", layer(torch.ones(1, 2)).sum() * float("inf"))
            opt.end_iteration()


def test_bf16_autocast_on_cpu_trains(tmp_path, paired_dir):
    result = train(
        "pix2pix",
        data=str(paired_dir),
        out=str(tmp_path / "bf16"),
        steps=2,
        size=32,
        precision="bf16",
        **TINY_UNET,
        **FAST,
    )
    assert all(torch.isfinite(v).all() for v in result.task.state_dict().values() if v.is_floating_point())
    with pytest.raises(ValueError, match="fp16"):
        train(
            "pix2pix",
            data=str(paired_dir),
            out=str(tmp_path / "fp16"),
            steps=1,
            size=32,
            precision="fp16",
            device="cpu",
            **TINY_UNET,
            **FAST,
        )


def test_channels_last_trains_to_the_same_weights(tmp_path, paired_dir):
    """channels_last is a memory layout only: on the CPU it must give (nearly) the same weights."""
    # batch norm: before an instance norm a conv bias gets a gradient that is zero up to rounding, which Adam
    # scales up to a step of either sign, so the two layouts' rounding would decide that bias
    nets = {**TINY_UNET, "generator_kwargs": {**TINY_UNET["generator_kwargs"], "norm": "batch"}}
    kw = dict(data=str(paired_dir), steps=2, size=32, **nets, **FAST)
    a = train("pix2pix", out=str(tmp_path / "a"), **kw).task.state_dict()
    b = train("pix2pix", out=str(tmp_path / "b"), channels_last=True, **kw).task.state_dict()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-4), key


def test_data_workers_start_after_opencv_threads_were_used(tmp_path, paired_dir):
    """OpenCV's thread pool, once started in the parent, hung forked data workers for ever."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import cv2, numpy as np
        cv2.setNumThreads(max(2, cv2.getNumThreads()))
        for _ in range(3):  # start OpenCV's worker threads in the parent
            cv2.GaussianBlur(np.random.rand(2000, 2000).astype(np.float32), (31, 31), 5)
        from conftest import TINY_UNET
        from img2img.training import train
        result = train("pix2pix", data={str(paired_dir)!r}, out={str(tmp_path / "run")!r}, steps=2, size=32,
                       num_workers=2, progress=False, val_every=1000, sample_every=1000, **TINY_UNET)
        print("steps", result.step)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "steps 2" in done.stdout
