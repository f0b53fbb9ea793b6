"""The classic GAN lab (task "gan"): noise -> image nets, the classifier's scores, training on the
built-in digits and on folders, exact resume, export to the torch-free runtime and the CLI.

Everything runs on the CPU with tiny nets. The classifier that judges samples is trained once per
module (``fit_classifier`` is memoised below: every digits run would otherwise spend seconds
training the same judge again); it is the real classifier, so the scores are real.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import img2img.classifier as classifier_module
from img2img import train
from img2img.classifier import class_scores
from img2img.data.labeled import BuiltinImages, LabeledFolder, class_names, labeled_images
from img2img.monitor import HealthMonitor
from img2img.monitor import sample_grid as monitor_grid
from img2img.nets import create_model
from img2img.nets.gan_lab import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    dcgan_levels,
)
from img2img.tasks.gan import GAN

DIGITS = [str(i) for i in range(10)]
REAL_FIT = classifier_module.fit_classifier  # the module memoises it below (see shared_classifier)
# the options every training run of this module shares: CPU, no worker processes, no progress bar
QUIET = {"num_workers": 0, "no_progress": True, "device": "cpu", "seed": 0}


# --------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a busy two-core machine two torch threads spin against each other
    (a tiny DCGAN step took 0.5 s instead of 5 ms), and a run is bit-exact for one thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", autouse=True)
def shared_classifier(one_thread):
    """Train each distinct judge once for the whole module (same data, seed and classes -> the
    same net ``cached_classifier`` would train); runs then cache it in their folders as usual.
    ``fit_classifier`` leaves the global torch RNG alone (tested below), so a memoised judge
    changes no run's noise: this only saves seconds per run."""
    real = REAL_FIT
    cache: dict[tuple, tuple] = {}

    def key_of(train_set, classes, image_size, channels):
        return (type(train_set).__name__, getattr(train_set, "name", id(train_set)), len(train_set),
                tuple(classes), image_size, channels)  # fmt: skip

    def memoised(train_set, classes, *, image_size, channels, **kwargs):
        key = key_of(train_set, classes, image_size, channels)
        if key not in cache:
            cache[key] = real(train_set, classes, image_size=image_size, channels=channels, **kwargs)
        return cache[key]

    train_set, val_set = BuiltinImages("digits"), BuiltinImages("digits", split="val")
    memoised(train_set, DIGITS, image_size=28, channels=1, val_set=val_set)
    mp = pytest.MonkeyPatch()
    mp.setattr(classifier_module, "fit_classifier", memoised)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def digits_sets():
    return BuiltinImages("digits", split="train"), BuiltinImages("digits", split="val")


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory, shared_classifier):
    """A short fixed-seed unconditional DCGAN run on the digits (test 5's run, reused by the
    export, sampling and CLI tests)."""
    out = tmp_path_factory.mktemp("gan") / "dcgan"
    return train(
        "gan",
        data="digits",
        arch="dcgan",
        out=str(out),
        steps=DCGAN_STEPS,
        batch_size=64,
        base_channels=16,
        d_channels=16,
        val_every=DCGAN_STEPS,
        sample_every=DCGAN_STEPS // 2,
        checkpoint_every=DCGAN_STEPS,
        **QUIET,
    )


# a conditional MLP run with a 2-D latent (the classic lab), also the straight run of the resume test
MLP_OPTIONS = dict(
    data="digits",
    arch="mlp",
    latent_dim=2,
    condition="class",
    steps=6,
    batch_size=16,
    base_channels=16,
    d_channels=16,
    val_every=100,
    sample_every=100,
    checkpoint_every=100,
    **QUIET,
)


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory, shared_classifier):
    return train("gan", out=str(tmp_path_factory.mktemp("gan") / "mlp"), **MLP_OPTIONS)


# ----------------------------------------------------------------------- 1. architectures
@pytest.mark.parametrize("size, channels", [(28, 1), (64, 3)])
@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_lab_net_shapes(arch: str, size: int, channels: int) -> None:
    torch.manual_seed(0)
    n, k = 3, 10
    if arch == "mlp":
        g = MLPGenerator(latent_dim=5, base_channels=8, image_size=size, out_channels=channels)
        d = MLPDiscriminator(image_size=size, in_channels=channels, base_channels=8)
        ac = MLPDiscriminator(image_size=size, in_channels=channels, base_channels=8, num_classes=k, auxiliary=True)
        proj = MLPDiscriminator(image_size=size, in_channels=channels, base_channels=8, num_classes=k)
    else:
        g = DCGANGenerator(latent_dim=5, base_channels=8, image_size=size, out_channels=channels)
        d = DCGANDiscriminator(image_size=size, in_channels=channels, base_channels=8)
        ac = DCGANDiscriminator(image_size=size, in_channels=channels, base_channels=8, num_classes=k, auxiliary=True)
        proj = DCGANDiscriminator(image_size=size, in_channels=channels, base_channels=8, num_classes=k)
    assert g.kind == "sampler" and d.kind == "discriminator"
    out = g(torch.randn(n, 5) * 3).detach()
    assert out.shape == (n, channels, size, size)
    assert out.dtype == torch.float32
    assert float(out.min()) >= -1.0 and float(out.max()) <= 1.0
    assert float(out.std()) > 0  # not a constant
    assert d(out).shape == (n, 1)
    logit, classes = ac(out)
    assert logit.shape == (n, 1) and classes.shape == (n, k)
    labels = torch.tensor([0, 4, 9])
    assert proj(out, labels).shape == (n, 1)
    with pytest.raises(ValueError, match="conditional"):
        proj(out)  # a projection discriminator needs the labels
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        g(torch.randn(n, 4))


