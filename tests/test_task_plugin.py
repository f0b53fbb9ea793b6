"""Adding a task is one module: this file defines a task, registers it, and trains, saves and runs it
through the same loop, config, monitor and inference as the built-in tasks, editing nothing else."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from img2img import losses
from img2img.config import TrainConfig
from img2img.infer import Translator
from img2img.nets import create_model
from img2img.optimization import Optimization
from img2img.tasks import TASKS, Task, build_task, register_task
from img2img.training import train


@register_task
class Regress(Task):
    """Paired translation by L1 alone: one generator, no discriminator."""

    name = "regress_example"
    defaults = {"generator": "unet_256", "size": 32, "batch_size": 2, "lr": 1e-3, "beta1": 0.9}

    def __init__(
        self,
        *,
        generator: str = "unet_256",
        generator_kwargs: dict[str, Any] | None = None,
        in_channels: int = 3,
        out_channels: int = 3,
        lambda_l1: float = 1.0,
    ) -> None:
        super().__init__(
            dict(
                generator=generator,
                generator_kwargs=generator_kwargs or {},
                in_channels=in_channels,
                out_channels=out_channels,
                lambda_l1=lambda_l1,
            )
        )
        self.generator = create_model(
            generator, in_channels=in_channels, out_channels=out_channels, **(generator_kwargs or {})
        )
        self.lambda_l1 = lambda_l1

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"G": list(self.generator.parameters())}

    def generators(self) -> dict[str, nn.Module]:
        return {"AtoB": self.generator}

    def discriminators(self) -> list[nn.Module]:
        return []

    def training_step(self, batch: dict[str, torch.Tensor], opt: Optimization, step: int) -> dict[str, float]:
        with opt.autocast():
            loss = self.lambda_l1 * losses.l1_loss(self.generator(batch["A"]), batch["B"])
        opt.step("G", loss)
        return {"G_L1": float(loss.detach())}


def test_a_task_defined_in_one_module_trains_saves_and_runs(tmp_path, paired_dir):
    assert TASKS["regress_example"] is Regress
    cfg = TrainConfig(
        task="regress_example", data="x", out="y", lambda_l1=2.0, generator_kwargs={"num_downs": 4, "base_channels": 8}
    )
    assert cfg.size == 32 and cfg.lr == 1e-3  # the task's defaults
    assert cfg.task_kwargs() == {
        "generator": "unet_256",
        "generator_kwargs": cfg.generator_kwargs,
        "in_channels": 3,
        "out_channels": 3,
        "lambda_l1": 2.0,
    }
    assert isinstance(build_task("regress_example", **cfg.task_kwargs()), Regress)

    run = tmp_path / "run"
    result = train(
        "regress_example",
        data=str(paired_dir),
        out=str(run),
        steps=3,
        load_size=36,
        num_workers=0,
        progress=False,
        val_every=3,
        sample_every=3,
        checkpoint_every=3,
        generator_kwargs={"num_downs": 4, "base_channels": 8, "norm": "batch"},
    )
    assert result.step == 3 and "val_psnr" in result.metrics  # the default validation of a paired task
    assert (run / "samples" / "step_000003.png").is_file() and (run / "best" / "config.json").is_file()
    out = Translator.from_pretrained(run, device="cpu")(np.full((40, 40, 3), 128, np.uint8))
    assert out.shape == (40, 40, 3)


def test_registering_a_second_task_under_a_taken_name_is_refused():
    class Other(Regress):
        name = "pix2pix"

    with pytest.raises(
        ValueError, match=r"Other: a task named 'pix2pix' is already registered \(img2img\.tasks\.pix2pix"
    ):
        register_task(Other)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        TrainConfig(task="nope", data="x", out="y")


def test_registration_checks_what_a_contributor_can_get_wrong(monkeypatch):
    """Each of these used to pass registration and fail (or do nothing) later."""

    class Typo(Regress):
        name = "typo_task"
        dataset = "photos"  # silently read as unpaired folders

    with pytest.raises(ValueError, match=r"Typo: dataset must be one of paired, unpaired, sr, images, got 'photos'"):
        register_task(Typo)

    class Unconditional(Regress):  # the default hooks translate A: a start-up AttributeError
        name = "unconditional_task"
        dataset = "images"

    with pytest.raises(ValueError, match="defines its own sample_rows and validation_summary"):
        register_task(Unconditional)

    class Misnamed(Regress):  # in img2img/tasks/noise_removal.py: the CLI would list "noise_removal"
        name = "denoise2"

    Misnamed.__module__ = "img2img.tasks.noise_removal"
    with pytest.raises(ValueError, match=r"rename the module to denoise2\.py"):
        register_task(Misnamed)

    class OwnOption(Regress):  # a constructor argument no option sets was dropped without a word
        name = "own_option"

        def __init__(self, *, noise_std: float = 0.1, **kwargs):
            super().__init__(**kwargs)

    monkeypatch.setitem(TASKS, "own_option", OwnOption)  # registered for this test only
    with pytest.raises(ValueError, match="takes noise_std, which no training option sets"):
        TrainConfig(task="own_option", data="x", out="y")
