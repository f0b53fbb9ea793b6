"""Honest time: labelled progress bars on the long operations, the training start-up summary and
speed line, the demo's announced finish."""

from __future__ import annotations

import builtins
import logging
import sys

import pytest
from conftest import TINY_UNET, make_paired, pattern

from img2img_runtime.io import write_image
from img2img_runtime.progress import Progress


def test_progress_bar_is_labelled_and_counts(capsys):
    with Progress(3, "prepare restore", unit="photo") as bar:
        for _ in range(3):
            bar.update()
    err = capsys.readouterr().err
    assert "prepare restore" in err and "3/3" in err and "photo" in err
    with Progress(3, "silent", enabled=False) as bar:
        bar.update()
    assert capsys.readouterr().err == ""


def test_progress_without_tqdm_prints_a_plain_counter(capsys, monkeypatch):
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    monkeypatch.delitem(sys.modules, "tqdm.auto", raising=False)
    bar = Progress(2, "eval restore")
    bar.update()
    bar.update()
    bar.close()
    bar.close()  # once only
    err = capsys.readouterr().err
    assert "eval restore: 2/2 img" in err and err.endswith("\n") and err.count("\n") == 1


def test_prepare_and_eval_show_labelled_bars(tmp_path, capsys):
    from img2img.evaluate import evaluate_model
    from img2img.prepare import prepare

    for i in range(3):
        write_image(tmp_path / "photos" / f"p{i}.png", pattern(i, 48))
    prepare("restore", tmp_path / "photos", tmp_path / "out", progress=True)
    assert "prepare restore" in capsys.readouterr().err
    evaluate_model(lambda image: image, tmp_path / "photos", task="restore", progress=True)
    err = capsys.readouterr().err
    assert "eval restore" in err and "3/3" in err
    evaluate_model(lambda image: image, tmp_path / "photos", task="restore")  # the API is quiet by default
    assert "eval restore" not in capsys.readouterr().err


def test_training_logs_a_start_up_summary_and_its_speed(tmp_path, caplog):
    from img2img.training import SPEED_PROBE_STEPS, train

    data = tmp_path / "data"
    make_paired(data / "train", ["a", "b", "c"], size=40)
    make_paired(data / "val", ["v"], size=40)
    with caplog.at_level(logging.INFO, logger="img2img.training"):
        train(
            "pix2pix",
            data=str(data),
            out=str(tmp_path / "run"),
            steps=SPEED_PROBE_STEPS + 3,
            size=32,
            load_size=36,
            num_workers=0,
            progress=False,
            sample_every=1000,
            val_every=1000,
            checkpoint_every=1000,
            **TINY_UNET,
        )
    text = caplog.text
    assert "3 training item(s), 1 for validation" in text and "parameters" in text and "batch 1 of 32 px" in text
    assert "s/step measured: 3 steps to go, about" in text


def test_demo_announces_when_it_will_finish(tmp_path, capsys, monkeypatch):
    import img2img.demo as demo

    calls = {}

    def fake_train(*args, **kwargs):  # the announcement comes before training: no need to train here
        calls.update(kwargs)
        raise KeyboardInterrupt

    import importlib

    monkeypatch.setattr(importlib.import_module("img2img.training"), "train", fake_train)
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(tmp_path / "demo", minutes=2)
    out = capsys.readouterr().out
    assert "training for 2 minutes" in out and "done at about" in out and calls["minutes"] == 2
