"""Time budgets (--minutes), the choice of RUN/best (--best-metric), recipe profiles and residual nets."""

from __future__ import annotations

import importlib
import json

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_SR, TINY_UNET, pattern

import img2img
from img2img.checkpoint import load_checkpoint
from img2img.cli import main, train_summary
from img2img.config import PLANNED_STEPS, TrainConfig
from img2img.monitor import selection_score
from img2img.nets import create_model, init_weights
from img2img.presets import RECIPE_PROFILES, resolve_profile
from img2img.training import TimeBudget, train
from img2img_runtime.io import write_image

train_module = importlib.import_module("img2img.training")
FAST = dict(num_workers=0, progress=False, log_every=1, sample_every=1000, checkpoint_every=1000)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(train_module.time, "perf_counter", fake)
    return fake


def test_time_budget_measures_then_plans(clock):
    budget = TimeBudget(minutes=1.0, already=6.0)
    assert budget.skip == 2 and TimeBudget(1.0, skip=6).skip == 6
    assert budget.remaining() == 54.0 and not budget.spent()
    for done in range(1, budget.skip + 1):  # warm-up steps are not measured
        clock.now += 5.0
        assert not budget.speed_known(done)
    for done in range(budget.skip + 1, budget.skip + budget.probe_steps):
        clock.now += 0.5
        assert not budget.speed_known(done)
    clock.now += 0.5
    assert budget.speed_known(budget.skip + budget.probe_steps)
    assert budget.seconds_per_step() == pytest.approx(0.5)
    assert budget.plan_due(budget.skip + budget.probe_steps, planned=False)  # the first plan
    # 22 s elapsed, past both re-plan marks (6 + 10% and 6 + 25% of 60 s): one more plan, then none
    assert budget.plan_due(budget.skip + budget.probe_steps + 1, planned=True)
    assert not budget.plan_due(budget.skip + budget.probe_steps + 2, planned=True)
    clock.now = 100.0 + 54.0
    assert budget.spent() and budget.remaining() == 0.0
    assert not TimeBudget(None).spent() and TimeBudget(None).remaining() == float("inf")


def test_time_budget_probe_ends_early_for_slow_steps(clock):
    budget = TimeBudget(minutes=10.0)
    for done in range(1, budget.skip + 1):
        clock.now += 1.0
        budget.speed_known(done)
    clock.now += 15.0
    assert not budget.speed_known(budget.skip + 1)  # one slow step: not yet
    clock.now += 15.0
    assert budget.speed_known(budget.skip + 2)  # two steps and over probe_seconds
    assert budget.seconds_per_step() == pytest.approx(15.0)


def test_minutes_plans_steps_and_derived_counts():
    cfg = TrainConfig(task="srgan", data="x", out="y", minutes=5)
    assert cfg.steps == PLANNED_STEPS and not cfg.steps_planned
    cfg.plan_steps(1000)
    assert cfg.steps_planned and cfg.steps == 1000
    assert cfg.warmup_steps == 500 and cfg.decay_steps == 250  # half the steps, then half of what follows
    explicit = TrainConfig(task="pix2pix", data="x", out="y", minutes=5, decay_steps=7)
    explicit.plan_steps(100)
    assert explicit.decay_steps == 7  # given by the user: kept
    assert TrainConfig(task="pix2pix", data="x", out="y").steps == 10_000
    with pytest.raises(ValueError, match="minutes"):
        TrainConfig(task="pix2pix", data="x", out="y", minutes=0)


