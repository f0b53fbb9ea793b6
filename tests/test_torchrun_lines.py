"""torchrun: only rank 0 prints the final lines, and the printed commands relaunch with torchrun."""

from __future__ import annotations

import argparse

import pytest

from img2img import cli


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_plain_runs_resume_with_img2img(clean_env):
    assert cli.is_main_rank()
    assert cli.train_command(["train", "--out", "RUN"], add=["--resume"]) == "img2img train --out RUN --resume"


def test_one_node_resumes_with_torchrun(clean_env):
    clean_env.setenv("WORLD_SIZE", "4")
    clean_env.setenv("LOCAL_WORLD_SIZE", "4")
    assert cli.train_command(["train", "--out", "RUN"], add=["--resume"]) == (
        "torchrun --nnodes 1 --nproc-per-node 4 -m img2img train --out RUN --resume"
    )


def test_several_nodes_resume_with_the_rendezvous(clean_env):
    clean_env.setenv("WORLD_SIZE", "8")
    clean_env.setenv("LOCAL_WORLD_SIZE", "4")
    clean_env.setenv("MASTER_ADDR", "10.0.0.5")
    clean_env.setenv("MASTER_PORT", "29400")
    assert cli.train_command(["train", "--out", "RUN"]) == (
        "torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint 10.0.0.5:29400 "
        "-m img2img train --out RUN"
    )


def test_only_rank_zero_reports_an_interrupt(clean_env, tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"x")
    args = argparse.Namespace(command="train", out=str(tmp_path), resume=False)
    argv = ["train", "pix2pix", "--data", "D", "--out", str(tmp_path)]
    clean_env.setenv("WORLD_SIZE", "2")
    clean_env.setenv("LOCAL_WORLD_SIZE", "2")
    clean_env.setenv("RANK", "1")
    assert not cli.is_main_rank()
    assert cli.interrupted(args, argv, KeyboardInterrupt()) == 130
    assert capsys.readouterr().err == ""
    clean_env.setenv("RANK", "0")
    assert cli.interrupted(args, argv, KeyboardInterrupt()) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "torchrun --nnodes 1 --nproc-per-node 2 -m img2img train pix2pix" in err
    assert err.rstrip().endswith("--resume")
