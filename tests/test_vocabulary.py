"""One vocabulary (the CLI's flag names are img2img.train()'s keywords) and helpful parsing:
"did you mean", one exit status for usage errors, help and defaults on every flag, a short
TrainResult, --resume without the task, and --stop-after + --resume bit for bit."""

from __future__ import annotations

import argparse
import importlib

import pytest
import torch
from conftest import TINY_CLI

import img2img
from img2img.checkpoint import load_checkpoint
from img2img.cli import build_parser, main, train_summary
from img2img.config import TrainConfig
from img2img.options import keyword_names, normalize_train_kwargs
from img2img_runtime.cli import build_parser as build_runtime_parser
from img2img_runtime.cli import main as runtime_main

train_module = importlib.import_module("img2img.training")
TINY = TINY_CLI


@pytest.fixture
def config_of(monkeypatch):
    """``config_of(*args, **kwargs)``: the TrainConfig img2img.train() would train with (no training)."""

    class Captured:
        def __init__(self, cfg, state):
            self.cfg = cfg

        def fit(self, stop_after=None):
            return self.cfg

    monkeypatch.setattr(train_module, "Trainer", Captured)

    def config_of(*args, **kwargs) -> TrainConfig:
        return img2img.train(*args, **{"data": "photos", "out": "runs/x", "device": "cpu", **kwargs})

    return config_of


def test_cli_names_work_as_python_keywords(config_of):
    cfg = config_of(
        task="restore",
        preset="heavy",
        skip_bad=True,
        no_flip=True,
        no_progress=True,
        base_channels=16,
        num_downs=5,
        num_blocks=2,
        norm="batch",
        dropout=0.1,
        upsample="transpose",
        residual=False,
        global_context=True,
        d_layers=2,
        d_channels=8,
        d_norm="instance",
        d_scales=2,
        spectral_norm=True,
    )
    assert cfg.task == "pix2pix" and cfg.recipe == "restore" and cfg.recipe_options["preset"] == "heavy"
    assert cfg.on_bad == "skip" and cfg.hflip is False and cfg.progress is False
    assert {
        k: cfg.generator_kwargs[k]
        for k in (
            "base_channels",
            "num_downs",
            "num_blocks",
            "norm",
            "dropout",
            "upsample",
            "residual",
            "global_context",
        )
    } == dict(
        base_channels=16,
        num_downs=5,
        num_blocks=2,
        norm="batch",
        dropout=0.1,
        upsample="transpose",
        residual=False,
        global_context=True,
    )
    assert cfg.discriminator_kwargs == {
        "num_layers": 2,
        "base_channels": 8,
        "norm": "instance",
        "num_scales": 2,
        "spectral_norm": True,
    }
    sr = config_of(task="sr", realistic=True, scale=2)
    assert (
        sr.task == "srgan"
        and sr.recipe == "sr"
        and sr.recipe_options["realistic"] is True
        and sr.recipe_options["scale"] == 2
    )
    colorize = config_of("pix2pix", recipe="colorize")
    assert colorize.recipe == "colorize" and colorize.color_space == "lab"
    # --warmup-fraction: the command line's flag reaches the config, and the warm-up follows it
    from img2img.cli import build_parser

    args = build_parser().parse_args(
        ["train", "srgan", "--task", "sr", "--data", "d", "--out", "r", "--warmup-fraction", "0.2"]
    )
    assert args.warmup_fraction == 0.2
    assert config_of(task="sr", warmup_fraction=0.2, steps=100).warmup_steps == 20
    args = build_parser().parse_args(["train", "pix2pix", "--data", "d", "--out", "r", "--decay-fraction", "0.25"])
    assert args.decay_fraction == 0.25
    assert config_of(decay_fraction=0.25, steps=100).decay_steps == 25


def test_task_still_names_the_model_family(config_of):
    assert config_of("cyclegan").task == "cyclegan"
    assert config_of(task="srgan").task == "srgan"
    assert config_of().task == "pix2pix"  # the default family
    assert config_of(task="pix2pix", generator_kwargs={"base_channels": 8}).generator_kwargs["base_channels"] == 8