def test_minutes_stops_saves_and_resumes(tmp_path, paired_dir, monkeypatch, clock):
    monkeypatch.setattr(TimeBudget, "probe_steps", 2)
    real_step = train_module.Trainer.train_step

    def timed_step(self, batch):  # 1 s per step, then from step 28 on 10 s: the time runs out before the plan
        clock.now += 1.0 if self.step < 27 else 10.0
        return real_step(self, batch)

    monkeypatch.setattr(train_module.Trainer, "train_step", timed_step)
    run = tmp_path / "run"
    kw = dict(data=str(paired_dir), size=32, load_size=36, batch_size=2, val_every=1000, **TINY_UNET, **FAST)
    first = train("pix2pix", out=str(run), minutes=0.5, **kw)  # 30 s on the fake clock
    config = json.loads((run / "config.json").read_text())
    # measured from step 2 (num_workers=0): 1 s/step, planned at step 4 (4 + 26 * 0.95 -> 28 steps) and
    # again at 10, 25, 45, 65, 80 and 90% of the time; the last plan, at step 27 (27 s): 27 + 3 * 0.95 -> 29
    assert config["minutes"] == 0.5 and config["steps"] == 29
    # the decay began at step 14 (half of the 28 steps planned then) and now ends at the new last step
    assert config["decay_steps"] == 29 - 14, "a late plan moved the start of a decay that had begun"
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == first.step == 28 and state["train_seconds"] == 37.0  # 27 * 1 s + 10 s >= 30 s
    assert (run / "best" / "config.json").is_file(), "no validation when the time ran out"
    assert "val_psnr" in first.metrics
    again = train(out=str(run), resume=True, minutes=0.5)  # the budget is spent: nothing more to do
    assert again.step == 28
    longer = train(out=str(run), resume=True, minutes=8)  # a larger budget: planned again from the time left
    config = json.loads((run / "config.json").read_text())
    # planned at once from the run's average speed (37 s for 28 steps: 28 + 443 * 0.95 / 1.32 -> 346 steps),
    # then at 37 s + 10, 25, ... % of 480 s with the 10 s/step measured since: 70 at step 33, ..., 73
    assert longer.step == config["steps"] == 73 and config["steps_from_budget"]
    assert config["decay_steps"] == config["steps"] - 14, "the decay that had begun moved its start"
    finished = train(out=str(run), resume=True, minutes=12)  # its plan was done: a larger budget goes on
    assert finished.step > longer.step + 15


def test_a_budget_spent_before_the_speed_is_measured_ends_a_run_of_the_steps_made(
    tmp_path, paired_dir, monkeypatch, clock
):
    """config.json said steps 1000000000 (the planning placeholder) and "step 4 of 1000000000"."""
    monkeypatch.setattr(TimeBudget, "probe_steps", 50)
    real_step = train_module.Trainer.train_step

    def slow_step(self, batch):  # 10 s per step: a 0.5-minute budget is spent at step 3, before any plan
        clock.now += 10.0
        return real_step(self, batch)

    monkeypatch.setattr(train_module.Trainer, "train_step", slow_step)
    run = tmp_path / "run"
    kw = dict(data=str(paired_dir), size=32, load_size=36, batch_size=2, val_every=1000, **TINY_UNET, **FAST)
    result = train("pix2pix", out=str(run), minutes=0.5, **kw)
    config = json.loads((run / "config.json").read_text())
    assert result.step == config["steps"] == 3 and result.total_steps == 3
    assert config["decay_steps"] < PLANNED_STEPS


def test_steps_given_with_minutes_are_kept_and_the_budget_only_stops_the_run(tmp_path, paired_dir, monkeypatch, clock):
    monkeypatch.setattr(TimeBudget, "probe_steps", 2)
    real_step = train_module.Trainer.train_step

    def timed_step(self, batch):  # 1 s per step: 30 s of budget hold 30 steps
        clock.now += 1.0
        return real_step(self, batch)

    monkeypatch.setattr(train_module.Trainer, "train_step", timed_step)
    kw = dict(data=str(paired_dir), size=32, load_size=36, batch_size=2, val_every=1000, **TINY_UNET, **FAST)
    capped = train("pix2pix", out=str(tmp_path / "capped"), steps=40, minutes=0.5, **kw)
    config = json.loads((tmp_path / "capped" / "config.json").read_text())
    assert capped.step == 30 and config["steps"] == 40 and not config["steps_from_budget"]  # no re-plan
    short = train("pix2pix", out=str(tmp_path / "short"), steps=12, minutes=0.5, **kw)
    assert short.step == 12 == json.loads((tmp_path / "short" / "config.json").read_text())["steps"]
    # resuming a budget run with --steps: the user's steps from then on
    planned = train("pix2pix", out=str(tmp_path / "planned"), minutes=0.25, **kw)
    assert json.loads((tmp_path / "planned" / "config.json").read_text())["steps_from_budget"]
    more = train(out=str(tmp_path / "planned"), resume=True, steps=planned.step + 5, minutes=1)
    config = json.loads((tmp_path / "planned" / "config.json").read_text())
    assert more.step == planned.step + 5 == config["steps"] and not config["steps_from_budget"]
    old = TrainConfig.from_dict({k: v for k, v in config.items() if k != "steps_from_budget"})
    assert old.steps_from_budget  # a run saved before the field: its budget planned the steps