def test_registered_presets() -> None:
    assert isinstance(create_model("mlp_generator"), MLPGenerator)
    assert isinstance(create_model("dcgan_generator"), DCGANGenerator)
    assert isinstance(create_model("mlp_discriminator"), MLPDiscriminator)
    assert isinstance(create_model("dcgan_discriminator"), DCGANDiscriminator)
    # the paper's DCGAN at 64 px: 4x4x512 -> ... -> 64x64; the lab's 28 px: 7x7x128 -> 14x14x64 -> 28x28
    g64 = create_model("dcgan_generator", latent_dim=10)
    assert (g64.start, g64.width) == (4, 512)
    g28 = create_model("dcgan_generator", latent_dim=10, image_size=28, out_channels=1)
    assert (g28.start, g28.width) == (7, 128)
    assert g28.eval()(torch.randn(2, 10)).shape == (2, 1, 28, 28)


def test_dcgan_levels() -> None:
    assert dcgan_levels(28) == (7, 2)
    assert dcgan_levels(32) == (4, 3)
    assert dcgan_levels(64) == (4, 4)
    assert dcgan_levels(48) == (6, 3)
    assert dcgan_levels(128) == (4, 5)
    for bad in (25, 14, 7, 2):
        with pytest.raises(ValueError, match="DCGAN"):
            dcgan_levels(bad)
    with pytest.raises(ValueError):
        DCGANGenerator(image_size=25, base_channels=8)
    with pytest.raises(ValueError):
        DCGANDiscriminator(image_size=25, base_channels=8)


def test_conditional_generators_need_labels() -> None:
    g = MLPGenerator(latent_dim=2, base_channels=8, num_classes=10)
    with pytest.raises(ValueError, match="labels"):
        g(torch.randn(2, 2))
    assert g(torch.randn(2, 2), torch.tensor([1, 2])).shape == (2, 1, 28, 28)
    dc = DCGANGenerator(latent_dim=4, base_channels=8, image_size=28, out_channels=1, num_classes=3)
    with pytest.raises(ValueError, match="labels"):
        dc(torch.randn(2, 4))
    with pytest.raises(ValueError, match="num_classes"):
        MLPDiscriminator(base_channels=8, num_classes=1, auxiliary=True)  # an AC-GAN head needs 2+ classes


# ------------------------------------------------------------ 2. conditioning changes images
@pytest.mark.parametrize("cls", [MLPGenerator, DCGANGenerator])
def test_conditional_output_depends_on_label(cls) -> None:
    torch.manual_seed(0)
    g = cls(latent_dim=8, base_channels=8, image_size=28, out_channels=1, num_classes=10).eval()
    z = torch.randn(1, 8).expand(10, -1)
    with torch.no_grad():
        out = g(z, torch.arange(10))
        again = g(z, torch.arange(10))
    assert torch.equal(out, again)  # deterministic
    for i in range(1, 10):  # same noise, a different class: a different image
        assert float((out[i] - out[0]).abs().max()) > 1e-4, f"class {i} draws the same image as class 0"


# ------------------------------------------------------------------ 3. AC-GAN's class terms
def _tiny_gan(**kwargs) -> GAN:
    torch.manual_seed(0)
    options = dict(
        generator="dcgan_generator",
        generator_kwargs={"base_channels": 8},
        discriminator_kwargs={"base_channels": 8},
        size=28,
        out_channels=1,
        latent_dim=16,
    )
    return GAN(**{**options, **kwargs})


def _grads(params) -> list[torch.Tensor | None]:
    return [p.grad for p in params]


