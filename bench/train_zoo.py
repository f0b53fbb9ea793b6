"""Train a shipped model with its exact recipe, score it on photos it never saw, and install it.

    python bench/train_zoo.py PHOTOS [PHOTOS ...] --model restore [--minutes N] [--out DIR] [--no-install]

The shipped models (``img2img models``) are made by this script and nothing else; each model card
gives the command that made it. For ``--model NAME``:

1. Splits the photos (every PHOTOS folder, recursively) by image with ``bench/quality.py``'s
   seeded split: ``--val-fraction`` of them are held out and never trained on. Photos whose
   licence is not known (see :data:`LICENCES`) are left out of both and listed.
2. Trains ``img2img train`` with the model's recipe (:data:`ZOO`) for ``--minutes`` (default: the
   recipe's own budget), in a fresh process; an existing run in ``OUT/NAME/run`` is resumed.
3. Exports it to ONNX and scores the ONNX model with ``img2img eval`` on the held-out photos
   (the recipe's damage, a fixed seed) beside the trivial baselines, with ``img2img-onnx``'s
   seconds per output megapixel on this machine.
4. Writes before/after strips of three held-out photos, the model card (``card.json`` and
   ``MODEL_CARD.md``) and, unless ``--no-install``, copies everything into
   ``export/img2img_runtime/models/NAME/`` and rewrites ``models/index.json`` with each file's
   SHA-256 (what ``img2img_runtime.zoo`` checks when it loads a model).

``--install-only`` skips training and re-scores and installs ``OUT/NAME/run`` as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quality import split_photos  # noqa: E402

MODELS_DIR = ROOT / "export" / "img2img_runtime" / "models"

# photo file-name prefix -> (source, licence), from the development photos' README
LICENCES: dict[str, tuple[str, str]] = {
    "skimage_": ("scikit-image 0.26, skimage.data", "CC0 or public domain"),
    "sklearn_": ("scikit-learn, sklearn/datasets/images", "CC-BY-2.0 (Flickr)"),
    "mpl_": ("matplotlib sample data", "public domain (US Navy photograph)"),
    "scipy_": ("scipy 1.9.3, scipy.misc", "public domain"),
    "mahotas_": ("mahotas demos", "MIT"),
    "opencv_": ("OpenCV sample data (Debian opencv-doc)", "Apache-2.0 AND BSD-3-Clause"),
}

# name -> the recipe: img2img train arguments, eval task and options, budget, what the card says
ZOO: dict[str, dict[str, Any]] = {
    "restore": {
        "family": "pix2pix",
        "task": "restore",
        "train": ["pix2pix", "--task", "restore", "--preset", "varied"],
        "minutes": 40,
        "eval": [{"preset": "medium"}, {"preset": "heavy"}, {"preset": "varied"}],
        "summary": "old photos: fade, colour cast, vignette, scratches, dust, grain, stains, blur, JPEG",
        "fails": [
            "Scratches and specks wider than about 6 px, and torn or missing corners, are toned down, not filled.",
            "Real texture that looks like grain (sand, foliage, fabric) may be smoothed.",
            "Heavy blur is only partly sharpened: it is a restoration model, not a deblurring one.",
            "Faces get no special treatment (no face prior as in GFPGAN).",
        ],
    },
    "sr-x4": {
        "family": "srgan",
        "task": "sr",
        "train": ["srgan", "--task", "sr", "--scale", "4", "--adv-weight", "0"],
        "minutes": 20,
        "eval": [{"scale": 4}],
        "summary": "x4 super-resolution, PSNR-oriented (clean, slightly smooth)",
        "fails": [
            "Trained on clean bicubic downscales: noisy or JPEG-compressed small images keep their artefacts, enlarged.",
            "Fine texture (hair, grass) comes out smooth: use sr-x4-gan for texture.",
        ],
    },
    "sr-x4-gan": {
        "family": "srgan",
        "task": "sr",
        "train": ["srgan", "--task", "sr", "--scale", "4"],
        "minutes": 20,
        "eval": [{"scale": 4}],
        "summary": "x4 super-resolution with a GAN term (sharper texture, less faithful)",
        "fails": [
            "Invents texture: fine detail is plausible, not true; do not use it where exact detail matters.",
            "Noisy or JPEG-compressed small images: artefacts are enlarged and sharpened.",
        ],
    },
    "colorize": {
        "family": "pix2pix",
        "task": "colorize",
        "train": ["pix2pix", "--task", "colorize", "--hints"],
        "minutes": 15,
        "eval": [{"hints": [0, 1, 5, 10, 20]}],
        "summary": "colorization of gray photos guided by colour points or strokes (hints); without hints, cautious",
        "fails": [
            "Without hints it cannot know which scenes have which colours (a few dozen training photos): it stays "
            "pale or near gray. Give a few colour points: each one colours its region.",
            "A hint spreads up to strong edges; a region with weak edges (sky into haze) may take a "
            "neighbour's colour: give that region its own hint.",
        ],
    },
    "sketch": {
        "family": "pix2pix",
        "task": "sketch",
        "train": ["pix2pix", "--task", "sketch", "--hints"],
        "minutes": 15,
        "eval": [{"hints": [0, 1, 5, 10, 20]}],
        "summary": "line drawing to picture, guided by colour points or strokes (hints): shading and the hints' colours",
        "fails": [
            "A line drawing does not say a photo's colours: without hints, outputs have plausible shading but "
            "muted, generic colour.",
            "Drawings in a style far from the training sketches (XDoG and Canny edges of photos) come out blotchy.",
        ],
    },
}

STRIP_HEIGHT = 200
INT8_MAX_LOSS = 0.3  # dB: the largest quality cost for which a shipped ONNX file is int8


def licence_of(photo: Path) -> tuple[str, str] | None:
    """(source, licence) of a photo, also under the names the split gives it (``photos_dev_NAME``)."""
    name = "_" + photo.name
    for prefix, source in LICENCES.items():
        if "_" + prefix in name:
            return source
    return None


def machine() -> dict[str, Any]:
    import torch

    from bench.common import cpu_model

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }


def split(photos: list[Path], out: Path, val_fraction: float, seed: int) -> tuple[list[str], list[str], list[str]]:
    """Seeded split of the photos whose licence is known; returns (train, val, left out) names."""
    staged = out / "photos"
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    left = []
    from img2img_runtime.io import list_images

    for folder in photos:
        for photo in list_images(folder):
            if licence_of(photo) is None:
                left.append(f"{photo.name} (licence not stated by its source)")
                continue
            (staged / f"{folder.name}_{photo.name}").symlink_to(photo.resolve())
    _, _, bad = split_photos([staged], out / "data", val_fraction, seed)
    left += [f"{p.name} ({why})" for p, why in bad]
    names = {s: sorted(_shown(p.name) for p in (out / "data" / s).iterdir()) for s in ("train", "val")}
    return names["train"], names["val"], left


def _shown(name: str) -> str:
    """``photos_dev_skimage_camera.png`` (the split's link name) -> ``dev/skimage_camera.png``."""
    return name.removeprefix("photos_").replace("_", "/", 1)


def run(command: list[str]) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def score(onnx: Path, val: Path, task: str, options: dict[str, Any]) -> dict[str, Any]:
    from img2img.evaluate import evaluate_model

    report = evaluate_model(str(onnx), val, task=task, seed=0, **options)
    print(report.table(), flush=True)
    return report.to_dict()


def package(name: str, recipe: dict[str, Any], run_dir: Path, out: Path) -> tuple[Path, Path, dict, list]:
    """The shipped form of a run: fp16-stored weights (img2img.compact), and the ONNX file in int8
    where that costs <= INT8_MAX_LOSS dB and is faster, else fp32 arithmetic on fp16-stored weights.
    Returns (model folder, onnx file, the precision choice with both measurements, the scores)."""
    from img2img.compact import halve_model_folder, halve_onnx_weights

    ship = out / "ship"
    if ship.exists():
        shutil.rmtree(ship)
    model_dir = halve_model_folder(run_dir, ship / "model")
    fp32, int8 = ship / f"{name}-fp32.onnx", ship / f"{name}-int8.onnx"
    run([sys.executable, "-m", "img2img", "export", str(model_dir), str(fp32)])
    halve_onnx_weights(fp32)
    calibration = out / "data" / "train"
    run(
        [
            sys.executable,
            "-m",
            "img2img",
            "export",
            str(model_dir),
            str(int8),
            "--int8",
            "--calibration",
            str(calibration),
            "--calibration-method",
            "percentile",
        ]
    )
    val, task, first = out / "data" / "val", recipe["task"], recipe["eval"][0]
    key = "psnr_y" if task == "sr" else "psnr"
    tried = {"fp32": score(fp32, val, task, first)["rows"], "int8": score(int8, val, task, first)["rows"]}
    loss = tried["fp32"]["model"][key] - tried["int8"]["model"][key]
    faster = tried["int8"]["model"]["sec_per_mp"] < tried["fp32"]["model"]["sec_per_mp"]
    chosen = "int8" if loss <= INT8_MAX_LOSS and faster else "fp32"
    precision = {
        "chosen": chosen,
        "rule": f"int8 where it costs <= {INT8_MAX_LOSS} dB {key} and is faster",
        "measured": {p: {k: rows["model"][k] for k in (key, "sec_per_mp")} for p, rows in tried.items()},
    }
    print(f"{name}: int8 costs {loss:.2f} dB {key}, faster: {faster} -> {chosen}", flush=True)
    onnx = out / f"{name}.onnx"
    shutil.copy2(int8 if chosen == "int8" else fp32, onnx)
    scores = [{"options": first, "rows": tried[chosen]}]
    for options in recipe["eval"][1:]:
        scores.append({"options": options, "rows": score(onnx, val, task, options)["rows"]})
    return model_dir, onnx, precision, scores


def make_strip(onnx: Path, val: Path, task: str, options: dict[str, Any], out: Path, count: int = 3) -> None:
    """input | output | original rows of ``count`` held-out photos (the eval's inputs, seed 0)."""
    import cv2
    import numpy as np

    from img2img.data.recipes import Recipe
    from img2img.hints import sample_points
    from img2img_runtime import Model
    from img2img_runtime.io import list_images, read_image

    model = Model(onnx)
    counts = options.get("hints")  # hint models: the strip shows 10 points from the original
    recipe = Recipe(task, {k: v for k, v in options.items() if k != "hints"})
    rows = []
    for index, photo in enumerate(list_images(val)[:count]):
        source, target = recipe(read_image(photo, channels=3), np.random.default_rng([0, index]))
        points = sample_points(target, 10, np.random.default_rng([0, index, 10])) if counts else None
        output = model(source, hints=points)
        target = target[: output.shape[0], : output.shape[1]]
        tiles = []
        for image in (source, output, target):
            image = (
                image
                if image.ndim == 3 and image.shape[2] == 3
                else np.repeat(image.reshape(*image.shape[:2], 1), 3, 2)
            )
            scale = STRIP_HEIGHT / image.shape[0]
            interpolation = cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA
            tiles.append(cv2.resize(image, (round(image.shape[1] * scale), STRIP_HEIGHT), interpolation=interpolation))
        rows.append(np.concatenate(tiles, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def _precision(card: dict[str, Any]) -> str:
    p = card["onnx_precision"]
    measured = ", ".join(
        f"{name} {' '.join(f'{k} {v:.3g}' for k, v in values.items())}" for name, values in p["measured"].items()
    )
    form = "int8" if p["chosen"] == "int8" else "fp32 arithmetic on fp16-stored weights"
    return f"{form}; chosen by the rule: {p['rule']} (measured: {measured})"


def card_markdown(card: dict[str, Any]) -> str:
    lines = [
        f"# Model card: `{card['name']}`",
        "",
        card["summary"],
        "",
        f"- task: `{card['task']}` ({card['family']}); use: `img2img translate --model {card['name']} --input IN "
        f"--output OUT`, `img2img-onnx --model {card['name']} ...`, `Translator.from_pretrained('{card['name']}')`",
        f"- files: `{card['name']}.onnx` ({card['bytes']['onnx'] / 1e6:.1f} MB, {_precision(card)}), `model/` "
        f"({card['bytes']['model'] / 1e6:.1f} MB: the torch weights, stored as fp16, for "
        f"`--init-from {card['name']}`)",
        f"- img2img {card['img2img_version']}, trained {card['date']}",
        "",
        "## How it was trained",
        "",
        "```bash",
        card["command"],
        "```",
        "",
        "which ran",
        "",
        "```bash",
        card["train_command"],
        "```",
        "",
        f"- steps: {card['steps']}, time: {card['minutes']:.1f} minutes of training",
        f"- hardware: {card['hardware']['cpu']}, {card['hardware']['cores']} cores"
        + (f", GPU {card['hardware']['gpu']}" if card["hardware"].get("gpu") else ", no GPU")
        + f"; torch {card['hardware']['torch']}; load average at start {card['hardware']['load_average_at_start']}",
        f"- training photos ({len(card['data']['train'])}, held out and never trained on: "
        f"{len(card['data']['val'])}); their sources and licences:",
        "",
    ]
    for source, licence, names in card["data"]["licences"]:
        lines.append(f"  - {source} ({licence}): {', '.join(names)}")
    if card["data"]["left_out"]:
        lines += ["", "  Left out: " + "; ".join(card["data"]["left_out"])]
    lines += ["", f"Held-out photos: {', '.join(card['data']['val'])}", "", "## Scores on photos it never saw", ""]
    for block in card["scores"]:
        lines.append(
            f"`img2img eval --model {card['name']} --data HELD_OUT --task {card['task']}"
            + "".join(f" --{k} {v}" for k, v in block["options"].items())
            + " --seed 0`:"
        )
        lines += [
            "",
            "| row | PSNR | PSNR-Y | SSIM-Y | colourfulness | sharpness | s/MP |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, row in block["rows"].items():
            cells = [row.get(k) for k in ("psnr", "psnr_y", "ssim_y", "colorfulness", "sharpness", "sec_per_mp")]
            formats = (".2f", ".2f", ".3f", ".1f", ".2f", ".2f")
            lines.append(
                f"| {name} | " + " | ".join("" if c is None else format(c, f) for c, f in zip(cells, formats)) + " |"
            )
        lines.append("")
    lines += [
        "s/MP: seconds per output megapixel with `img2img-onnx` (onnxruntime, this machine's CPU).",
        "",
        "## Pictures",
        "",
        "Three held-out photos: input | output | original (`strip.jpg`).",
        "",
        "![before and after](strip.jpg)",
        "",
        "## Where it fails",
        "",
    ]
    lines += [f"- {item}" for item in card["fails"]]
    return "\n".join(lines) + "\n"


CARD_FIELDS = (
    "name", "task", "family", "summary", "command", "train_command", "steps", "minutes", "hardware", "data",
    "scores", "onnx_precision", "fails", "bytes", "img2img_version", "date",
)  # fmt: skip


def install(name: str, onnx: Path, model_dir: Path, card: dict[str, Any], strip: Path) -> None:

    target = MODELS_DIR / name
    if target.exists():
        shutil.rmtree(target)
    (target / "model").mkdir(parents=True)
    shutil.copy2(onnx, target / f"{name}.onnx")
    for item in model_dir.iterdir():
        if item.name == "config.json" or item.suffix == ".safetensors":
            shutil.copy2(item, target / "model" / item.name)
    shutil.copy2(strip, target / "strip.jpg")
    (target / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (target / "MODEL_CARD.md").write_text(card_markdown(card))
    write_index_entry(name, card)


def write_index_entry(name: str, card: dict[str, Any]) -> None:
    """``models/index.json``'s entry for the installed model ``name``: its files' SHA-256 and sizes,
    and the card's headline scores (beside the strongest baseline) and training summary."""
    from img2img_runtime.zoo import INDEX_FORMAT, sha256_file

    target = MODELS_DIR / name
    index_path = MODELS_DIR / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {"format": INDEX_FORMAT, "models": {}}
    files = {
        str(path.relative_to(MODELS_DIR)): {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        for path in sorted(target.rglob("*"))
        if path.is_file()
    }
    main_block = card["scores"][0]
    headline = "psnr_y" if card["task"] == "sr" else "psnr"
    baselines = [k for k in main_block["rows"] if k.startswith("baseline")]
    baseline_name = max(baselines, key=lambda k: main_block["rows"][k].get(headline) or float("-inf"))
    index["models"][name] = {
        "task": card["task"],
        "family": card["family"],
        "summary": card["summary"],
        "files": files,
        "onnx": f"{name}/{name}.onnx",
        "torch": f"{name}/model",
        "card": f"{name}/MODEL_CARD.md",
        "scores": {
            "headline": headline,
            "options": main_block["options"],
            "model": main_block["rows"]["model"],
            "baseline": main_block["rows"][baseline_name],
            "baseline_name": baseline_name.removeprefix("baseline (").rstrip(")"),
        },
        "training": {
            "steps": card["steps"],
            "minutes": round(card["minutes"], 1),
            "data_summary": f"{len(card['data']['train'])} photos: "
            + ", ".join(sorted({licence for _, licence, _ in card["data"]["licences"]})),
        },
    }
    index["models"] = dict(sorted(index["models"].items()))
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    total = sum(f["bytes"] for f in files.values())
    print(f"installed {name} in {target} ({total / 1e6:.1f} MB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", type=Path, help="folders of photos")
    parser.add_argument("--model", choices=sorted(ZOO))
    parser.add_argument("--minutes", type=float, help="training budget (default: the recipe's)")
    parser.add_argument("--out", type=Path, default=Path("zoo-runs"))
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0, help="which photos are held out")
    parser.add_argument("--extra", default="", help="extra img2img train arguments (quoted), e.g. '--profile gpu'")
    parser.add_argument("--no-install", action="store_true", help="leave export/img2img_runtime/models as it is")
    parser.add_argument("--install-only", action="store_true", help="train nothing: score and install OUT/NAME/run")
    parser.add_argument(
        "--reindex", action="store_true", help="only rewrite models/index.json and the cards' text from their card.json"
    )
    args = parser.parse_args()
    if args.reindex:
        for card_path in sorted(MODELS_DIR.glob("*/card.json")):
            card = json.loads(card_path.read_text())
            (card_path.parent / "MODEL_CARD.md").write_text(card_markdown(card))
            write_index_entry(card["name"], card)
        return 0
    if not args.photos or not args.model:
        parser.error("PHOTOS and --model are required (unless --reindex)")
    recipe = ZOO[args.model]
    minutes = args.minutes or recipe["minutes"]
    out = args.out / args.model
    out.mkdir(parents=True, exist_ok=True)
    hardware = machine()
    train_names, val_names, left = split(args.photos, out, args.val_fraction, args.seed)
    for item in left:
        print(f"left out {item}", flush=True)
    run_dir = out / "run"
    train_command = [
        "img2img", "train", *recipe["train"], "--data", str(out / "data"), "--out", str(run_dir),
        "--minutes", f"{minutes:g}", "--seed", str(args.seed), "--no-progress", *args.extra.split(),
    ]  # fmt: skip
    started = time.perf_counter()
    resume = ["--resume"] if (run_dir / "checkpoints" / "last.pt").exists() else []
    if not args.install_only:
        run([sys.executable, "-m", "img2img", *train_command[1:], *resume])
    trained_minutes = (time.perf_counter() - started) / 60
    if resume:  # trained in more than one process: the budget the run was given in all
        trained_minutes = minutes
    if args.install_only:  # not timed here: the budget it was trained with
        trained_minutes = float(json.loads((run_dir / "config.json").read_text()).get("minutes") or 0)
    model_dir, onnx, precision, scores = package(args.model, recipe, run_dir, out)
    config = json.loads((model_dir / "config.json").read_text())
    strip = out / "strip.jpg"
    make_strip(onnx, out / "data" / "val", recipe["task"], recipe["eval"][0], strip)
    by_licence: dict[tuple[str, str], list[str]] = {}
    for photo in train_names:
        by_licence.setdefault(licence_of(Path(photo)), []).append(photo)
    import img2img

    command = "python bench/train_zoo.py " + " ".join(str(p) for p in args.photos) + f" --model {args.model}"
    command += f" --minutes {minutes:g}" + (f" --seed {args.seed}" if args.seed else "")
    command += f" --extra '{args.extra}'" if args.extra else ""
    card = {
        "name": args.model,
        "task": recipe["task"],
        "family": recipe["family"],
        "summary": recipe["summary"],
        "command": command,
        "train_command": " ".join(train_command),
        "steps": int(config.get("training", {}).get("steps") or 0),
        "minutes": trained_minutes,
        "hardware": hardware,
        "data": {
            "train": train_names,
            "val": val_names,
            "left_out": left,
            "licences": [[s, lic, names] for (s, lic), names in sorted(by_licence.items())],
        },
        "scores": scores,
        "onnx_precision": precision,
        "fails": recipe["fails"],
        "bytes": {
            "onnx": onnx.stat().st_size,
            "model": sum(p.stat().st_size for p in model_dir.iterdir() if p.is_file()),
        },
        "img2img_version": img2img.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    assert set(card) == set(CARD_FIELDS)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(card_markdown(card))
    if not args.no_install:
        install(args.model, onnx, model_dir, card, strip)
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