def test_time_budget_plans_again_with_the_recent_speed(clock):
    budget = TimeBudget(minutes=10.0, skip=0)
    budget.speed_known(0)
    for done in range(1, 13):  # 1 s per step while probing
        clock.now += 1.0
        budget.speed_known(done)
    assert budget.seconds_per_step() == pytest.approx(1.0)
    budget.planned()
    for done in range(13, 13 + 11):  # the machine gets busier: 3 s per step, fewer than probe_steps steps
        clock.now += 3.0
        budget.speed_known(done)
    assert budget.seconds_per_step() == pytest.approx((12 + 33) / 23)  # too few: since the probe began
    clock.now += 3.0
    budget.speed_known(24)
    assert budget.seconds_per_step() == pytest.approx(3.0)  # 12 steps since the last plan: their speed


def test_late_plans_keep_passed_boundaries():
    cfg = TrainConfig(task="srgan", data="x", out="y", minutes=5)
    cfg.plan_steps(1000)
    assert (cfg.warmup_steps, cfg.decay_steps) == (500, 250)  # decay (x0.1) from step 750
    cfg.plan_steps(1200, done=400)  # nothing passed yet: everything follows the new total
    assert (cfg.warmup_steps, cfg.decay_steps) == (600, 300)
    cfg.plan_steps(1400, done=700)  # the warm-up is over: it stays at 600; decay from 1000
    assert (cfg.warmup_steps, cfg.decay_steps) == (600, 400)
    cfg.plan_steps(1300, done=1100)  # the decay began at 1000: it keeps its start
    assert (cfg.warmup_steps, cfg.decay_steps) == (600, 300) and cfg.steps - cfg.decay_steps == 1000
    user = TrainConfig(task="pix2pix", data="x", out="y", minutes=5, decay_steps=7)
    user.plan_steps(100, done=99)
    assert user.decay_steps == 7  # given by the user: kept


def test_decay_fraction_sets_the_decays_share_of_the_steps_after_the_warm_up():
    from img2img.optimization import lr_factor

    assert TrainConfig(task="pix2pix", data="x", out="y", steps=1000).decay_steps == 500  # the default half
    assert TrainConfig(task="pix2pix", data="x", out="y", steps=1000, decay_fraction=0.2).decay_steps == 200
    sr = TrainConfig(task="srgan", data="x", out="y", minutes=5, warmup_fraction=0.3, decay_fraction=0.25)
    sr.plan_steps(1000)
    assert (sr.warmup_steps, sr.decay_steps) == (300, 175)  # a quarter of the 700 GAN-stage steps
    sr.plan_steps(2000, done=100)  # re-planned with the steps like the warm-up
    assert (sr.warmup_steps, sr.decay_steps) == (600, 350)
    sr.plan_steps(1800, done=1700)  # the decay began at 1650: it keeps its start
    assert sr.steps - sr.decay_steps == 1650
    constant = TrainConfig(task="srgan", data="x", out="y", steps=1000, decay_fraction=0.0)
    assert constant.decay_steps == 0 and lr_factor(999, 1000, constant.decay_steps, "step") == 1.0
    whole = TrainConfig(task="srgan", data="x", out="y", steps=1000, warmup_steps=0, decay_fraction=1.0)
    assert whole.decay_steps == 1000 and lr_factor(0, 1000, whole.decay_steps, "step") == pytest.approx(0.1)
    given = TrainConfig(task="pix2pix", data="x", out="y", steps=1000, decay_steps=7, decay_fraction=0.2)
    assert given.decay_steps == 7  # --decay-steps wins
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="decay_fraction"):
            TrainConfig(task="pix2pix", data="x", out="y", steps=1000, decay_fraction=bad)


