"""bench/train_zoo.py: licences of the training photos, the seeded split, and the model card's text."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from img2img_runtime.io import write_image
from img2img_runtime.zoo import get

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def zoo_bench():
    spec = importlib.util.spec_from_file_location("bench_train_zoo", ROOT / "bench" / "train_zoo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_train_zoo"] = module
    spec.loader.exec_module(module)
    return module


def test_licences_come_from_the_file_name_also_under_the_split_names(zoo_bench) -> None:
    assert zoo_bench.licence_of(Path("skimage_camera.png"))[1] == "CC0 or public domain"
    assert zoo_bench.licence_of(Path("photos_extra_opencv_fruits.jpg"))[1] == "Apache-2.0 AND BSD-3-Clause"
    assert zoo_bench.licence_of(Path("dev/sklearn_china.jpg"))[1].startswith("CC-BY-2.0")
    assert zoo_bench.licence_of(Path("imgaug_quokka.jpg")) is None  # not stated: never trained on


def test_split_holds_out_a_fifth_and_leaves_out_unlicensed_photos(zoo_bench, tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        write_image(folder / f"skimage_p{i}.png", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    write_image(folder / "imgaug_q.png", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    train, val, left = zoo_bench.split([folder], tmp_path / "out", 0.2, 0)
    assert len(train) == 8 and len(val) == 2 and not set(train) & set(val)
    assert all(name.startswith("dev/skimage_p") for name in train + val)
    assert left == ["imgaug_q.png (licence not stated by its source)"]
    again = zoo_bench.split([folder], tmp_path / "out2", 0.2, 0)
    assert again[:2] == (train, val)  # seeded: the same held-out photos every time


def test_the_card_text_has_every_section_and_the_exact_command(zoo_bench) -> None:
    card = get("restore").card_data()
    assert set(zoo_bench.CARD_FIELDS) == set(card)
    text = zoo_bench.card_markdown(card)
    assert text == get("restore").card_path.read_text()  # the shipped card is this function's output
    for part in ("## How it was trained", card["command"], card["train_command"], "## Where it fails", "strip.jpg"):
        assert part in text
    assert f"steps: {card['steps']}" in text and card["hardware"]["cpu"] in text
