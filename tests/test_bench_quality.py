"""bench/quality.py's split: by image, seeded, held-out photos never trained on, bad files left out."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from img2img_runtime.io import write_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _photos(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        write_image(folder / f"p{i}.png", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    return [f"p{i}.png" for i in range(n)]


def test_split_is_by_image_seeded_and_leaves_out_bad_files(tmp_path, quality):
    names = _photos(tmp_path / "a", 8) + _photos(tmp_path / "b", 2)
    (tmp_path / "a" / "empty.jpg").write_bytes(b"")
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    n_train, n_val, left_out = quality.split_photos([tmp_path / "a", tmp_path / "b"], tmp_path / "out", 0.2, seed=3)
    assert (n_train, n_val) == (8, 2)
    assert sorted(p.name for p, _ in left_out) == ["broken.png", "empty.jpg"]
    assert all(str(p) in reason for p, reason in left_out)  # the reason names the file
    train = sorted(p.name for p in (tmp_path / "out" / "train").iterdir())
    val = sorted(p.name for p in (tmp_path / "out" / "val").iterdir())
    assert len(val) == 2 and not set(train) & set(val)
    assert sorted(train + val) == sorted([f"a_{n}" for n in names[:8]] + [f"b_{n}" for n in names[8:]])
    assert all((tmp_path / "out" / "val" / v).resolve().is_file() for v in val)
    # the same seed gives the same split (the dev photos' README rows stay comparable); another seed another
    quality.split_photos([tmp_path / "a", tmp_path / "b"], tmp_path / "again", 0.2, seed=3)
    assert sorted(p.name for p in (tmp_path / "again" / "val").iterdir()) == val
    splits = set()
    for seed in range(6):
        quality.split_photos([tmp_path / "a", tmp_path / "b"], tmp_path / f"s{seed}", 0.2, seed=seed)
        splits.add(tuple(sorted(p.name for p in (tmp_path / f"s{seed}" / "val").iterdir())))
    assert len(splits) > 1


def test_split_refuses_a_folder_without_readable_photos(tmp_path, quality):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "empty.jpg").write_bytes(b"")
    with pytest.raises(SystemExit, match="no readable photos"):
        quality.split_photos([tmp_path / "a"], tmp_path / "out", 0.2, seed=0)