def test_selection_scores():
    metrics = {"step": 7, "val_psnr": 25.0, "val_ssim": 0.8, "val_sharpness": 0.5}
    assert selection_score(metrics, "psnr") == 25.0
    assert selection_score(metrics, "ssim") == 0.8
    assert selection_score(metrics, "last") == 7.0
    assert selection_score(metrics, "sharpness") == pytest.approx(-abs(torch.log(torch.tensor(0.5)).item()))
    assert selection_score({**metrics, "val_sharpness": 2.0}, "sharpness") == pytest.approx(
        selection_score(metrics, "sharpness")
    )
    assert selection_score({**metrics, "val_sharpness": 1.2}, "sharpness") > selection_score(metrics, "sharpness")
    assert selection_score({"val_cycle_psnr": 30.0}, "cycle_psnr") == 30.0
    assert selection_score({}, "psnr") is None
    with pytest.raises(ValueError, match="the pix2pix task does not score 'fid'"):
        TrainConfig(task="pix2pix", data="x", out="y", best_metric="fid")


def test_gan_warmup_is_never_best_and_last_keeps_latest(tmp_path, sr_dir):
    (sr_dir / "train").mkdir()
    for path in list(sr_dir.glob("*.png")):
        path.rename(sr_dir / "train" / path.name)
    write_image(sr_dir / "val" / "v.png", pattern(9, 64))
    kw = dict(data=str(sr_dir), size=32, batch_size=2, steps=6, warmup_steps=4, val_every=1, **TINY_SR, **FAST)
    result = train("srgan", out=str(tmp_path / "gan"), **kw)
    assert result.best["best_step"] > 4, "a pixel-loss warm-up checkpoint was chosen as the GAN run's best"
    assert json.loads((tmp_path / "gan" / "best" / "config.json").read_text())["training"]["best_step"] > 4
    latest = train("srgan", out=str(tmp_path / "last"), best_metric="last", **kw)
    assert latest.best["best_step"] == 6 and latest.best["best_metric"] == "last"
    line = train_summary(latest)
    assert "latest model in" in line and "best by last" in line and "step 6" in line