def test_acgan_class_terms_reach_both_nets() -> None:
    task = _tiny_gan(condition="acgan", class_names=DIGITS)
    assert task.discriminator.classes is not None and task.discriminator.embed is None
    assert task.generator.num_classes == 10
    n = 8
    real = torch.rand(n, 1, 28, 28) * 2 - 1
    labels = torch.arange(n) % 10
    fake_labels = (torch.arange(n) * 3) % 10
    fake = task.generator(torch.randn(n, 16), fake_labels)

    d_terms = task.discriminator_losses(real, fake.detach(), labels, fake_labels)
    assert set(d_terms) == {"D_real", "D_fake", "D_class"}
    task.zero_grad(set_to_none=True)
    d_terms["D_class"].backward()
    head = task.discriminator.classes
    assert head.weight.grad is not None and float(head.weight.grad.abs().sum()) > 0
    assert head.bias.grad is not None and float(head.bias.grad.abs().sum()) > 0
    # the real/fake logit does not take part in the class term, and the generator is detached
    assert task.discriminator.out.weight.grad is None or float(task.discriminator.out.weight.grad.abs().sum()) == 0
    assert all(g is None for g in _grads(task.generator.parameters()))

    task.zero_grad(set_to_none=True)
    g_terms = task.generator_losses(fake, fake_labels)
    assert set(g_terms) == {"G_gan", "G_class"}
    g_terms["G_class"].backward()
    assert float(task.generator.project.weight.grad.abs().sum()) > 0
    assert float(task.generator.embed.weight.grad.abs().sum()) > 0  # the label embedding learns from it too
    with_grad = [g for g in _grads(task.generator.parameters()) if g is not None and float(g.abs().sum()) > 0]
    assert len(with_grad) >= len(list(task.generator.parameters())) - 1


def test_unconditional_and_projection_have_no_class_terms() -> None:
    n = 4
    real = torch.rand(n, 1, 28, 28) * 2 - 1
    plain = _tiny_gan()
    fake = plain.generator(torch.randn(n, 16))
    assert set(plain.discriminator_losses(real, fake.detach(), None, None)) == {"D_real", "D_fake"}
    assert set(plain.generator_losses(fake, None)) == {"G_gan"}
    cgan = _tiny_gan(condition="class", class_names=DIGITS)
    assert cgan.discriminator.embed is not None and cgan.discriminator.classes is None
    labels = torch.arange(n)
    fake = cgan.generator(torch.randn(n, 16), labels)
    assert set(cgan.discriminator_losses(real, fake.detach(), labels, labels)) == {"D_real", "D_fake"}
    with pytest.raises(ValueError, match="two or more classes"):
        _tiny_gan(condition="class", class_names=["only"])
    with pytest.raises(TypeError):
        plain.translate(real)


def test_wgangp_terms() -> None:
    task = _tiny_gan(gan_mode="wgangp", discriminator_kwargs={"base_channels": 8, "norm": "instance"})
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    fake = task.generator(torch.randn(4, 16)).detach()
    terms = task.discriminator_losses(real, fake, None, None)
    assert set(terms) == {"D_real", "D_fake", "D_gp"}
    assert float(terms["D_gp"].detach()) >= 0


# ------------------------------------------------------------------------ 4. class scores
def _one_hot(classes: torch.Tensor, k: int = 10) -> torch.Tensor:
    return torch.nn.functional.one_hot(classes, k).float()


def test_class_scores_exact_values() -> None:
    collapsed = class_scores(_one_hot(torch.zeros(100, dtype=torch.long)))
    assert collapsed["coverage"] == pytest.approx(0.1)
    assert collapsed["entropy"] == pytest.approx(0.0, abs=1e-12)
    assert collapsed["inception"] == pytest.approx(1.0)
    assert "accuracy" not in collapsed

    uniform = class_scores(_one_hot(torch.arange(100) % 10))
    assert uniform["coverage"] == pytest.approx(1.0)
    assert uniform["entropy"] == pytest.approx(1.0)
    assert uniform["inception"] == pytest.approx(10.0, rel=1e-6)

    # unsure samples (every class equally likely) have no inception
    assert class_scores(torch.full((50, 10), 0.1))["inception"] == pytest.approx(1.0)

    # two classes of ten, equal counts: coverage 0.2, entropy log 2 / log 10, inception 2
    two = class_scores(_one_hot(torch.arange(100) % 2))
    assert two["coverage"] == pytest.approx(0.2)
    assert two["entropy"] == pytest.approx(math.log(2) / math.log(10))
    assert two["inception"] == pytest.approx(2.0, rel=1e-6)


def test_class_scores_coverage_threshold_and_accuracy() -> None:
    # a class is covered with at least half its fair share: 1 of 4 samples of 2 classes is exactly half
    assert class_scores(_one_hot(torch.tensor([0, 0, 0, 1]), 2))["coverage"] == pytest.approx(1.0)
    assert class_scores(_one_hot(torch.tensor([0, 0, 0, 0, 1]), 2))["coverage"] == pytest.approx(0.5)
    predicted = torch.arange(100) % 10
    requested = predicted.clone()
    requested[:25] = (requested[:25] + 1) % 10  # a quarter drawn as another class than asked
    scores = class_scores(_one_hot(predicted), requested)
    assert scores["accuracy"] == pytest.approx(0.75)
    assert class_scores(_one_hot(predicted), predicted)["accuracy"] == pytest.approx(1.0)


