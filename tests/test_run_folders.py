"""Crash-consistent run folders: whole-line log appends read tolerantly, model/ and last.pt never
showing mixed steps, stale temporary files removed on the next start, a full disk reported clearly."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import TINY_UNET

import img2img.checkpoint as ckpt
from img2img.checkpoint import (
    DiskFullError,
    LogFormatError,
    append_jsonl,
    clean_run_folder,
    load_checkpoint,
    load_pretrained,
    read_jsonl,
    save_pretrained,
)
from img2img.nets import create_model
from img2img.report import read_log
from img2img.training import Trainer, _resolve_config, train

FAST = dict(num_workers=0, progress=False, log_every=1, sample_every=1000, val_every=1000, checkpoint_every=2)
IO_SPEC = {
    "input": {"channels": 3, "color_space": "rgb", "range": [-1.0, 1.0]},
    "output": {"channels": 3, "color_space": "rgb", "range": [-1.0, 1.0]},
    "scale": 2,
    "size_multiple": 1,
    "min_size": 1,
    "color": {"space": "rgb"},
}


def tiny_run(tmp_path: Path, paired_dir: Path, steps: int = 2) -> Path:
    run = tmp_path / "run"
    train(
        "pix2pix",
        data=str(paired_dir),
        out=str(run),
        steps=4,
        stop_after=steps,
        size=32,
        load_size=36,
        **TINY_UNET,
        **FAST,
    )
    return run


def model_step(folder: Path) -> int:
    return json.loads((folder / "config.json").read_text())["training"]["steps"]


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.name.endswith((".tmp", ".old"))]


def save_sr(directory: Path, seed: int, step: int, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = create_model("compact_sr_x2", base_channels=8, num_convs=2)
    save_pretrained({"AtoB": net}, directory, task="srgan", io_spec=IO_SPEC, training={"steps": step}, **kwargs)
    return net


# ------------------------------------------------------------------------------------ log.jsonl
def test_log_lines_are_appended_with_one_write_each(tmp_path, monkeypatch):
    writes = []
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: writes.append(bytes(data)) or real_write(fd, data))
    path = tmp_path / "log.jsonl"
    for step in (1, 2):
        append_jsonl(path, {"step": step, "G_L1": 0.5})
    assert len(writes) == 2 and all(w.endswith(b"\n") and w.count(b"\n") == 1 for w in writes)
    assert path.read_bytes() == b"".join(writes)


def test_torn_last_line_is_ignored_on_resume_with_a_warning(tmp_path, paired_dir, caplog):
    run = tiny_run(tmp_path, paired_dir)
    with open(run / "log.jsonl", "a") as f:
        f.write('{"step": 3, "G_L1": 0.1')  # killed in the middle of a write
    with caplog.at_level(logging.WARNING):
        assert read_log(run / "log.jsonl")["G_L1"][-1][0] == 2
        result = train(out=str(run), resume=True, steps=4)
    assert result.step == 4
    assert any("torn last line" in r.getMessage() and "log.jsonl" in r.getMessage() for r in caplog.records)
    steps = [r["step"] for r in read_jsonl(run / "log.jsonl") if "G_L1" in r]
    assert steps == [1, 2, 3, 4]
    assert (run / "log.jsonl").read_text().endswith("\n")


def test_corrupt_middle_line_is_an_error_naming_file_and_line(tmp_path, paired_dir):
    run = tiny_run(tmp_path, paired_dir)
    lines = (run / "log.jsonl").read_text().splitlines()
    (run / "log.jsonl").write_text("\n".join([lines[0], '{"step": 1, "G_L1": oops}', *lines[1:]]) + "\n")
    with pytest.raises(LogFormatError, match=r"log\.jsonl, line 2"):
        read_log(run / "log.jsonl")
    with pytest.raises(ValueError, match=r"log\.jsonl, line 2"):
        train(out=str(run), resume=True, steps=4)


def test_log_records_need_an_integer_step(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1, "a": 1.0}\n[1, 2]\n{"step": 2, "a": 2.0}\n')
    with pytest.raises(LogFormatError, match="line 2"):
        read_jsonl(path)
    path.write_text('{"step": 1, "a": 1.0}\n{"a": 2.0}\n')
    with pytest.raises(LogFormatError, match="line 2.*step"):
        read_jsonl(path)


# ------------------------------------------------------------------------------------ model/ and last.pt
def test_a_failed_model_write_leaves_the_previous_folder_whole(tmp_path, monkeypatch):
    """An exception inside the write, after the weights are written, before config.json (a kill, simulated)."""
    old = save_sr(tmp_path / "model", seed=0, step=20)
    real = ckpt._write_file

    def dies_at_config(path, data):
        if Path(path).name == "config.json":
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(ckpt, "_write_file", dies_at_config)
    with pytest.raises(KeyboardInterrupt):
        save_sr(tmp_path / "model", seed=1, step=30)
    config, nets = load_pretrained(tmp_path / "model")
    assert config["training"]["steps"] == 20
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), nets["AtoB"].state_dict().values()))
    assert not temp_files(tmp_path)


def test_a_killed_model_write_leaves_the_previous_folder_and_a_temp_that_the_next_start_removes(tmp_path):
    """A real SIGKILL in the middle of the model folder write (after the weights)."""
    old = save_sr(tmp_path / "run" / "model", seed=0, step=20)
    script = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        import torch
        import img2img.checkpoint as ckpt
        from img2img.nets import create_model
        real = ckpt._write_file
        def write(path, data):
            if Path(path).name == "config.json":
                os.kill(os.getpid(), signal.SIGKILL)
            real(path, data)
        ckpt._write_file = write
        torch.manual_seed(1)
        net = create_model("compact_sr_x2", base_channels=8, num_convs=2)
        ckpt.save_pretrained({{"AtoB": net}}, {str(tmp_path / "run" / "model")!r}, task="srgan",
                             io_spec={IO_SPEC!r}, training={{"steps": 30}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    config, nets = load_pretrained(tmp_path / "run" / "model")
    assert config["training"]["steps"] == 20
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), nets["AtoB"].state_dict().values()))
    leftovers = temp_files(tmp_path)
    assert leftovers, "the killed write should have left its temporary folder"
    assert sorted(clean_run_folder(tmp_path / "run")) == sorted(leftovers)
    assert not temp_files(tmp_path)


def test_readers_see_the_old_or_the_new_folder_never_a_mix(tmp_path, monkeypatch):
    old = save_sr(tmp_path / "model", seed=0, step=20)
    seen = {}

    def read_during_write():
        config, nets = load_pretrained(tmp_path / "model")
        seen["step"] = config["training"]["steps"]
        seen["same"] = all(
            torch.equal(a, b) for a, b in zip(old.state_dict().values(), nets["AtoB"].state_dict().values())
        )

    new = save_sr(tmp_path / "model", seed=1, step=30, before_commit=read_during_write)
    assert seen == {"step": 20, "same": True}
    config, nets = load_pretrained(tmp_path / "model")
    assert config["training"]["steps"] == 30
    assert all(torch.equal(a, b) for a, b in zip(new.state_dict().values(), nets["AtoB"].state_dict().values()))
    assert not temp_files(tmp_path)


def test_folder_swap_without_renameat2_and_recovery(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt, "_exchange", lambda a, b: False)
    save_sr(tmp_path / "run" / "model", seed=0, step=20)
    (tmp_path / "run" / "model" / "notes.txt").write_text("kept")
    save_sr(tmp_path / "run" / "model", seed=1, step=30)
    assert model_step(tmp_path / "run" / "model") == 30
    assert (tmp_path / "run" / "model" / "notes.txt").read_text() == "kept"
    assert not temp_files(tmp_path)
    # a kill between the two renames: no model/, the complete old folder aside; the next start puts it back
    os.rename(tmp_path / "run" / "model", tmp_path / "run" / ".model.123-abcd.old")
    clean_run_folder(tmp_path / "run")
    assert model_step(tmp_path / "run" / "model") == 30 and not temp_files(tmp_path)


def test_stale_temp_files_are_removed_when_a_run_starts_again(tmp_path, paired_dir):
    run = tiny_run(tmp_path, paired_dir)
    stale = [
        run / "checkpoints" / ".last.pt.0123456789ab.tmp",
        run / ".config.json.abcdef012345.tmp",
        run / "model" / ".AtoB.safetensors.1a2b3c4d5e6f.tmp",
    ]
    for path in stale:
        path.write_bytes(b"")
    (run / ".model.4242-deadbeef.tmp").mkdir()
    (run / ".model.4242-deadbeef.tmp" / "AtoB.safetensors").write_bytes(b"x" * 10)
    train(out=str(run), resume=True, steps=4)
    assert not temp_files(run)


@pytest.mark.parametrize("failing", ["AtoB.safetensors", "config.json", "last.pt"])
def test_disk_full_while_checkpointing_keeps_the_last_good_state(tmp_path, paired_dir, monkeypatch, failing):
    run = tiny_run(tmp_path, paired_dir)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 2 and model_step(run / "model") == 2
    real = ckpt._write_file

    def disk_full(path, data):
        path_ = Path(path)
        in_model = path_.parent.name.startswith(".model.") and path_.name == failing
        if in_model or path_.name.startswith(f".{failing}."):
            with open(path, "wb") as f:
                f.write(bytes(data)[:10])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(ckpt, "_write_file", disk_full)
    with pytest.raises(DiskFullError, match=rf"disk full.*{failing}.*free some space") as info:
        train(out=str(run), resume=True, steps=4)
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 2
    assert model_step(run / "model") == 2, "model/ must not get ahead of last.pt"
    assert not temp_files(run), "no partial or 0-byte temporary file may stay"
    monkeypatch.setattr(ckpt, "_write_file", real)  # space freed: the run continues
    assert train(out=str(run), resume=True, steps=4).step == 4


def test_model_folder_behind_last_pt_is_rewritten_on_resume(tmp_path, paired_dir, monkeypatch):
    """A kill after last.pt was written and before model/ was swapped in (simulated by an exception)."""
    run = tiny_run(tmp_path, paired_dir)

    real = ckpt._commit_folder

    def killed(staging, target):
        if target.name == "model":
            raise KeyboardInterrupt
        real(staging, target)

    monkeypatch.setattr(ckpt, "_commit_folder", killed)
    with pytest.raises(KeyboardInterrupt):
        train(out=str(run), resume=True, steps=4)
    monkeypatch.undo()
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4 and model_step(run / "model") == 2
    cfg, state = _resolve_config(None, True, {"out": str(run)})
    trainer = Trainer(cfg, state)
    assert model_step(run / "model") == 4
    _, nets = load_pretrained(run / "model")
    expected = trainer.net.generators()["AtoB"].state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in nets["AtoB"].state_dict().items())


def test_a_run_folder_is_written_by_one_process_at_a_time(tmp_path, paired_dir):
    """Two `--resume` processes on one run both trained, doubled the log and deleted each other's
    temporary files."""
    from img2img_runtime.folder import OutputFolderBusyError, output_lock

    run = tiny_run(tmp_path, paired_dir)
    with output_lock(run), pytest.raises(OutputFolderBusyError, match="in use by another img2img job"):
        train(out=str(run), resume=True, steps=4)
    assert model_step(run / "model") == 2
    train(out=str(run), resume=True, steps=4)  # the lock is gone with its holder
    assert model_step(run / "model") == 4 and not (run / ".img2img.lock").exists()


def test_a_resume_finds_its_data_from_another_directory_and_after_a_move(tmp_path, paired_dir, monkeypatch):
    import shutil

    monkeypatch.chdir(paired_dir.parent)
    run = tmp_path / "run"
    kw = dict(out=str(run), steps=4, size=32, load_size=36, **TINY_UNET, **FAST)
    train("pix2pix", data=paired_dir.name, stop_after=2, **kw)  # a relative --data
    assert json.loads((run / "config.json").read_text())["data"] == str(paired_dir.resolve())
    monkeypatch.chdir(tmp_path)
    train(out=str(run), resume=True, steps=3, data=str(paired_dir))  # the same folder, named otherwise
    moved = tmp_path / "moved"
    shutil.move(str(paired_dir), moved)
    with pytest.raises(Exception, match="does not exist"):
        train(out=str(run), resume=True, steps=4)
    train(out=str(run), resume=True, steps=4, data="moved")  # the data moved: recorded in the history
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == str(moved)
    assert [h["changed"]["data"] for h in config["history"] if "data" in h["changed"]] == [
        [str(paired_dir), str(moved)]
    ]
    with pytest.raises(ValueError, match="cannot change 'data'"):
        train(out=str(run), resume=True, steps=5, data=str(tmp_path))  # another existing folder is a change
    with pytest.raises(ValueError, match="steps=2 is below the step 4"):
        train(out=str(run), resume=True, steps=2)


def test_stop_after_saves_without_the_samples_and_validation_the_whole_run_does_not_have(tmp_path, paired_dir):
    """They changed RUN/best (a validation at the stop step) and added samples and log records."""
    run = tmp_path / "run"
    kw = dict(out=str(run), steps=6, size=32, load_size=36, **TINY_UNET, **{**FAST, "val_every": 6, "sample_every": 6})
    train("pix2pix", data=str(paired_dir), stop_after=3, **kw)
    assert [p.name for p in (run / "samples").glob("*.png")] == []
    assert not [r for r in ckpt.read_jsonl(run / "log.jsonl") if "val_psnr" in r]
    train(out=str(run), resume=True)
    assert [r["step"] for r in ckpt.read_jsonl(run / "log.jsonl") if "val_psnr" in r] == [6]


def test_a_run_that_cannot_start_leaves_no_empty_folder(tmp_path):
    from img2img.data.files import DatasetError

    with pytest.raises(DatasetError):
        train("pix2pix", data=str(tmp_path / "missing"), out=str(tmp_path / "run"), steps=1, **FAST)
    assert not (tmp_path / "run").exists()  # the run folder's lock made it