def test_recipe_profiles_fill_only_what_the_user_left_unset():
    cfg = TrainConfig(task="pix2pix", data="x", out="y", recipe="restore", device="cpu")
    cpu = RECIPE_PROFILES["restore"]["cpu"]
    assert (
        cfg.profile == "cpu" and cfg.size == cpu["size"] and cfg.batch_size == cpu["batch_size"] and cfg.lr == cpu["lr"]
    )
    assert cfg.generator_kwargs["residual"] is True
    mine = TrainConfig(
        task="pix2pix",
        data="x",
        out="y",
        recipe="restore",
        device="cpu",
        size=64,
        lr=1e-3,
        generator_kwargs={"base_channels": 8},
    )
    assert mine.size == 64 and mine.lr == 1e-3
    # the colour head's windows follow the training crop size (the profile's, or the user's)
    assert mine.generator_kwargs == {**cpu["generator_kwargs"], "base_channels": 8, "color_window": 64}
    assert cfg.generator_kwargs["color_window"] == cfg.size == 128
    assert cfg.best_metric == "last"  # restore: no GAN term, the learning rate decays to 0
    assert TrainConfig(task="pix2pix", data="x", out="y", recipe="restore", best_metric="ssim").best_metric == "ssim"
    assert TrainConfig(task="pix2pix", data="x", out="y", recipe="colorize").best_metric == "psnr"
    # restore training photos get a tone curve and hue turn before the damage; the user's strength wins
    assert cfg.vary_photos == cpu["vary_photos"] == 1.0
    assert TrainConfig(task="pix2pix", data="x", out="y", recipe="restore", vary_photos=0.0).vary_photos == 0.0
    assert TrainConfig(task="pix2pix", data="x", out="y", recipe="colorize").vary_photos is None
    with pytest.raises(ValueError, match="vary_photos"):
        TrainConfig(task="pix2pix", data="x", out="y", recipe="restore", vary_photos=-0.5)
    # sr on a CPU: a stronger GAN term than the paper's; the GPU profile keeps 1e-3; a PSNR-oriented 0 is kept
    sr_cpu = TrainConfig(task="srgan", data="x", out="y", recipe="sr", device="cpu", steps=1000)
    assert sr_cpu.adv_weight == 2e-2 and sr_cpu.warmup_fraction == 0.3 and sr_cpu.warmup_steps == 300
    assert sr_cpu.decay_steps == 350  # half the steps after the warm-up
    assert sr_cpu.generator_kwargs["head_kernel"] == 3  # a CPU profile's SRResNet ends with a 3x3 conv, not 9x9
    assert (
        "head_kernel" not in TrainConfig(task="srgan", data="x", out="y", recipe="sr", profile="gpu").generator_kwargs
    )
    sr_cpu.plan_steps(2000, done=100)  # a time budget's plan moves the warm-up with the steps
    assert sr_cpu.warmup_steps == 600 and sr_cpu.decay_steps == 700
    sr_cpu.plan_steps(1500, done=700)  # ... until it is over
    assert sr_cpu.warmup_steps == 600 and sr_cpu.decay_steps == 450
    sr_gpu = TrainConfig(task="srgan", data="x", out="y", recipe="sr", profile="gpu", steps=1000)
    assert sr_gpu.adv_weight == 1e-3 and sr_gpu.warmup_fraction is None and sr_gpu.warmup_steps == 500  # the paper's
    assert (
        TrainConfig(
            task="srgan", data="x", out="y", recipe="sr", device="cpu", steps=1000, warmup_steps=50
        ).warmup_steps
        == 50
    )
    assert TrainConfig(task="srgan", data="x", out="y", steps=1000, warmup_fraction=0.0).warmup_steps == 0
    with pytest.raises(ValueError, match="warmup_fraction"):
        TrainConfig(task="srgan", data="x", out="y", steps=1000, warmup_fraction=1.5)
    assert TrainConfig(task="srgan", data="x", out="y", recipe="sr", device="cpu", adv_weight=0.0).adv_weight == 0.0
    own = TrainConfig(
        task="pix2pix", data="x", out="y", recipe="restore", device="cpu", generator_kwargs={"color_window": 0}
    )
    assert own.generator_kwargs["color_window"] == 0
    other = TrainConfig(task="pix2pix", data="x", out="y", recipe="restore", device="cpu", generator="resnet_6blocks")
    assert other.generator_kwargs == {}, "profile arguments of another generator were applied"
    gpu = TrainConfig(task="srgan", data="x", out="y", recipe="sr", profile="gpu")
    assert gpu.profile == "gpu" and gpu.batch_size == RECIPE_PROFILES["sr"]["gpu"]["batch_size"]
    assert cfg.channels_last is True and cfg.color_replay == cpu["color_replay"] > 0 and cfg.lambda_color == 0.0
    assert (
        TrainConfig(
            task="pix2pix", data="x", out="y", recipe="restore", device="cpu", channels_last=False
        ).channels_last
        is False
    )
    headless = TrainConfig(
        task="pix2pix", data="x", out="y", recipe="restore", device="cpu", generator_kwargs={"global_color": False}
    )
    assert headless.color_replay == 0 and headless.lambda_color == 0.0, "a colour-head loss without a colour head"
    assert "color_window" not in headless.generator_kwargs  # no head, no windows (the U-Net would refuse them)
    assert "vignette_scale" not in headless.generator_kwargs
    plain_head = TrainConfig(
        task="pix2pix", data="x", out="y", recipe="restore", device="cpu", generator_kwargs={"global_vignette": False}
    )
    assert "vignette_scale" not in plain_head.generator_kwargs  # no vignette, nothing to scale
    assert cfg.generator_kwargs["vignette_scale"] == cpu["generator_kwargs"]["vignette_scale"] == 0.75
    chosen = TrainConfig(
        task="pix2pix", data="x", out="y", recipe="restore", device="cpu", generator_kwargs={"vignette_scale": 1.0}
    )
    assert chosen.generator_kwargs["vignette_scale"] == 1.0  # the user's scale wins
    # a colour-head loss in the generator's objective moves nothing once the head trains on its own
    mixed = TrainConfig(task="pix2pix", data="x", out="y", recipe="restore", device="cpu", lambda_color=50.0)
    assert mixed.color_replay == cpu["color_replay"] and mixed.lambda_color == 0.0
    joint = TrainConfig(
        task="pix2pix", data="x", out="y", recipe="restore", device="cpu", color_replay=0, lambda_color=50.0
    )
    assert joint.color_replay == 0 and joint.lambda_color == 50.0
    plain = TrainConfig(task="pix2pix", data="x", out="y")
    assert plain.profile is None and plain.size == 256 and plain.channels_last is False and plain.lambda_color == 0.0
    assert plain.color_replay == 0
    assert resolve_profile(None, "cuda:1") == "gpu" and resolve_profile(None, "cpu") == "cpu"
    with pytest.raises(ValueError, match="profile"):
        resolve_profile("tpu", "cpu")


