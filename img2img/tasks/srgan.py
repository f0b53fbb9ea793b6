"""SRGAN (Ledig et al. 2017): super-resolution with an SRResNet generator and the shared PatchGAN."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import losses
from ..nets import PatchGAN, create_model
from ..optimization import Optimization, set_requires_grad
from .base import Task


class SRGAN(Task):
    """Low resolution (A) -> high resolution (B), ``scale`` times larger.

    For the first ``warmup_steps`` steps the generator learns from a pixel loss alone (the
    SRResNet stage of the paper) and the discriminator is not trained. Afterwards the generator
    loss is ``content + adv_weight * GAN``, where content is a VGG19 perceptual loss when
    ``vgg_weights`` (a local file) is given, else L1 + ``feature_matching_weight`` * feature
    matching on the discriminator's features (which needs no pretrained network).
    """

    name = "srgan"

    def __init__(
        self,
        *,
        generator: str = "srresnet_x4",
        generator_kwargs: dict[str, Any] | None = None,
        discriminator_kwargs: dict[str, Any] | None = None,
        scale: int = 4,
        gan_mode: str = "vanilla",
        adv_weight: float = 1e-3,
        warmup_steps: int = 0,
        pixel_weight: float = 1.0,
        feature_matching_weight: float = 1.0,
        vgg_weights: str | None = None,
        perceptual_weight: float = 1.0,
        lambda_gp: float = 10.0,
        in_channels: int = 3,
        out_channels: int = 3,
    ) -> None:
        vgg_path = losses.find_vgg19_weights(vgg_weights)  # explicit path, $IMG2IMG_VGG19_WEIGHTS or the torch cache
        vgg_weights = str(vgg_path) if vgg_path else None
        super().__init__(
            dict(generator=generator, generator_kwargs=generator_kwargs or {}, discriminator_kwargs=discriminator_kwargs or {},
                 scale=scale, gan_mode=gan_mode, adv_weight=adv_weight, warmup_steps=warmup_steps, pixel_weight=pixel_weight,
                 feature_matching_weight=feature_matching_weight, vgg_weights=vgg_weights, perceptual_weight=perceptual_weight,
                 lambda_gp=lambda_gp, in_channels=in_channels, out_channels=out_channels)
        )
        if gan_mode not in losses.GAN_MODES:
            raise ValueError(f"gan_mode must be one of {losses.GAN_MODES}, got {gan_mode!r}")
        self.generator = create_model(generator, in_channels=in_channels, out_channels=out_channels, scale=scale, **(generator_kwargs or {}))
        if self.generator.scale != scale:
            raise ValueError(f"generator {generator!r} upscales x{self.generator.scale}, but scale={scale}")
        self.discriminator = PatchGAN(in_channels=out_channels, **(discriminator_kwargs or {}))
        self.perceptual = losses.PerceptualLoss(weights_path=vgg_weights) if vgg_weights else None
        self.gan_mode = gan_mode
        self.adv_weight = adv_weight
        self.warmup_steps = warmup_steps
        self.pixel_weight = pixel_weight
        self.feature_matching_weight = feature_matching_weight
        self.perceptual_weight = perceptual_weight
        self.lambda_gp = lambda_gp

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"G": list(self.generator.parameters()), "D": list(self.discriminator.parameters())}

    def generators(self) -> dict[str, nn.Module]:
        return {"AtoB": self.generator}

    def discriminators(self) -> list[nn.Module]:
        return [self.discriminator]

    def state_dict(self, *args, **kwargs):  # the frozen VGG is not part of the model
        state = super().state_dict(*args, **kwargs)
        return type(state)((k, v) for k, v in state.items() if not k.startswith("perceptual."))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        if self.perceptual is not None:
            state_dict = {**state_dict, **{f"perceptual.{k}": v for k, v in self.perceptual.state_dict().items()}}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def generator_losses(self, hr: torch.Tensor, sr: torch.Tensor, *, adversarial: bool = True) -> dict[str, torch.Tensor]:
        if not adversarial:
            return {"G_pixel": self.pixel_weight * losses.l1_loss(sr, hr)}
        if self.perceptual is not None:
            terms = {"G_content": self.perceptual_weight * self.perceptual(sr, hr)}
            pred_fake = self.discriminator(sr)
        else:
            pred_fake, fake_features = self.discriminator(sr, return_features=True)
            with torch.no_grad():
                _, real_features = self.discriminator(hr, return_features=True)
            terms = {
                "G_pixel": self.pixel_weight * losses.l1_loss(sr, hr),
                "G_fm": self.feature_matching_weight * losses.feature_matching_loss(fake_features, real_features),
            }
        terms["G_gan"] = self.adv_weight * losses.gan_loss(pred_fake, True, self.gan_mode, for_discriminator=False)
        return terms

    def discriminator_losses(self, hr: torch.Tensor, sr: torch.Tensor) -> dict[str, torch.Tensor]:
        sr = sr.detach()
        out = {
            "D_real": 0.5 * losses.gan_loss(self.discriminator(hr), True, self.gan_mode),
            "D_fake": 0.5 * losses.gan_loss(self.discriminator(sr), False, self.gan_mode),
        }
        if self.gan_mode == "wgangp":
            with torch.autocast(hr.device.type, enabled=False):
                out["D_gp"] = losses.gradient_penalty(self.discriminator, hr.float(), sr.float(), weight=self.lambda_gp)
        return out

    def training_step(self, batch: dict[str, torch.Tensor], opt: Optimization, step: int) -> dict[str, float]:
        lr_img, hr = batch["A"], batch["B"]
        adversarial = step >= self.warmup_steps
        with opt.autocast():
            sr = self.generator(lr_img)  # (n, c, scale*h, scale*w)
        d_terms: dict[str, torch.Tensor] = {}
        if adversarial:
            set_requires_grad(self.discriminator, True)
            with opt.autocast():
                d_terms = self.discriminator_losses(hr, sr)
            opt.step("D", sum(d_terms.values()))
        set_requires_grad(self.discriminator, False)
        with opt.autocast():
            g_terms = self.generator_losses(hr, sr, adversarial=adversarial)
        opt.step("G", sum(g_terms.values()))
        set_requires_grad(self.discriminator, True)
        return {k: float(v.detach()) for k, v in {**d_terms, **g_terms}.items()}
