"""Folder jobs on Ray (``img2img translate --engine ray``, :mod:`img2img_runtime.ray`) against the
local engine: the same PNG bytes, the same report, resumable. A local Ray instance limited to 2
CPUs is started and stopped by this module; without Ray installed the tests are skipped."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import export_tiny_sr

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'img2img[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'img2img[ray]')")

from img2img_runtime import Model  # noqa: E402
from img2img_runtime.ray import translate_dataset  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return export_tiny_sr(tmp_path_factory.mktemp("model"))


def make_inputs(root: Path, count: int = 11) -> Path:
    rng = np.random.default_rng(0)
    for i in range(count):
        image = cv2.GaussianBlur(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8), (3, 3), 0)
        folder = root / ("nested" if i % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"im{i:02d}.{'jpg' if i == 4 else 'png'}"), image)
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes((root / "im01.png").read_bytes())
    return root


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def same_report(a, b) -> None:
    assert sorted(map(str, a.written)) != [] and len(a.written) == len(b.written)
    assert sorted(str(p) for p, _ in a.failed) == sorted(str(p) for p, _ in b.failed)
    assert sorted((str(p), r) for p, r in a.skipped) == sorted((str(p), r) for p, r in b.skipped)


def test_ray_writes_the_local_engines_bytes_and_report(model: Path, tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in")
    local = Model(model).translate_folder(inputs, tmp_path / "local", progress=False)
    report = translate_dataset(model, inputs, tmp_path / "ray", actors=2, batch_size=3, progress=False)
    assert files(tmp_path / "ray") == files(tmp_path / "local")  # byte-identical, same names and formats
    assert len(files(tmp_path / "ray")) == 11
    same_report(report, local)
    assert [p.name for p, _ in report.failed] == ["broken.png"] and "cannot decode" in report.failed[0][1]
    assert sorted(report.written) == sorted(tmp_path / "ray" / name for name in files(tmp_path / "local"))
    assert not report.ok


def test_ray_resumes_without_rewriting_finished_files(model: Path, tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    first = translate_dataset(model, inputs, out, actors=1, progress=False)
    finished = files(out)
    # a job killed mid-way: some outputs missing, one killed writer's temporary file left behind
    for name in ("im02.png", "nested/im03.png", "im04.jpg"):
        (out / name).unlink()
    (out / ".im05.png.999999.0123456789ab.tmp").write_bytes(b"partial")
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    second = translate_dataset(model, inputs, out, actors=2, progress=False)
    assert sorted(p.relative_to(out).as_posix() for p in second.written) == ["im02.png", "im04.jpg", "nested/im03.png"]
    assert len(second.skipped_existing) == len(first.written) - 3
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # finished files are not rewritten
    assert files(out) == finished  # and the job ends as if it had never stopped (temporary file gone)


def ray_temp_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("img2img-ray-*"))


def test_ray_reads_and_writes_pyarrow_filesystems(model: Path, tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in")
    before = ray_temp_folders()
    Model(model).translate_folder(inputs, tmp_path / "local", progress=False)
    report = translate_dataset(model, f"file://{inputs}", f"file://{tmp_path / 'uri'}", actors=2, progress=False)
    assert files(tmp_path / "uri") == files(tmp_path / "local")
    assert [Path(str(p)).name for p, _ in report.failed] == ["broken.png"]
    again = translate_dataset(model, f"file://{inputs}", f"file://{tmp_path / 'uri'}", progress=False)
    assert again.written == [] and len(again.skipped_existing) == 11
    # the actors' copies of the model and of downloaded inputs and encoded outputs do not outlive them
    assert ray_temp_folders() - before == set()


def test_uris_keep_inputs_safe_and_take_any_name(model: Path, tmp_path: Path, monkeypatch) -> None:
    """Through URIs, an output folder equal to the input replaced the inputs, one inside it was read
    back as input, a name with a space stopped the job, and a URI input with a local output failed
    every file. file:// URIs are now local folders (the local checks); pyarrow's path is forced here."""
    import img2img_runtime.ray as ray_module

    inputs = make_inputs(tmp_path / "in", count=3)
    (inputs / "a b ü%.png").write_bytes((inputs / "im01.png").read_bytes())
    before = files(inputs)
    with pytest.raises(ValueError, match="is the input folder"):
        translate_dataset(model, f"file://{inputs}", str(inputs), overwrite=True, progress=False)
    Model(model).translate_folder(inputs, tmp_path / "local", progress=False)
    monkeypatch.setattr(ray_module, "_local_if_file_uri", lambda path: path)  # the remote-filesystem code
    with pytest.raises(ValueError, match="is the input folder"):
        translate_dataset(model, f"file://{inputs}", f"file://{inputs}/", overwrite=True, progress=False)
    report = translate_dataset(model, f"file://{inputs}", tmp_path / "local2", actors=1, progress=False)
    assert [Path(str(p)).name for p, _ in report.failed] == ["broken.png"]
    assert files(tmp_path / "local2") == files(tmp_path / "local")
    inside = inputs / "out"
    translate_dataset(model, f"file://{inputs}", f"file://{inside}", actors=1, progress=False)
    again = translate_dataset(model, f"file://{inputs}", f"file://{inside}", actors=1, progress=False)
    assert again.written == [] and not (inside / "out").exists()  # its own outputs are not inputs
    assert files(inside) == files(tmp_path / "local") and "a b ü%.png" in files(inside)
    assert {k: v for k, v in files(inputs).items() if not k.startswith("out/")} == before


def test_translate_command_with_the_ray_engine(model: Path, tmp_path: Path, capsys) -> None:
    from img2img.cli import main

    inputs = make_inputs(tmp_path / "in", count=4)
    shutil.rmtree(inputs / "nested")
    argv = ["translate", "--model", str(model), "--input", str(inputs), "--output", str(tmp_path / "out")]
    assert main([*argv, "--engine", "ray", "--actors", "1", "--no-progress"]) == 1  # broken.png failed
    out = capsys.readouterr().out
    assert "2 written" in out and "FAILED" in out and "broken.png" in out
    assert main([*argv, "--engine", "local", "--actors", "2"]) == 2  # --actors belongs to the ray engine
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert main(["translate", "--model", str(run_dir), "--input", str(inputs), "--output", str(tmp_path / "o2"),
                 "--engine", "ray"]) == 2  # fmt: skip
    assert "img2img export" in capsys.readouterr().err
    # --self-ensemble reaches the actors: the local engine's bytes with the same views
    viewed = ["--input", str(inputs), "--self-ensemble", "4", "--no-progress"]
    assert main(["translate", "--model", str(model), "--output", str(tmp_path / "local4"), *viewed]) == 1
    assert (
        main(["translate", "--model", str(model), "--output", str(tmp_path / "ray4"), *viewed, "--engine", "ray"]) == 1
    )
    assert files(tmp_path / "ray4") == files(tmp_path / "local4") != files(tmp_path / "out")


def test_missing_input_and_a_busy_folder_are_refused_before_anything_runs(model: Path, tmp_path: Path) -> None:
    from img2img_runtime.folder import OutputFolderBusyError, output_lock

    with pytest.raises(FileNotFoundError):
        translate_dataset(model, tmp_path / "missing", tmp_path / "out", progress=False)
    inputs = make_inputs(tmp_path / "in", count=2)
    with output_lock(tmp_path / "busy"), pytest.raises(OutputFolderBusyError):
        translate_dataset(model, inputs, tmp_path / "busy", progress=False)
    assert not any(p.suffix == ".png" for p in (tmp_path / "busy").rglob("*"))