# ------------------------------------------------------------------------ built-in data sets
def test_builtin_sets() -> None:
    train_set, val_set = BuiltinImages("digits"), BuiltinImages("digits", split="val")
    assert (len(train_set), len(val_set)) == (4500, 500)
    item = val_set[0]
    assert item["B"].shape == (1, 28, 28) and item["B"].dtype == torch.uint8
    assert 0 <= int(item["label"]) <= 9
    assert sorted(set(val_set.labels.tolist())) == list(range(10))
    assert class_names("digits") == DIGITS
    assert class_names("faces") == []
    faces = BuiltinImages("faces", size=32)
    assert len(faces) == 90 and faces[0]["B"].shape == (1, 32, 32) and int(faces[0]["label"]) == -1
    with pytest.raises(ValueError, match="gray"):
        labeled_images("digits", split="train", size=28, channels=3)


def test_gan_config_defaults() -> None:
    from img2img.config import TrainConfig

    mlp = TrainConfig(task="gan", data="digits", arch="mlp")
    assert (mlp.generator, mlp.latent_dim, mlp.lr, mlp.d_lr) == ("mlp_generator", 2, 1e-3, 2e-4)
    assert (mlp.size, mlp.out_channels, mlp.hflip, mlp.best_metric) == (28, 1, False, "inception")
    assert mlp.class_names == DIGITS
    dc = TrainConfig(task="gan", data="digits", gan_mode="wgangp")
    assert (dc.arch, dc.generator, dc.latent_dim) == ("dcgan", "dcgan_generator", 100)
    assert (dc.lr, dc.d_lr, dc.beta1, dc.beta2, dc.n_critic) == (1e-4, 1e-4, 0.0, 0.9, 5)
    faces = TrainConfig(task="gan", data="faces")
    assert (faces.size, faces.best_metric, faces.class_names) == (32, "last", [])
    with pytest.raises(ValueError, match="labelled"):
        TrainConfig(task="gan", data="faces", condition="class")
    with pytest.raises(ValueError, match="arch"):
        TrainConfig(task="gan", data="digits", arch="resnet")


# ------------------------------------------------------------ 5. training beats no training
# The dcgan_run fixture: 250 steps, batch 64, 16 + 16 channels, seed 0, one CPU thread (~4 s).
# Measured: the untrained generator draws nearly the same image for every noise, so the judge
# puts all 1,000 samples in one class: coverage 0.1, entropy 0.0, inception 1.00. After 250 steps,
# seed 0: coverage 0.4, entropy 0.59, inception 1.66 (the same on every repeat: seeded and
# deterministic on the CPU). Seeds 0-7 (how far another machine's float rounding could move the
# trajectory): coverage 0.3-0.6, entropy 0.31-0.81, inception 1.11-2.19; at 200 steps one seed
# in five still drew only one class, hence 250. Thresholds, met by all eight seeds with margin:
# coverage >= 0.2 (twice the untrained), entropy >= 0.2, inception >= untrained + 0.05.
DCGAN_STEPS = 250


def test_short_dcgan_run_beats_untrained(dcgan_run, digits_sets) -> None:
    task = dcgan_run.task
    assert dcgan_run.step == DCGAN_STEPS and dcgan_run.task.name == "gan"
    assert (dcgan_run.run_dir / "classifier" / "weights.safetensors").is_file()
    torch.manual_seed(0)
    untrained = GAN(**task.config).to("cpu")  # the same nets, fresh weights
    untrained.prepare(None, *digits_sets)
    untrained.eval()
    before = untrained.validation_summary(None)
    assert set(before) == {"val_coverage", "val_entropy", "val_inception"}
    after = dcgan_run.metrics
    assert set(after) >= {"val_coverage", "val_entropy", "val_inception"}
    assert before["val_coverage"] <= 0.2, before
    assert before["val_entropy"] <= 0.05 and before["val_inception"] <= 1.05, before
    assert after["val_coverage"] >= 0.2, (before, after)
    assert after["val_coverage"] > before["val_coverage"]
    assert after["val_entropy"] >= 0.2, (before, after)
    assert after["val_inception"] >= before["val_inception"] + 0.05, (before, after)
    # the scores use a fixed noise: validating again gives the same numbers
    task.eval()
    assert task.validation_summary(None) == pytest.approx(after)
    assert dcgan_run.best["best_metric"] == "inception"


def test_fit_classifier_leaves_global_rng_alone() -> None:
    from torch.utils.data import Subset

    fit_classifier = REAL_FIT
    train_set, val_set = BuiltinImages("digits"), BuiltinImages("digits", split="val")
    torch.manual_seed(123)
    state = torch.get_rng_state()
    fit_classifier(Subset(train_set, range(64)), DIGITS, image_size=28, channels=1, epochs=1,
                   val_set=Subset(val_set, range(32)))  # fmt: skip
    assert torch.equal(torch.get_rng_state(), state)


def test_fit_classifier_without_val_leaves_global_rng_alone() -> None:
    from torch.utils.data import Subset

    fit_classifier = REAL_FIT
    torch.manual_seed(123)
    state = torch.get_rng_state()
    net, accuracy = fit_classifier(Subset(BuiltinImages("digits"), range(64)), DIGITS, image_size=28, channels=1,
                                   epochs=1)  # fmt: skip
    assert accuracy is None and not net.training
    assert torch.equal(torch.get_rng_state(), state)


