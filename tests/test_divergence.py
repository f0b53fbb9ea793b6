"""Divergence: the explosion rules, rollback with a lower lr, finite checkpoints, resume with a new
lr, and the distributed / fp16 guards of the optimisation step."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from conftest import TINY_RESNET, TINY_UNET

from img2img.checkpoint import load_checkpoint
from img2img.cli import main
from img2img.divergence import MAX_ROLLBACKS, LossWatch, TrainingDiverged, reconstruction_loss
from img2img.optimization import Optimization
from img2img.training import train

FAST = dict(num_workers=0, progress=False, log_every=1, sample_every=1000, val_every=1000, checkpoint_every=1000)
BATCH_NORM_UNET = {**TINY_UNET, "generator_kwargs": {**TINY_UNET["generator_kwargs"], "norm": "batch"}}


def test_reconstruction_loss_leaves_out_adversarial_terms():
    assert reconstruction_loss({"G_L1": 3.0, "G_gan": 50.0, "D_real": 9.0}) == 3.0
    assert reconstruction_loss({"G_cycle_A": 1.0, "G_idt_B": 0.5, "G_AB_gan": 7.0}) == 1.5
    assert reconstruction_loss({"G_gan": 2.0, "D_fake": 1.0}) == 2.0  # a pure GAN: its generator terms
    # SRGAN's feature matching is measured through the discriminator's features: it rises as D learns
    assert reconstruction_loss({"G_pixel": 0.04, "G_fm": 0.11, "G_gan": 0.001}) == 0.04


def test_a_new_loss_term_restarts_the_reference_instead_of_looking_like_an_explosion():
    """After a pixel-loss warm-up a content term joins the sum (0.05 -> 0.55, 11x the warm-up's
    best): a new objective, not a divergence; a later explosion of the new sum is still caught."""
    watch = LossWatch(window=10, factor=4.0)
    assert all(watch.observe({"G_pixel": 0.05}) is None for _ in range(30))
    assert watch.best == pytest.approx(0.05) and watch.terms == {"G_pixel"}
    assert all(watch.observe({"G_pixel": 0.05, "G_content": 0.5, "G_gan": 3.0}) is None for _ in range(30))
    assert watch.best == pytest.approx(0.55) and watch.terms == {"G_pixel", "G_content"}
    # a term that is missing from some steps (logged every few steps) does not restart it
    assert watch.observe({"G_pixel": 0.05}) is None and watch.best == pytest.approx(0.55) and len(watch.recent) == 10
    state = watch.state_dict()
    again = LossWatch(window=10, factor=4.0)
    again.load_state_dict(state)
    assert again.terms == watch.terms and again.best == watch.best
    reasons = [again.observe({"G_pixel": 1.0, "G_content": 5.0}) for _ in range(10)]
    assert reasons[-1] is not None and "median" in reasons[-1]
    old = LossWatch(window=10)
    old.load_state_dict({"recent": [0.1], "best": 0.1})  # a checkpoint from before: no terms recorded
    assert old.observe({"G_L1": 0.1}) is None and old.best == pytest.approx(0.1) and old.terms == {"G_L1"}


def test_loss_watch_ignores_noise_and_catches_a_sustained_explosion():
    rng = np.random.default_rng(0)
    watch = LossWatch(window=10, factor=4.0)
    noisy = 10 * np.exp(-np.arange(300) / 100) + 1 + rng.uniform(0, 3, 300)  # decaying, with spikes
    noisy[::37] *= 20  # single-step spikes are not an explosion
    assert all(watch.observe({"G_L1": float(v), "G_gan": float(100 * v)}) is None for v in noisy)
    best = watch.best
    reasons = [watch.observe({"G_L1": 50 * best}) for _ in range(10)]
    assert reasons[-1] is not None and "median" in reasons[-1] and all(r is None for r in reasons[:3])
    watch.reset()
    assert watch.observe({"G_L1": 50 * best}) is None  # a fresh window after a rollback
    state = watch.state_dict()
    other = LossWatch(window=10)
    other.load_state_dict(state)
    assert other.best == watch.best and list(other.recent) == list(watch.recent)


def test_weight_watch():
    watch = LossWatch()
    assert watch.observe_weights(2.0) is None  # the reference
    assert watch.observe_weights(150.0) is None
    assert "grew" in watch.observe_weights(250.0)
    assert watch.observe_weights(float("nan")) is not None


def _all_finite(state: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state.values() if isinstance(v, torch.Tensor) and v.is_floating_point())


def test_nan_divergence_rolls_back_then_stops_and_checkpoints_stay_finite(tmp_path, paired_dir):
    run = tmp_path / "run"
    kw = dict(
        data=str(paired_dir),
        out=str(run),
        steps=200,
        size=32,
        load_size=36,
        batch_size=2,
        lr=1e30,
        max_bad_steps=3,
        **BATCH_NORM_UNET,
        **{**FAST, "checkpoint_every": 1},
    )
    with pytest.raises(TrainingDiverged, match=r"after 3 rollback\(s\).*--lr"):
        train("pix2pix", **kw)
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    rollbacks = [e for e in events if e.get("event") == "rollback"]
    assert [e["rollback"]["lr_scale"] for e in rollbacks] == [0.5, 0.25, 0.125][:MAX_ROLLBACKS]
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert _all_finite(state["task"]), "a checkpoint holds non-finite weights or batch-norm statistics"
    assert state["divergence"]["rollbacks"] >= 1


def test_explosion_without_nan_is_caught_and_the_cli_exits_non_zero(tmp_path, paired_dir, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "pix2pix",
            "--data",
            str(paired_dir),
            "--out",
            str(run),
            "--steps",
            "300",
            "--size",
            "32",
            "--batch-size",
            "2",
            "--lr",
            "1000",
            "--num-downs",
            "4",
            "--base-channels",
            "8",
            "--d-channels",
            "8",
            "--num-workers",
            "0",
            "--no-progress",
            "--device",
            "cpu",
        ]
    )
    assert code == 3
    assert "training diverged" in capsys.readouterr().err
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    reasons = [e["reason"] for e in events if e.get("event") == "rollback"]
    assert reasons and any("weights' norm" in r or "median" in r for r in reasons)


def test_resume_may_change_lr_and_records_it(tmp_path, paired_dir):
    run = tmp_path / "run"
    kw = dict(data=str(paired_dir), out=str(run), steps=4, size=32, load_size=36, **TINY_UNET, **FAST)
    train("pix2pix", stop_after=2, **kw)
    train(out=str(run), resume=True, steps=4, lr=1e-5, grad_clip=1.0)
    config = json.loads((run / "config.json").read_text())
    assert config["lr"] == 1e-5 and config["grad_clip"] == 1.0
    assert config["history"] == [{"step": 2, "changed": {"lr": [2e-4, 1e-5], "grad_clip": [None, 1.0]}}]
    groups = load_checkpoint(run / "checkpoints" / "last.pt")["optimization"]["optimizers"]["G"]["param_groups"]
    assert groups[0]["initial_lr"] == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="cannot change 'size'"):
        train(out=str(run), resume=True, size=64)


def test_all_skipped_fp16_iteration_does_not_break_the_grad_scaler():
    layer = torch.nn.Linear(2, 1)
    opt = Optimization({"G": torch.optim.Adam(layer.parameters())}, device=torch.device("cpu"))
    opt.scaler = torch.amp.GradScaler("cpu", enabled=True)  # what fp16 uses on CUDA, on the CPU
    assert opt.step("G", layer(torch.ones(1, 2)).sum() * float("nan")) is False
    opt.end_iteration()  # before: "No inf checks were recorded for this optimizer"
    assert opt.step("G", layer(torch.ones(1, 2)).sum()) is True
    opt.end_iteration()
    assert opt.skipped_total == 1


def _nan_on_one_rank(rank: int, world: int, init_file: str, results: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    layer = torch.nn.Linear(2, 1)
    opt = Optimization({"G": torch.optim.Adam(layer.parameters())}, device=torch.device("cpu"))
    loss = layer(torch.ones(1, 2)).sum() * (float("nan") if rank == 1 else 1.0)
    skipped_first = opt.step("G", loss) is False
    opt.end_iteration()
    took_second = opt.step("G", layer(torch.ones(1, 2)).sum()) is True  # both ranks still in step
    opt.end_iteration()
    torch.save(
        {"skipped": skipped_first, "second": took_second, "w": layer.weight.detach()},
        os.path.join(results, f"{rank}.pt"),
    )
    torch.distributed.barrier()  # both ranks done with every collective before the group goes
    torch.distributed.destroy_process_group()


def test_a_nan_on_one_rank_makes_every_rank_skip(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    ctx = mp.start_processes(_nan_on_one_rank, args=(2, str(tmp_path / "init"), str(results)), nprocs=2, join=False)
    for process in ctx.processes:
        process.join(120)
    assert all(p.exitcode == 0 for p in ctx.processes), "a rank hung or failed"
    r0, r1 = (torch.load(results / f"{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["skipped"] and r1["skipped"] and r0["second"] and r1["second"]
    assert torch.equal(r0["w"], r1["w"])


def test_instance_norm_models_are_not_auto_tiled(tmp_path, unpaired_dir):
    from img2img.infer import Translator

    result = train(
        "cyclegan",
        data=str(unpaired_dir),
        out=str(tmp_path / "run"),
        steps=1,
        size=32,
        load_size=36,
        **TINY_RESNET,
        **FAST,
    )
    auto = Translator.from_pretrained(tmp_path / "run", device="cpu")
    assert auto.spec().image_statistics
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert config["image_statistics"] is True
    image = np.random.default_rng(0).integers(0, 256, (400, 1200, 3), dtype=np.uint8)  # > twice any suggested tile
    whole = Translator.from_pretrained(tmp_path / "run", device="cpu", tile=None)(image)
    assert np.array_equal(auto(image), whole)  # "auto" runs it whole: exact
    tiled = Translator.from_pretrained(tmp_path / "run", device="cpu", tile=128)(image)  # asked for: tiles
    assert not np.array_equal(tiled, whole)
    del result


def test_loss_watch_takes_no_reference_from_a_few_easy_steps():
    """One near-uniform image at step 1 made the lower median of one sample the run's best (5.5),
    and a steady loss of 48 then read as an explosion at step 25: the reference needs a full window."""
    from img2img.divergence import LossWatch

    watch = LossWatch(window=25, factor=4.0)
    reasons = [watch.observe({"G_L1": 5.5 if step == 0 else 48.0 + (step % 3)}) for step in range(200)]
    assert reasons == [None] * 200
    assert any(watch.observe({"G_L1": 1000.0}) for _ in range(25))  # a real explosion still fires


def test_loss_watch_skips_critic_only_steps():
    """With --n-critic 2 every other step has no generator term: it counted as a loss of 0, the
    best became 0 and the guard never fired again."""
    from img2img.divergence import PURE_GAN_FACTOR, LossWatch

    watch = LossWatch(window=25, factor=4.0)
    for step in range(100):
        assert watch.observe({"D_gan": 0.7} if step % 2 else {"G_gan": 0.7}) is None
    assert watch.best == pytest.approx(0.7)
    big = 0.7 * 4.0 * PURE_GAN_FACTOR * 2
    fired = [watch.observe({"D_gan": 0.7} if step % 2 else {"G_gan": big}) for step in range(100)]
    assert any(fired)


def test_nan_statistics_at_a_validation_step_are_rolled_back_before_best_is_chosen(tmp_path, paired_dir, monkeypatch):
    """Validation ran before save()'s finiteness check: with --best-metric last, RUN/best was written
    from NaN batch-norm statistics."""
    from safetensors.torch import load_file

    from img2img.training import Trainer

    real = Trainer.train_step

    def poisoned(self, batch):
        losses = real(self, batch)
        if self.step == 2:  # as after a NaN forward pass: the optimizer's guard does not see statistics
            next(m for m in self.net.generator.modules() if isinstance(m, torch.nn.BatchNorm2d)).running_mean.fill_(
                float("nan")
            )
        return losses

    monkeypatch.setattr(Trainer, "train_step", poisoned)
    run = tmp_path / "run"
    kw = dict(data=str(paired_dir), out=str(run), steps=2, size=32, load_size=36, batch_size=2, best_metric="last")
    result = train("pix2pix", **kw, **BATCH_NORM_UNET, **{**FAST, "val_every": 2, "checkpoint_every": 2})
    for folder in ("best", "model"):
        weights = load_file(str(run / folder / "AtoB.safetensors"))
        assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point()), folder
    assert np.isfinite(result.best["val_psnr"])
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["reason"] for e in events if e.get("event") == "rollback"] == [
        "non-finite weights or batch-norm statistics"
    ]


def test_a_run_that_diverges_before_any_checkpoint_says_so(tmp_path, paired_dir):
    kw = dict(data=str(paired_dir), out=str(tmp_path / "run"), steps=200, size=32, load_size=36, batch_size=2)
    with pytest.raises(TrainingDiverged, match="no checkpoint was saved yet"):
        train("pix2pix", lr=1e30, max_bad_steps=3, **kw, **BATCH_NORM_UNET, **FAST)


def test_device_names_are_checked_with_one_clear_error(monkeypatch, tmp_path, capsys):
    from img2img.checkpoint import load_checkpoint
    from img2img.devices import pick_device

    with pytest.raises(ValueError, match="unknown device 'foo'"):
        pick_device("foo")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")
        from conftest import save_tiny_model

        model = save_tiny_model(tmp_path / "model")
        assert main(["translate", "--model", str(model), "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                     "--device", "cuda"]) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert "CUDA is not available" in err and "Traceback" not in err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("cuda", local_rank=1) == torch.device("cuda", 1)  # one GPU per torchrun process
    assert pick_device("cuda:0", local_rank=1) == torch.device("cuda", 0)  # an explicit index is kept
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable img2img training checkpoint"):
        load_checkpoint(tmp_path / "text.pt")


def test_a_rollback_after_a_resume_returns_to_the_same_state_as_the_uninterrupted_run(
    tmp_path, paired_dir, monkeypatch
):
    """The state a rollback returns to was an in-memory copy that a resume did not have: the resumed
    run returned to its first step, the uninterrupted one to an earlier state. Every save is now a
    good state, so both return to the state of step 5 and end bit-identical."""
    from img2img.training import Trainer

    real = Trainer.train_step

    def poisoned(self, batch):
        losses = real(self, batch)
        if self.step == 7:  # NaN batch-norm statistics, found at the next validation step (8)
            next(m for m in self.net.generator.modules() if isinstance(m, torch.nn.BatchNorm2d)).running_mean.fill_(
                float("nan")
            )
        return losses

    monkeypatch.setattr(Trainer, "train_step", poisoned)
    kw = dict(steps=14, size=32, load_size=36, batch_size=2, **BATCH_NORM_UNET, **{**FAST, "val_every": 4})
    kw["checkpoint_every"] = 5
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train("pix2pix", data=str(paired_dir), out=str(whole), **kw)
    train("pix2pix", data=str(paired_dir), out=str(parts), stop_after=5, **kw)
    train(out=str(parts), resume=True, steps=14)
    for run in (whole, parts):
        events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        assert [e["rollback"]["to_step"] for e in events if e.get("event") == "rollback"] == [5], run
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (whole, parts))
    assert a["step"] == b["step"] == 14
    for key, value in a["task"].items():
        assert torch.equal(value, b["task"][key]), key
