"""pix2pix (Isola et al. 2017): paired translation, U-Net generator + conditional PatchGAN."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import losses
from ..color import AB_SCALE, join_lab, split_lab
from ..hints import VAL_HINTS, VAL_SEED, random_hint_planes
from ..nets import PatchGAN, create_model, get_model_class, init_weights
from ..nets.hint_spread import HintSpread
from ..nets.layers import is_unnormalized
from ..nets.patchgan import patchgan_kwargs
from ..nets.unet import UNetGenerator
from ..optimization import Optimization, set_requires_grad
from .base import ISOLA_ZHU_SETTINGS, RowReplay, Task, register_task

# The reconstruction term: L1 (the paper: sharper, the conditional median) or L2 (MSE: the
# conditional mean, which is what PSNR rewards when the input is ambiguous, e.g. faded or not).
log = logging.getLogger(__name__)

PIXEL_LOSSES = {"l1": losses.l1_loss, "l2": losses.l2_loss, "psnr": losses.psnr_loss}

# color_replay: the colour head learns from the last this many training crops, each kept as its
# histogram features and the block means of its input and target on an 8 x 8 grid (457 numbers, 15 MB in all) ...
COLOR_REPLAY_CAPACITY = 8192
COLOR_REPLAY_GRID = 8
# ... drawn this many at a time per update.
COLOR_REPLAY_BATCH = 16


@register_task
class Pix2Pix(Task):
    """Paired A -> B translation.

    The discriminator is conditional: it sees the input and an output (real or generated)
    concatenated along channels. Generator loss = GAN + ``lambda_l1`` * L1 to the target.

    Args:
        generator: a generator preset name (``unet_256``, ``unet_128``, ``resnet_9blocks``...).
        generator_kwargs: overrides for the preset (``base_channels``, ``norm``, ``upsample``...).
        discriminator_kwargs: ``PatchGAN`` arguments (``num_layers``, ``base_channels``, ``norm``,
            ``spectral_norm``, ``num_scales``).
        gan_mode: ``vanilla``, ``lsgan``, ``hinge`` or ``wgangp`` (adds the gradient penalty).
        lambda_l1: weight of the L1 term (100 in the paper).
        lambda_color: with a colour head (``generator_kwargs`` ``global_color=True``), weight of
            its own loss (``losses.color_transform_loss``: its corrected input against the target
            over 8 x 8 blocks), so that photo-wide colour is learnt by the head, from the whole
            photo's histograms, rather than locally by the U-Net behind it. 0: off.
        color_replay: with a colour head, train it apart from the generator, on its own loss only:
            after each step it makes this many updates (its own Adam) on batches of 16 drawn from
            the last 8192 training crops (:class:`~img2img.tasks.base.RowReplay` of the head's
            features and the crops' block means on an 8 x 8 grid, scored like ``lambda_color``), instead of one noisy
            update per batch mixed with the U-Net's gradient. 0 (default): the head trains with
            the generator (and ``lambda_color``). Measured on the restore recipe: see README.
        pixel_loss: ``"l1"`` (the paper), ``"l2"`` or ``"psnr"`` (``losses.psnr_loss``: per-image
            negative PSNR in dB) for the ``lambda_l1``-weighted reconstruction term.
        adv_weight: weight of the GAN term (1 in the paper). 0 trains the generator on L1 alone
            and leaves the discriminator untrained (a regression U-Net: best PSNR, least texture).
        in_channels, out_channels: channels of A and B.
        color_space: ``"rgb"``, or ``"lab"`` for colorization: the generator maps lightness L
            (1 channel) to colour ab (2 channels), the discriminator judges (L, ab), and outputs
            join the input's own L with the predicted ab (see :mod:`img2img.color`). Batches
            stay RGB; the conversion happens here, on the device.
        hints: colour hints (:mod:`img2img.hints`): the generator also reads the hint channels
            (colour and mask: ``ab`` for Lab models, RGB otherwise), drawn at random from the
            target in training and given by a person at inference; the discriminator judges the
            output against the input alone.
    """

    name = "pix2pix"
    defaults = {
        **ISOLA_ZHU_SETTINGS,
        "generator": "unet_256",
        "gan_mode": "vanilla",
        "adv_weight": 1.0,
        "pixel_loss": "l1",
        "lambda_color": 0.0,
        "color_replay": 0,
    }

    @classmethod
    def finish_config(cls, cfg: Any) -> None:
        if issubclass(get_model_class(cfg.generator), UNetGenerator) and "norm" not in cfg.generator_kwargs:
            # The paper trains with batch norm on batches of 1 and normalises test images by their own
            # statistics; instance norm is exactly that, in training and at inference (and in ONNX).
            # Batch norm with running statistics at inference measured 0.7 dB worse (README "Networks").
            cfg.generator_kwargs = {**cfg.generator_kwargs, "norm": "instance"}
        if cfg.lambda_color and not cfg.generator_kwargs.get("global_color"):
            # e.g. the restore recipe's profile with --no-global-color or another generator: nothing to supervise
            log.warning(
                "lambda_color %g has no effect without a colour head (--global-color); using 0", cfg.lambda_color
            )
            cfg.lambda_color = 0.0
        if cfg.color_replay and not cfg.generator_kwargs.get("global_color"):
            log.warning(
                "color_replay %d has no effect without a colour head (--global-color); using 0", cfg.color_replay
            )
            cfg.color_replay = 0
        if cfg.color_replay and cfg.lambda_color:
            # the head is out of the generator's optimizer: a colour term in the generator's loss moves nothing
            log.warning(
                "lambda_color %g has no effect with color_replay %d (the head trains on its own); using 0. "
                "--color-replay 0 trains the head with the generator's loss instead",
                cfg.lambda_color,
                cfg.color_replay,
            )
            cfg.lambda_color = 0.0

    def __init__(
        self,
        *,
        generator: str = "unet_256",
        generator_kwargs: dict[str, Any] | None = None,
        discriminator_kwargs: dict[str, Any] | None = None,
        gan_mode: str = "vanilla",
        lambda_l1: float = 100.0,
        adv_weight: float = 1.0,
        pixel_loss: str = "l1",
        lambda_color: float = 0.0,
        color_replay: int = 0,
        lambda_gp: float = 10.0,
        in_channels: int = 3,
        out_channels: int = 3,
        color_space: str = "rgb",
        hints: bool = False,
    ) -> None:
        discriminator_kwargs = patchgan_kwargs(discriminator_kwargs, gan_mode=gan_mode)  # never batch norm for wgangp
        super().__init__(
            dict(
                generator=generator,
                generator_kwargs=generator_kwargs or {},
                discriminator_kwargs=discriminator_kwargs,
                gan_mode=gan_mode,
                lambda_l1=lambda_l1,
                adv_weight=adv_weight,
                pixel_loss=pixel_loss,
                lambda_color=lambda_color,
                color_replay=color_replay,
                lambda_gp=lambda_gp,
                in_channels=in_channels,
                out_channels=out_channels,
                color_space=color_space,
                hints=hints,
            )
        )
        if gan_mode not in losses.GAN_MODES:
            raise ValueError(f"gan_mode must be one of {losses.GAN_MODES}, got {gan_mode!r}")
        if color_space not in ("rgb", "lab"):
            raise ValueError(f"color_space must be 'rgb' or 'lab', got {color_space!r}")
        self.color_space = color_space
        if color_space == "lab":
            in_channels, out_channels = 1, 2
        # hints: the hint's colour in the target's encoding (ab, or RGB) and a mask
        self.hint_space = ("ab" if color_space == "lab" else "rgb") if hints else None
        self.hint_channels = out_channels + 1 if hints else 0
        if hints and (generator_kwargs or {}).get("global_color"):
            raise ValueError("colour hints and the colour head (global_color) do not go together")
        spread = HintSpread.extra_channels(self.hint_channels) if hints else 0
        self.generator = create_model(
            generator,
            in_channels=in_channels + self.hint_channels + spread,
            out_channels=out_channels,
            **(generator_kwargs or {}),
        )
        if hints:  # dense guesses from the sparse hints beside them (nets.hint_spread)
            self.generator = HintSpread(net=self.generator.config, hint_channels=self.hint_channels)
        self.discriminator = PatchGAN(in_channels=in_channels + out_channels, **discriminator_kwargs)
        for net in (self.generator, self.discriminator):
            init_weights(net, scheme="kaiming" if is_unnormalized(net) else "normal")
        self.gan_mode = gan_mode
        self.lambda_l1 = lambda_l1
        self.adv_weight = adv_weight
        if pixel_loss not in PIXEL_LOSSES:
            raise ValueError(f"pixel_loss must be one of {', '.join(PIXEL_LOSSES)}, got {pixel_loss!r}")
        self.pixel_loss = PIXEL_LOSSES[pixel_loss]
        self.lambda_gp = lambda_gp
        self.lambda_color = lambda_color
        self.color_replay = int(color_replay)
        if self.color_replay < 0:
            raise ValueError(f"color_replay must be >= 0, got {color_replay}")
        for name, value in (("lambda_color", lambda_color), ("color_replay", self.color_replay)):
            if value > 0 and getattr(self.generator, "color", None) is None:
                raise ValueError(f"{name} needs a generator with a colour head (generator_kwargs global_color=True)")
            if value > 0 and in_channels != out_channels:  # e.g. lab: the head corrects L, the target is ab
                raise ValueError(
                    f"{name} compares the corrected input with the target: it needs as many input as output "
                    f"channels, got {in_channels} -> {out_channels}"
                )
        if self.color_replay and lambda_color > 0:
            raise ValueError("lambda_color and color_replay are two ways to train the colour head: choose one")
        self.color_stats = RowReplay(COLOR_REPLAY_CAPACITY) if self.color_replay else None

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        if not self.color_replay:
            return {"G": list(self.generator.parameters()), "D": list(self.discriminator.parameters())}
        head = list(self.generator.color.parameters())
        own = {id(p) for p in head}
        return {
            "G": [p for p in self.generator.parameters() if id(p) not in own],
            "color": head,
            "D": list(self.discriminator.parameters()),
        }

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {"color_stats": self.color_stats.state()} if self.color_stats is not None else {}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        if self.color_stats is not None:
            device = next(self.generator.parameters()).device
            self.color_stats.load(state.get("color_stats", torch.zeros(0)), device)

    def fit_color(self, real_a: torch.Tensor, real_b: torch.Tensor, opt: Optimization) -> torch.Tensor:
        """Keep the batch's crops (the colour head's features, the block means of input and target
        on a ``COLOR_REPLAY_GRID`` grid) in the replay buffer and make ``color_replay`` updates of
        the head on batches drawn from it; the last update's loss (-PSNR of the block means, dB)."""
        head, grid = self.generator.color, COLOR_REPLAY_GRID
        with torch.no_grad():
            a, b = real_a.float().contiguous(), real_b.float().contiguous()
            means = [F.adaptive_avg_pool2d(t, grid).flatten(1) for t in (a, b)]
            self.color_stats.add(torch.cat([head.features(a), *means], dim=1))
        width, cells = head.num_features, head.channels * grid * grid
        for _ in range(self.color_replay):
            rows = self.color_stats.sample(COLOR_REPLAY_BATCH)
            a_means = rows[:, width : width + cells].view(-1, head.channels, grid, grid)
            b_means = rows[:, width + cells :].view(-1, head.channels, grid, grid)
            corrected = head.apply(head.predict(rows[:, :width]), a_means, cells=True)
            loss = losses.psnr_loss(corrected, b_means)
            opt.step("color", loss)
        return loss.detach()

    @torch.no_grad()
    def translate(
        self, images: torch.Tensor, direction: str | None = None, hints: torch.Tensor | None = None
    ) -> torch.Tensor:
        """RGB in ``[-1, 1]`` -> RGB; ``hints``: a hint model's hint channels (None: no hints)."""
        net_input = images if self.color_space == "rgb" else split_lab(images)[0]
        out = self.generator(self._with_hints(net_input, hints))
        return out if self.color_space == "rgb" else join_lab(net_input, out)

    def _with_hints(self, net_input: torch.Tensor, hints: torch.Tensor | None) -> torch.Tensor:
        """The generator's input: the image channels, then (hint models) the hint channels."""
        if not self.hint_channels:
            return net_input
        if hints is None:
            n, _, h, w = net_input.shape
            hints = net_input.new_zeros(n, self.hint_channels, h, w)
        return torch.cat([net_input, hints.to(net_input.dtype)], 1)

    def hint_target(self, b: torch.Tensor) -> torch.Tensor:
        """An RGB target in ``[-1, 1]`` in the hints' encoding (``ab / ab_scale``, or itself)."""
        return split_lab(b)[1] if self.color_space == "lab" else b

    @torch.no_grad()
    def translate_for_scoring(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Validation and sample grids: a hint model gets ``VAL_HINTS`` hints per image from its
        target, from a fixed seed (the same hints at every validation)."""
        if not self.hint_channels:
            return self.translate(a)
        rng = np.random.default_rng(VAL_SEED)
        return self.translate(a, hints=random_hint_planes(self.hint_target(b.float()), rng, VAL_HINTS))

    def io_spec(self) -> dict[str, Any]:
        spec = super().io_spec()
        if self.color_space == "lab":
            spec["input"].update(color_space="lab_l")
            spec["output"].update(color_space="lab_ab")
            spec["color"] = {"space": "lab", "ab_scale": AB_SCALE, "resolution": None}
        if self.hint_space:
            image_channels = self.generator.in_channels - self.hint_channels
            if self.color_space == "rgb":
                spec["input"].update(color_space="rgb" if image_channels == 3 else "gray")
            spec["hints"] = {"space": self.hint_space, "channels": self.hint_channels}
        return spec

    def generators(self) -> dict[str, nn.Module]:
        return {"AtoB": self.generator}

    def discriminators(self) -> list[nn.Module]:
        return [self.discriminator]

    def generator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_b: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        l1 = {"G_L1": self.lambda_l1 * self.pixel_loss(fake_b, real_b)}
        if self.lambda_color > 0:
            l1["G_color"] = self.lambda_color * losses.color_transform_loss(self.generator.color(real_a), real_b)
        if self.adv_weight == 0:
            return l1
        pred_fake = self.discriminator(torch.cat([real_a, fake_b], 1))
        return {
            **l1,
            "G_gan": self.adv_weight * losses.gan_loss(pred_fake, True, self.gan_mode, for_discriminator=False),
        }

    def discriminator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_b: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        fake_b = fake_b.detach()
        # 0.5 * (real + fake) as in the paper, but the WGAN-GP critic loss is E[D(fake)] - E[D(real)]
        # + lambda_gp * GP exactly (halving the Wasserstein terms would double the penalty's weight)
        half = 1.0 if self.gan_mode == "wgangp" else 0.5
        out = {
            "D_real": half * losses.gan_loss(self.discriminator(torch.cat([real_a, real_b], 1)), True, self.gan_mode),
            "D_fake": half * losses.gan_loss(self.discriminator(torch.cat([real_a, fake_b], 1)), False, self.gan_mode),
        }
        if self.gan_mode == "wgangp":
            from ..nets.patchgan import check_wgangp_critic

            check_wgangp_critic(self.discriminator)  # a batch-norm critic breaks the per-sample penalty

            def critic(b: torch.Tensor) -> torch.Tensor:  # the conditional critic, as a function of the output
                return self.discriminator(torch.cat([real_a.float(), b], 1))

            with torch.autocast(real_b.device.type, enabled=False):  # double backward in fp32
                out["D_gp"] = losses.gradient_penalty(critic, real_b.float(), fake_b.float(), weight=self.lambda_gp)
        return out

    def training_step(self, batch: dict[str, torch.Tensor], opt: Optimization, step: int) -> dict[str, float]:
        real_a, real_b = batch["A"], batch["B"]
        if self.color_space == "lab":  # input: lightness of A; target: colour of B
            real_a, real_b = split_lab(real_a)[0], split_lab(real_b)[1]
        hints = None
        if self.hint_channels:  # revealed from the target, reproducibly per step (an exact resume)
            hints = random_hint_planes(real_b.float(), np.random.default_rng([VAL_SEED, step]))
        with opt.autocast():
            fake_b = self.generator(self._with_hints(real_a, hints))  # (n, out_channels, h, w)
        # discriminator: real pairs -> real, generated pairs -> fake (not trained without a GAN term)
        d_terms: dict[str, torch.Tensor] = {}
        if self.adv_weight > 0:
            set_requires_grad(self.discriminator, True)
            with opt.autocast():
                d_terms = self.discriminator_losses(real_a, real_b, fake_b)
            opt.step("D", sum(d_terms.values()))
        # generator: fool the (just updated, frozen) discriminator and stay close to the target
        set_requires_grad(self.discriminator, False)
        with opt.autocast():
            g_terms = self.generator_losses(real_a, real_b, fake_b)
        opt.step("G", sum(g_terms.values()))
        set_requires_grad(self.discriminator, True)
        if self.color_replay:
            g_terms["color_fit"] = self.fit_color(real_a, real_b, opt)
        return {k: float(v.detach()) for k, v in {**d_terms, **g_terms}.items()}