# -------------------------------------------------------------------------- 6. mode collapse
def _collapsed_task(digits_sets) -> GAN:
    task = _tiny_gan(class_names=DIGITS)  # unconditional, scored by the digits classifier
    with torch.no_grad():
        for p in task.generator.parameters():
            p.zero_()  # every noise -> the same (flat gray) image
    task.prepare(None, *digits_sets)
    return task.eval()


def test_collapse_check_fires_on_constant_generator(digits_sets) -> None:
    task = _collapsed_task(digits_sets)
    images = task.sample(16)
    assert float((images - images[:1]).abs().max()) == 0.0
    metrics = task.validation_summary(None)
    assert metrics["val_coverage"] == pytest.approx(0.1)
    assert metrics["val_entropy"] == pytest.approx(0.0, abs=1e-12)

    early = HealthMonitor(total_steps=1000)
    early.check_coverage(metrics, step=50)  # before collapse is judged (step 100)
    assert early.take_events() == []

    monitor = HealthMonitor(total_steps=1000)
    monitor.check_coverage({"val_coverage": 1.0, "val_entropy": 1.0}, step=500)
    assert monitor.take_events() == []
    monitor.check_coverage(metrics, step=500)
    events = monitor.take_events()
    assert [e["condition"] for e in events] == ["mode_collapse"]
    assert events[0]["step"] == 500 and "10%" in str(events[0]["message"])
    monitor.check_coverage(metrics, step=600)  # warned once
    assert monitor.take_events() == []


def test_diversity_check_fires_on_constant_generator(digits_sets) -> None:
    task = _collapsed_task(digits_sets)
    real = torch.stack([digits_sets[1][i]["B"] for i in range(8)]).float() / 127.5 - 1
    picture, ratio = monitor_grid(task, {"B": real})
    assert picture.dtype == np.uint8 and picture.ndim == 3
    assert ratio == pytest.approx(0.0, abs=1e-6)
    monitor = HealthMonitor(total_steps=1000)
    monitor.check_diversity(ratio, step=500)
    assert [e["condition"] for e in monitor.take_events()] == ["mode_collapse"]


# ------------------------------------------------------------------------------- 7. resume
def _same_weights(run_a: Path, run_b: Path) -> None:
    straight = load_file(str(run_a / "model" / "AtoB.safetensors"))
    chunked = load_file(str(run_b / "model" / "AtoB.safetensors"))
    assert straight.keys() == chunked.keys() and straight
    different = [key for key in straight if not torch.equal(straight[key], chunked[key])]
    assert not different, f"resumed weights differ: {different}"


def test_resume_is_exact_unlabelled(tmp_path: Path) -> None:
    """faces: no classes, so no classifier (see the labelled case below)."""
    options = dict(data="faces", arch="dcgan", steps=6, batch_size=8, base_channels=8, d_channels=8, latent_dim=8,
                   sample_every=100, checkpoint_every=100, **QUIET)  # fmt: skip
    straight = train("gan", out=str(tmp_path / "straight"), **options)
    first = train("gan", out=str(tmp_path / "chunks"), stop_after=3, **options)
    assert first.step == 3 and first.total_steps == 6
    halfway = load_file(str(first.run_dir / "model" / "AtoB.safetensors"))
    resumed = train(out=str(tmp_path / "chunks"), resume=True, steps=6, **QUIET)
    assert resumed.step == straight.step == 6
    _same_weights(straight.run_dir, resumed.run_dir)
    final = load_file(str(straight.run_dir / "model" / "AtoB.safetensors"))
    assert any(not torch.equal(halfway[k], v) for k, v in final.items())  # steps 4-6 did train


def test_resume_is_exact_labelled(mlp_run, tmp_path: Path) -> None:
    out = tmp_path / "chunks"
    first = train("gan", out=str(out), stop_after=3, **MLP_OPTIONS)
    assert first.step == 3
    resumed = train(out=str(out), resume=True, steps=MLP_OPTIONS["steps"], **QUIET)
    assert resumed.step == MLP_OPTIONS["steps"]
    _same_weights(mlp_run.run_dir, out)


def test_load_classifier_leaves_global_rng_alone(mlp_run) -> None:
    from img2img.classifier import load_classifier

    torch.manual_seed(7)
    state = torch.get_rng_state()
    found = load_classifier(mlp_run.run_dir / "classifier")
    assert found is not None and found[1]["classes"] == DIGITS
    assert torch.equal(torch.get_rng_state(), state)


# ------------------------------------------------------------ 8. export and torch-free runtime
@pytest.fixture(scope="module")
def exported(dcgan_run, mlp_run, tmp_path_factory):
    from img2img.export import export_onnx

    root = tmp_path_factory.mktemp("onnx")
    export_onnx(dcgan_run.run_dir, root / "uncond.onnx")
    export_onnx(mlp_run.run_dir, root / "cond.onnx")
    return root / "uncond.onnx", root / "cond.onnx"


