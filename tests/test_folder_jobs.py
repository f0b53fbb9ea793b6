"""Folder jobs (``translate_folder``) with the torch Translator and the runtime Model: killed and
resumed jobs, corrupt and missing inputs, an output folder inside the input folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern, save_tiny_model

from img2img.cli import main as img2img_main
from img2img.export import export_onnx
from img2img.infer import Translator
from img2img_runtime import Model, translate_folder
from img2img_runtime.cli import main as onnx_main
from img2img_runtime.folder import LOCK_NAME
from img2img_runtime.io import list_images, read_image, write_image

# relative path -> (height, width); sorted as the job processes them; odd sizes need padding to 4
INPUTS = {
    "a.png": (30, 41),
    "b.jpg": (24, 20),
    "sub/c.png": (37, 29),
    "sub/d.bmp": (16, 22),
    "sub/deeper/e.png": (21, 33),
    "z.tif": (26, 18),
}
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


KILL_IN_TRANSLATE = r"""
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
"""

# dies inside write_image, after the encoded bytes are in the temporary file and before the rename
KILL_IN_WRITE = r"""
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
"""


def run_and_get_killed(code: str, model: Path, src: Path, dst: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code, str(model / "model.onnx"), str(src), str(dst), str(KILL_AFTER)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr)
    assert "finished without being killed" not in done.stdout


def test_killed_job_resumes_without_rewriting_finished_files(model, reference, tmp_path):
    src, ref_out = reference
    out = tmp_path / "out"
    run_and_get_killed(KILL_IN_TRANSLATE, model, src, out)
    finished = sorted(INPUTS)[:KILL_AFTER]
    # exactly the finished outputs: no temporary files, nothing partial; the killed job's lock file
    # (its OS lock died with it) stays until the next job takes it over
    assert files(out) == sorted([LOCK_NAME, *finished])
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

    report = Translator.from_pretrained(model / "model", device="cpu", batch_size=1).translate_folder(
        src, out, progress=False
    )
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
    assert not [name for name in files(out) if name.endswith(".tmp")], (
        "the rerun removes temporary files of the killed write"
    )


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
    job = (
        Translator.from_pretrained(model / "model", device="cpu", batch_size=2)
        if runner == "torch"
        else Model(model / "model.onnx", tile=None, batch_size=2)
    )
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
    assert (
        onnx_main(
            [
                "--model",
                str(model / "model.onnx"),
                "--input",
                str(clean),
                "--output",
                str(tmp_path / "c"),
                "--no-progress",
            ]
        )
        == 0
    )


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
        Translator.from_pretrained(model / "model", device="cpu").translate_folder(
            missing, tmp_path / "out", progress=False
        )
    assert not (tmp_path / "out").exists()
    assert (
        img2img_main(
            ["translate", "--model", str(model / "model"), "--input", str(missing), "--output", str(tmp_path / "out")]
        )
        == 2
    )
    assert "no_such_folder" in capsys.readouterr().err
    assert (
        onnx_main(["--model", str(model / "model.onnx"), "--input", str(missing), "--output", str(tmp_path / "out")])
        == 2
    )
    assert "no_such_folder" in capsys.readouterr().err
    assert (
        onnx_main(
            ["--model", str(tmp_path / "missing.onnx"), "--input", str(tmp_path), "--output", str(tmp_path / "out")]
        )
        == 2
    )
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


# ---------------------------------------------------------------------------------------------
# hostile inputs (issue 9): nothing left out silently, inputs never overwritten, one job per output
# ---------------------------------------------------------------------------------------------


def identity(images):
    return list(images)


def relative(entries, root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): reason for path, reason in entries}


def test_symlinked_subfolder_is_followed_once(tmp_path):
    src = make_inputs(tmp_path / "in")
    elsewhere = tmp_path / "elsewhere"
    write_image(elsewhere / "x.png", pattern(7, 24))
    (src / "linked").symlink_to(elsewhere, target_is_directory=True)
    (src / "again").symlink_to(src / "sub", target_is_directory=True)  # a second way into sub/
    report = translate_folder(identity, src, tmp_path / "out", progress=False)
    assert report.ok
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in report.written)
    assert written == sorted([*INPUTS, "linked/x.png"])  # sub/ once, under its real name
    skipped = relative(report.skipped, src)
    assert list(skipped) == ["again"] and "same folder as" in skipped["again"] and "sub" in skipped["again"]
    assert "again" in report.summary()


def test_unreadable_subfolder_is_reported(tmp_path, monkeypatch):
    """Runs as root too: the folder's listing fails as chmod 000 makes it fail for other users."""
    src = make_inputs(tmp_path / "in")
    locked = src / "sub" / "deeper"
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = translate_folder(identity, src, tmp_path / "out", progress=False)
    assert not report.ok
    failed = relative(report.failed, src)
    assert list(failed) == ["sub/deeper"] and "cannot read folder" in failed["sub/deeper"]
    assert "sub/deeper" in report.summary().replace(os.sep, "/")
    assert len(report.written) == len(INPUTS) - 1  # everything else is processed


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read a chmod 000 folder")
def test_unreadable_subfolder_chmod_000_makes_the_cli_exit_1(model, tmp_path, capsys):
    src = make_inputs(tmp_path / "in")
    locked = src / "sub" / "deeper"
    locked.chmod(0)
    try:
        code = onnx_main(
            [
                "--model",
                str(model / "model.onnx"),
                "--input",
                str(src),
                "--output",
                str(tmp_path / "out"),
                "--no-progress",
            ]
        )
    finally:
        locked.chmod(0o755)
    assert code == 1
    assert "cannot read folder" in capsys.readouterr().out
    assert len(list_images(tmp_path / "out")) == len(INPUTS) - 1


