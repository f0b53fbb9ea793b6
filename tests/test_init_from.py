"""Fine-tuning: ``--init-from NAME|RUN|MODEL_DIR`` (``init_from=``) starts a new run from trained weights."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from conftest import pattern

from img2img.checkpoint import load_checkpoint, load_pretrained, save_pretrained
from img2img.cli import main
from img2img.nets import create_model
from img2img.options import family_of_recipe, normalize_train_kwargs
from img2img.tasks.base import generator_io_spec
from img2img.training import Trainer, _resolve_config, train
from img2img_runtime.io import write_image

FAST = dict(num_workers=0, progress=False, log_every=1, sample_every=1000, val_every=1000, checkpoint_every=1000)
# restore-recipe runs on the CPU (the recipe's U-Net with its colour head, trained apart: --color-replay); the
# source is tiny, a run fine-tuned from it takes its architecture from the model
RESTORE = dict(task="restore", device="cpu", size=32, batch_size=2)
TINY_RESTORE = dict(**RESTORE, num_downs=4, base_channels=8, d_channels=8)
TINY_RESTORE_CLI = ["--task", "restore", "--device", "cpu", "--size", "32", "--batch-size", "2", "--num-workers", "0",
                    "--no-progress", "--sample-every", "1000", "--val-every", "1000"]  # fmt: skip


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for i in range(4):
        write_image(root / f"p{i}.png", pattern(i, 64))
    return root


@pytest.fixture(scope="module")
def source(tmp_path_factory, photos) -> Path:
    """A trained (3 steps) restore run: RUN/model, RUN/checkpoints/last.pt."""
    run = tmp_path_factory.mktemp("source") / "run"
    train(data=str(photos), out=str(run), steps=3, **TINY_RESTORE, **FAST)
    return run


@pytest.fixture(scope="module")
def sr_model(tmp_path_factory) -> Path:
    """A run folder of a x2 super-resolution model (task 'sr' (srgan)): RUN/model only."""
    run = tmp_path_factory.mktemp("sr") / "srrun"
    torch.manual_seed(0)
    net = create_model("compact_sr_x2", base_channels=8, num_convs=2)
    save_pretrained(
        {"AtoB": net}, run / "model", task="srgan", io_spec=generator_io_spec(net), training={"recipe": "sr"}
    )
    return run


def trainer_for(**kwargs) -> Trainer:
    """The Trainer ``train(**kwargs)`` makes, before its first step."""
    options = normalize_train_kwargs({**FAST, **kwargs})
    family = options.pop("task", None) or (family_of_recipe(options["recipe"]) if options.get("recipe") else None)
    cfg, state = _resolve_config(family, False, options)
    return Trainer(cfg, state)


def equal_states(a: dict, b: dict) -> list[str]:
    """The keys of ``a`` whose tensors differ in ``b`` (``a``'s keys must all be in ``b``)."""
    assert set(a) == set(b), sorted(set(a) ^ set(b))[:5]
    return [k for k in a if not torch.equal(a[k].cpu(), b[k].cpu())]


def test_a_run_from_a_run_starts_at_step_0_with_its_weights(tmp_path, photos, source):
    _, nets = load_pretrained(source)
    trainer = trainer_for(
        task="restore", device="cpu", init_from=str(source), data=str(photos), out=str(tmp_path / "tuned"), ema=0.9
    )
    generator = trainer.net.generator.state_dict()
    assert any(k.startswith("color.") for k in generator)  # the colour head is part of the generator's weights
    assert equal_states(generator, nets["AtoB"].state_dict()) == []
    averaged = trainer.net.weight_average.nets["AtoB"].state_dict()  # the average starts from the loaded weights
    assert equal_states(averaged, nets["AtoB"].state_dict()) == []
    saved = load_checkpoint(source / "checkpoints" / "last.pt")["task"]
    own = trainer.net.discriminator.state_dict()
    assert (
        equal_states(own, {k[len("discriminator.") :]: v for k, v in saved.items() if k.startswith("discriminator.")})
        == []
    )
    assert trainer.step == 0 and all(not opt.state for opt in trainer.opt.optimizers.values())  # fresh optimizers
    assert set(trainer.opt.optimizers) == {"G", "color", "D"}
    cfg = trainer.cfg
    # the architecture is the source's: its generator name and every argument, over the recipe's defaults
    source_cfg = json.loads((source / "config.json").read_text())
    assert cfg.generator == source_cfg["generator"]
    assert {k: cfg.generator_kwargs[k] for k in source_cfg["generator_kwargs"]} == source_cfg["generator_kwargs"]
    assert cfg.discriminator_kwargs == source_cfg["discriminator_kwargs"]
    recorded = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert recorded["init_from"] == str((source / "model").resolve()) and recorded["init_from_name"] == str(source)


def test_a_model_folder_gives_the_generator_and_a_fresh_discriminator(tmp_path, photos, source, caplog):
    alone = shutil.copytree(source / "model", tmp_path / "alone")  # a model folder outside its run
    _, nets = load_pretrained(alone)
    with caplog.at_level(logging.INFO, logger="img2img.training"):
        result = train(init_from=str(alone), data=str(photos), out=str(tmp_path / "tuned"), steps=2, **RESTORE, **FAST)
    assert result.step == 2 and result.total_steps == 2
    line = next(r.getMessage() for r in caplog.records if "fine-tuning from" in r.getMessage())
    assert "the discriminator starts fresh" in line and "\n" not in line
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["init_from"] == str(alone.resolve())
    log = [json.loads(line) for line in (tmp_path / "tuned" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "lr" in r] == [1, 2]  # a new run: its own steps from 0
    model = json.loads((tmp_path / "tuned" / "model" / "config.json").read_text())
    assert model["training"]["init_from"] == str(alone) and model["training"]["steps"] == 2
    trained = load_pretrained(tmp_path / "tuned")[1]["AtoB"].state_dict()
    assert equal_states(trained, nets["AtoB"].state_dict()) != []  # it trained from there


def test_cli_fine_tunes_end_to_end(tmp_path, photos, source, capsys):
    run = tmp_path / "scans"
    argv = ["train", "pix2pix", "--init-from", str(source), "--data", str(photos), "--out", str(run), "--steps", "2"]
    assert main([*argv, *TINY_RESTORE_CLI]) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["init_from"] == str((source / "model").resolve()) and cfg["init_from_name"] == str(source)
    assert cfg["generator_kwargs"]["base_channels"] == 8 and cfg["generator_kwargs"]["num_downs"] == 4
    # --resume continues the fine-tuned run (its weights are in its own checkpoint now), without --init-from
    assert main(["train", "--out", str(run), "--resume", "--steps", "3", "--no-progress"]) == 0


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_refusals_are_one_line(tmp_path, photos, source, sr_model, capsys):
    common = ["--data", str(photos), "--out", str(tmp_path / "r"), *TINY_RESTORE_CLI]
    assert main(["train", "pix2pix", "--init-from", str(sr_model), *common]) == 2
    assert error_line(capsys) == (
        f"img2img train: error: --init-from {sr_model}: its model is task 'sr' (srgan), but this run is "
        "pix2pix --task restore; fine-tune it in a run of its own task, or leave out --init-from"
    )
    assert main(["train", "pix2pix", "--init-from", str(source), "--generator", "resnet_6blocks", *common]) == 2
    assert error_line(capsys) == (
        f"img2img train: error: --init-from {source}: its generator is a 'unet' net, and --generator "
        "resnet_6blocks is another architecture: leave out --generator (the architecture comes from the model), "
        "or leave out --init-from"
    )
    assert main(["train", "pix2pix", "--init-from", str(source), "--base-channels", "16", *common]) == 2
    assert error_line(capsys) == (
        f"img2img train: error: --init-from {source}: its generator has base_channels=8, but --base-channels gives "
        "base_channels=16: leave it out (the architecture comes from the model), or leave out --init-from"
    )
    # the same settings as the model's are no contradiction
    assert main(["train", "pix2pix", "--init-from", str(source), "--base-channels", "8", "--generator", "unet_256",
                 "--steps", "1", *common]) == 0  # fmt: skip
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(source), "--resume", "--init-from", str(source)])
    assert exit_info.value.code == 2
    assert error_line(capsys) == (
        "img2img train: error: --init-from starts a new run from trained weights (step 0, fresh optimizer) and "
        "--resume continues the run in --out: give one of them"
    )
    with pytest.raises(ValueError, match="--init-from starts a new run"):
        train(out=str(source), resume=True, init_from=str(source))