def test_runtime_sample_unconditional(exported) -> None:
    from img2img_runtime import Model

    model = Model(exported[0])
    assert model.latent["dim"] == 100 and not model.latent["num_classes"]
    images = model.sample(5, seed=0)
    assert images.dtype == np.uint8 and images.shape == (5, 28, 28, 1)
    assert np.array_equal(images, model.sample(5, seed=0))  # seeded
    assert not np.array_equal(images, model.sample(5, seed=1))
    assert images.std() > 0
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, label=1, seed=0)
    with pytest.raises(TypeError):
        model(np.zeros((28, 28, 3), np.uint8))  # a sampler is not an image-to-image model


def test_runtime_sample_conditional(exported) -> None:
    from img2img_runtime import Model

    model = Model(exported[1])
    assert model.latent["num_classes"] == 10 and model.latent["dim"] == 2
    three = model.sample(4, label=3, seed=0)
    assert three.dtype == np.uint8 and three.shape == (4, 28, 28, 1)
    assert np.array_equal(three, model.sample(4, label="3", seed=0))  # a class name
    assert not np.array_equal(three, model.sample(4, label=7, seed=0))
    assert model.sample(3, seed=0).shape == (3, 28, 28, 1)  # random classes
    for bad in (10, -1):
        with pytest.raises(ValueError):
            model.sample(2, label=bad, seed=0)
    with pytest.raises(ValueError):
        model.sample(2, label="seven", seed=0)
    with pytest.raises(TypeError):
        model(np.zeros((28, 28, 3), np.uint8))


@pytest.mark.parametrize("which", [0, 1])
def test_onnx_matches_torch(exported, dcgan_run, mlp_run, which: int) -> None:
    from img2img.sampling import is_gan_model, load_sampler

    run = (dcgan_run, mlp_run)[which].run_dir
    torch_sampler, onnx_sampler = load_sampler(run), load_sampler(exported[which])
    assert is_gan_model(run) and is_gan_model(exported[which])
    assert torch_sampler.num_classes == onnx_sampler.num_classes == (0, 10)[which]
    a, b = torch_sampler.sample(16, seed=0), onnx_sampler.sample(16, seed=0)
    assert a.shape == b.shape == (16, 28, 28, 1)
    assert int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1
    from img2img_runtime import Model

    assert np.array_equal(Model(exported[which]).sample(16, seed=0), b)


def test_load_sampler_refuses_translation_models(tmp_path: Path) -> None:
    from conftest import save_tiny_model

    from img2img.sampling import is_gan_model, load_sampler

    folder = save_tiny_model(tmp_path / "pix")
    assert not is_gan_model(folder)
    with pytest.raises(ValueError, match="translates images"):
        load_sampler(folder)


# ---------------------------------------------------------------------------------- 9. CLI
def test_cli_sample_grid(dcgan_run, tmp_path: Path) -> None:
    from img2img.cli import main
    from img2img_runtime.io import read_image

    png = tmp_path / "grid.png"
    assert main(["sample", "--model", str(dcgan_run.run_dir), "--output", str(png)]) == 0
    picture = read_image(png)
    # 64 samples, 8 per row, each 28 px x 2 with 2 px gaps: 8 * 56 + 7 * 2 = 462
    assert picture.shape[:2] == (462, 462)


def test_cli_sample_conditional_rows_and_label(mlp_run, tmp_path: Path) -> None:
    from img2img.cli import main
    from img2img_runtime.io import read_image

    rows = tmp_path / "rows.png"
    assert main(["sample", "--model", str(mlp_run.run_dir), "--output", str(rows)]) == 0
    # one row per class, ceil(64 / 10) = 7 samples each: 10 x 7 cells of 56 px
    assert read_image(rows).shape[:2] == (10 * 56 + 9 * 2, 7 * 56 + 6 * 2)
    one = tmp_path / "seven.png"
    assert main(["sample", "--model", str(mlp_run.run_dir), "--output", str(one), "--n", "4", "--label", "7"]) == 0
    assert read_image(one).shape[:2] == (2 * 56 + 2, 2 * 56 + 2)


def test_cli_latent_walk(mlp_run, tmp_path: Path) -> None:
    from img2img.cli import main
    from img2img_runtime.io import read_image

    png = tmp_path / "walk.png"
    argv = ["sample", "--model", str(mlp_run.run_dir), "--output", str(png), "--latent-walk", "--walk-steps", "5"]
    assert main(argv) == 0
    assert read_image(png).shape[:2] == (5 * 56, 5 * 56)  # no gaps in a walk