def test_names_starting_with_two_dots_are_processed(tmp_path):
    src = make_inputs(tmp_path / "in")
    write_image(src / "..dots.png", pattern(1, 20))
    write_image(src / "..folder" / "y.png", pattern(2, 20))
    write_image(src / ".hidden.png", pattern(3, 20))
    (src / "notes.txt").write_text("not an image")
    report = translate_folder(identity, src, tmp_path / "out", progress=False)
    assert report.ok
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in report.written)
    assert written == sorted([*INPUTS, "..dots.png", "..folder/y.png"])
    assert (tmp_path / "out" / "..dots.png").is_file()  # inside the output folder, not above it
    skipped = relative(report.skipped, src)
    assert sorted(skipped) == [".hidden.png", "notes.txt"]
    assert "hidden" in skipped[".hidden.png"] and "not an image" in skipped["notes.txt"]


def test_output_folder_equal_to_input_is_an_error(model, tmp_path, capsys):
    src = make_inputs(tmp_path / "in")
    before = files(src)
    (tmp_path / "alias").symlink_to(src, target_is_directory=True)
    for output in (src, src / ".", tmp_path / "alias"):
        code = onnx_main(
            ["--model", str(model / "model.onnx"), "--input", str(src), "--output", str(output), "--no-progress"]
        )
        assert code == 2
        err = capsys.readouterr().err
        assert "is the input folder" in err and str(src) in err
    assert img2img_main(["translate", "--model", str(model / "model"), "--input", str(src), "--output", str(src)]) == 2
    assert "is the input folder" in capsys.readouterr().err
    assert files(src) == before


def test_empty_input_is_an_error(model, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    only_text = tmp_path / "text"
    only_text.mkdir()
    (only_text / "notes.txt").write_text("no images here")
    for src in (empty, only_text):
        code = onnx_main(["--model", str(model / "model.onnx"), "--input", str(src), "--output", str(tmp_path / "out")])
        assert code == 2
        err = capsys.readouterr().err
        assert "no images found in" in err and str(src) in err
    assert "notes.txt" in err  # what was there is named
    assert (
        img2img_main(
            ["translate", "--model", str(model / "model"), "--input", str(empty), "--output", str(tmp_path / "out")]
        )
        == 2
    )
    assert "no images found in" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_symlink_loop_is_one_reported_entry(model, tmp_path, capsys):
    src = make_inputs(tmp_path / "in")
    (src / "sub" / "loop").symlink_to("..", target_is_directory=True)  # in/sub/loop/sub/loop/...
    (src / "self.png").symlink_to("self.png")  # a link to itself
    report = translate_folder(identity, src, tmp_path / "out", progress=False)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in report.written) == sorted(INPUTS)
    assert relative(report.skipped, src) == {"sub/loop": relative(report.skipped, src)["sub/loop"]}
    assert "symlink loop" in relative(report.skipped, src)["sub/loop"]
    assert list(relative(report.failed, src)) == ["self.png"] and "symlink loop" in report.failed[0][1]
    # the CLI: no traceback, everything else written, exit 1 for the unreadable self.png
    assert (
        onnx_main(
            [
                "--model",
                str(model / "model.onnx"),
                "--input",
                str(src),
                "--output",
                str(tmp_path / "cli"),
                "--no-progress",
            ]
        )
        == 1
    )
    printed = capsys.readouterr().out
    assert "symlink loop" in printed and f"{len(INPUTS)} written" in printed


