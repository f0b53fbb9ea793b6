"""Quality benchmark: does each recipe, trained with its defaults on a time budget, beat doing nothing?

    python bench/quality.py PHOTOS [PHOTOS ...] [--minutes 15] [--recipes sr,sr_gan,restore,colorize,sketch,
        colorize_hints,sketch_hints] [--out DIR]

1. Splits the photos of every PHOTOS folder by image (seeded): ``--val-fraction`` of them go to
   ``OUT/data/val`` and are never trained on, the rest to ``OUT/data/train`` (symbolic links).
   Files that do not decode are left out of both and listed.
2. Trains every recipe with its defaults and ``--minutes`` (``img2img train ... --minutes N``),
   each run in its own process, one after the other.
3. Scores each run on the val photos with ``img2img eval`` (inputs made by the recipe with a fixed
   seed) and prints one table: the baseline row (bicubic for sr; the input for the others; the
   flat mean colour for sketch), the model row, the target of the issue and whether it is met.
   The hint recipes (``colorize_hints``, ``sketch_hints``: ``--hints``) are scored with 0, 1, 5,
   10 and 20 colour points drawn from each target (``img2img eval --hints``), beside the
   non-learned hint spreading of the same points.

The per-recipe eval reports are written to ``OUT/eval_RECIPE.json`` and the table to
``OUT/quality.md``. Runs that exist are resumed (with the same budget they are complete), so a
killed benchmark can be rerun; ``--fresh`` deletes them first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from img2img_runtime.cli import add_self_ensemble_argument
from img2img_runtime.io import ImageReadError, list_images, read_image

HINT_COUNTS = [0, 1, 5, 10, 20]  # the hint recipes' eval rows

# recipe -> (train arguments, eval task)
RECIPES: dict[str, tuple[list[str], str]] = {
    "sr": (["srgan", "--task", "sr", "--scale", "4", "--adv-weight", "0"], "sr"),
    "sr_gan": (["srgan", "--task", "sr", "--scale", "4"], "sr"),
    "restore": (["pix2pix", "--task", "restore"], "restore"),
    "colorize": (["pix2pix", "--task", "colorize"], "colorize"),
    "sketch": (["pix2pix", "--task", "sketch"], "sketch"),
    "colorize_hints": (["pix2pix", "--task", "colorize", "--hints"], "colorize"),
    "sketch_hints": (["pix2pix", "--task", "sketch", "--hints"], "sketch"),
}


def split_photos(
    folders: list[Path], out: Path, val_fraction: float, seed: int
) -> tuple[int, int, list[tuple[Path, str]]]:
    """Link the photos into ``out/train`` and ``out/val`` (named ``FOLDER_NAME``), split by image.

    Every photo is decoded first: files that do not decode (empty, truncated, not an image) are
    left out of both splits and returned with the reason, so one bad file neither stops the
    benchmark nor takes a place among the held-out photos. Returns (train count, val count, left out).
    """
    listed = sorted((p for folder in folders for p in list_images(folder)), key=lambda p: (p.parent.name, p.name))
    photos, left_out = [], []
    for photo in listed:
        try:
            read_image(photo)
        except ImageReadError as error:
            left_out.append((photo, str(error)))
        else:
            photos.append(photo)
    if not photos:
        raise SystemExit(f"no readable photos in {', '.join(map(str, folders))}")
    random.Random(seed).shuffle(photos)
    n_val = max(1, round(len(photos) * val_fraction))
    if out.exists():
        shutil.rmtree(out)
    for split, items in (("val", photos[:n_val]), ("train", photos[n_val:])):
        (out / split).mkdir(parents=True)
        for photo in items:
            (out / split / f"{photo.parent.name}_{photo.name}").symlink_to(photo.resolve())
    return len(photos) - n_val, n_val, left_out


def target_met(recipe: str, rows: dict[str, dict[str, float]]) -> tuple[str, bool]:
    """The issue's target for ``recipe`` and whether the eval rows meet it."""
    model = rows["model"]
    base = next(row for name, row in rows.items() if name.startswith("baseline"))
    if recipe == "sr":
        return "PSNR-Y >= bicubic + 1.0", model["psnr_y"] >= base["psnr_y"] + 1.0
    if recipe == "sr_gan":
        return (
            "sharpness 0.7-1.3, PSNR-Y >= bicubic - 1.5",
            0.7 <= model["sharpness"] <= 1.3 and model["psnr_y"] >= base["psnr_y"] - 1.5,
        )
    if recipe == "restore":
        return "PSNR >= input + 3, SSIM-Y > input's", model["psnr"] >= base["psnr"] + 3.0 and model["ssim_y"] > base[
            "ssim_y"
        ]
    if recipe == "colorize_hints":
        ten, none, gray = rows["model, 10 hints"], rows["model, 0 hints"], rows["baseline (input)"]
        spread = rows["baseline (hint spreading), 10 hints"]
        return (
            "10 hints: PSNR >= gray + 3 and >= hint spreading + 1; 0 hints: >= gray - 0.5",
            ten["psnr"] >= gray["psnr"] + 3.0
            and ten["psnr"] >= spread["psnr"] + 1.0
            and none["psnr"] >= gray["psnr"] - 0.5,
        )
    if recipe == "sketch_hints":
        ten, flat = rows["model, 10 hints"], rows["baseline (flat mean colour)"]
        spread = rows["baseline (hint spreading), 10 hints"]
        return (
            "10 hints: PSNR >= flat + 1 and > hint spreading; SSIM-Y above both",
            ten["psnr"] >= flat["psnr"] + 1.0
            and ten["psnr"] > spread["psnr"]
            and ten["ssim_y"] > max(flat["ssim_y"], spread["ssim_y"]),
        )
    if recipe == "colorize":
        half = 0.5 * rows["target"]["colorfulness"]
        return (
            f"PSNR >= gray + 1, colourfulness >= {half:.1f}",
            model["psnr"] >= base["psnr"] + 1.0 and model["colorfulness"] >= half,
        )
    flat = rows["baseline (flat mean colour)"]
    return "PSNR and SSIM-Y above the flat mean colour", model["psnr"] > flat["psnr"] and model["ssim_y"] > flat[
        "ssim_y"
    ]


