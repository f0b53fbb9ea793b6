"""The shipped models (``img2img models``): names resolve in torch and in the torch-free runtime,
files are checked against their SHA-256, every model card has every field, and each ONNX file
runs through ``img2img-onnx``, ``img2img translate`` and the web page's model check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from img2img_runtime import Model, zoo

NAMES = ("restore", "sr-x4", "sr-x4-gan", "colorize", "sketch")
ROOT = Path(__file__).resolve().parent.parent
CARD_FIELDS = (
    "name", "task", "family", "summary", "command", "train_command", "steps", "minutes", "hardware", "data",
    "scores", "onnx_precision", "fails", "bytes", "img2img_version", "date",
)  # fmt: skip
MB = 1e6


def photo(height: int = 40, width: int = 52, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (5, 5), 0)


def test_every_promised_model_is_shipped_within_the_size_limits() -> None:
    models = {m.name: m for m in zoo.list_models()}
    assert set(NAMES) <= set(models), f"missing: {sorted(set(NAMES) - set(models))}"
    for model in models.values():
        assert model.size_bytes <= 25 * MB, f"{model.name}: {model.size_bytes / MB:.1f} MB"
        assert (model.root / model.onnx).is_file() and (model.root / model.torch / "config.json").is_file()
    assert sum(m.size_bytes for m in models.values()) <= 80 * MB


@pytest.mark.parametrize("name", NAMES)
def test_each_card_has_every_field_and_the_index_agrees(name: str) -> None:
    model = zoo.get(name)
    card = model.card_data()
    assert set(CARD_FIELDS) <= set(card), sorted(set(CARD_FIELDS) - set(card))
    assert card["name"] == name and card["task"] == model.task and card["family"] == model.family
    assert card["command"].startswith("python bench/train_zoo.py") and f"--model {name}" in card["command"]
    assert card["steps"] > 0 and card["minutes"] > 0 and card["hardware"]["cpu"]
    assert card["data"]["train"] and card["data"]["val"]
    assert not set(card["data"]["train"]) & set(card["data"]["val"])  # scored on photos it never saw
    licensed = [photo for _, licence, photos in card["data"]["licences"] for photo in photos if licence]
    assert sorted(licensed) == sorted(card["data"]["train"])  # every training photo has its licence
    for block in card["scores"]:
        assert "model" in block["rows"] and any(row.startswith("baseline") for row in block["rows"])
    assert card["fails"]
    text = model.card_path.read_text()
    for heading in ("How it was trained", "Scores on photos it never saw", "Pictures", "Where it fails"):
        assert f"## {heading}" in text
    assert card["command"] in text and (model.root / name / "strip.jpg").is_file()
    for relative in model.files:  # the index lists every file of the folder, and only those
        assert (model.root / relative).is_file()
    on_disk = {str(p.relative_to(model.root)) for p in (model.root / name).rglob("*") if p.is_file()}
    assert on_disk == set(model.files)


@pytest.mark.parametrize("name", NAMES)
def test_names_resolve_in_the_runtime_and_in_torch(name: str) -> None:
    from img2img import Translator

    model = zoo.get(name)
    runtime = Model(name)
    assert runtime.path == model.root / model.onnx
    translator = Translator.from_pretrained(name)
    channels = runtime.spec.in_channels if hasattr(runtime.spec, "in_channels") else None
    image = photo()
    if model.task in ("colorize", "sketch") or channels == 1:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    scale = 4 if model.task == "sr" else 1
    out_runtime, out_torch = runtime(image), translator(image)
    assert out_runtime.shape == out_torch.shape == (40 * scale, 52 * scale, 3)
    # the same weights in both forms: onnxruntime (int8 where the card says so) and torch fp32 agree
    # (an int8 file is chosen only where it costs <= 0.3 dB: here on a noise-like image, far from photos)
    mse = np.mean((out_runtime.astype(float) - out_torch.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-10)) > 33


def _private_copy(tmp_path: Path, name: str, monkeypatch) -> zoo.ShippedModel:
    """The model ``name`` copied into a private zoo ($IMG2IMG_MODELS), which is searched first."""
    shipped = zoo.get(name)
    shutil.copytree(shipped.root / name, tmp_path / name)
    index = json.loads((shipped.root / zoo.INDEX_NAME).read_text())
    index["models"] = {name: index["models"][name]}
    (tmp_path / zoo.INDEX_NAME).write_text(json.dumps(index))
    monkeypatch.setenv(zoo.ENV_DIR, str(tmp_path))
    private = zoo.get(name)
    assert private.root == tmp_path
    return private


@pytest.mark.parametrize("part", ["onnx", "torch"])
def test_one_changed_byte_fails_the_checksum_with_a_clear_message(tmp_path: Path, monkeypatch, part: str) -> None:
    from img2img import Translator

    model = _private_copy(tmp_path, "sr-x4", monkeypatch)
    zoo.onnx_path("sr-x4"), zoo.model_dir("sr-x4")  # intact: both pass
    target = model.root / model.onnx if part == "onnx" else next((model.root / model.torch).glob("*.safetensors"))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(zoo.ChecksumError, match=r"'sr-x4'.*fails its checksum.*changed or damaged"):
        Model("sr-x4") if part == "onnx" else Translator.from_pretrained("sr-x4")
    target.unlink()
    with pytest.raises(zoo.ChecksumError, match="is missing"):
        zoo.onnx_path("sr-x4") if part == "onnx" else zoo.model_dir("sr-x4")


def test_a_local_folder_of_the_same_name_wins_and_unknown_names_are_listed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert zoo.is_model_name("restore")
    (tmp_path / "restore").mkdir()
    assert not zoo.is_model_name("restore")  # a path that exists is a path
    with pytest.raises(zoo.UnknownModelError, match="shipped models: colorize, restore"):
        zoo.get("restor")
    with pytest.raises(FileNotFoundError):
        Model("no-such-model")


def test_models_command_lists_name_task_size_scores_and_licences() -> None:
    out = subprocess.run([sys.executable, "-m", "img2img", "models"], capture_output=True, text=True, check=True).stdout
    for name in NAMES:
        assert name in out
    assert "MB" in out and "CC0" in out and "psnr" in out
    listed = subprocess.run(
        [sys.executable, "-m", "img2img_runtime.cli", "--list-models"], capture_output=True, text=True, check=True
    ).stdout
    assert listed == out
    data = json.loads(
        subprocess.run(
            [sys.executable, "-m", "img2img", "models", "--json"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert set(NAMES) <= set(data) and all(len(entry["files"]) >= 4 for entry in data.values())


@pytest.mark.parametrize("name", NAMES)
def test_each_model_runs_through_img2img_onnx_and_translate_by_name(tmp_path: Path, name: str) -> None:
    from img2img.cli import main
    from img2img_runtime.cli import main as onnx_main

    source = tmp_path / "in"
    source.mkdir()
    image = photo(36, 44, seed=1)
    cv2.imwrite(str(source / "a.png"), image)
    assert onnx_main(["--model", name, "--input", str(source), "--output", str(tmp_path / "onnx")]) == 0
    assert main(["translate", "--model", name, "--input", str(source), "--output", str(tmp_path / "torch")]) == 0
    scale = 4 if zoo.get(name).task == "sr" else 1
    for folder in ("onnx", "torch"):
        out = cv2.imread(str(tmp_path / folder / "a.png"))
        assert out is not None and out.shape == (36 * scale, 44 * scale, 3)


@pytest.mark.parametrize("name", NAMES)
def test_the_web_page_accepts_every_shipped_model(name: str) -> None:
    from img2img_runtime import web

    info = web.model_info(name)
    assert info["bytes"] == (zoo.get(name).root / zoo.get(name).onnx).stat().st_size
    assert web.routes(name)["/model.onnx"] == zoo.onnx_path(name)


def test_eval_takes_a_shipped_model_by_name(tmp_path: Path, capsys) -> None:
    from img2img.cli import main

    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in range(2):
        cv2.imwrite(str(photos / f"p{seed}.png"), photo(64, 80, seed=seed))
    assert main(["eval", "--model", "restore", "--data", str(photos), "--task", "restore", "--max-images", "2"]) == 0
    out = capsys.readouterr().out
    assert "model" in out and "baseline (input)" in out and "2 image(s) evaluated" in out