def test_scale_channels_and_damaged_weights_are_one_line(tmp_path, sr_model, source, photos, paired_dir):
    hr = tmp_path / "hr"
    for i in range(2):
        write_image(hr / f"h{i}.png", pattern(i, 64))
    sr = dict(data=str(hr), device="cpu", size=32, batch_size=2, **FAST)
    with pytest.raises(ValueError) as info:
        trainer_for(task="srgan", init_from=str(sr_model), scale=4, out=str(tmp_path / "x4"), **sr)
    assert str(info.value) == f"--init-from {sr_model}: its generator upscales x2, this run's x4: give --scale 2"
    trainer = trainer_for(task="srgan", init_from=str(sr_model), out=str(tmp_path / "x2"), **sr)  # the model's scale
    assert trainer.cfg.scale == 2 and trainer.cfg.generator == "compact_sr_x2"
    torch.manual_seed(0)
    unet = create_model("unet_256", num_downs=4, base_channels=8)
    rgb = save_pretrained({"AtoB": unet}, tmp_path / "rgb", task="pix2pix", io_spec=generator_io_spec(unet))
    gray = dict(data=str(paired_dir), device="cpu", size=32, in_channels=1, out=str(tmp_path / "gray"))
    with pytest.raises(ValueError) as info:
        trainer_for(task="pix2pix", init_from=str(rgb), **gray)
    assert str(info.value) == (
        f"--init-from {rgb}: its AtoB generator maps 3 -> 3 channels, this run's 1 -> 3 (--in-channels, "
        "--out-channels, --color-space): give the model's"
    )
    damaged = shutil.copytree(source / "model", tmp_path / "damaged")
    config = json.loads((damaged / "config.json").read_text())
    config["directions"]["AtoB"]["net"]["base_channels"] = 16  # the weights are base_channels 8
    (damaged / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError) as info:
        trainer_for(init_from=str(damaged), data=str(photos), out=str(tmp_path / "d"), **RESTORE)
    message = str(info.value)
    assert message.startswith(f"--init-from {damaged}: ") and "does not match" in message and "\n" not in message


def test_ctrl_c_says_how_to_resume_without_init_from(tmp_path, capsys):
    from img2img.cli import build_parser, interrupted
    from img2img.training import TrainingInterrupted

    for given in (["--init-from", "restore"], ["--init-from=restore"]):
        argv = ["train", "pix2pix", *given, "--data", "D", "--out", str(tmp_path / "RUN")]
        assert interrupted(build_parser().parse_args(argv), argv, TrainingInterrupted(3, tmp_path / "RUN")) == 130
        line = capsys.readouterr().err.strip()
        assert line.endswith(f"resume with: img2img train pix2pix --data D --out {tmp_path / 'RUN'} --resume"), line
