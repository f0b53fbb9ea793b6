"""Tasks: every loss term trains the generator, steps change every net, pix2pix can overfit."""

from __future__ import annotations

import copy
import json
import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from img2img import losses
from img2img.config import TrainConfig
from img2img.optimization import Optimization, lr_factor
from img2img.tasks import SRGAN, CycleGAN, ImagePool, Pix2Pix, RowReplay, build_task

TINY_D = {"base_channels": 8, "num_layers": 2}


def tiny(name: str, **kw) -> torch.nn.Module:
    dkw = kw.pop("discriminator_kwargs", TINY_D)
    if name == "pix2pix":  # Pix2Pix keeps the PatchGAN's batch norm, which a WGAN-GP critic refuses
        if kw.get("gan_mode") == "wgangp":
            dkw = {"norm": "instance", **dkw}
        return Pix2Pix(
            generator="unet_256", generator_kwargs={"num_downs": 4, "base_channels": 8}, discriminator_kwargs=dkw, **kw
        )
    if name == "cyclegan":
        return CycleGAN(
            generator="resnet_6blocks",
            generator_kwargs={"num_blocks": 1, "base_channels": 8},
            discriminator_kwargs=dkw,
            **kw,
        )
    return SRGAN(
        generator="srresnet_x4", generator_kwargs={"num_blocks": 1, "base_channels": 8}, discriminator_kwargs=dkw, **kw
    )