def test_single_file_input_is_never_overwritten(model, tmp_path, capsys):
    src = make_inputs(tmp_path / "in")
    photo = src / "a.png"
    original = photo.read_bytes()
    for extra in ([], ["--overwrite"]):
        code = onnx_main(["--model", str(model / "model.onnx"), "--input", str(photo), "--output", str(src), *extra])
        assert code == 2
        err = capsys.readouterr().err
        assert "would replace the input" in err and "a.png" in err
        assert (
            img2img_main(
                ["translate", "--model", str(model / "model"), "--input", str(photo), "--output", str(src), *extra]
            )
            == 2
        )
        assert "would replace the input" in capsys.readouterr().err
    assert photo.read_bytes() == original
    # an output folder whose files link to the inputs is refused the same way
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").symlink_to(photo)
    with pytest.raises(ValueError):
        translate_folder(identity, photo, out, overwrite=True, progress=False)
    assert photo.read_bytes() == original


def test_symlink_in_the_output_folder_leading_outside_is_an_error(model, tmp_path, capsys):
    src = make_inputs(tmp_path / "in")
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / "sub").symlink_to(outside, target_is_directory=True)
    code = onnx_main(["--model", str(model / "model.onnx"), "--input", str(src), "--output", str(out), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert str(out / "sub") in err and "outside the output folder" in err
    assert not list(outside.iterdir()) and files(out) == []  # nothing written anywhere
    # a file link too (it would count as "already done", or be replaced)
    (out / "sub").unlink()
    (out / "a.png").symlink_to(outside / "a.png")
    with pytest.raises(ValueError, match="outside the output folder"):
        translate_folder(identity, src, out, progress=False)
    # a link that stays inside the output folder is fine
    (out / "a.png").unlink()
    (out / "inner").mkdir()
    (out / "sub").symlink_to(out / "inner", target_is_directory=True)
    assert translate_folder(identity, src, out, progress=False).ok
    assert not list(outside.iterdir())


HOLD_OUTPUT = r"""
import sys, time
from pathlib import Path
from img2img_runtime import translate_folder

src, dst, started, release = sys.argv[1:5]

def translate(images):
    Path(started).touch()
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(images)

report = translate_folder(translate, src, dst, batch_size=1, progress=False)
print("REPORT", report.ok, len(report.written), len(report.failed), flush=True)
"""


def test_second_job_on_the_same_output_folder_is_refused(model, tmp_path, capsys):
    from img2img_runtime.folder import OutputFolderBusyError

    src, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    started, release = tmp_path / "started", tmp_path / "release"
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD_OUTPUT, str(src), str(out), str(started), str(release)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists(), first.communicate()
        code = onnx_main(
            [
                "--model",
                str(model / "model.onnx"),
                "--input",
                str(src),
                "--output",
                str(out),
                "--no-progress",
                "--overwrite",
            ]
        )
        assert code == 2
        err = capsys.readouterr().err
        assert "in use by another img2img job" in err and f"pid {first.pid}" in err and str(out) in err
        with pytest.raises(OutputFolderBusyError):
            translate_folder(identity, src, out, overwrite=True, progress=False)
    finally:
        release.touch()
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert f"REPORT True {len(INPUTS)} 0" in stdout  # the first job finished, no false failures
    assert files(out) == sorted(INPUTS)  # its lock is gone
    # a lock left by a dead job (its OS lock died with it) is taken over
    (out / LOCK_NAME).write_text("pid 999999999 on somewhere\n")
    again = translate_folder(identity, src, out, overwrite=True, progress=False)
    assert again.ok and len(again.written) == len(INPUTS) and files(out) == sorted(INPUTS)


def test_live_temp_files_of_another_process_are_kept(tmp_path):
    src, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(done.stdout)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out.mkdir()
        live_temp = out / f".a.png.{alive.pid}.0123456789ab.tmp"
        dead_temp = out / f".a.png.{dead_pid}.0123456789ab.tmp"
        legacy_temp = out / ".b.jpg.0123456789ab.tmp"  # written before temp names carried a pid
        for temp in (live_temp, dead_temp, legacy_temp):
            temp.write_bytes(b"partial")
        report = translate_folder(identity, src, out, progress=False)
        assert report.ok and len(report.written) == len(INPUTS)
        assert live_temp.exists() and not dead_temp.exists() and not legacy_temp.exists()
    finally:
        alive.kill()
        alive.wait()
    # temp names carry the writer's pid
    from img2img_runtime.io import atomic_write

    seen = []
    atomic_write(tmp_path / "x.bin", lambda temp: (seen.append(Path(temp).name), Path(temp).write_bytes(b"x")))
    assert seen[0].startswith(f".x.bin.{os.getpid()}.") and seen[0].endswith(".tmp")


def test_an_interrupted_overwrite_job_is_finished_by_the_plain_command(tmp_path):
    """Ctrl-C in an ``--overwrite`` job, then the printed command (without ``--overwrite``): every
    output is the new one, none of the earlier run's is kept as if finished, the finished ones are
    not rewritten, and the journal is gone at the end."""
    from img2img_runtime.folder import OverwriteJournal

    src = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    assert translate_folder(identity, src, out, batch_size=1, progress=False).ok  # the earlier run

    def inverted(images):
        return [255 - image for image in images]

    calls = []

    def interrupted_after_two(images):
        calls.append(len(images))
        if len(calls) > 2:
            raise KeyboardInterrupt
        return inverted(images)

    with pytest.raises(KeyboardInterrupt):
        translate_folder(interrupted_after_two, src, out, overwrite=True, batch_size=1, progress=False)
    journal = OverwriteJournal(out)
    assert len(journal.pending()) == len(INPUTS) - 2  # two rewritten, recorded after their files
    rewritten = {
        p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix and journal.key(p) not in journal.pending()
    }
    rewritten.pop(journal.path, None)
    assert len(rewritten) == 2

    report = translate_folder(inverted, src, out, batch_size=1, progress=False)  # the printed command
    assert report.ok and len(report.written) == len(INPUTS) - 2 and len(report.skipped_existing) == 2
    assert not journal.path.exists()
    for rel in INPUTS:
        expected = 255 - read_image(src / rel)
        if not rel.endswith(".jpg"):  # lossless formats: exactly the new output
            assert np.array_equal(read_image(out / rel), expected), rel
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in rewritten.items())  # not written twice
    again = translate_folder(inverted, src, out, progress=False)
    assert again.written == [] and len(again.skipped_existing) == len(INPUTS)


def test_an_overwrite_job_keeps_failed_outputs_in_its_journal(tmp_path):
    from img2img_runtime.folder import OverwriteJournal

    src = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    assert translate_folder(identity, src, out, progress=False).ok
    (src / "a.png").write_bytes(b"not a png any more")
    report = translate_folder(identity, src, out, overwrite=True, progress=False)
    assert [p.name for p, _ in report.failed] == ["a.png"]
    assert OverwriteJournal(out).pending() == {"a.png"}  # its old output is not this job's
    write_image(src / "a.png", pattern(7, 48)[:30, :41])
    report = translate_folder(identity, src, out, progress=False)
    assert [p.name for p in report.written] == ["a.png"] and not OverwriteJournal(out).path.exists()
    assert np.array_equal(read_image(out / "a.png"), pattern(7, 48)[:30, :41])


def test_bad_batch_sizes_and_overlaps_are_refused_before_anything_runs(model, tmp_path, capsys):
    src = make_inputs(tmp_path / "in")
    for size in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            translate_folder(identity, src, tmp_path / "out", batch_size=size, progress=False)
        with pytest.raises(ValueError, match="batch_size"):
            Model(model / "model.onnx", batch_size=size)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="overlap"):
        Model(model / "model.onnx", tile=16, overlap=16)
    with pytest.raises(ValueError, match="overlap"):
        Model(model / "model.onnx", tile="auto", overlap=-4)
    argv = ["--model", str(model / "model.onnx"), "--input", str(src), "--output", str(tmp_path / "o")]
    for flag, value in (("--batch-size", "0"), ("--batch-size", "-1"), ("--overlap", "-4")):
        with pytest.raises(SystemExit) as exit_info:
            onnx_main([*argv, flag, value])
        assert exit_info.value.code == 2 and flag in capsys.readouterr().err
    with pytest.raises(ValueError, match="only when tiling"):
        Model(model / "model.onnx", tile=None, overlap=8)
    assert onnx_main([*argv, "--tile", "none", "--overlap", "8"]) == 2
    assert "only when tiling" in capsys.readouterr().err
    assert onnx_main([*argv, "--tile", "16", "--overlap", "16"]) == 2
    assert "overlap" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_a_folder_where_an_output_goes_is_failed_not_already_done(tmp_path):
    """A directory named like an output counted as "already done": the photo was never translated."""
    src = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    (out / "a.png").mkdir(parents=True)
    report = translate_folder(identity, src, out, progress=False)
    assert [p.name for p, _ in report.failed] == ["a.png"] and not report.skipped_existing
    assert len(report.written) == len(INPUTS) - 1
