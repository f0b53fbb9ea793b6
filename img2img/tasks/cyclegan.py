"""CycleGAN (Zhu et al. 2017): unpaired translation with two generators and cycle consistency."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import losses
from ..nets import PatchGAN, create_model, init_weights
from ..nets.patchgan import patchgan_kwargs
from ..optimization import Optimization, set_requires_grad
from .base import ISOLA_ZHU_SETTINGS, ImagePool, Task, register_task


@register_task
class CycleGAN(Task):
    """Unpaired A <-> B translation.

    ``G_AB`` maps A to B and ``G_BA`` maps B to A; ``D_A`` judges images of domain A and
    ``D_B`` images of domain B. Generator loss = GAN(both directions)
    + ``lambda_cycle`` * (|G_BA(G_AB(A)) - A| + |G_AB(G_BA(B)) - B|)
    + ``lambda_identity`` * ``lambda_cycle`` * (|G_AB(B) - B| + |G_BA(A) - A|).
    Discriminators see generated images through an image pool of ``pool_size``. They use instance
    norm unless ``discriminator_kwargs`` says otherwise (the paper's PatchGAN; pix2pix keeps batch
    norm). Each discriminator's loss is ``0.5 * (D(real) term + D(fake) term)``, except for
    ``wgangp``, whose critic loss is exactly ``E[D(fake)] - E[D(real)] + lambda_gp * GP``.
    """

    name = "cyclegan"
    defaults = {**ISOLA_ZHU_SETTINGS, "generator": "resnet_9blocks", "gan_mode": "lsgan"}

    @classmethod
    def discriminator_norm(cls, cfg: Any) -> str:
        return "instance"  # the paper's discriminators

    best_metrics = ("cycle_psnr", "last")  # no targets: only the round trip is scored

    @classmethod
    def default_best_metric(cls, cfg: Any) -> str:
        return "cycle_psnr"  # no targets: the round trip

    dataset = "unpaired"

    @torch.no_grad()
    def validation_scores(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """No targets: the round trips A -> B -> A and B -> A -> B, by PSNR."""
        from ..metrics import psnr

        g = self.generators()
        return {
            "val_cycle_psnr": 0.5
            * (
                psnr(g["BtoA"](g["AtoB"](a)).float(), a, reduction="none")
                + psnr(g["AtoB"](g["BtoA"](b)).float(), b, reduction="none")
            )
        }

    @torch.no_grad()
    def sample_rows(
        self, a: torch.Tensor, b: torch.Tensor
    ) -> tuple[list[list[torch.Tensor]], torch.Tensor, torch.Tensor]:
        """``A | G_AB(A) | G_BA(G_AB(A))`` and the same from B."""
        g = self.generators()
        fake_b, fake_a = g["AtoB"](a), g["BtoA"](b)
        return [[a, fake_b, g["BtoA"](fake_b)], [b, fake_a, g["AtoB"](fake_a)]], fake_b, b

    def __init__(
        self,
        *,
        generator: str = "resnet_9blocks",
        generator_kwargs: dict[str, Any] | None = None,
        discriminator_kwargs: dict[str, Any] | None = None,
        gan_mode: str = "lsgan",
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        lambda_gp: float = 10.0,
        pool_size: int = 50,
        in_channels: int = 3,
        out_channels: int = 3,
    ) -> None:
        if gan_mode not in losses.GAN_MODES:
            raise ValueError(f"gan_mode must be one of {losses.GAN_MODES}, got {gan_mode!r}")
        # the paper's discriminators use instance norm (and a WGAN-GP critic must not use batch norm)
        dkw = patchgan_kwargs(discriminator_kwargs, gan_mode=gan_mode, default_norm="instance")
        super().__init__(
            dict(
                generator=generator,
                generator_kwargs=generator_kwargs or {},
                discriminator_kwargs=dkw,
                gan_mode=gan_mode,
                lambda_cycle=lambda_cycle,
                lambda_identity=lambda_identity,
                lambda_gp=lambda_gp,
                pool_size=pool_size,
                in_channels=in_channels,
                out_channels=out_channels,
            )
        )
        if lambda_identity > 0 and in_channels != out_channels:
            raise ValueError("the identity loss needs in_channels == out_channels; set lambda_identity=0")
        gkw = generator_kwargs or {}
        self.G_AB = create_model(generator, in_channels=in_channels, out_channels=out_channels, **gkw)
        self.G_BA = create_model(generator, in_channels=out_channels, out_channels=in_channels, **gkw)
        self.D_A = PatchGAN(in_channels=in_channels, **dkw)
        self.D_B = PatchGAN(in_channels=out_channels, **dkw)
        for net in (self.G_AB, self.G_BA, self.D_A, self.D_B):
            init_weights(net)  # N(0, 0.02), the paper's initialisation
        self.gan_mode = gan_mode
        self.lambda_cycle = lambda_cycle
        self.lambda_identity = lambda_identity
        self.lambda_gp = lambda_gp
        self.pool_A = ImagePool(pool_size)
        self.pool_B = ImagePool(pool_size)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "G": [*self.G_AB.parameters(), *self.G_BA.parameters()],
            "D": [*self.D_A.parameters(), *self.D_B.parameters()],
        }

    def generators(self) -> dict[str, nn.Module]:
        return {"AtoB": self.G_AB, "BtoA": self.G_BA}

    def discriminators(self) -> list[nn.Module]:
        return [self.D_A, self.D_B]

    def forward_cycle(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        fake_b = self.G_AB(real_a)
        fake_a = self.G_BA(real_b)
        return {"fake_B": fake_b, "rec_A": self.G_BA(fake_b), "fake_A": fake_a, "rec_B": self.G_AB(fake_a)}

    def generator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor, out: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        terms = {
            "G_AB_gan": losses.gan_loss(self.D_B(out["fake_B"]), True, self.gan_mode, for_discriminator=False),
            "G_BA_gan": losses.gan_loss(self.D_A(out["fake_A"]), True, self.gan_mode, for_discriminator=False),
            "cycle_A": self.lambda_cycle * losses.cycle_loss(out["rec_A"], real_a),
            "cycle_B": self.lambda_cycle * losses.cycle_loss(out["rec_B"], real_b),
        }
        if self.lambda_identity > 0:
            w = self.lambda_identity * self.lambda_cycle
            terms["idt_B"] = w * losses.identity_loss(self.G_AB(real_b), real_b)
            terms["idt_A"] = w * losses.identity_loss(self.G_BA(real_a), real_a)
        return terms

    def _discriminator_loss(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        # 0.5 * (real + fake) as in the paper, but the WGAN-GP critic loss is E[D(fake)] - E[D(real)]
        # + lambda_gp * GP exactly (halving the Wasserstein terms would double the penalty's weight)
        half = 1.0 if self.gan_mode == "wgangp" else 0.5
        out = {
            "real": half * losses.gan_loss(d(real), True, self.gan_mode),
            "fake": half * losses.gan_loss(d(fake), False, self.gan_mode),
        }
        if self.gan_mode == "wgangp":
            with torch.autocast(real.device.type, enabled=False):
                out["gp"] = losses.gradient_penalty(d, real.float(), fake.float(), weight=self.lambda_gp)
        return out

    def discriminator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        d_a = self._discriminator_loss(self.D_A, real_a, self.pool_A.query(fake_a.detach()))
        d_b = self._discriminator_loss(self.D_B, real_b, self.pool_B.query(fake_b.detach()))
        return {**{f"D_A_{k}": v for k, v in d_a.items()}, **{f"D_B_{k}": v for k, v in d_b.items()}}

    def training_step(self, batch: dict[str, torch.Tensor], opt: Optimization, step: int) -> dict[str, float]:
        real_a, real_b = batch["A"], batch["B"]
        set_requires_grad([self.D_A, self.D_B], False)
        with opt.autocast():
            out = self.forward_cycle(real_a, real_b)
            g_terms = self.generator_losses(real_a, real_b, out)
        opt.step("G", sum(g_terms.values()))
        set_requires_grad([self.D_A, self.D_B], True)
        with opt.autocast():
            d_terms = self.discriminator_losses(real_a, real_b, out["fake_A"], out["fake_B"])
        opt.step("D", sum(d_terms.values()))
        return {k: float(v.detach()) for k, v in {**g_terms, **d_terms}.items()}

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {"pool_A": self.pool_A.state(), "pool_B": self.pool_B.state()}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        device = next(self.parameters()).device
        self.pool_A.load(state.get("pool_A", torch.zeros(0)), device)
        self.pool_B.load(state.get("pool_B", torch.zeros(0)), device)