def test_unknown_and_contradictory_keywords_are_clear():
    with pytest.raises(TypeError, match="'stpes'.*did you mean 'steps'"):
        normalize_train_kwargs({"stpes": 5})
    with pytest.raises(TypeError, match="did you mean 'base_channels'"):
        img2img.train("pix2pix", data="x", out="y", bsae_channels=8)
    with pytest.raises(ValueError, match="did you mean 'restore'"):
        normalize_train_kwargs({"task": "restor"})
    with pytest.raises(ValueError, match="skip_bad"):
        normalize_train_kwargs({"skip_bad": True, "on_bad": "error"})
    with pytest.raises(ValueError, match="base_channels"):
        normalize_train_kwargs({"base_channels": 8, "generator_kwargs": {"base_channels": 16}})
    mine = {"base_channels": 8}
    assert normalize_train_kwargs({"num_downs": 4, "generator_kwargs": mine})["generator_kwargs"] == {
        "base_channels": 8,
        "num_downs": 4,
    }
    assert mine == {"base_channels": 8}  # the caller's dict is not changed


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_every_train_flag_is_the_same_keyword_in_python():
    """A flag given on the command line and its name given to train() make the same TrainConfig fields."""
    parser = _train_parser()
    checked = 0
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "resume", "stop_after", "verbose"):
            continue
        flag = action.option_strings[0]
        name = flag[2:].replace("-", "_")
        assert name in keyword_names(), f"{flag} is not a keyword of img2img.train()"
        if action.nargs == 0:  # switches: --skip-bad, --no-flip, --recolor ...
            argv, value = [flag], True
        else:
            sample = action.choices[0] if action.choices else '{"num_downs": 5}' if action.metavar == "JSON" else "1"
            argv, value = [flag, str(sample)], (action.type or str)(str(sample))
        args = parser.parse_args(["pix2pix", *(["--out", "RUN"] if flag != "--out" else []), *argv])
        given = {
            k: v
            for k, v in vars(args).items()
            if k not in ("func", "task", "resume", "verbose") and not k.startswith("_")
        }
        assert normalize_train_kwargs(given) == normalize_train_kwargs({"out": "RUN", name: value}), flag
        checked += 1
    assert checked > 50


def test_every_flag_has_help_and_a_default():
    def actions(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for command, subparser in action.choices.items():
                    yield from actions(subparser, f"{name} {command}")
            elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                yield name, action

    missing = []
    for name, action in [*actions(build_parser(), "img2img"), *actions(build_runtime_parser(), "img2img-onnx")]:
        text = (action.help or "").lower()
        optional = action.option_strings and not action.required
        if not text or (optional and "default" not in text):
            missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: {action.help!r}")
    assert not missing, "\n".join(missing)
    assert "skipped.txt" in _train_parser()._option_string_actions["--skip-bad"].help


@pytest.mark.parametrize(
    "argv,hint",
    [
        (["trian"], "did you mean 'train'?"),
        (["train", "pix2pix", "--out", "RUN", "--data", "D", "--stpes", "8"], "--stpes: did you mean --steps?"),
        (["train", "pix2pix", "--out", "RUN", "--data", "D", "--bsae-channels=8"], "did you mean --base-channels?"),
        (["train", "pix2px", "--out", "RUN"], "did you mean 'pix2pix'?"),
        (["translate", "--modle", "m", "--input", "i", "--output", "o"], "did you mean --model?"),
    ],
)
def test_did_you_mean(argv, hint, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert hint in err and "usage:" in err, err


def test_runtime_cli_did_you_mean(capsys):
    with pytest.raises(SystemExit) as exit_:
        runtime_main(["--model", "m.onnx", "--input", "i", "--output", "o", "--tiel", "64"])
    assert exit_.value.code == 2 and "did you mean --tile?" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "pix2pix", "--out", "RUN"], "--data is required"),
        (["train", "--out", "RUN", "--data", "D"], "model family"),
        (["train", "pix2pix", "--data", "D"], "--out"),
        (["train", "pix2pix", "--out", "RUN", "--data", "D", "--steps", "many"], "invalid int value"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_wrong_combinations_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "m.onnx"), "--calibration", str(tmp_path)]) == 2
    assert "--calibration is for --int8" in capsys.readouterr().err


def test_python_keywords_train_and_result_is_short(tmp_path, paired_dir):
    result = img2img.train(
        "pix2pix",
        data=str(paired_dir),
        out=str(tmp_path / "run"),
        steps=1,
        size=32,
        num_downs=4,
        base_channels=8,
        d_channels=8,
        num_workers=0,
        no_progress=True,
        skip_bad=True,
        device="cpu",
    )
    cfg = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["config"]
    assert cfg["generator_kwargs"]["base_channels"] == 8 and cfg["discriminator_kwargs"]["base_channels"] == 8
    assert cfg["on_bad"] == "skip" and cfg["progress"] is False
    text = repr(result)
    assert "\n" not in text and len(text) < 200, text
    assert "pix2pix" in text and str(tmp_path / "run") in text and "step=1" in text and "best=psnr" in text
    assert "trained 1 step;" in train_summary(result)


def test_stop_after_then_resume_without_task_is_bit_exact(tmp_path, paired_dir, capsys):
    # one process: the same device and thread count for all three calls (see README: when resume is exact)
    data = ["--data", str(paired_dir)]
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    assert main(["train", "pix2pix", *data, "--out", str(whole), "--steps", "8", *TINY]) == 0
    assert main(["train", "pix2pix", *data, "--out", str(chunked), "--steps", "8", "--stop-after", "4", *TINY]) == 0
    out = capsys.readouterr().out
    assert "trained 4 of 8 steps" in out and f"img2img train --out {chunked} --resume" in out
    assert load_checkpoint(chunked / "checkpoints" / "last.pt")["step"] == 4
    assert main(["train", "--out", str(chunked), "--resume", "--no-progress"]) == 0  # the task from the run folder
    assert "trained 8 steps" in capsys.readouterr().out
    a = load_checkpoint(whole / "checkpoints" / "last.pt")
    b = load_checkpoint(chunked / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 8
    assert a["task"].keys() == b["task"].keys()
    for key in a["task"]:
        assert torch.equal(a["task"][key], b["task"][key]), key
