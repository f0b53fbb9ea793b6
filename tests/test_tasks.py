"""Tasks: every loss term trains the generator, steps change every net, pix2pix can overfit."""

from __future__ import annotations

import copy

import pytest
import torch

from img2img import losses
from img2img.optimization import Optimization
from img2img.tasks import CycleGAN, ImagePool, Pix2Pix, SRGAN, build_task

TINY_D = {"base_channels": 8, "n_layers": 2}


def tiny(name: str, **kw) -> torch.nn.Module:
    if name == "pix2pix":
        return Pix2Pix(generator="unet_256", generator_kwargs={"num_downs": 4, "base_channels": 8}, discriminator_kwargs=TINY_D, **kw)
    if name == "cyclegan":
        return CycleGAN(generator="resnet_6blocks", generator_kwargs={"num_blocks": 1, "base_channels": 8}, discriminator_kwargs=TINY_D, **kw)
    return SRGAN(generator="srresnet_x4", generator_kwargs={"num_blocks": 1, "base_channels": 8}, discriminator_kwargs=TINY_D, **kw)


def batch_for(task, n: int = 2, size: int = 32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    if task.name == "srgan":
        return {"A": torch.rand(n, 3, size // 4, size // 4, generator=g) * 2 - 1, "B": torch.rand(n, 3, size, size, generator=g) * 2 - 1}
    return {"A": torch.rand(n, 3, size, size, generator=g) * 2 - 1, "B": torch.rand(n, 3, size, size, generator=g) * 2 - 1}


def make_opt(task, lr: float = 2e-4) -> Optimization:
    return Optimization({k: torch.optim.Adam(v, lr=lr, betas=(0.5, 0.999)) for k, v in task.parameter_groups().items()}, device=torch.device("cpu"))


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
    expected = {"pix2pix": {"G_gan", "G_L1"}, "cyclegan": {"G_AB_gan", "G_BA_gan", "cycle_A", "cycle_B", "idt_A", "idt_B"},
                "srgan": {"G_pixel", "G_fm", "G_gan"}}[task_name]
    assert set(terms) == expected
    for name, term in terms.items():
        assert term.dim() == 0
        assert_term_trains_generators(task, name, term)


def test_srgan_perceptual_content_loss_has_gradient(tmp_path):
    from torchvision.models import vgg19

    weights = tmp_path / "vgg19.pth"
    torch.save(vgg19(weights=None).features.state_dict(), weights)
    task = tiny("srgan", vgg_weights=str(weights))
    terms = generator_terms(task, batch_for(task))
    assert set(terms) == {"G_content", "G_gan"}
    for name, term in terms.items():
        assert_term_trains_generators(task, name, term)
    assert not any(k.startswith("perceptual.") for k in task.state_dict()), "the frozen VGG must not be saved with the model"


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
    task = Pix2Pix(generator="unet_256", generator_kwargs={"num_downs": 6, "base_channels": 16, "dropout": 0.0},
                   discriminator_kwargs={"base_channels": 16})
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
