"""Folder jobs (``translate_folder``) with the torch Translator and the runtime Model: killed and
resumed jobs, corrupt and missing inputs, an output folder inside the input folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import pattern, save_tiny_model
from img2img.cli import main as img2img_main
from img2img.export import export_onnx
from img2img.infer import Translator
from img2img_runtime import Model, translate_folder
from img2img_runtime.cli import main as onnx_main
from img2img_runtime.io import list_images, read_image, write_image

# relative path -> (height, width); sorted as the job processes them; odd sizes need padding to 4
INPUTS = {"a.png": (30, 41), "b.jpg": (24, 20), "sub/c.png": (37, 29), "sub/d.bmp": (16, 22),
          "sub/deeper/e.png": (21, 33), "z.tif": (26, 18)}
KILL_AFTER = 3


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny ResNet generator (size multiple 4, min size 8): RUN/model folder and RUN/model.onnx."""
    root = tmp_path_factory.mktemp("folder_jobs")
    save_tiny_model(root / "model", task="cyclegan")
    export_onnx(root / "model", root / "model.onnx")
    return root


def make_inputs(folder: Path) -> Path:
    for i, (rel, (h, w)) in enumerate(INPUTS.items()):
        write_image(folder / rel, pattern(30 + i, 48)[:h, :w])
    return folder


def files(folder: Path) -> list[str]:
    """Every file under ``folder``, hidden ones included, as sorted relative paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def stamps(folder: Path, names) -> dict[str, tuple[int, int]]:
    return {name: ((folder / name).stat().st_ino, (folder / name).stat().st_mtime_ns) for name in names}


def assert_complete(out: Path, reference: Path) -> None:
    """All outputs present under their input's relative path and format, decodable, equal to a clean run."""
    assert [p.relative_to(out).as_posix() for p in list_images(out)] == sorted(INPUTS)
    for rel, (h, w) in INPUTS.items():
        image = read_image(out / rel)
        assert image.shape == (h, w, 3)
        assert np.array_equal(image, read_image(reference / rel)), rel


@pytest.fixture(scope="module")
def reference(model, tmp_path_factory) -> tuple[Path, Path]:
    """(inputs, outputs of one uninterrupted runtime job)."""
    root = tmp_path_factory.mktemp("reference")
    src = make_inputs(root / "in")
    report = Model(model / "model.onnx", tile=None, batch_size=1).translate_folder(src, root / "out", progress=False)
    assert report.ok and len(report.written) == len(INPUTS)
    return src, root / "out"


KILL_IN_TRANSLATE = r'''
import os, signal, sys, time
from pathlib import Path
from img2img_runtime import Model, translate_folder

model_path, src, dst, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
model = Model(model_path, tile=None, batch_size=1)
calls = 0

def visible_outputs():
    return [p for p in Path(dst).rglob("*") if p.is_file() and not p.name.startswith(".")]

def translate(images):
    global calls
    if calls == n:  # n images translated and handed to the writers: wait until they are on disk, then die
        deadline = time.monotonic() + 30
        while len(visible_outputs()) < n and time.monotonic() < deadline:
            time.sleep(0.005)
        print("killing", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    calls += 1
    return model.translate_arrays(images)

translate_folder(translate, src, dst, batch_size=1, progress=False)
print("finished without being killed", flush=True)
'''

# dies inside write_image, after the encoded bytes are in the temporary file and before the rename
KILL_IN_WRITE = r'''
import os, signal, sys, threading
from img2img_runtime import Model, translate_folder

model_path, src, dst, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
model = Model(model_path, tile=None, batch_size=1)
real_replace, lock, count = os.replace, threading.Lock(), [0]

def replace(source, target):
    with lock:
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        count[0] += 1
    real_replace(source, target)

os.replace = replace
translate_folder(model.translate_arrays, src, dst, batch_size=1, progress=False)
print("finished without being killed", flush=True)
'''