def batch_for(task, n: int = 2, size: int = 32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    if task.name == "srgan":
        return {
            "A": torch.rand(n, 3, size // 4, size // 4, generator=g) * 2 - 1,
            "B": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        }
    return {
        "A": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        "B": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
    }


def make_opt(task, lr: float = 2e-4) -> Optimization:
    return Optimization(
        {k: torch.optim.Adam(v, lr=lr, betas=(0.5, 0.999)) for k, v in task.parameter_groups().items()},
        device=torch.device("cpu"),
    )


def generator_terms(task, batch) -> dict[str, torch.Tensor]:
    a, b = batch["A"], batch["B"]
    if task.name == "pix2pix":
        return task.generator_losses(a, b, task.generator(a))
    if task.name == "cyclegan":
        return task.generator_losses(a, b, task.forward_cycle(a, b))
    return task.generator_losses(b, task.generator(a))


def assert_term_trains_generators(task, name: str, term: torch.Tensor) -> None:
    generators = list(task.generators().values())
    params = [p for g in generators for p in g.parameters()]
    grads = torch.autograd.grad(term, params, allow_unused=True, retain_graph=True)
    total = sum(float(g.abs().sum()) for g in grads if g is not None)
    assert term.requires_grad, f"{task.name}: loss term {name} is detached from the graph"
    assert total > 0, f"{task.name}: loss term {name} carries no gradient to the generator"


@pytest.mark.parametrize("task_name", ["pix2pix", "cyclegan", "srgan"])
@pytest.mark.parametrize("gan_mode", losses.GAN_MODES)
def test_every_generator_loss_term_has_gradient(task_name, gan_mode):
    torch.manual_seed(0)
    task = tiny(task_name, gan_mode=gan_mode)
    terms = generator_terms(task, batch_for(task))
    expected = {
        "pix2pix": {"G_gan", "G_L1"},
        "cyclegan": {"G_AB_gan", "G_BA_gan", "cycle_A", "cycle_B", "idt_A", "idt_B"},
        "srgan": {"G_pixel", "G_fm", "G_gan"},
    }[task_name]
    assert set(terms) == expected
    for name, term in terms.items():
        assert term.dim() == 0
        assert_term_trains_generators(task, name, term)


@pytest.fixture(scope="module")
def vgg54_state() -> dict[str, torch.Tensor]:
    """A random VGG19 ``features`` state dict up to relu5_4 (what SRGAN's content loss needs)."""
    torch.manual_seed(0)
    return {k: v.clone() for k, v in losses._vgg19_features(losses.VGG19_LAYERS["relu5_4"] + 1).state_dict().items()}


@pytest.fixture
def vgg54_file(tmp_path, vgg54_state):
    path = tmp_path / "vgg19_random.pth"
    torch.save(vgg54_state, path)
    return path


def test_srgan_perceptual_content_loss_has_gradient(vgg54_file):
    task = tiny("srgan", vgg_weights=str(vgg54_file))
    terms = generator_terms(task, batch_for(task))
    assert set(terms) == {"G_content", "G_gan"}
    for name, term in terms.items():
        assert_term_trains_generators(task, name, term)
    assert not any(k.startswith("perceptual.") for k in task.state_dict()), (
        "the frozen VGG must not be saved with the model"
    )


def test_srgan_warmup_uses_pixel_loss_only():
    task = tiny("srgan", warmup_steps=5)
    d_before = copy.deepcopy(task.discriminator.state_dict())
    logs = task.training_step(batch_for(task), make_opt(task), step=0)
    assert set(logs) == {"G_pixel"}
    assert all(torch.equal(v, task.discriminator.state_dict()[k]) for k, v in d_before.items())
    logs = task.training_step(batch_for(task), make_opt(task), step=5)
    assert {"D_real", "D_fake", "G_gan"} <= set(logs)


@pytest.mark.parametrize("task_name", ["pix2pix", "cyclegan", "srgan"])
def test_discriminator_gradient_penalty_is_applied(task_name):
    task = tiny(task_name, gan_mode="wgangp")
    batch = batch_for(task)
    a, b = batch["A"], batch["B"]
    if task_name == "cyclegan":
        out = task.forward_cycle(a, b)
        terms = task.discriminator_losses(a, b, out["fake_A"], out["fake_B"])
        gp = terms["D_A_gp"] + terms["D_B_gp"]
        d_params = [*task.D_A.parameters(), *task.D_B.parameters()]
    else:
        fake = task.generator(a)
        terms = task.discriminator_losses(a, b, fake) if task_name == "pix2pix" else task.discriminator_losses(b, fake)
        gp = terms["D_gp"]
        d_params = list(task.discriminator.parameters())
    assert float(gp.detach()) > 0
    grads = torch.autograd.grad(gp, d_params, allow_unused=True)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


@pytest.mark.parametrize("task_name", ["pix2pix", "cyclegan", "srgan"])
def test_one_step_changes_every_net(task_name):
    torch.manual_seed(0)
    task = tiny(task_name)
    before = {k: v.clone() for k, v in task.named_parameters()}
    logs = task.training_step(batch_for(task), make_opt(task), step=0)
    assert all(isinstance(v, float) and v == v for v in logs.values())
    nets = {**task.generators(), **{f"D{i}": d for i, d in enumerate(task.discriminators())}}
    for net_name, net in nets.items():
        prefix = next(name for name, module in task.named_children() if module is net)
        for name, param in net.named_parameters():
            assert not torch.equal(param, before[f"{prefix}.{name}"]), f"{task_name}: {net_name}.{name} did not change"


def test_pix2pix_overfits_two_pairs():
    """L1 between output and target on two 64x64 pairs falls below half of its starting value."""
    from conftest import degrade, pattern

    torch.manual_seed(0)
    b = torch.stack([torch.from_numpy(pattern(i)).permute(2, 0, 1) for i in range(2)]).float() / 127.5 - 1
    a = torch.stack([torch.from_numpy(degrade(pattern(i))).permute(2, 0, 1) for i in range(2)]).float() / 127.5 - 1
    task = Pix2Pix(
        generator="unet_256",
        generator_kwargs={"num_downs": 6, "base_channels": 16, "dropout": 0.0},
        discriminator_kwargs={"base_channels": 16},
    )
    opt = make_opt(task, lr=1e-3)

    def l1() -> float:
        task.eval()
        with torch.no_grad():
            value = float((task.generator(a) - b).abs().mean())
        task.train()
        return value

    start = l1()
    for step in range(120):
        task.training_step({"A": a, "B": b}, opt, step)
        opt.end_iteration()
    end = l1()
    assert end < 0.5 * start, f"L1 {start:.3f} -> {end:.3f}"


def test_image_pool_mixes_history_and_round_trips():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returns the new images
    out = pool.query(torch.full((64, 1, 1, 1), 100.0))
    old = (out < 100).sum().item()
    assert 0 < old < 64  # about half come from the history
    state = pool.state()
    other = ImagePool(4)
    other.load(state, torch.device("cpu"))
    assert torch.equal(other.state(), state)
    assert torch.equal(ImagePool(0).query(first), first)


def test_build_task_rejects_unknown():
    with pytest.raises(ValueError, match="unknown task 'nope'.*cyclegan"):
        build_task("nope")
    with pytest.raises(ValueError, match="gan_mode"):
        tiny("pix2pix", gan_mode="bogus")


# ------------------------------------------------------------------ schedules and per-task defaults


def test_lr_factor_linear_and_step_exact():
    assert [lr_factor(s, 10, 4) for s in (0, 5, 6, 7, 8, 9, 10)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    assert [lr_factor(s, 10, 4, "linear") for s in (6, 8)] == [1.0, 0.5]
    assert [lr_factor(s, 10, 4, "step") for s in (0, 5, 6, 7, 9, 10)] == [1.0, 1.0, 0.1, 0.1, 0.1, 0.1]
    assert lr_factor(9, 10, 0, "step") == lr_factor(9, 10, 0, "linear") == 1.0
    with pytest.raises(ValueError, match="linear, step"):
        lr_factor(0, 10, 4, "cosine")


def test_optimisation_defaults_per_task():
    p2p, cyc, sr = (TrainConfig(task=t, steps=100) for t in ("pix2pix", "cyclegan", "srgan"))
    for cfg in (p2p, cyc):
        assert (cfg.lr, cfg.beta1, cfg.beta2, cfg.lr_schedule, cfg.warmup_steps, cfg.decay_steps) == (
            2e-4,
            0.5,
            0.999,
            "linear",
            0,
            50,
        )
    # SRGAN (Ledig et al.): Adam(1e-4, 0.9, 0.999); a PSNR warm-up of half the steps; x0.1 for the second
    # half of the adversarial stage
    assert (sr.lr, sr.beta1, sr.beta2, sr.lr_schedule, sr.warmup_steps, sr.decay_steps) == (
        1e-4,
        0.9,
        0.999,
        "step",
        50,
        25,
    )
    assert [lr_factor(s, sr.steps, sr.decay_steps, sr.lr_schedule) for s in (0, 49, 50, 74, 75, 99)] == [
        1,
        1,
        1,
        1,
        0.1,
        0.1,
    ]
    saved = sr.to_dict()
    assert (saved["lr"], saved["beta1"], saved["lr_schedule"], saved["warmup_steps"], saved["decay_steps"]) == (
        1e-4,
        0.9,
        "step",
        50,
        25,
    )
    assert TrainConfig.from_dict(saved) == sr
    assert sr.task_kwargs()["warmup_steps"] == 50
    # explicit values win; an explicit 0 means no warm-up (then the drop is at half the steps)
    own = TrainConfig(task="srgan", steps=100, lr=3e-4, beta1=0.5, lr_schedule="linear", warmup_steps=0)
    assert (own.lr, own.beta1, own.lr_schedule, own.warmup_steps, own.decay_steps) == (3e-4, 0.5, "linear", 0, 50)
    assert TrainConfig(task="srgan", steps=100, warmup_steps=20).decay_steps == 40
    assert TrainConfig(task="srgan", steps=100, decay_steps=10).decay_steps == 10
    assert TrainConfig(task="pix2pix", steps=100, lr_schedule="step").lr_schedule == "step"
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(task="pix2pix", lr_schedule="cosine")
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(task="srgan", warmup_steps=-1)


def test_time_budget_rederives_the_srgan_warmup_and_decay():
    cfg = TrainConfig(task="srgan", minutes=1.0)
    cfg.plan_steps(200)
    assert (cfg.warmup_steps, cfg.decay_steps) == (100, 50)
    own = TrainConfig(task="srgan", minutes=1.0, warmup_steps=40)
    own.plan_steps(200)
    assert (own.warmup_steps, own.decay_steps) == (40, 80)


def test_legacy_run_config_keeps_its_schedule_and_discriminator_norm():
    old = TrainConfig(task="cyclegan", steps=100).to_dict()
    for key in ("lr_schedule", "content_loss"):
        old.pop(key)
    old["discriminator_kwargs"] = {"base_channels": 8}
    cfg = TrainConfig.from_dict(old)
    assert cfg.lr_schedule == "linear" and cfg.discriminator_kwargs == {"base_channels": 8, "norm": "batch"}


# ------------------------------------------------------------------ SRGAN content loss


@pytest.fixture
def no_vgg_env(tmp_path, monkeypatch):
    monkeypatch.delenv(losses.VGG19_WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path


def test_srgan_content_loss_is_resolved_and_never_from_the_torch_cache(no_vgg_env, vgg54_file, monkeypatch):
    cache = no_vgg_env / "torch_home" / "hub" / "checkpoints" / losses.VGG19_CACHE_FILENAME
    cache.parent.mkdir(parents=True)
    cache.write_bytes(vgg54_file.read_bytes())
    assert losses.find_vgg19_weights() == cache  # the library still finds it for PerceptualLoss ...
    cfg = TrainConfig(task="srgan")
    assert (cfg.content_loss, cfg.vgg_weights) == ("l1+fm", None)  # ... but SRGAN does not use it silently
    task = tiny("srgan")
    assert task.content_loss == "l1+fm" and task.config["content_loss"] == "l1+fm"
    assert set(generator_terms(task, batch_for(task))) == {"G_pixel", "G_fm", "G_gan"} and task.perceptual is None

    cfg = TrainConfig(task="srgan", vgg_weights=str(vgg54_file))
    assert (cfg.content_loss, cfg.vgg_weights) == ("vgg", str(vgg54_file))
    assert cfg.to_dict()["content_loss"] == "vgg" and cfg.task_kwargs()["content_loss"] == "vgg"
    monkeypatch.setenv(losses.VGG19_WEIGHTS_ENV, str(vgg54_file))  # the environment variable is recorded as the path
    assert (TrainConfig(task="srgan").content_loss, TrainConfig(task="srgan").vgg_weights) == ("vgg", str(vgg54_file))
    assert TrainConfig(task="srgan", content_loss="l1+fm").vgg_weights is None
    assert TrainConfig(task="pix2pix").content_loss is None
    with pytest.raises(
        ValueError, match=r"the pix2pix task does not use content_loss \(--content-loss\), an option of srgan"
    ):
        TrainConfig(task="pix2pix", content_loss="vgg")
    with pytest.raises(ValueError, match="needs a local VGG19"):
        tiny("srgan", content_loss="vgg")
    with pytest.raises(ValueError, match="does not use VGG"):
        tiny("srgan", content_loss="l1+fm", vgg_weights=str(vgg54_file))
    with pytest.raises(ValueError, match="content_loss must be"):
        tiny("srgan", content_loss="lpips")


def test_srgan_vgg_content_loss_is_the_papers(vgg54_file, vgg54_state):
    """relu5_4 (phi_5,4) features of SR and HR, each divided by 12.75, then the MSE."""
    task = tiny("srgan", vgg_weights=str(vgg54_file))
    torch.manual_seed(3)
    hr = torch.rand(2, 3, 32, 32) * 2 - 1
    sr = torch.rand(2, 3, 32, 32) * 2 - 1
    terms = task.generator_losses(hr, sr)
    vgg = losses._vgg19_features(losses.VGG19_LAYERS["relu5_4"] + 1)
    vgg.load_state_dict(vgg54_state)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def phi(t):
        return vgg(((t + 1) / 2 - mean) / std)  # the last module is relu5_4

    with torch.no_grad():
        expected = F.mse_loss(phi(sr) / 12.75, phi(hr) / 12.75)
    torch.testing.assert_close(terms["G_content"].detach(), expected)
    assert task.perceptual.layers == ("relu5_4",) and task.perceptual.criterion == "l2"


def test_srgan_vgg_is_never_needed_for_inference(tmp_path, sr_dir, vgg54_file, no_vgg_env, caplog):
    from conftest import TINY_SR

    import img2img
    from img2img.training import train

    run = tmp_path / "run"
    fast = dict(num_workers=0, progress=False, log_every=1, sample_every=1000, val_every=1000, checkpoint_every=1000)
    with caplog.at_level(logging.INFO, logger="img2img"):
        train(
            "srgan",
            data=str(sr_dir),
            out=str(run),
            steps=2,
            size=32,
            batch_size=2,
            vgg_weights=str(vgg54_file),
            **TINY_SR,
            **fast,
        )
    assert f"srgan content loss: vgg19 relu5_4 MSE on features / 12.75 ({vgg54_file})" in caplog.text
    saved = json.loads((run / "config.json").read_text())
    assert (saved["content_loss"], saved["vgg_weights"], saved["warmup_steps"]) == ("vgg", str(vgg54_file), 1)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    for group in (g for opt in ckpt["optimization"]["optimizers"].values() for g in opt["param_groups"]):
        assert group["initial_lr"] == 1e-4 and tuple(group["betas"]) == (0.9, 0.999)

    vgg54_file.unlink()  # the VGG file moved away after training
    lr_image = torch.rand(3, 8, 8)
    for source in (run / "checkpoints" / "last.pt", run / "model", run):
        translator = img2img.Translator.from_pretrained(source, device="cpu")
        assert translator(lr_image).shape == (3, 32, 32)
    with pytest.raises(FileNotFoundError, match="does not exist"):  # training with it fails at once, loudly
        train(out=str(run), resume=True, steps=3)


# ------------------------------------------------------------------ discriminator norms and WGAN-GP


def norm_layers(net: nn.Module) -> set[type]:
    return {type(m) for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))}


def test_discriminator_norms_follow_the_papers():
    cyc = tiny("cyclegan")
    assert norm_layers(cyc.D_A) == norm_layers(cyc.D_B) == {nn.InstanceNorm2d}
    assert cyc.config["discriminator_kwargs"]["norm"] == "instance"
    assert norm_layers(tiny("pix2pix").discriminator) == {nn.BatchNorm2d}
    assert norm_layers(tiny("srgan").discriminator) == {nn.BatchNorm2d}
    own = CycleGAN(
        generator="resnet_6blocks",
        generator_kwargs={"num_blocks": 1, "base_channels": 8},
        discriminator_kwargs={**TINY_D, "norm": "batch"},
    )
    assert norm_layers(own.D_A) == {nn.BatchNorm2d}
    # what the training loop builds, recorded in the run's config
    cfg = TrainConfig(
        task="cyclegan",
        generator="resnet_6blocks",
        generator_kwargs={"num_blocks": 1, "base_channels": 8},
        discriminator_kwargs=dict(TINY_D),
    )
    assert cfg.discriminator_kwargs == {**TINY_D, "norm": "instance"}
    task = build_task(cfg.task, **cfg.task_kwargs())
    assert norm_layers(task.D_A) == {nn.InstanceNorm2d}
    assert TrainConfig(task="pix2pix").discriminator_kwargs == {"norm": "batch"}


def test_wgangp_critic_defaults_to_instance_norm_and_refuses_batch_norm():
    for name in ("cyclegan", "srgan"):
        task = tiny(name, gan_mode="wgangp")
        assert all(norm_layers(d) == {nn.InstanceNorm2d} for d in task.discriminators())
        with pytest.raises(ValueError, match="--d-norm instance or --d-norm none"):
            tiny(name, gan_mode="wgangp", discriminator_kwargs={**TINY_D, "norm": "batch"})
    for task_name in ("pix2pix", "cyclegan", "srgan"):
        assert TrainConfig(task=task_name, gan_mode="wgangp").discriminator_kwargs["norm"] == "instance"
        assert (
            TrainConfig(task=task_name, gan_mode="wgangp", discriminator_kwargs={"norm": "none"}).discriminator_kwargs[
                "norm"
            ]
            == "none"
        )
        with pytest.raises(ValueError, match="--d-norm instance or --d-norm none"):
            TrainConfig(task=task_name, gan_mode="wgangp", discriminator_kwargs={"norm": "batch"})
    # Pix2Pix built directly (not through TrainConfig) defaults its critic to instance norm too
    task = Pix2Pix(
        generator="unet_256",
        generator_kwargs={"num_downs": 4, "base_channels": 8},
        discriminator_kwargs=TINY_D,
        gan_mode="wgangp",
    )
    assert norm_layers(task.discriminator) == {nn.InstanceNorm2d}
    with pytest.raises(ValueError, match="--d-norm instance or --d-norm none"):
        Pix2Pix(
            generator="unet_256",
            generator_kwargs={"num_downs": 4, "base_channels": 8},
            discriminator_kwargs={**TINY_D, "norm": "batch"},
            gan_mode="wgangp",
        )


class LinearCritic(nn.Module):
    """``D(x) = c * mean over channels of x``: a logit map whose per-sample mean is ``c * mean(x)``."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c * x.mean(1, keepdim=True)


def critic_losses(task, gan_mode: str, c: float) -> tuple[dict[str, torch.Tensor], float]:
    """The task's D terms with linear critics, and the expected WGAN-GP critic loss.

    The per-sample critic value is ``c * mean(x)``, so its gradient is ``c / numel`` everywhere and
    the penalty ``lambda_gp * (|grad| - 1)^2`` is known whatever the interpolation."""
    batch = batch_for(task)
    a, b = batch["A"], batch["B"]
    if task.name == "cyclegan":
        task.D_A, task.D_B = LinearCritic(c), LinearCritic(c)
        out = task.forward_cycle(a, b)
        terms = task.discriminator_losses(a, b, out["fake_A"], out["fake_B"])  # an empty pool returns its input
        n = a[0].numel()
        gp = task.lambda_gp * (abs(c) / n**0.5 - 1) ** 2
        pairs = ((a, out["fake_A"].detach()), (b, out["fake_B"].detach()))
        expected = sum(c * float(fake.mean()) - c * float(real.mean()) + gp for real, fake in pairs)
        return terms, expected
    task.discriminator = LinearCritic(c)
    fake = task.generator(a).detach()
    if task.name == "pix2pix":  # the conditional critic sees cat(A, B); the penalty differentiates w.r.t. B only
        terms = task.discriminator_losses(a, b, fake)
        real_in, fake_in = torch.cat([a, b], 1), torch.cat([a, fake], 1)
        grad_norm = abs(c) * b[0].numel() ** 0.5 / real_in[0].numel()
    else:
        terms = task.discriminator_losses(b, fake)
        real_in, fake_in = b, fake
        grad_norm = abs(c) / b[0].numel() ** 0.5
    expected = c * float(fake_in.mean()) - c * float(real_in.mean()) + task.lambda_gp * (grad_norm - 1) ** 2
    return terms, expected


@pytest.mark.parametrize("task_name", ["pix2pix", "cyclegan", "srgan"])
def test_wgangp_critic_loss_is_exactly_the_formula(task_name):
    """E[D(fake)] - E[D(real)] + lambda_gp * GP, with no 0.5 on the Wasserstein terms."""
    torch.manual_seed(0)
    terms, expected = critic_losses(tiny(task_name, gan_mode="wgangp", lambda_gp=7.0), "wgangp", c=300.0)
    assert abs(float(sum(terms.values())) - expected) < 1e-4 * max(1.0, abs(expected))
    gp_keys = [k for k in terms if k.endswith("gp")]
    assert len(gp_keys) == (2 if task_name == "cyclegan" else 1)


@pytest.mark.parametrize("task_name", ["pix2pix", "cyclegan", "srgan"])
def test_other_gan_modes_keep_half_discriminator_terms(task_name):
    torch.manual_seed(0)
    task = tiny(task_name, gan_mode="vanilla")
    terms, _ = critic_losses(task, "vanilla", c=2.0)
    batch = batch_for(task)
    a, b = batch["A"], batch["B"]
    real_in = torch.cat([a, b], 1) if task_name == "pix2pix" else a if task_name == "cyclegan" else b
    key = {"pix2pix": "D_real", "cyclegan": "D_A_real", "srgan": "D_real"}[task_name]
    torch.testing.assert_close(terms[key], 0.5 * losses.gan_loss(LinearCritic(2.0)(real_in), True, "vanilla"))


def test_pix2pix_pixel_loss_and_adv_weight():
    task = tiny("pix2pix", pixel_loss="l2", adv_weight=0.5)
    batch = batch_for(task)
    fake = task.generator(batch["A"])
    terms = task.generator_losses(batch["A"], batch["B"], fake)
    torch.testing.assert_close(terms["G_L1"], 100.0 * F.mse_loss(fake, batch["B"]))
    plain = tiny("pix2pix")
    pred = plain.discriminator(torch.cat([batch["A"], fake], 1))
    torch.testing.assert_close(
        terms["G_gan"] / 0.5,
        losses.gan_loss(task.discriminator(torch.cat([batch["A"], fake], 1)), True, "vanilla", for_discriminator=False),
    )
    assert pred.shape == task.discriminator(torch.cat([batch["A"], fake], 1)).shape
    with pytest.raises(ValueError, match="pixel_loss"):
        tiny("pix2pix", pixel_loss="l3")


def test_pix2pix_color_loss_supervises_the_colour_head():
    torch.manual_seed(0)
    kw = dict(generator="unet_256", discriminator_kwargs=TINY_D, adv_weight=0.0)
    gkw = {"num_downs": 4, "base_channels": 8, "residual": True, "norm": "none", "global_color": True}
    task = Pix2Pix(generator_kwargs=gkw, lambda_color=50.0, **kw)
    batch = batch_for(task)
    a, b = batch["A"], batch["B"]
    terms = task.generator_losses(a, b, task.generator(a))
    # the head starts as the identity: its loss is that of the input itself
    torch.testing.assert_close(terms["G_color"], 50.0 * losses.color_transform_loss(a, b))
    # the head is the generator's own: no second copy in the checkpoint (older runs still resume)
    assert set(task.state_dict()) == {f"generator.{k}" for k in task.generator.state_dict()} | {
        f"discriminator.{k}" for k in task.discriminator.state_dict()
    }
    head = task.generator.color.mlp[-1].weight
    terms["G_color"].backward()
    assert head.grad is not None and head.grad.abs().sum() > 0
    assert "G_color" not in Pix2Pix(generator_kwargs=gkw, **kw).generator_losses(a, b, task.generator(a))
    with pytest.raises(ValueError, match="colour head"):
        Pix2Pix(generator_kwargs={**gkw, "global_color": False}, lambda_color=1.0, **kw)
    with pytest.raises(ValueError, match="as many input as output"):
        Pix2Pix(generator_kwargs={**gkw, "residual": False}, lambda_color=1.0, color_space="lab", **kw)


def test_row_replay_keeps_the_last_rows_and_round_trips():
    torch.manual_seed(0)
    replay = RowReplay(3)
    with pytest.raises(ValueError, match="empty"):
        replay.sample(1)
    replay.add(torch.arange(4.0).view(2, 2))  # rows [0, 1], [2, 3]
    replay.add(torch.arange(4.0, 10.0).view(3, 2))  # [4, 5], [6, 7], [8, 9]: the first two are dropped
    assert len(replay) == 3 and replay.count == 5
    assert set(replay.sample(200)[:, 0].tolist()) == {4.0, 6.0, 8.0}
    state = replay.state()
    other = RowReplay(3)
    other.load(state, torch.device("cpu"))
    assert torch.equal(other.state(), state) and other.count == 5
    other.add(torch.tensor([[10.0, 11.0]]))
    replay.add(torch.tensor([[10.0, 11.0]]))
    assert torch.equal(other.rows, replay.rows)  # the next row goes to the same place
    assert set(other.sample(200)[:, 0].tolist()) == {6.0, 8.0, 10.0}
    big = RowReplay(3)
    big.add(torch.arange(10.0).view(5, 2))  # more rows than it holds: the last three, all counted
    assert big.count == 5 and set(big.sample(200)[:, 0].tolist()) == {4.0, 6.0, 8.0}
    big.add(torch.tensor([[10.0, 11.0]]))
    assert set(big.sample(200)[:, 0].tolist()) == {6.0, 8.0, 10.0}
    with pytest.raises(ValueError, match="width"):
        replay.add(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="capacity"):
        RowReplay(0)


def test_pix2pix_color_replay_trains_the_head_apart_from_the_generator():
    torch.manual_seed(0)
    kw = dict(generator="unet_256", discriminator_kwargs=TINY_D, adv_weight=0.0, pixel_loss="psnr")
    gkw = {"num_downs": 3, "base_channels": 8, "residual": True, "norm": "none", "global_color": True}
    task = Pix2Pix(generator_kwargs=gkw, color_replay=4, **kw)
    groups = task.parameter_groups()
    head = {id(p) for p in task.generator.color.parameters()}
    assert {id(p) for p in groups["color"]} == head
    assert not head & {id(p) for p in groups["G"]}
    assert len(groups["G"]) + len(groups["color"]) == len(list(task.generator.parameters()))
    opt = make_opt(task, lr=2e-3)
    # a photo-wide fade: the target's colours squeezed towards grey and lifted (an affine map the head can undo)
    g = torch.Generator().manual_seed(1)
    fits = []
    for step in range(60):
        b = torch.rand(4, 3, 16, 16, generator=g) * 2 - 1
        batch = {"A": 0.6 * b + 0.2, "B": b}
        terms = task.training_step(batch, opt, step)
        opt.end_iteration()
        fits.append(terms["color_fit"])
    assert "G_color" not in terms and len(task.color_stats) == 240
    assert sum(fits[-10:]) / 10 < sum(fits[:10]) / 10 - 6, (
        f"the head did not learn the fade: {fits[0]:.1f} -> {fits[-1]:.1f}"
    )
    matrix, offset = task.generator.color.transform(batch["A"])
    assert (matrix.diagonal(dim1=1, dim2=2).mean() - 1).item() > 0.1  # moving towards 1 / 0.6
    # the replayed statistics travel with checkpoints
    other = Pix2Pix(generator_kwargs=gkw, color_replay=4, **kw)
    other.load_extra_state(task.extra_state())
    assert torch.equal(other.color_stats.state(), task.color_stats.state())
    assert Pix2Pix(generator_kwargs=gkw, **kw).extra_state() == {}
    with pytest.raises(ValueError, match="colour head"):
        Pix2Pix(generator_kwargs={**gkw, "global_color": False}, color_replay=1, **kw)
    with pytest.raises(ValueError, match="choose one"):
        Pix2Pix(generator_kwargs=gkw, color_replay=1, lambda_color=1.0, **kw)
    with pytest.raises(ValueError, match=">= 0"):
        Pix2Pix(generator_kwargs=gkw, color_replay=-1, **kw)


def test_pix2pix_initialises_a_net_without_normalisation_for_its_depth():
    from img2img.nets.layers import is_unnormalized

    gkw = {"num_downs": 5, "base_channels": 8, "residual": True}
    plain = Pix2Pix(generator="unet_256", generator_kwargs={**gkw, "norm": "none"}, discriminator_kwargs=TINY_D)
    normed = Pix2Pix(generator="unet_256", generator_kwargs={**gkw, "norm": "instance"}, discriminator_kwargs=TINY_D)
    assert is_unnormalized(plain.generator) and not is_unnormalized(normed.generator)
    assert not is_unnormalized(plain.discriminator)  # batch norm: the paper's N(0, 0.02)
    weights = [m.weight for m in plain.generator.down.modules() if isinstance(m, nn.Conv2d)]
    for w in weights:  # Kaiming: std sqrt(2 / fan_in), so the signal keeps its scale through the depth
        assert w.std().item() == pytest.approx((2 / w[0].numel()) ** 0.5, rel=0.15)
    normed_weights = [m.weight for m in normed.generator.down.modules() if isinstance(m, nn.Conv2d)]
    assert all(w.std().item() == pytest.approx(0.02, rel=0.15) for w in normed_weights)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    h = x
    for block in plain.generator.down:
        h = block(h)
    assert h.std().item() > 0.1, "the innermost features vanished (the N(0, 0.02) init without normalisation)"


def test_pix2pix_without_gan_term_trains_no_discriminator():
    task = tiny("pix2pix", adv_weight=0.0)
    opt = Optimization(
        {k: torch.optim.Adam(v, lr=1e-3) for k, v in task.parameter_groups().items()}, device=torch.device("cpu")
    )
    d_before = copy.deepcopy(task.discriminator.state_dict())
    g_before = copy.deepcopy(task.generator.state_dict())
    out = task.training_step(batch_for(task), opt, 0)
    assert set(out) == {"G_L1"}
    assert all(torch.equal(v, task.discriminator.state_dict()[k]) for k, v in d_before.items())
    assert any(not torch.equal(v, task.generator.state_dict()[k]) for k, v in g_before.items())
    assert TrainConfig(task="pix2pix", data="x", out="y", recipe="restore", device="cpu").adv_weight == 0.0
    assert TrainConfig(task="pix2pix", data="x", out="y").adv_weight == 1.0