def test_cli_over_time(dcgan_run, tmp_path: Path) -> None:
    from img2img.cli import main
    from img2img_runtime.io import read_image

    grids = sorted((dcgan_run.run_dir / "samples").glob("step_*.png"))
    assert len(grids) >= 2
    strip = tmp_path / "strip.png"
    assert main(["sample", "--model", str(dcgan_run.run_dir), "--output", str(strip), "--over-time"]) == 0
    picture = read_image(strip)
    grid_width = read_image(grids[0]).shape[1]
    assert picture.shape[1] == len(grids) * (grid_width + 4)  # the grids side by side, 4 px apart
    gif = tmp_path / "strip.gif"
    assert main(["sample", "--model", str(dcgan_run.run_dir), "--output", str(gif), "--over-time"]) == 0
    assert gif.read_bytes()[:4] == b"GIF8"


def test_cli_eval(dcgan_run, capsys) -> None:
    from img2img.cli import main

    capsys.readouterr()
    assert main(["eval", "--model", str(dcgan_run.run_dir)]) == 0
    out = capsys.readouterr().out
    assert "coverage" in out and "entropy" in out and "inception" in out
    assert "real images" in out and "model" in out
    assert "accuracy" not in out.splitlines()[0]  # unconditional: no accuracy column


def test_evaluate_gan_report(mlp_run) -> None:
    from img2img.sampling import evaluate_gan

    report = evaluate_gan(mlp_run.run_dir, n=200)
    assert report["conditional"] and report["classes"] == DIGITS and report["samples"] == 200
    real = report["rows"]["real images"]
    # the judge on real val digits: nearly every class covered and named right
    assert real["coverage"] == pytest.approx(1.0) and real["accuracy"] > 0.9
    assert 0.0 <= report["rows"]["model"]["accuracy"] <= 1.0