def run_and_get_killed(code: str, model: Path, src: Path, dst: Path) -> None:
    done = subprocess.run([sys.executable, "-c", code, str(model / "model.onnx"), str(src), str(dst), str(KILL_AFTER)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr)
    assert "finished without being killed" not in done.stdout


def test_killed_job_resumes_without_rewriting_finished_files(model, reference, tmp_path):
    src, ref_out = reference
    out = tmp_path / "out"
    run_and_get_killed(KILL_IN_TRANSLATE, model, src, out)
    finished = sorted(INPUTS)[:KILL_AFTER]
    assert files(out) == finished  # exactly the finished outputs: no temporary files, nothing partial
    for rel in finished:
        assert np.array_equal(read_image(out / rel), read_image(ref_out / rel))
    before = stamps(out, finished)

    runtime = Model(model / "model.onnx", tile=None, batch_size=1)
    report = runtime.translate_folder(src, out, progress=False)
    assert report.ok
    assert sorted(p.relative_to(out).as_posix() for p in report.skipped_existing) == finished
    assert sorted(p.relative_to(out).as_posix() for p in report.written) == sorted(set(INPUTS) - set(finished))
    assert not [name for name in files(out) if name.endswith(".tmp")]
    assert files(out) == sorted(INPUTS)
    assert_complete(out, ref_out)
    assert stamps(out, finished) == before, "outputs finished before the kill were rewritten"

    # a third run has nothing to do
    again = runtime.translate_folder(src, out, progress=False)
    assert not again.written and len(again.skipped_existing) == len(INPUTS)
    # overwrite=True rewrites every output (new files, renamed into place), with the same content
    everything = stamps(out, sorted(INPUTS))
    forced = runtime.translate_folder(src, out, overwrite=True, progress=False)
    assert forced.ok and len(forced.written) == len(INPUTS) and not forced.skipped_existing
    after = stamps(out, sorted(INPUTS))
    assert all(after[name] != everything[name] for name in INPUTS)
    assert_complete(out, ref_out)
    assert files(out) == sorted(INPUTS)


def test_job_killed_while_writing_leaves_no_partial_output(model, reference, tmp_path):
    src, ref_out = reference
    out = tmp_path / "out"
    run_and_get_killed(KILL_IN_WRITE, model, src, out)
    hidden = [name for name in files(out) if Path(name).name.startswith(".")]
    assert any(name.endswith(".tmp") for name in hidden), "the job was not killed in the middle of a write"
    visible = [p.relative_to(out).as_posix() for p in list_images(out)]
    assert len(visible) <= KILL_AFTER
    assert all(not Path(name).name.startswith(".") for name in visible)
    for rel in visible:  # whatever is visible under an output name is a complete image
        assert np.array_equal(read_image(out / rel), read_image(ref_out / rel))

    report = Translator.from_pretrained(model / "model", device="cpu", batch_size=1).translate_folder(src, out, progress=False)
    assert report.ok
    assert len(report.written) + len(report.skipped_existing) == len(INPUTS)
    assert sorted(p.relative_to(out).as_posix() for p in report.skipped_existing) == sorted(visible)
    # the torch Translator and the runtime produce the same images (up to 1 level; JPEG re-encodes)
    assert [p.relative_to(out).as_posix() for p in list_images(out)] == sorted(INPUTS)
    for rel, (h, w) in INPUTS.items():
        image = read_image(out / rel)
        assert image.shape == (h, w, 3)
        tolerance = 3 if rel.endswith(".jpg") else 1
        assert np.abs(image.astype(int) - read_image(ref_out / rel).astype(int)).max() <= tolerance, rel
    assert not [name for name in files(out) if name.endswith(".tmp")], "the rerun removes temporary files of the killed write"


# ---------------------------------------------------------------------------------------------
# corrupt and missing inputs
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def with_corrupt(tmp_path) -> Path:
    src = make_inputs(tmp_path / "in")
    (src / "broken.png").write_bytes(b"this is not a png")
    (src / "sub" / "empty.jpg").write_bytes(b"")
    whole = (src / "a.png").read_bytes()
    (src / "sub" / "truncated.png").write_bytes(whole[: len(whole) // 2])
    return src


BAD = ["broken.png", "sub/empty.jpg", "sub/truncated.png"]


@pytest.mark.parametrize("runner", ["torch", "onnx"])
def test_corrupt_inputs_are_reported_and_the_rest_is_processed(model, reference, with_corrupt, tmp_path, runner):
    src, out = with_corrupt, tmp_path / "out"
    job = (Translator.from_pretrained(model / "model", device="cpu", batch_size=2) if runner == "torch"
           else Model(model / "model.onnx", tile=None, batch_size=2))
    report = job.translate_folder(src, out, progress=False)
    assert not report.ok
    assert sorted(path.relative_to(src).as_posix() for path, _ in report.failed) == BAD
    assert all(reason for _, reason in report.failed)
    for name in BAD:
        assert name in report.summary().replace(os.sep, "/")
    assert sorted(p.relative_to(out).as_posix() for p in report.written) == sorted(INPUTS)
    assert files(out) == sorted(INPUTS)  # nothing written for the bad files
    for rel, (h, w) in INPUTS.items():
        assert read_image(out / rel).shape == (h, w, 3)


def test_corrupt_inputs_make_the_clis_exit_with_1(model, with_corrupt, tmp_path, capsys):
    args = ["--input", str(with_corrupt), "--no-progress"]
    assert img2img_main(["translate", "--model", str(model / "model"), *args, "--output", str(tmp_path / "torch")]) == 1
    printed = capsys.readouterr().out
    assert "3 failed" in printed and all(Path(name).name in printed for name in BAD)
    assert onnx_main(["--model", str(model / "model.onnx"), *args, "--output", str(tmp_path / "onnx")]) == 1
    printed = capsys.readouterr().out
    assert "3 failed" in printed and all(Path(name).name in printed for name in BAD)
    assert files(tmp_path / "onnx") == files(tmp_path / "torch") == sorted(INPUTS)
    # a clean folder exits with 0
    clean = make_inputs(tmp_path / "clean")
    assert onnx_main(["--model", str(model / "model.onnx"), "--input", str(clean), "--output", str(tmp_path / "c"), "--no-progress"]) == 0


def test_an_output_that_cannot_be_written_is_failed_not_written(tmp_path):
    """With overwrite=True the old output file still exists after a failed write; the report must
    not count it as written (it would be listed as written and failed at once)."""
    src = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    first = translate_folder(lambda images: list(images), src, out, batch_size=1, progress=False)
    assert first.ok and len(first.written) == len(INPUTS)

    def translate(images):  # the image for a.png comes back as float64, which no encoder accepts
        return [image.astype(np.float64) if image.shape[:2] == INPUTS["a.png"] else image for image in images]

    report = translate_folder(translate, src, out, overwrite=True, batch_size=1, progress=False)
    assert [path.relative_to(src).as_posix() for path, _ in report.failed] == ["a.png"]
    assert "cannot write" in report.failed[0][1]
    assert sorted(p.relative_to(out).as_posix() for p in report.written) == sorted(set(INPUTS) - {"a.png"})
    assert report.summary().startswith(f"{len(INPUTS) - 1} written")


def test_missing_input_gives_a_clear_error(model, tmp_path, capsys):
    missing = tmp_path / "no_such_folder"
    runtime = Model(model / "model.onnx")
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        translate_folder(runtime.translate_arrays, missing, tmp_path / "out", progress=False)
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        Translator.from_pretrained(model / "model", device="cpu").translate_folder(missing, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert img2img_main(["translate", "--model", str(model / "model"), "--input", str(missing), "--output", str(tmp_path / "out")]) == 2
    assert "no_such_folder" in capsys.readouterr().err
    assert onnx_main(["--model", str(model / "model.onnx"), "--input", str(missing), "--output", str(tmp_path / "out")]) == 2
    assert "no_such_folder" in capsys.readouterr().err
    assert onnx_main(["--model", str(tmp_path / "missing.onnx"), "--input", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    assert "missing.onnx" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# output folder inside the input folder
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_output_folder_inside_the_input_folder_is_not_reprocessed(model, tmp_path, monkeypatch, relative):
    src = make_inputs(tmp_path / "photos")
    translator = Translator.from_pretrained(model / "model", device="cpu")
    if relative:
        monkeypatch.chdir(tmp_path)
        src_arg, out_arg = Path("photos"), Path("photos/results")
    else:
        src_arg, out_arg = src, src / "results"
    out = src / "results"
    first = translator.translate_folder(src_arg, out_arg, progress=False)
    assert first.ok and len(first.written) == len(INPUTS)
    second = translator.translate_folder(src_arg, out_arg, progress=False)
    assert second.ok and not second.written and len(second.skipped_existing) == len(INPUTS)
    forced = Model(model / "model.onnx").translate_folder(src_arg, out_arg, overwrite=True, progress=False)
    assert forced.ok and len(forced.written) == len(INPUTS)
    assert files(out) == sorted(INPUTS)  # no results/results/...
    inputs = sorted(p.relative_to(src).as_posix() for p in list_images(src))
    assert inputs == sorted([*INPUTS, *(f"results/{rel}" for rel in INPUTS)])
