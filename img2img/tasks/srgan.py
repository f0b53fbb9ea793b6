"""SRGAN (Ledig et al. 2017): super-resolution with an SRResNet generator and the shared PatchGAN."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from .. import losses
from ..nets import PatchGAN, create_model
from ..nets.patchgan import patchgan_kwargs
from ..optimization import Optimization, set_requires_grad
from .base import Task, register_task

log = logging.getLogger(__name__)

#: ``content_loss`` values: VGG19 features, or L1 plus feature matching on the discriminator
CONTENT_LOSSES = ("vgg", "l1+fm")


@register_task
class SRGAN(Task):
    """Low resolution (A) -> high resolution (B), ``scale`` times larger.

    For the first ``warmup_steps`` steps the generator learns from a pixel loss alone (the
    PSNR-oriented SRResNet stage of the paper) and the discriminator is not trained; with
    ``adv_weight=0`` the whole run is that stage (a PSNR-oriented model). Afterwards
    the generator loss is ``content + adv_weight * GAN``, where the content loss is

    * ``"vgg"`` (when ``vgg_weights``, a local VGG19 file, is given): the paper's VGG54 loss,
      ``perceptual_weight * MSE(phi_5,4(SR) / 12.75, phi_5,4(HR) / 12.75)`` on relu5_4 features
      (see :data:`img2img.losses.SRGAN_VGG_FEATURE_SCALE`);
    * ``"l1+fm"`` (without weights): L1 + ``feature_matching_weight`` * feature matching on the
      discriminator's features, which needs no pretrained network.

    ``content_loss=None`` picks ``"vgg"`` exactly when ``vgg_weights`` is given; nothing else
    (no environment variable, no torch cache) switches VGG on here. The VGG file is read at the
    first training step, never for inference, so a model whose VGG file has moved still loads.
    The discriminator loss is ``0.5 * (real + fake)``, except for ``wgangp``: exactly
    ``E[D(fake)] - E[D(real)] + lambda_gp * GP``.
    """

    name = "srgan"
    # SRGAN (Ledig et al. 2017): Adam(1e-4, beta1 0.9), x0.1 for the second half of the adversarial stage;
    # its warm-up (the PSNR-oriented SRResNet stage) is half the steps (config.STEP_FRACTIONS)
    defaults = {
        "generator": "srresnet_x4",
        "gan_mode": "vanilla",
        "size": 96,
        "batch_size": 16,
        "lr": 1e-4,
        "beta1": 0.9,
        "lr_schedule": "step",
        "adv_weight": 1e-3,
        "warmup_steps": None,  # not the generic 0: derived from the steps (config.STEP_FRACTIONS)
    }

    @classmethod
    def finish_config(cls, cfg: Any) -> None:
        import os

        if cfg.crop_scale or cfg.affine_degrees or cfg.affine_translate or cfg.affine_scale:
            raise ValueError("super-resolution pairs differ in size: use flips only (no crop_scale or affine)")
        if cfg.direction != "AtoB":
            raise ValueError("srgan learns low -> high resolution from one folder of photos: no --direction BtoA")
        if cfg.in_channels != 3 or cfg.out_channels != 3:
            raise ValueError("srgan reads and writes RGB photos: --in-channels and --out-channels must be 3")
        if cfg.load_size is not None:
            raise ValueError(
                "srgan crops its high-resolution patches from the photos as stored: --load-size is not an option "
                "(resize the photos beforehand to train at another scale)"
            )
        if cfg.content_loss is not None and cfg.content_loss not in CONTENT_LOSSES:
            raise ValueError(f"content_loss must be one of {', '.join(CONTENT_LOSSES)}, got {cfg.content_loss!r}")
        # VGG only when asked for: --vgg-weights, else $IMG2IMG_VGG19_WEIGHTS (recorded as vgg_weights)
        if cfg.content_loss != "l1+fm" and not cfg.vgg_weights:
            cfg.vgg_weights = os.environ.get(losses.VGG19_WEIGHTS_ENV) or None
        if cfg.content_loss is None:
            cfg.content_loss = "vgg" if cfg.vgg_weights else "l1+fm"

    @classmethod
    def default_best_metric(cls, cfg: Any) -> str:
        # a GAN super-resolution run is chosen for texture like the target's; PSNR favours the warm-up's blur
        return "sharpness" if (cfg.adv_weight or 0) > 0 else "psnr"

    dataset = "sr"

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
        content_loss: str | None = None,
        perceptual_weight: float = 1.0,
        lambda_gp: float = 10.0,
        in_channels: int = 3,
        out_channels: int = 3,
    ) -> None:
        if gan_mode not in losses.GAN_MODES:
            raise ValueError(f"gan_mode must be one of {losses.GAN_MODES}, got {gan_mode!r}")
        vgg_weights = str(vgg_weights) if vgg_weights else None
        if content_loss is None:
            content_loss = "vgg" if vgg_weights else "l1+fm"
        if content_loss not in CONTENT_LOSSES:
            raise ValueError(f"content_loss must be one of {CONTENT_LOSSES}, got {content_loss!r}")
        if content_loss == "vgg" and not vgg_weights:
            raise ValueError(
                "content_loss 'vgg' needs a local VGG19 weights file: vgg_weights=FILE (--vgg-weights FILE, "
                "or $IMG2IMG_VGG19_WEIGHTS for train() and the CLI)"
            )
        if content_loss == "l1+fm" and vgg_weights:
            raise ValueError(f"content_loss 'l1+fm' does not use VGG, but vgg_weights={vgg_weights!r} was given")
        dkw = patchgan_kwargs(discriminator_kwargs, gan_mode=gan_mode)  # batch norm, as the paper; never for wgangp
        super().__init__(
            dict(
                generator=generator,
                generator_kwargs=generator_kwargs or {},
                discriminator_kwargs=dkw,
                scale=scale,
                gan_mode=gan_mode,
                adv_weight=adv_weight,
                warmup_steps=warmup_steps,
                pixel_weight=pixel_weight,
                feature_matching_weight=feature_matching_weight,
                vgg_weights=vgg_weights,
                content_loss=content_loss,
                perceptual_weight=perceptual_weight,
                lambda_gp=lambda_gp,
                in_channels=in_channels,
                out_channels=out_channels,
            )
        )
        self.generator = create_model(
            generator, in_channels=in_channels, out_channels=out_channels, scale=scale, **(generator_kwargs or {})
        )
        if self.generator.scale != scale:
            raise ValueError(f"generator {generator!r} upscales x{self.generator.scale}, but scale={scale}")
        self.discriminator = PatchGAN(in_channels=out_channels, **dkw)
        self.perceptual: losses.PerceptualLoss | None = None  # loaded by load_content_loss(), for training only
        self.content_loss = content_loss
        self.vgg_weights = vgg_weights
        self.gan_mode = gan_mode
        self.adv_weight = adv_weight
        self.warmup_steps = warmup_steps
        self.pixel_weight = pixel_weight
        self.feature_matching_weight = feature_matching_weight
        self.perceptual_weight = perceptual_weight
        self.lambda_gp = lambda_gp
        self._content_logged = False

    def describe_content_loss(self) -> str:
        """The content loss in words, as logged: ``vgg19 relu5_4 ... (PATH)`` or ``l1 + discriminator feature matching``."""
        if self.content_loss == "vgg":
            return f"vgg19 relu5_4 MSE on features / 12.75 ({self.vgg_weights})"
        return "l1 + discriminator feature matching"

    def load_content_loss(self) -> None:
        """Read the VGG19 weights (content loss ``"vgg"``) onto the generator's device, once, and log
        the content loss in use. Called by the first training step; inference never needs it.

        Raises:
            FileNotFoundError: the VGG19 file does not exist (no other file is looked for).
        """
        if self.content_loss == "vgg" and self.perceptual is None:
            device = next(self.generator.parameters()).device
            self.perceptual = losses.PerceptualLoss(
                weights_path=self.vgg_weights,
                layers=("relu5_4",),
                criterion="l2",
                feature_scale=losses.SRGAN_VGG_FEATURE_SCALE,
            ).to(device)
        if not self._content_logged:
            log.info("srgan content loss: %s", self.describe_content_loss())
            self._content_logged = True

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
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("perceptual.")}
        if self.perceptual is not None:
            state_dict = {**state_dict, **{f"perceptual.{k}": v for k, v in self.perceptual.state_dict().items()}}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def generator_losses(
        self, hr: torch.Tensor, sr: torch.Tensor, *, adversarial: bool = True
    ) -> dict[str, torch.Tensor]:
        if not adversarial:
            return {"G_pixel": self.pixel_weight * losses.l1_loss(sr, hr)}
        if self.content_loss == "vgg":
            self.load_content_loss()
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
        # 0.5 * (real + fake), but the WGAN-GP critic loss is E[D(fake)] - E[D(real)] + lambda_gp * GP
        # exactly (halving the Wasserstein terms would double the penalty's weight)
        half = 1.0 if self.gan_mode == "wgangp" else 0.5
        out = {
            "D_real": half * losses.gan_loss(self.discriminator(hr), True, self.gan_mode),
            "D_fake": half * losses.gan_loss(self.discriminator(sr), False, self.gan_mode),
        }
        if self.gan_mode == "wgangp":
            with torch.autocast(hr.device.type, enabled=False):
                out["D_gp"] = losses.gradient_penalty(self.discriminator, hr.float(), sr.float(), weight=self.lambda_gp)
        return out

    def training_step(self, batch: dict[str, torch.Tensor], opt: Optimization, step: int) -> dict[str, float]:
        lr_img, hr = batch["A"], batch["B"]
        self.load_content_loss()  # at the first step, even in the warm-up: a missing VGG file fails at once
        adversarial = step >= self.warmup_steps and self.adv_weight > 0  # adv_weight 0: PSNR-oriented (SRResNet)
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
