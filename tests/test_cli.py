"""The command line end to end on tiny folders, and its errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import make_paired, pattern

from img2img.checkpoint import load_checkpoint
from img2img.cli import main
from img2img_runtime.io import read_image, write_image

TINY = ["--num-workers", "0", "--no-progress", "--base-channels", "8", "--d-channels", "8"]


def test_train_translate_resume_pix2pix(tmp_path, paired_dir, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "pix2pix",
        "--data",
        str(paired_dir),
        "--out",
        str(run),
        "--steps",
        "3",
        "--size",
        "32",
        "--num-downs",
        "4",
        "--batch-size",
        "2",
        "--sample-every",
        "2",
        *TINY,
    ]
    assert main(args) == 0
    assert "trained 3 steps" in capsys.readouterr().out
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 3

    src = tmp_path / "photos"
    write_image(src / "x.png", pattern(1, 45)[:, :37])
    write_image(src / "nested" / "y.jpg", pattern(2, 64))
    assert (
        main(
            ["translate", "--model", str(run), "--input", str(src), "--output", str(tmp_path / "out"), "--no-progress"]
        )
        == 0
    )
    assert read_image(tmp_path / "out" / "x.png").shape == (45, 37, 3)
    assert read_image(tmp_path / "out" / "nested" / "y.jpg").shape == (64, 64, 3)
    assert "2 written" in capsys.readouterr().out

    assert main(["train", "pix2pix", "--out", str(run), "--resume", "--steps", "5", "--no-progress"]) == 0
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 5
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines() if "G_L1" in line]
    assert steps == [3, 5]  # logged every 10 steps and at the end of each call


@pytest.mark.parametrize(
    "task,extra",
    [
        ("cyclegan", ["--generator", "resnet_6blocks", "--num-blocks", "1", "--size", "32"]),
        ("srgan", ["--num-blocks", "1", "--size", "32", "--scale", "4", "--batch-size", "2"]),
    ],
)
def test_train_other_tasks_and_translate(tmp_path, unpaired_dir, sr_dir, task, extra):
    data = unpaired_dir if task == "cyclegan" else sr_dir
    run = tmp_path / "run"
    assert main(["train", task, "--data", str(data), "--out", str(run), "--steps", "2", *extra, *TINY]) == 0
    write_image(tmp_path / "in" / "z.png", pattern(5, 20)[:, :12])
    direction = ["--direction", "BtoA"] if task == "cyclegan" else []
    assert (
        main(
            [
                "translate",
                "--model",
                str(run),
                "--input",
                str(tmp_path / "in" / "z.png"),
                "--output",
                str(tmp_path / "out"),
                *direction,
            ]
        )
        == 0
    )
    scale = 4 if task == "srgan" else 1
    assert read_image(tmp_path / "out" / "z.png").shape == (20 * scale, 12 * scale, 3)


def bad_folder(tmp_path, kind):
    root = make_paired(tmp_path / "bad", ["a", "b"])
    if kind == "corrupt":
        (root / "B" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        return root, "b.png"
    if kind == "unmatched":
        write_image(root / "A" / "lonely.png", pattern(9, 32))
        return root, "lonely"
    if kind == "non-image":
        (root / "A" / "notes.txt").write_text("hello")
        return root, "notes.txt"
    empty = tmp_path / "empty"
    (empty / "A").mkdir(parents=True)
    (empty / "B").mkdir()
    return empty, "empty"


@pytest.mark.parametrize("kind", ["corrupt", "unmatched", "non-image", "empty"])
def test_bad_input_is_named(tmp_path, capsys, kind):
    root, name = bad_folder(tmp_path, kind)
    code = main(
        [
            "train",
            "pix2pix",
            "--data",
            str(root),
            "--out",
            str(tmp_path / "run"),
            "--steps",
            "1",
            "--size",
            "32",
            "--num-downs",
            "4",
            *TINY,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and name in err, err
    if kind != "empty":  # --skip-bad trains on what is good and lists what was skipped
        assert (
            main(
                [
                    "train",
                    "pix2pix",
                    "--data",
                    str(root),
                    "--out",
                    str(tmp_path / "run2"),
                    "--steps",
                    "1",
                    "--size",
                    "32",
                    "--num-downs",
                    "4",
                    "--skip-bad",
                    *TINY,
                ]
            )
            == 0
        )
        assert name in (tmp_path / "run2" / "skipped.txt").read_text()


def test_translate_reports_bad_input_and_exit_code(tmp_path, paired_dir):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "pix2pix",
                "--data",
                str(paired_dir),
                "--out",
                str(run),
                "--steps",
                "1",
                "--size",
                "32",
                "--num-downs",
                "4",
                *TINY,
            ]
        )
        == 0
    )
    write_image(tmp_path / "in" / "ok.png", pattern(1, 32))
    (tmp_path / "in" / "bad.jpg").write_bytes(b"nope")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "img2img",
            "translate",
            "--model",
            str(run),
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "bad.jpg" in result.stdout and "1 written" in result.stdout
    assert (tmp_path / "out" / "ok.png").exists() and not (tmp_path / "out" / "bad.jpg").exists()


def test_missing_data_and_unknown_model(tmp_path, capsys):
    assert main(["train", "pix2pix", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "pix2pix",
                "--data",
                str(tmp_path),
                "--out",
                str(tmp_path / "r"),
                "--generator",
                "unet_999",
                *TINY,
            ]
        )
        == 2
    )
    assert "unet_999" in capsys.readouterr().err


def test_skip_bad_lists_the_validation_files_it_left_out_too(tmp_path):
    from conftest import make_paired

    root = make_paired(tmp_path / "data" / "train", ["x", "y"]).parent
    make_paired(root / "val", ["v1", "v2"], seed=50)
    (root / "train" / "A" / "broken.png").write_bytes(b"not a png")
    (root / "val" / "B" / "v2.png").write_bytes(b"not a png")
    argv = ["train", "pix2pix", "--data", str(root), "--out", str(tmp_path / "run"), "--steps", "1"]
    assert main([*argv, "--size", "32", "--num-downs", "4", "--skip-bad", *TINY]) == 0
    listed = (tmp_path / "run" / "skipped.txt").read_text().splitlines()
    assert any("broken.png" in line and "(validation)" not in line for line in listed), listed
    assert any("v2.png" in line and "(validation)" in line for line in listed), listed


def test_options_of_other_tasks_are_refused_not_ignored(tmp_path, paired_dir, capsys):
    """pix2pix's L1 weight on a CycleGAN run, CycleGAN's image pool on pix2pix, SRGAN's warm-up on
    either: trained without a word before."""
    from img2img.config import check_task_options
    from img2img.training import train

    argv = ["train", "cyclegan", "--data", str(paired_dir), "--out", str(tmp_path / "run"), "--steps", "1", *TINY]
    assert main([*argv, "--lambda-l1", "7", "--warmup-steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "cyclegan task does not use lambda_l1 (--lambda-l1), an option of pix2pix" in err
    assert "warmup_steps (--warmup-steps), an option of srgan" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="pool_size"):
        train("pix2pix", data=str(paired_dir), out=str(tmp_path / "p"), steps=1, pool_size=10)
    assert not (tmp_path / "run").exists() and not (tmp_path / "p").exists()
    check_task_options("pix2pix", {"lambda_l1": 50, "size": 64, "pool_size": None})  # its own, shared, unset
    check_task_options("srgan", {"adv_weight": 0.01, "scale": 2, "warmup_steps": 3})


def test_generator_kwargs_give_a_net_its_own_settings_from_the_command_line(tmp_path, paired_dir, capsys):
    """A contributor's net had no flags for its own settings (only Python's generator_kwargs)."""
    import json

    run = tmp_path / "run"
    argv = ["train", "pix2pix", "--data", str(paired_dir), "--out", str(run), "--steps", "1", "--size", "32"]
    argv += ["--num-workers", "0", "--no-progress", "--device", "cpu", "--d-channels", "8"]
    assert main([*argv, "--generator-kwargs", '{"num_downs": 4, "base_channels": 8, "dropout": 0.0}']) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["generator_kwargs"] == {"num_downs": 4, "base_channels": 8, "dropout": 0.0, "norm": "instance"}
    with pytest.raises(SystemExit):
        main([*argv, "--generator-kwargs", "[4]"])
    assert "expected a JSON object" in capsys.readouterr().err
    assert (
        main([*argv, "--out", str(tmp_path / "r2"), "--generator-kwargs", '{"num_downs": 4}', "--num-downs", "5"]) == 2
    )
    assert "contradicts generator_kwargs['num_downs']=4" in capsys.readouterr().err
