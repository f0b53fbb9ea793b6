"""The classic GAN lab: noise -> image (Goodfellow et al. 2014), DCGAN, conditional GAN, AC-GAN and
WGAN-GP, on the same loss library, loop, checkpoints and health monitor as the translation tasks.

Each step trains the discriminator on a batch of real images and a batch generated from fresh
noise (labelled real and fake), then, every ``n_critic`` steps, the generator through the
frozen discriminator with its images labelled "real" (``losses.gan_loss(..., for_discriminator=False)``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import losses
from ..nets import create_model, get_model_class, init_weights
from ..nets.gan_lab import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ..optimization import Optimization, set_requires_grad
from .base import Task, register_task

# --condition values: None (unconditional), "class" (label embedding in G, projection in D), "acgan"
CONDITIONS = ("class", "acgan")
# the discriminator that goes with each generator architecture
DISCRIMINATORS = {MLPGenerator.arch: MLPDiscriminator, DCGANGenerator.arch: DCGANDiscriminator}
# The lab's settings by --arch: the generator preset, the latent size and Adam's learning rates (the
# classic lab: generator 1e-3, discriminator 2e-4; DCGAN: 2e-4 for both). WGAN-GP overrides the
# optimiser with the paper's: Adam(1e-4, betas (0, 0.9)) and 5 critic steps per generator step.
ARCH_SETTINGS: dict[str, dict[str, Any]] = {
    "mlp": {"generator": "mlp_generator", "latent_dim": 2, "lr": 1e-3, "d_lr": 2e-4},
    "dcgan": {"generator": "dcgan_generator", "latent_dim": 100, "lr": 2e-4, "d_lr": 2e-4},
}
ARCHS = {arch: settings["generator"] for arch, settings in ARCH_SETTINGS.items()}  # generator preset by --arch
WGANGP_SETTINGS = {"lr": 1e-4, "d_lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5}
BUILTIN_SIZES = {"digits": 28, "faces": 32}  # the faces (25 px) are resized to a DCGAN size
SAMPLES_PER_SCORE = 1000  # generated images the classifier judges at each validation
GRID = 8  # the fixed-noise sample grid is GRID x GRID (conditional: GRID per class)


@register_task
class GAN(Task):
    """Unconditional or class-conditional image generation from noise.

    Args:
        generator: a sampler preset (``mlp_generator``, ``dcgan_generator``); its discriminator
            follows (:data:`DISCRIMINATORS`).
        generator_kwargs, discriminator_kwargs: constructor overrides of the two nets.
        gan_mode: ``vanilla``, ``lsgan``, ``hinge`` or ``wgangp`` (gradient penalty, ``lambda_gp``).
        size, out_channels: the images (square side, 1 or 3 channels).
        latent_dim: noise size.
        condition: None, ``"class"`` (conditional GAN) or ``"acgan"`` (AC-GAN: the discriminator
            also names the class; cross-entropy on real and generated images trains both nets).
        class_names: the classes of the data (needed for a condition; the scores use them too).
        n_critic: discriminator steps per generator step (5 for WGAN-GP in the paper).
    """

    name = "gan"
    dataset = "images"
    scores_itself = True  # validation generates its own samples (no val images needed)
    extra_fields = ("arch",)
    defaults = {
        "gan_mode": "vanilla",
        "batch_size": 64,
        "beta1": 0.5,
        "lr_schedule": "linear",
        "warmup_steps": 0,
        "decay_steps": 0,  # a constant learning rate, as the lab's papers train
        "adv_weight": 1.0,
        "n_critic": 1,
        "size": 64,  # folders (the built-in sets: their own size)
    }

    @classmethod
    def configure(cls, cfg: Any) -> None:
        """The lab's settings from --arch, --gan-mode and the data (recorded in config.json)."""
        from ..data.labeled import BUILTIN_SETS, class_names

        if cfg.recipe is not None:
            raise ValueError("the gan task trains on images as they are: no --task recipe")
        if cfg.arch is None:
            cfg.arch = "mlp" if cfg.generator == ARCHS["mlp"] else "dcgan"
        if cfg.arch not in ARCH_SETTINGS:
            raise ValueError(f"arch must be one of {', '.join(ARCH_SETTINGS)}, got {cfg.arch!r}")
        if cfg.condition is not None and cfg.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {cfg.condition!r}")
        chosen = {**ARCH_SETTINGS[cfg.arch], **(WGANGP_SETTINGS if cfg.gan_mode == "wgangp" else {})}
        if cfg.generator is not None and cfg.generator != chosen["generator"]:
            raise ValueError(f"--arch {cfg.arch} trains the {chosen['generator']} generator, not {cfg.generator!r}")
        for key, value in chosen.items():
            if getattr(cfg, key, None) is None:
                setattr(cfg, key, value)
        if cfg.data in BUILTIN_SETS:
            cfg.out_channels = 1
            if cfg.size is None:
                cfg.size = BUILTIN_SIZES[cfg.data]
            if cfg.num_workers is None:  # in memory: worker processes would only take cores
                cfg.num_workers = 0
        if cfg.hflip is None:
            cfg.hflip = cfg.data != "digits"  # a mirrored digit is no digit
        if cfg.data and not cfg.class_names:
            cfg.class_names = class_names(cfg.data)
        if cfg.condition and len(cfg.class_names) < 2:
            raise ValueError(
                f"--condition {cfg.condition} needs labelled images: the digits set, or a folder with one "
                f"sub-folder per class ({cfg.data} has {len(cfg.class_names)} classes)"
            )

    @classmethod
    def discriminator_norm(cls, cfg: Any) -> str | None:
        return None if cfg.arch == "mlp" else "batch"  # the MLP discriminator has no norm; DCGAN's as the paper

    best_metrics = ("inception", "coverage", "accuracy", "last")  # by the run's classifier

    @classmethod
    def default_best_metric(cls, cfg: Any) -> str:
        return "inception" if len(cfg.class_names) >= 2 else "last"  # scored by the classifier when labelled

    def __init__(
        self,
        *,
        generator: str = "dcgan_generator",
        generator_kwargs: dict[str, Any] | None = None,
        discriminator_kwargs: dict[str, Any] | None = None,
        gan_mode: str = "vanilla",
        lambda_gp: float = 10.0,
        size: int = 28,
        out_channels: int = 1,
        latent_dim: int = 100,
        condition: str | None = None,
        class_names: list[str] | None = None,
        n_critic: int = 1,
    ) -> None:
        class_names = list(class_names or [])
        super().__init__(
            dict(
                generator=generator,
                generator_kwargs=dict(generator_kwargs or {}),
                discriminator_kwargs=dict(discriminator_kwargs or {}),
                gan_mode=gan_mode,
                lambda_gp=lambda_gp,
                size=size,
                out_channels=out_channels,
                latent_dim=latent_dim,
                condition=condition,
                class_names=class_names,
                n_critic=n_critic,
            )
        )
        if gan_mode not in losses.GAN_MODES:
            raise ValueError(f"gan_mode must be one of {losses.GAN_MODES}, got {gan_mode!r}")
        if condition is not None and condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS} or None, got {condition!r}")
        if condition and len(class_names) < 2:
            raise ValueError(
                f"--condition {condition} needs labelled data with two or more classes (the digits set, or a "
                "folder with one sub-folder per class)"
            )
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        cls = get_model_class(generator)
        if cls.kind != "sampler":
            raise ValueError(
                f"the gan task needs a noise -> image generator ({', '.join(ARCHS.values())}), got {generator!r}"
            )
        self.condition, self.class_names = condition, class_names
        num_classes = len(class_names) if condition else 0
        self.generator = create_model(
            generator,
            **{
                "latent_dim": latent_dim,
                "image_size": size,
                "out_channels": out_channels,
                "num_classes": num_classes,
                **(generator_kwargs or {}),
            },
        )
        d_cls = DISCRIMINATORS[cls.arch]
        d_kwargs = dict(discriminator_kwargs or {})
        accepted = set(inspect.signature(d_cls.__init__).parameters) - {"self"}
        if "norm" not in accepted:
            d_kwargs.pop("norm", None)  # the MLP discriminator has none
        unknown = sorted(set(d_kwargs) - accepted)
        if unknown:
            raise ValueError(f"the {d_cls.__name__} does not take {unknown} (it takes {sorted(accepted)})")
        self.discriminator = d_cls(
            image_size=size,
            in_channels=out_channels,
            num_classes=len(class_names) if condition else 0,
            auxiliary=condition == "acgan",
            **d_kwargs,
        )
        if gan_mode == "wgangp":
            from ..nets.patchgan import check_wgangp_critic

            check_wgangp_critic(self.discriminator)
        if cls is DCGANGenerator:
            for net in (self.generator, self.discriminator):
                init_weights(net, linear=True)  # every weight N(0, 0.02), the DCGAN paper's initialisation
        self.gan_mode, self.lambda_gp, self.n_critic = gan_mode, lambda_gp, n_critic
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        # the fixed noise of the sample grids (saved in checkpoints, never in exported models)
        self.register_buffer(
            "fixed_noise", torch.randn(GRID * GRID, latent_dim, generator=torch.Generator().manual_seed(1234))
        )
        self._judge: dict[str, nn.Module] = {}  # the classifier of the scores, set by prepare(); not a submodule

    # ----------------------------------------------------------------------------------- nets
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"G": list(self.generator.parameters()), "D": list(self.discriminator.parameters())}

    def generators(self) -> dict[str, nn.Module]:
        return {"AtoB": self.generator}

    def discriminators(self) -> list[nn.Module]:
        return [self.discriminator]

    def random_labels(self, n: int, device: torch.device) -> torch.Tensor | None:
        return torch.randint(0, self.num_classes, (n,), device=device) if self.num_classes else None

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images in ``[-1, 1]`` from fresh noise (or ``noise``); random labels for a
        conditional model unless given."""
        device = self.fixed_noise.device
        z = noise if noise is not None else torch.randn(n, self.latent_dim, device=device)
        if self.num_classes and labels is None:
            labels = self.random_labels(n, device)
        return self.generator(z, labels if self.num_classes else None)

    def translate(self, images: torch.Tensor, direction: str | None = None) -> torch.Tensor:
        raise TypeError("a GAN lab model generates images from noise: use sample(n), not translate(images)")

    def io_spec(self) -> dict[str, Any]:
        return {
            "latent": {
                "dim": self.latent_dim,
                "distribution": "normal",
                "condition": self.condition,
                "num_classes": self.num_classes,
                "class_names": self.class_names if self.num_classes else [],
            },
            "output": {
                "channels": self.generator.out_channels,
                "color_space": "rgb" if self.generator.out_channels == 3 else "gray",
                "range": [-1.0, 1.0],
                "size": [self.generator.image_size, self.generator.image_size],
            },
            "color": {"space": "rgb"},
        }

    # --------------------------------------------------------------------------------- losses
    def _critic(self, images: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(real/fake logits, class logits or None)``."""
        out = self.discriminator(images, labels if self.condition == "class" else None)
        return out if isinstance(out, tuple) else (out, None)

    def discriminator_losses(
        self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None, fake_labels: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        half = 1.0 if self.gan_mode == "wgangp" else 0.5  # as pix2pix: the critic's terms are not halved
        real_logit, real_class = self._critic(real, labels)
        fake_logit, fake_class = self._critic(fake, fake_labels)
        out = {
            "D_real": half * losses.gan_loss(real_logit, True, self.gan_mode),
            "D_fake": half * losses.gan_loss(fake_logit, False, self.gan_mode),
        }
        if self.condition == "acgan":  # the auxiliary classifier learns the classes of real and generated images
            out["D_class"] = 0.5 * (
                F.cross_entropy(real_class.float(), labels) + F.cross_entropy(fake_class.float(), fake_labels)
            )
        if self.gan_mode == "wgangp":

            def critic(x: torch.Tensor) -> torch.Tensor:
                return self._critic(x, labels)[0]

            with torch.autocast(real.device.type, enabled=False):  # double backward in fp32
                out["D_gp"] = losses.gradient_penalty(critic, real.float(), fake.float(), weight=self.lambda_gp)
        return out

    def generator_losses(self, fake: torch.Tensor, fake_labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        logit, classes = self._critic(fake, fake_labels)
        out = {"G_gan": losses.gan_loss(logit, True, self.gan_mode, for_discriminator=False)}
        if self.condition == "acgan":
            out["G_class"] = F.cross_entropy(classes.float(), fake_labels)
        return out

    def training_step(self, batch: dict[str, torch.Tensor], opt: Optimization, step: int) -> dict[str, float]:
        real = batch["B"]
        n = real.shape[0]
        labels = batch["label"] if self.num_classes else None
        if labels is not None and bool((labels < 0).any()):
            raise ValueError("conditional training met an unlabelled image (every image must be in a class folder)")
        fake_labels = self.random_labels(n, real.device)
        z = torch.randn(n, self.latent_dim, device=real.device)
        with opt.autocast():
            fake = self.generator(z, fake_labels)
        set_requires_grad(self.discriminator, True)
        with opt.autocast():
            d_terms = self.discriminator_losses(real, fake.detach(), labels, fake_labels)
        opt.step("D", sum(d_terms.values()))
        losses = {k: float(v.detach()) for k, v in d_terms.items()}
        if (step + 1) % self.n_critic == 0:  # the generator learns through the frozen discriminator
            set_requires_grad(self.discriminator, False)
            with opt.autocast():
                g_terms = self.generator_losses(fake, fake_labels)
            opt.step("G", sum(g_terms.values()))
            set_requires_grad(self.discriminator, True)
            losses.update({k: float(v.detach()) for k, v in g_terms.items()})
        # a critic-only step reports no generator term (the divergence watch skips it; repeating the
        # last one counted it twice, and the repeat was not in checkpoints: resume was not exact)
        return losses

    # ------------------------------------------------------------------------- watching it
    def prepare(self, run_dir: Path | None, train_set: Any, val_set: Any) -> None:
        """Before training: the classifier that scores samples (labelled data only), cached in the run."""
        if len(self.class_names) < 2:
            return
        from ..classifier import CLASSIFIER_DIR, cached_classifier

        net, info = cached_classifier(
            None if run_dir is None else run_dir / CLASSIFIER_DIR,
            train_set,
            self.class_names,
            image_size=self.generator.image_size,
            channels=self.generator.out_channels,
            val_set=val_set,
        )
        self._judge["classifier"] = net.to(self.fixed_noise.device).requires_grad_(False)

    @torch.no_grad()
    def validation_summary(self, batches: Any) -> dict[str, float]:
        """Class coverage, entropy and inception score of 1,000 fresh samples (and, for a
        conditional model, their accuracy against the requested labels), by the run's classifier."""
        if "classifier" not in self._judge:
            return {}
        from ..classifier import class_scores, classify

        device = self.fixed_noise.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(4321)  # the same noise at every validation, and the run's RNG untouched
            labels = self.random_labels(SAMPLES_PER_SCORE, device)
            images = self.sample(SAMPLES_PER_SCORE, labels)
        scores = class_scores(classify(self._judge["classifier"], images), labels)
        return {f"val_{k}": v for k, v in scores.items()}

    @torch.no_grad()
    def sample_rows(self, a: Any, b: torch.Tensor) -> tuple[list[list[torch.Tensor]], torch.Tensor, torch.Tensor]:
        """The fixed-noise grid: GRID x GRID samples, or (conditional) one row per class with the
        same GRID noises in every row."""
        z = self.fixed_noise
        if self.num_classes:
            classes = torch.arange(self.num_classes, device=z.device)
            columns = [self.generator(z[j : j + 1].expand(self.num_classes, -1), classes) for j in range(GRID)]
        else:
            images = self.generator(z, None)
            columns = [images[j * GRID : (j + 1) * GRID] for j in range(GRID)]
        outputs = torch.cat(columns)
        return [columns], outputs, b