# -------------------------------------------------------------------------- 10. folder data
def _write_images(folder: Path, colour: tuple[int, int, int], count: int, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        image = np.clip(np.array(colour, float) + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
        assert cv2.imwrite(str(folder / f"{i:02d}.png"), image[:, :, ::-1])


@pytest.fixture
def class_folders(tmp_path: Path) -> Path:
    root = tmp_path / "colours"
    _write_images(root / "red", (220, 30, 30), 16, 0)
    _write_images(root / "blue", (30, 30, 220), 16, 1)
    return root


def test_labeled_folder(class_folders: Path, tmp_path: Path) -> None:
    assert class_names(str(class_folders)) == ["blue", "red"]
    data = LabeledFolder(class_folders, size=32, channels=3)
    assert data.classes == ["blue", "red"] and len(data) == 32
    labels = sorted(int(data[i]["label"]) for i in range(len(data)))
    assert labels == [0] * 16 + [1] * 16
    item = data[0]
    assert item["B"].shape == (3, 32, 32) and item["B"].dtype == torch.uint8
    blue = next(data[i]["B"] for i in range(len(data)) if int(data[i]["label"]) == 0)
    assert float(blue[2].float().mean()) > float(blue[0].float().mean()) + 100  # RGB order kept
    loose = tmp_path / "loose"
    _write_images(loose, (128, 128, 128), 6, 2)
    assert class_names(str(loose)) == []
    unlabelled = LabeledFolder(loose, size=16, channels=1)
    assert len(unlabelled) == 6 and unlabelled[0]["B"].shape == (1, 16, 16) and int(unlabelled[0]["label"]) == -1


def test_conditional_training_on_class_folders(class_folders: Path, tmp_path: Path) -> None:
    result = train(
        "gan",
        data=str(class_folders),
        arch="dcgan",
        condition="class",
        size=32,
        out_channels=3,
        out=str(tmp_path / "run"),
        steps=3,
        batch_size=8,
        base_channels=8,
        d_channels=8,
        latent_dim=8,
        val_every=3,
        sample_every=3,
        checkpoint_every=3,
        **QUIET,
    )
    task = result.task
    assert result.step == 3
    assert task.class_names == ["blue", "red"] and task.num_classes == 2
    assert task.generator.image_size == 32 and task.generator.out_channels == 3
    assert {"val_coverage", "val_entropy", "val_inception", "val_accuracy"} <= set(result.metrics)
    from img2img.sampling import load_sampler

    sampler = load_sampler(result.run_dir)
    assert sampler.class_names == ["blue", "red"]
    assert sampler.sample(2, label="red", seed=0).shape == (2, 32, 32, 3)


def test_unlabelled_folder_trains_unconditional(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    _write_images(loose, (200, 120, 40), 8, 3)
    with pytest.raises(ValueError, match="labelled"):
        train("gan", data=str(loose), arch="dcgan", condition="class", size=32, out=str(tmp_path / "bad"),
              steps=2, **QUIET)  # fmt: skip
    assert not (tmp_path / "bad" / "model").exists()
    result = train(
        "gan",
        data=str(loose),
        arch="dcgan",
        size=32,
        out_channels=3,
        out=str(tmp_path / "run"),
        steps=2,
        batch_size=4,
        base_channels=8,
        d_channels=8,
        latent_dim=8,
        **QUIET,
    )
    assert result.task.num_classes == 0 and result.task.class_names == []
    assert result.metrics == {}  # nothing to judge the samples with
    from img2img.sampling import load_sampler
    from img2img_runtime import Model  # noqa: F401  (the runtime imports without torch's help)

    assert load_sampler(result.run_dir).sample(3, seed=0).shape == (3, 32, 32, 3)


@pytest.mark.parametrize(
    "options",
    [{"gan_loss": "wgangp"}, {"condition": "acgan"}, {"gan_mode": "hinge", "condition": "class"}],
    ids=["wgangp", "acgan", "hinge-class"],
)
def test_every_objective_trains_end_to_end(tmp_path: Path, options: dict) -> None:
    """A few steps of each objective through the loop: the losses it must log, finite weights, a model folder."""
    from img2img.checkpoint import read_jsonl

    result = train(
        "gan", data="digits", arch="dcgan", out=str(tmp_path / "run"), steps=10, batch_size=8, base_channels=8,
        d_channels=8, log_every=1, val_every=10, sample_every=10, **options, **QUIET,
    )  # fmt: skip
    records = [r for r in read_jsonl(tmp_path / "run" / "log.jsonl") if "D_real" in r]
    keys = set().union(*records)
    if options.get("gan_loss") == "wgangp":  # the paper's optimiser and 5 critic steps per generator step
        config = json.loads((tmp_path / "run" / "config.json").read_text())
        assert (config["n_critic"], config["lr"], config["beta1"], config["beta2"]) == (5, 1e-4, 0.0, 0.9)
        assert "D_gp" in keys and "G_gan" not in records[3] and "G_gan" in records[4]  # G first steps at step 5
        # only the generator's steps report its loss (critic-only steps repeated it: the divergence watch
        # counted it 5 times, and a resume, which did not have the repeat, counted it otherwise)
        assert [r["step"] for r in records if "G_gan" in r] == [5, 10]
    if options.get("condition") == "acgan":
        assert {"D_class", "G_class"} <= keys
    assert all(math.isfinite(v) for r in records for k, v in r.items() if isinstance(v, float))
    assert (tmp_path / "run" / "model" / "AtoB.safetensors").is_file() and result.step == 10
    assert "val_inception" in result.metrics


def test_a_label_that_names_a_class_is_that_class() -> None:
    """Class folders 1/ 2/ 3/: '--label 1' is the class named "1" (it drew index 1, class "2", and
    '--label 3' was refused); a string that names no class is an index; an int is always an index."""
    from img2img_runtime.sampler import labels

    latent = {"num_classes": 3, "class_names": ["1", "2", "3"]}
    assert labels(latent, 2, "1").tolist() == [0, 0]
    assert labels(latent, 1, "3").tolist() == [2]
    assert labels(latent, 1, 1).tolist() == [1]
    assert labels({"num_classes": 2, "class_names": ["cat", "dog"]}, 1, "1").tolist() == [1]
    with pytest.raises(ValueError, match="not a class"):
        labels(latent, 1, "7")
    with pytest.raises(ValueError, match="unknown class"):
        labels(latent, 1, "zebra")


def test_a_val_split_with_one_class_folder_keeps_its_labels(tmp_path: Path) -> None:
    """val/dog/ only: its images are the training split's class "dog" (they were unlabelled, and
    the judge's val accuracy read 0%); with no labelled val image the accuracy is None, not 0."""
    from img2img.classifier import fit_classifier

    root = tmp_path / "pets"
    _write_images(root / "train" / "cat", (220, 30, 30), 6, 0)
    _write_images(root / "train" / "dog", (30, 30, 220), 6, 1)
    _write_images(root / "val" / "dog", (30, 30, 220), 3, 2)
    train_set = LabeledFolder(root, split="train", size=16, channels=3)
    val_set = LabeledFolder(root, split="val", size=16, channels=3, classes=train_set.classes)
    assert [int(val_set[i]["label"]) for i in range(len(val_set))] == [1, 1, 1]
    _write_images(tmp_path / "loose" / "val", (128, 128, 128), 3, 3)
    unlabelled = LabeledFolder(tmp_path / "loose", split="val", size=16, channels=3, classes=train_set.classes)
    assert {int(unlabelled[i]["label"]) for i in range(len(unlabelled))} == {-1}
    _, accuracy = fit_classifier(train_set, train_set.classes, image_size=16, channels=3, epochs=1, val_set=unlabelled)
    assert accuracy is None


def test_the_weight_average_follows_generator_updates_not_critic_steps(tmp_path: Path) -> None:
    """With --n-critic 5 the average moved 5 times per generator update: --ema 0.999 acted as 0.995."""
    result = train(
        "gan", data="digits", arch="mlp", out=str(tmp_path / "run"), steps=10, batch_size=8, base_channels=8,
        gan_loss="wgangp", n_critic=5, ema=0.99, val_every=10, sample_every=10, **QUIET,
    )  # fmt: skip
    assert int(result.task.weight_average.updates) == 2  # the generator stepped at steps 5 and 10