def load_result(out: Path, recipe: str) -> dict:
    """A finished recipe's eval rows (``OUT/eval_RECIPE.json``) and the steps its model was trained."""
    rows = json.loads((out / f"eval_{recipe}.json").read_text())["rows"]
    steps = json.loads((out / f"run_{recipe}" / "model" / "config.json").read_text())["training"]["steps"]
    return {"rows": rows, "steps": steps}


def format_table(results: dict[str, dict], minutes: float) -> str:
    columns = [
        ("psnr", "PSNR", ".2f"),
        ("psnr_y", "PSNR-Y", ".2f"),
        ("ssim_y", "SSIM-Y", ".3f"),
        ("colorfulness", "colourful", ".1f"),
        ("sharpness", "sharpness", ".2f"),
        ("sec_per_mp", "s/MP", ".3f"),
    ]
    lines = [
        f"| recipe ({minutes:g} min) | row | " + " | ".join(c[1] for c in columns) + " | steps | target | met |",
        "|" + " --- |" * (len(columns) + 5),
    ]
    for recipe, result in results.items():
        rows = result["rows"]
        target, met = target_met(recipe, rows)
        for i, (name, row) in enumerate(rows.items()):
            cells = [format(row[key], fmt) if row.get(key) is not None else "" for key, _, fmt in columns]
            first = "model, 10 hints" if "model, 10 hints" in rows else "model"
            tail = [str(result["steps"]), target, "yes" if met else "**no**"] if name == first else ["", "", ""]
            lines.append(
                f"| {recipe if i == 0 else ''} | {name} | " + " | ".join(cells) + " | " + " | ".join(tail) + " |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", type=Path, help="folders of photos")
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget per recipe (default 15)")
    parser.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, of {', '.join(RECIPES)}")
    parser.add_argument("--out", type=Path, default=Path("bench-quality"))
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="delete existing runs first")
    parser.add_argument(
        "--report",
        action="store_true",
        help="train nothing: print the table of the runs and eval reports already in --out",
    )
    parser.add_argument(
        "--extra",
        default="",
        help="extra train arguments for every recipe (quoted), e.g. '--profile gpu'; a single flag needs the = form: "
        "--extra=--skip-bad",
    )
    add_self_ensemble_argument(parser)  # the views every model is scored with (default 1: the plain model)
    args = parser.parse_args()
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = set(recipes) - set(RECIPES)
    if unknown:
        parser.error(f"unknown recipes {sorted(unknown)}; available: {', '.join(RECIPES)}")

    from img2img.evaluate import evaluate_model

    if args.report:
        results = {r: load_result(args.out, r) for r in recipes if (args.out / f"eval_{r}.json").is_file()}
        print(format_table(results, args.minutes))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    n_train, n_val, left_out = split_photos(args.photos, args.out / "data", args.val_fraction, args.seed)
    for photo, reason in left_out:
        print(f"left out {photo}: {reason}", flush=True)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average at start "
        f"{os.getloadavg()[0]:.2f}; {n_train} train / {n_val} val photos; {args.minutes:g} min per recipe",
        flush=True,
    )
    results: dict[str, dict] = {}
    for recipe in recipes:
        train_args, eval_task = RECIPES[recipe]
        run = args.out / f"run_{recipe}"
        if args.fresh and run.exists():
            shutil.rmtree(run)
        resume = ["--resume"] if (run / "checkpoints" / "last.pt").exists() else []
        command = [
            sys.executable,
            "-m",
            "img2img",
            "train",
            *train_args,
            "--data",
            str(args.out / "data"),
            "--out",
            str(run),
            "--minutes",
            str(args.minutes),
            "--no-progress",
            *resume,
            *args.extra.split(),
        ]
        print("$", " ".join(command), flush=True)
        started = time.perf_counter()
        subprocess.run(command, check=True)
        trained = time.perf_counter() - started
        report = evaluate_model(
            run,
            args.out / "data" / "val",
            task=eval_task,
            scale=4,
            self_ensemble=args.self_ensemble,
            hints=HINT_COUNTS if "--hints" in train_args else None,
        )
        report.to_json(args.out / f"eval_{recipe}.json")
        print(report.table(), flush=True)
        results[recipe] = load_result(args.out, recipe)
        print(
            f"{recipe}: trained in {trained / 60:.1f} min ({results[recipe]['steps']} steps); "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    table = format_table(results, args.minutes)
    (args.out / "quality.md").write_text(table + "\n")
    print(table)
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0 if all(target_met(r, res["rows"])[1] for r, res in results.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
