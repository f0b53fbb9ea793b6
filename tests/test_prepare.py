"""``img2img prepare`` and on-the-fly recipe training (``--task``) on tiny folders of photos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import TINY_UNET, pattern

from img2img.cli import main
from img2img.data.paired import PairedFolder
from img2img.data.recipe_folder import RecipeFolder
from img2img.data.recipes import Recipe
from img2img.data.sr_folder import SRFolder
from img2img.prepare import prepare, split_indices
from img2img.training import train
from img2img_runtime.io import read_image, write_image

TINY = ["--num-workers", "0", "--no-progress", "--base-channels", "8", "--d-channels", "8"]
FAST = dict(num_workers=0, progress=False, sample_every=1000, val_every=1000, checkpoint_every=1000)

# name -> (height, width): odd sizes, so SR has to crop to a multiple of the scale
PHOTO_SIZES = {"p0": (50, 45), "p1": (48, 48), "p2": (41, 58), "nested/p3": (64, 52), "p4": (45, 45)}

RECIPES = {
    "sketch": ("sketch", {}),
    "colorize": ("colorize", {}),
    "restore": ("restore", {"preset": "heavy"}),
    "sr2": ("sr", {"scale": 2}),
    "sr4-realistic": ("sr", {"scale": 4, "realistic": True}),
}


def make_photos(root: Path) -> Path:
    """5 small colourful photos (one in a subfolder, one JPEG) under ``root``."""
    for i, (name, (h, w)) in enumerate(PHOTO_SIZES.items()):
        suffix = ".jpg" if i == 4 else ".png"
        write_image(root / f"{name}{suffix}", pattern(i, 64)[:h, :w])
    return root


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return make_photos(tmp_path / "photos")


def names(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.png"))


def channels(path: Path) -> int:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return 1 if image.ndim == 2 else image.shape[2]


@pytest.mark.parametrize("key", list(RECIPES))
def test_prepare_writes_matching_pairs(tmp_path, photos, key):
    recipe, options = RECIPES[key]
    out = tmp_path / "out"
    report = prepare(recipe, photos, out, val_fraction=0.4, seed=3, **options)
    assert not report.failed
    assert report.counts == {"train": 3, "val": 2} and report.skipped_existing == 0

    train_names, val_names = names(out / "train" / "A"), names(out / "val" / "A")
    assert train_names == names(out / "train" / "B") and val_names == names(out / "val" / "B")
    assert len(train_names) == 3 and len(val_names) == 2 and not set(train_names) & set(val_names)
    assert sorted(train_names + val_names) == sorted(PHOTO_SIZES)  # nested folders are kept

    meta = json.loads((out / "prepare.json").read_text())
    assert meta["recipe"] == recipe and meta["seed"] == 3 and meta["counts"] == {"train": 3, "val": 2}

    scale = options.get("scale", 1)
    for split, stems in (("train", train_names), ("val", val_names)):
        for stem in stems:
            a_path, b_path = out / split / "A" / f"{stem}.png", out / split / "B" / f"{stem}.png"
            a, b = read_image(a_path), read_image(b_path)
            h, w = PHOTO_SIZES[stem]
            assert b.shape == (h // scale * scale, w // scale * scale, 3)  # cropped to a multiple of the scale
            assert a.shape == (b.shape[0] // scale, b.shape[1] // scale, 3)
            assert channels(a_path) == (1 if recipe in ("sketch", "colorize") else 3)
            assert channels(b_path) == 3
            if recipe == "restore":
                assert not np.array_equal(a, b), f"{stem}: the heavy preset left the photo untouched"
            if recipe == "colorize":
                photo = read_image(next(photos.glob(f"{stem}.*")))
                np.testing.assert_array_equal(a[:, :, 0], cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))


def test_split_is_seeded_by_image(tmp_path, photos):
    outs = {}
    for run, seed in (("a", 0), ("b", 0), ("c", 1)):
        prepare("colorize", photos, tmp_path / run, val_fraction=0.4, seed=seed)
        outs[run] = names(tmp_path / run / "val" / "A")
    assert outs["a"] == outs["b"]  # same seed, same split
    assert len(outs["a"]) == 2
    splits = {frozenset(split_indices(5, 0.4, seed)) for seed in range(10)}
    assert len(splits) > 1  # different seeds give different splits
    for split in splits:
        assert len(split) == 2 and split <= set(range(5))
    assert len(split_indices(5, 0.01, 0)) == 1  # a positive fraction holds out at least one photo
    assert split_indices(5, 0.0, 0) == set() and split_indices(1, 0.5, 0) == set()


def test_rerun_skips_existing_and_overwrite_rebuilds(tmp_path, photos):
    out = tmp_path / "out"
    prepare("restore", photos, out, preset="light")
    files = sorted(out.rglob("*.png"))
    assert len(files) == 10
    inodes = {p: p.stat().st_ino for p in files}

    again = prepare("restore", photos, out, preset="light")
    assert again.skipped_existing == 5 and sum(again.counts.values()) == 5
    assert all(p.stat().st_ino == inodes[p] for p in files), "existing pairs were rewritten"

    victim = next(p for p in files if "/A/" in p.as_posix())
    victim.unlink()  # half a pair: rebuilt
    partial = prepare("restore", photos, out, preset="light")
    assert partial.skipped_existing == 4 and victim.exists()

    inodes = {p: p.stat().st_ino for p in files}
    rebuilt = prepare("restore", photos, out, preset="light", overwrite=True)
    assert rebuilt.skipped_existing == 0 and sum(rebuilt.counts.values()) == 5
    assert all(p.stat().st_ino != inodes[p] for p in files), "overwrite kept old files"
    assert not list(out.rglob("*.tmp"))


def test_corrupt_photo_is_reported(tmp_path, photos, capsys):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    write_image(photos / "tiny.png", pattern(9, 32)[:3, :3])  # smaller than the scale: reported, not fatal
    report = prepare("sr", photos, tmp_path / "out", scale=4)
    failed = {path.name: reason for path, reason in report.failed}
    assert set(failed) == {"broken.jpg", "tiny.png"}
    assert "scale" in failed["tiny.png"]
    assert sum(report.counts.values()) == 5
    assert "broken.jpg" in report.summary()

    code = main(["prepare", "restore", str(photos), str(tmp_path / "cli"), "--preset", "medium", "--seed", "1"])
    stdout = capsys.readouterr().out
    assert code == 1
    assert "broken.jpg" in stdout and "FAILED" in stdout and "1 failed" in stdout
    assert len(names(tmp_path / "cli" / "train" / "A")) + len(names(tmp_path / "cli" / "val" / "A")) == 6


def test_cli_prepare_options(tmp_path, photos, capsys):
    assert (
        main(
            [
                "prepare",
                "sr",
                str(photos),
                str(tmp_path / "out"),
                "--scale",
                "2",
                "--realistic",
                "--val-fraction",
                "0.2",
                "--max-size",
                "40",
            ]
        )
        == 0
    )
    assert "4 train pairs, 1 val pairs" in capsys.readouterr().out
    meta = json.loads((tmp_path / "out" / "prepare.json").read_text())
    assert meta["options"] == {"scale": 2, "realistic": True} and meta["max_size"] == 40
    for path in (tmp_path / "out").rglob("B/**/*.png"):
        assert max(read_image(path).shape[:2]) <= 40


def test_prepared_folders_read_as_is(tmp_path, photos):
    prepare("sketch", photos, tmp_path / "sketch", val_fraction=0.4)
    train_set = PairedFolder(tmp_path / "sketch", split="train", size=32, channels_a=1)
    val_set = PairedFolder(tmp_path / "sketch", split="val", size=32, channels_a=1, train=False)
    assert (len(train_set), len(val_set)) == (3, 2) and train_set.layout == "A/B"
    item = train_set[0]
    assert item["A"].shape == (1, 32, 32) and item["B"].shape == (3, 32, 32) and item["A"].dtype == torch.uint8

    prepare("sr", photos, tmp_path / "sr", val_fraction=0.4, scale=4)
    sr_train = SRFolder(tmp_path / "sr", split="train", size=40, scale=4)
    sr_val = SRFolder(tmp_path / "sr", split="val", size=40, scale=4, train=False)
    assert (len(sr_train), len(sr_val)) == (3, 2) and not sr_train.skipped
    item = sr_val[0]
    assert item["A"].shape == (3, 10, 10) and item["B"].shape == (3, 40, 40)
    # prepared pairs are used as written: aligned centre crops of the files A (LR) and B (HR)
    lr_file = read_image(tmp_path / "sr" / "val" / "A" / item["path"])
    hr_file = read_image(tmp_path / "sr" / "val" / "B" / item["path"])
    top, left = (lr_file.shape[0] - 10) // 2, (lr_file.shape[1] - 10) // 2
    np.testing.assert_array_equal(item["A"].permute(1, 2, 0).numpy(), lr_file[top : top + 10, left : left + 10])
    np.testing.assert_array_equal(
        item["B"].permute(1, 2, 0).numpy(), hr_file[4 * top : 4 * top + 40, 4 * left : 4 * left + 40]
    )


def test_train_restore_task_on_plain_photos(tmp_path, photos, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "pix2pix",
            "--data",
            str(photos),
            "--task",
            "restore",
            "--preset",
            "heavy",
            "--out",
            str(run),
            "--steps",
            "2",
            "--size",
            "32",
            "--num-downs",
            "4",
            *TINY,
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "trained 2 steps" in capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"] == "restore" and config["recipe_options"] == {"preset": "heavy"}
    assert (run / "model" / "AtoB.safetensors").is_file()


def test_recipe_folder_fresh_damage_per_epoch(photos):
    recipe = Recipe("restore", {"preset": "heavy"})
    data = RecipeFolder(photos, recipe, size=32, train=False, seed=5)
    again = RecipeFolder(photos, recipe, size=32, train=False, seed=5)
    assert len(data) == 5
    first = data[(0, 2)]
    assert torch.equal(first["A"], data[(0, 2)]["A"]) and torch.equal(first["A"], again[(0, 2)]["A"])
    assert torch.equal(data[2]["A"], first["A"])  # a plain index means epoch 0
    later = data[(1, 2)]
    assert torch.equal(later["B"], first["B"])  # centre crop: the same photo crop ...
    assert not torch.equal(later["A"], first["A"])  # ... with fresh damage in another epoch
    assert first["A"].shape == first["B"].shape == (3, 32, 32)

    gray = RecipeFolder(photos, Recipe("colorize"), size=32, channels_a=1)
    assert gray[0]["A"].shape == (1, 32, 32)


def test_colorize_task_trains_a_lab_model(tmp_path, photos, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "pix2pix",
            "--data",
            str(photos),
            "--task",
            "colorize",
            "--out",
            str(run),
            "--steps",
            "2",
            "--size",
            "32",
            "--num-downs",
            "4",
            *TINY,
        ]
    )
    assert code == 0, capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    assert config["color_space"] == "lab" and config["recipe"] == "colorize"
    model = json.loads((run / "model" / "config.json").read_text())
    net = model["directions"]["AtoB"]["net"]
    assert (net["in_channels"], net["out_channels"]) == (1, 2)
    assert (model["input"]["color_space"], model["output"]["color_space"]) == ("lab_l", "lab_ab")

    from img2img.infer import Translator

    colorized = Translator.from_pretrained(run, device="cpu")(pattern(7, 48)[:40])
    assert colorized.shape == (40, 48, 3) and colorized.dtype == np.uint8

    # the Python API: the generator itself maps L (1 channel) to ab (2 channels)
    result = train(
        "pix2pix",
        data=str(photos),
        out=str(tmp_path / "api"),
        recipe="colorize",
        steps=1,
        size=32,
        load_size=36,
        **TINY_UNET,
        **FAST,
    )
    assert (result.task.generator.in_channels, result.task.generator.out_channels) == (1, 2)


def test_srgan_task_sr_realistic(tmp_path, photos, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "srgan",
            "--data",
            str(photos),
            "--task",
            "sr",
            "--realistic",
            "--out",
            str(run),
            "--steps",
            "2",
            "--size",
            "32",
            "--scale",
            "4",
            "--batch-size",
            "2",
            "--num-blocks",
            "1",
            *TINY,
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "trained 2 steps" in capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"] == "sr" and config["recipe_options"] == {"realistic": True, "scale": 4}


def test_recipe_task_mismatch_is_an_error(tmp_path, photos, capsys):
    assert main(["train", "pix2pix", "--data", str(photos), "--task", "sr", "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "sr recipe" in capsys.readouterr().err


def test_prepare_refuses_other_settings_and_reports_name_clashes(tmp_path):
    from conftest import pattern

    from img2img.prepare import prepare
    from img2img_runtime.io import write_image

    photos = tmp_path / "photos"
    for i in range(4):
        write_image(photos / f"p{i}.png", pattern(i, 48))
    write_image(photos / "p0.jpg", pattern(9, 48))  # same output name as p0.png
    out = tmp_path / "out"
    report = prepare("restore", photos, out, seed=0, val_fraction=0.25)
    assert [p.name for p, _ in report.failed] == ["p0.png"] and "same output name" in report.failed[0][1]
    with pytest.raises(ValueError, match="seed"):
        prepare("restore", photos, out, seed=1, val_fraction=0.25)
    prepare("restore", photos, out, seed=1, val_fraction=0.25, overwrite=True)
    train = {p.name for p in (out / "train" / "A").iterdir()}
    val = {p.name for p in (out / "val" / "A").iterdir()}
    assert not train & val and train | val == {"p0.png", "p1.png", "p2.png", "p3.png"}


def test_prepare_colorize_skips_photos_without_colour(tmp_path, photos, capsys):
    for i, name in enumerate(["bw/gray0.png", "gray1.jpg"]):
        colour = pattern(20 + i, 48)
        write_image(photos / name, np.repeat(cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2))
    out = tmp_path / "out"
    stale = out / "val" / "B" / "gray1.png"  # written by an earlier run that took gray photos as targets
    write_image(stale, pattern(0, 32))
    report = prepare("colorize", photos, out, val_fraction=0.4)
    assert not report.failed and report.counts == {"train": 3, "val": 2}
    assert sorted(names(out / "train" / "B") + names(out / "val" / "B")) == sorted(PHOTO_SIZES)
    skipped = {path.relative_to(photos).as_posix(): reason for path, reason in report.skipped}
    assert set(skipped) == {"bw/gray0.png", "gray1.jpg"}
    for name, reason in skipped.items():
        assert name in reason and "no colour" in reason
    assert not stale.exists()
    summary = report.summary()
    assert "2 skipped" in summary and "SKIPPED" in summary and "gray1.jpg has no colour" in summary
    assert sorted(json.loads((out / "prepare.json").read_text())["skipped"]) == sorted(
        str(p) for p, _ in report.skipped
    )

    assert main(["prepare", "colorize", str(photos), str(tmp_path / "cli")]) == 0  # skipping is not failing
    stdout = capsys.readouterr().out
    assert "2 skipped" in stdout and "bw/gray0.png has no colour" in stdout

    restore = prepare("restore", photos, tmp_path / "restore", preset="light")  # other recipes take them all
    assert sum(restore.counts.values()) == 7 and not restore.skipped


def test_prepare_colorize_without_colour_photos_is_an_error(tmp_path):
    grays = tmp_path / "grays"
    for i in range(2):
        write_image(grays / f"g{i}.png", np.full((24, 24, 3), 40 * i + 60, np.uint8))
    with pytest.raises(ValueError, match=r"no colour photos in .*grays.*2 photo\(s\) without colour"):
        prepare("colorize", grays, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# hostile photo folders (issue 9): nothing left out silently, photos never overwritten, one job per OUT
# ---------------------------------------------------------------------------------------------


def pair_names(out: Path) -> list[str]:
    return sorted(names(out / "train" / "A") + names(out / "val" / "A"))


def test_prepare_follows_symlinks_reports_loops_and_two_dot_names(tmp_path, photos, monkeypatch, capsys):
    import os

    elsewhere = tmp_path / "elsewhere"
    write_image(elsewhere / "q.png", pattern(11, 48))
    (photos / "linked").symlink_to(elsewhere, target_is_directory=True)
    (photos / "nested" / "loop").symlink_to("..", target_is_directory=True)
    write_image(photos / "..dots.png", pattern(12, 48))
    write_image(photos / "locked" / "r.png", pattern(13, 48))
    (photos / "notes.txt").write_text("not a photo")
    real_scandir = os.scandir

    def scandir(path="."):  # an unreadable subfolder, also when the tests run as root
        if Path(path) == photos / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    out = tmp_path / "out"
    report = prepare("restore", photos, out, preset="light")
    assert pair_names(out) == sorted(["..dots", "linked/q", "nested/p3", "p0", "p1", "p2", "p4"])
    failed = {p.relative_to(photos).as_posix(): reason for p, reason in report.failed}
    skipped = {p.relative_to(photos).as_posix(): reason for p, reason in report.skipped}
    assert list(failed) == ["locked"] and "cannot read folder" in failed["locked"]
    assert sorted(skipped) == ["nested/loop", "notes.txt"] and "symlink loop" in skipped["nested/loop"]
    summary = report.summary()
    assert "locked" in summary and "nested/loop" in summary.replace(os.sep, "/") and "notes.txt" in summary
    assert main(["prepare", "restore", str(photos), str(tmp_path / "cli")]) == 1  # the unreadable folder
    assert "cannot read folder" in capsys.readouterr().out


def test_prepare_refuses_output_equal_to_photos_and_empty_photos(tmp_path, photos, capsys):
    before = sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*"))
    with pytest.raises(ValueError, match="is the photos folder"):
        prepare("sketch", photos, photos)
    assert main(["prepare", "sketch", str(photos), str(photos)]) == 2
    assert "is the photos folder" in capsys.readouterr().err
    assert sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*")) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden.png").write_bytes(b"")
    assert main(["prepare", "sketch", str(empty), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no images found in" in err and str(empty) in err and ".hidden.png" in err
    assert not (tmp_path / "out").exists()


def test_prepare_output_inside_photos_is_never_read_as_photos(tmp_path, photos):
    out = photos / "pairs"
    first = prepare("sketch", photos, out)
    assert sum(first.counts.values()) == 5
    again = prepare("sketch", photos, out)
    assert again.skipped_existing == 5 and sum(again.counts.values()) == 5  # no pairs/train/A/... photos
    assert [(p.relative_to(photos).as_posix(), r) for p, r in again.skipped] == [
        ("pairs", "the output folder (never read as photos)")
    ]
    # photos that are a prepared folder's own B side would be overwritten by their pairs
    with pytest.raises(ValueError, match="would replace the input"):
        prepare("sketch", out / "train" / "B", out)


def test_prepare_refuses_outward_symlink_in_output_and_a_busy_output(tmp_path, photos):
    from img2img_runtime.folder import OutputFolderBusyError, output_lock

    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (out / "train").mkdir(parents=True)
    (out / "train" / "A").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="outside the output folder"):
        prepare("sketch", photos, out)
    assert not list(outside.iterdir())
    (out / "train" / "A").unlink()
    (out / "prepare.json").symlink_to(outside / "prepare.json")
    with pytest.raises(ValueError, match="outside the output folder"):
        prepare("sketch", photos, out)
    (out / "prepare.json").unlink()
    with output_lock(out):  # another job writing to OUT
        with pytest.raises(OutputFolderBusyError, match="in use by another img2img job"):
            prepare("sketch", photos, out)
    assert sum(prepare("sketch", photos, out).counts.values()) == 5
    assert not (out / ".img2img.lock").exists() and not list(outside.iterdir())


def interrupted_after(count: int, monkeypatch) -> None:
    """Ctrl-C after ``count`` pairs of the next prepare job (its workers see the interrupt at once)."""
    real = Recipe.__call__
    calls = []

    def call(self, photo, rng):
        calls.append(1)
        if len(calls) > count:
            raise KeyboardInterrupt
        return real(self, photo, rng)

    monkeypatch.setattr(Recipe, "__call__", call)


def test_a_killed_prepare_is_resumed_only_with_its_own_settings(tmp_path, photos, monkeypatch):
    """prepare.json holds the settings from the start: after a kill, a rerun with other settings is
    refused (it kept the killed job's pairs as finished and recorded only its own settings)."""
    out = tmp_path / "out"
    interrupted_after(2, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        prepare("restore", photos, out, preset="heavy", workers=1)
    monkeypatch.undo()
    state = json.loads((out / "prepare.json").read_text())
    assert state["complete"] is False and state["options"] == {"preset": "heavy"} and not state["replacing"]
    with pytest.raises(ValueError, match="other settings"):
        prepare("restore", photos, out, preset="light")
    report = prepare("restore", photos, out, preset="heavy")  # the same command finishes it
    assert report.skipped_existing == 2 and sum(report.counts.values()) == 5
    assert json.loads((out / "prepare.json").read_text())["complete"] is True


def test_an_interrupted_overwrite_must_be_finished_with_overwrite(tmp_path, photos, monkeypatch, capsys):
    out = tmp_path / "out"
    prepare("restore", photos, out, preset="light")
    interrupted_after(2, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        prepare("restore", photos, out, preset="light", overwrite=True, workers=1)
    monkeypatch.undo()
    assert json.loads((out / "prepare.json").read_text())["replacing"] is True
    with pytest.raises(ValueError, match="interrupted"):  # three pairs are the earlier run's
        prepare("restore", photos, out, preset="light")
    assert sum(prepare("restore", photos, out, preset="light", overwrite=True).counts.values()) == 5
    assert prepare("restore", photos, out, preset="light").skipped_existing == 5


def test_overwrite_removes_the_pairs_of_photos_that_are_gone(tmp_path, photos):
    out = tmp_path / "out"
    prepare("restore", photos, out, preset="heavy")
    gone = sorted(photos.rglob("*.png"))[0]
    gone.unlink()
    report = prepare("restore", photos, out, preset="light", overwrite=True)
    name = gone.relative_to(photos).as_posix()
    assert sorted(p.relative_to(out).as_posix().split("/", 2)[2] for p in report.removed) == [name, name]
    assert not any(p.relative_to(out).as_posix().endswith(name) for p in out.rglob("*.png"))
    assert len(list(out.rglob("*.png"))) == 8 and "removed 2 pair file(s)" in report.summary()
    assert prepare("restore", photos, out, preset="light").removed == []


def test_options_a_recipe_does_not_take_are_refused(tmp_path, photos, capsys):
    """They were dropped without a word (prepare) or crashed at the first item (train --task sketch)."""
    with pytest.raises(ValueError, match="recipe 'sketch' takes options"):
        Recipe("sketch", {"preset": "heavy"})
    assert Recipe("sketch", {"method": "canny", "thickness": 2}).options["thickness"] == 2
    for argv, flag in (
        (["sketch", "--preset", "heavy"], "--preset"),
        (["colorize", "--scale", "8"], "--scale"),
        (["restore", "--realistic"], "--realistic"),
    ):
        code = main(["prepare", argv[0], str(photos), str(tmp_path / "out"), *argv[1:]])
        assert code == 2 and flag in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_bad_pixel_budget_variable_is_one_error_not_every_photo_failed(photos, tmp_path, monkeypatch):
    monkeypatch.setenv("IMG2IMG_MAX_PIXELS", "abc")
    with pytest.raises(ValueError, match="IMG2IMG_MAX_PIXELS must be a whole number"):
        prepare("restore", photos, tmp_path / "out")
    assert not (tmp_path / "out").exists()