def test_residual_nets_start_as_their_baseline():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    unet = init_weights(create_model("unet_256", num_downs=3, base_channels=8, upsample="resize", residual=True))
    assert torch.equal(unet(x), x)
    sr = init_weights(create_model("srresnet_x4", num_blocks=1, base_channels=8, residual=True))
    expected = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False).clamp(-1, 1)
    assert torch.allclose(sr(x), expected, atol=1e-6)
    with pytest.raises(ValueError, match="in_channels == out_channels"):
        create_model("unet_256", in_channels=1, out_channels=3, residual=True)


def test_global_context_starts_without_effect_and_sees_the_whole_picture():
    torch.manual_seed(0)
    kwargs = dict(num_downs=3, base_channels=8, upsample="resize", norm="none", residual=True)
    plain = init_weights(create_model("unet_256", **kwargs))
    ctx = create_model("unet_256", **kwargs, global_context=True)
    ctx.load_state_dict(plain.state_dict(), strict=False)
    init_weights(ctx)
    ctx.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        plain.up[-1].conv.weight.normal_(0, 0.1)
        ctx.up[-1].conv.weight.copy_(plain.up[-1].conv.weight)
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    assert torch.allclose(ctx(x), plain(x), atol=1e-6)  # the context MLP's last layer starts at zero
    assert ctx.config["global_context"] is True and plain.config["global_context"] is False
    with torch.no_grad():
        ctx.context[2].weight.normal_(0, 0.5)
    far = x.clone()
    far[..., 112:, 112:] = 1.0  # change one corner: with the context, the opposite corner's output changes
    assert torch.allclose(plain(x)[..., :8, :8], plain(far)[..., :8, :8])
    assert not torch.allclose(ctx(x)[..., :8, :8], ctx(far)[..., :8, :8])


def test_recipe_run_uses_residual_defaults_end_to_end(tmp_path):
    photos = tmp_path / "photos"
    for i in range(3):
        write_image(photos / "train" / f"p{i}.png", pattern(i, 80))
    write_image(photos / "val" / "v.png", pattern(7, 80))
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "pix2pix",
                "--data",
                str(photos),
                "--task",
                "restore",
                "--out",
                str(run),
                "--steps",
                "3",
                "--size",
                "32",
                "--batch-size",
                "2",
                "--num-downs",
                "3",
                "--base-channels",
                "8",
                "--num-workers",
                "0",
                "--val-every",
                "1",
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    config = json.loads((run / "config.json").read_text())
    assert config["profile"] == "cpu" and config["generator_kwargs"]["residual"] is True
    assert config["generator_kwargs"]["global_color"] is True and config["pixel_loss"] == "psnr"
    assert config["color_replay"] > 0 and config["lambda_color"] == 0.0 and config["channels_last"] is True
    assert any("color_fit" in json.loads(line) for line in (run / "log.jsonl").read_text().splitlines())
    model = json.loads((run / "best" / "config.json").read_text())
    net = model["directions"]["AtoB"]["net"]
    assert net["residual"] is True and net["global_color"] is True
    head = img2img.Translator.from_pretrained(run).net().color
    assert head is not None and net["vignette_scale"] == 0.75  # the colour head is loaded, with the recipe's scale
    assert float(head.vignette_scale) == 0.75 and not head.training
    # a restore run saved before the replayed colour head, its vignette and the detail-only U-Net resumes
    # with the net and the optimizers it trained (its config lacks those options: the profile must not add them)
    old = json.loads((run / "config.json").read_text())
    old.pop("color_replay")
    old["lambda_color"] = 50.0
    for key in ("global_vignette", "detail_sigma", "vignette_scale"):
        old["generator_kwargs"].pop(key)
    restored = TrainConfig.from_dict(old)
    assert restored.color_replay == 0 and restored.lambda_color == 50.0
    assert restored.generator_kwargs["global_vignette"] is False and restored.generator_kwargs["detail_sigma"] == 0.0
    assert "vignette_scale" not in restored.generator_kwargs  # no vignette: the profile's scale is left out
    # a run saved with the vignette but before its scale existed keeps undoing it as predicted
    scaled = json.loads((run / "config.json").read_text())
    assert scaled["generator_kwargs"]["vignette_scale"] == 0.75
    scaled["generator_kwargs"].pop("vignette_scale")
    assert TrainConfig.from_dict(scaled).generator_kwargs["vignette_scale"] == 1.0
    new = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    assert new.color_replay == config["color_replay"] and new.generator_kwargs == config["generator_kwargs"]


def test_pix2pix_unet_defaults_to_instance_norm_and_old_runs_keep_theirs():
    assert TrainConfig(task="pix2pix", data="x", out="y").generator_kwargs["norm"] == "instance"
    assert (
        TrainConfig(task="pix2pix", data="x", out="y", generator_kwargs={"norm": "batch"}).generator_kwargs["norm"]
        == "batch"
    )
    assert "norm" not in TrainConfig(task="pix2pix", data="x", out="y", generator="resnet_6blocks").generator_kwargs
    old = TrainConfig(task="pix2pix", data="x", out="y").to_dict()
    for key in ("auto_steps", "lr_schedule"):  # what a run saved before these options existed lacks
        old.pop(key)
    old.update(generator_kwargs={}, adv_weight=1e-3)
    restored = TrainConfig.from_dict(old)
    assert restored.generator_kwargs["norm"] == "batch" and restored.adv_weight == 1.0


def test_a_best_metric_the_task_does_not_score_is_refused(tmp_path):
    """RUN/best would never be written: pix2pix has no round trip, CycleGAN no targets."""
    for task, metric in (("pix2pix", "cycle_psnr"), ("srgan", "inception"), ("cyclegan", "psnr")):
        with pytest.raises(ValueError, match=f"does not score '{metric}'"):
            TrainConfig(task=task, data=str(tmp_path), out="y", best_metric=metric)
    for task, metric in (("pix2pix", "ssim"), ("srgan", "sharpness"), ("cyclegan", "cycle_psnr"), ("cyclegan", "last")):
        assert TrainConfig(task=task, data=str(tmp_path), out="y", best_metric=metric).best_metric == metric


def test_srgan_refuses_options_it_cannot_honour(tmp_path):
    """They were accepted, then crashed mid-run (BtoA, gray) or were ignored (load_size)."""
    for options, words in (
        ({"direction": "BtoA"}, "direction"),
        ({"in_channels": 1}, "in-channels"),
        ({"out_channels": 1}, "out-channels"),
        ({"load_size": 500}, "load-size"),
    ):
        with pytest.raises(ValueError, match=words):
            TrainConfig(task="srgan", data=str(tmp_path), out="y", **options)
