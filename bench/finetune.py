"""Fine-tuning benchmark: does a shipped model, fine-tuned on a damage style it never saw, beat training from scratch?

    python bench/finetune.py PHOTOS [PHOTOS ...] [--source restore] [--finetune-minutes 5] [--scratch-minutes 15]
        [--out DIR] [--copies 4] [--seed 0]

1. Splits the photos exactly as ``bench/train_zoo.py`` does for the shipped models (its
   :func:`split`: photos of unknown licence left out, 20 % held out with seed 0), so the held-out
   photos are ones the shipped model never saw.
2. Damages them with :func:`unseen_damage`, a style none of the restore presets makes: the dye
   fade of colour film (the cyan layer lost: a red/magenta shift with crushed shadows, through
   per-channel tone curves) printed through a halftone screen (rotated dot patterns per channel).
   The damage keeps the picture in place. ``OUT/pairs/{train,val}/{A,B}`` is img2img's paired
   format: ``--copies`` differently damaged copies of each training photo (``NAME_k.png``), one
   of each held-out photo.
3. Trains, each run in its own process: (a) ``img2img train pix2pix --init-from SOURCE`` on the
   pairs for ``--finetune-minutes``, with the source model's training settings (its run's
   ``config.json``, else its recipe's profile: loss, learning rate, crop size, batch...); (b) the
   same settings and the same architecture (the generator and its arguments that (a) took from
   SOURCE) from fresh weights for ``--scratch-minutes``.
4. Scores the damaged input, SOURCE unchanged, (a) and (b) on the held-out pairs with
   ``img2img.evaluate_model`` (paired mode), prints one table with the machine's CPU and load
   average and writes it to ``OUT/finetune.md``.

Exit status 0 when the fine-tuned model beats the one trained from scratch on PSNR, else 1.
Existing runs in ``OUT`` are resumed (with the same budget they are complete).
``--source`` is a shipped model's name (``img2img models``), a run folder or a model folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.train_zoo import split  # noqa: E402

# bench/train_zoo.py's defaults: the split the shipped models were trained with
ZOO_VAL_FRACTION = 0.2
ZOO_SPLIT_SEED = 0

# training settings taken from the source (not architecture: that comes with --init-from)
SETTINGS = ("size", "batch_size", "lr", "adv_weight", "pixel_loss", "color_replay", "best_metric", "channels_last")

# halftone screen angles (degrees) of the red, green and blue records (cyan, magenta, yellow ink)
SCREEN_ANGLES = (15.0, 75.0, 0.0)


# ------------------------------------------------------------------------------------ the damage
def _dye_fade(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour film whose cyan dye faded: the red record lifted (less cyan absorbs less red), green
    held down (magenta dominates), blue a little either way, then the shadows crushed to black.
    ``x``: float32 H x W x 3 in [0, 1]."""
    gammas = np.array([1 / rng.uniform(1.6, 2.4), rng.uniform(1.15, 1.5), rng.uniform(0.9, 1.2)], np.float32)
    gains = np.array([1.0, rng.uniform(0.85, 0.95), rng.uniform(0.8, 0.95)], np.float32)
    x = np.power(x, gammas) * gains
    black = rng.uniform(0.06, 0.16)  # crushed shadows: everything below the black point is black
    return np.clip((x - black) / (1 - black), 0, 1)


def _halftone(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A print of ``x`` through a halftone screen: per channel, round dots of ink (1 - value) on a
    grid of ``period`` px rotated to the channel's screen angle, anti-aliased, blended in by ``amount``.
    The dots' mean coverage is the tone, so the picture stays where it was."""
    h, w = x.shape[:2]
    period = rng.uniform(4.0, 7.0)
    turn = rng.uniform(0, 90)
    amount = rng.uniform(0.3, 0.55)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    printed = np.empty_like(x)
    for c, angle in enumerate(SCREEN_ANGLES):
        t = np.deg2rad(angle + turn)
        u = (xx * np.cos(t) + yy * np.sin(t)) * (2 * np.pi / period)
        v = (-xx * np.sin(t) + yy * np.cos(t)) * (2 * np.pi / period)
        screen = 0.5 + 0.25 * (np.cos(u) + np.cos(v))  # in [0, 1]: dot centres at 1
        ink = 1 - x[..., c]
        coverage = 1 / (1 + np.exp(-(ink - (1 - screen)) / 0.06))  # inked where the screen is above 1 - ink
        printed[..., c] = 1 - coverage
    return (1 - amount) * x + amount * printed


def unseen_damage(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The benchmark's damage style, unlike every restore preset: a cyan-dye fade (red/magenta
    shift, crushed shadows) printed through a halftone screen. ``photo``: uint8 H x W x 3 RGB;
    returns a new uint8 array of the same shape, a pure function of (photo, rng state), aligned
    with ``photo`` (nothing moves: tone curves and a fixed-grid dot pattern)."""
    photo = np.asarray(photo)
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photo must be uint8 H x W x 3, got {photo.dtype} {photo.shape}")
    x = photo.astype(np.float32) / 255
    x = _halftone(_dye_fade(x, rng), rng)
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------ the pairs
def write_pairs(train: list[Path], val: list[Path], out: Path, copies: int, seed: int) -> tuple[list[str], list[str]]:
    """``out/{train,val}/{A,B}/NAME.png`` (A damaged, B clean): ``copies`` differently damaged copies
    ``NAME_k.png`` of each training photo, one ``NAME.png`` of each val photo. Photo ``i`` of a split,
    copy ``k``, is damaged with ``np.random.default_rng([seed, split, i, k])`` (split 0 train, 1 val).
    Returns the (train, val) file names written."""
    from img2img_runtime.io import read_image, write_image

    if copies < 1:
        raise ValueError(f"copies must be at least 1, got {copies}")
    written: dict[str, list[str]] = {"train": [], "val": []}
    for index, (name, photos, count) in enumerate((("train", train, copies), ("val", val, 1))):
        for side in ("A", "B"):
            folder = out / name / side
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.iterdir():
                old.unlink()
        for i, photo in enumerate(sorted(photos)):
            clean = read_image(photo, channels=3)
            for k in range(count):
                file = f"{photo.stem}_{k}.png" if name == "train" else f"{photo.stem}.png"
                write_image(out / name / "A" / file, unseen_damage(clean, np.random.default_rng([seed, index, i, k])))
                write_image(out / name / "B" / file, clean)
                written[name].append(file)
    return written["train"], written["val"]


# ------------------------------------------------------------------------------------ the runs
def source_settings(source: str) -> tuple[Path, dict[str, Any]]:
    """The source's model folder and its training settings (:data:`SETTINGS`): from its run's
    ``config.json`` when it is a run's model, else from its recipe's profile (the one trained at its
    crop size; ``img2img.presets``), the crop size always from the model folder."""
    from img2img.checkpoint import resolve_model_dir
    from img2img.presets import RECIPE_PROFILES
    from img2img.training import source_run

    model_dir = resolve_model_dir(source).resolve()
    training = json.loads((model_dir / "config.json").read_text()).get("training") or {}
    run = source_run(model_dir)
    values: dict[str, Any] = {}
    if run is not None and (run / "config.json").is_file():
        saved = json.loads((run / "config.json").read_text())
        values = {k: saved[k] for k in SETTINGS if saved.get(k) is not None}
    elif training.get("recipe") in RECIPE_PROFILES:
        profiles = RECIPE_PROFILES[training["recipe"]]
        profile = next((p for p in profiles.values() if p.get("size") == training.get("size")), profiles["cpu"])
        values = {k: profile[k] for k in SETTINGS if k in profile}
    if training.get("size"):
        values["size"] = training["size"]
    return model_dir, values


def setting_flags(settings: dict[str, Any]) -> list[str]:
    """``img2img train`` flags for the settings (``channels_last`` as ``--channels-last`` / ``--no-channels-last``)."""
    flags = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return flags


def architecture_flags(config: dict[str, Any]) -> list[str]:
    """The flags that build a run's nets (its ``config.json``): ``--generator``, ``--generator-kwargs``
    JSON and the discriminator's flags (``img2img.options.DISCRIMINATOR_FLAGS``)."""
    from img2img.options import DISCRIMINATOR_FLAGS

    flags = ["--generator", config["generator"], "--generator-kwargs", json.dumps(config["generator_kwargs"])]
    for flag, key in DISCRIMINATOR_FLAGS.items():
        value = (config.get("discriminator_kwargs") or {}).get(key)
        if isinstance(value, bool):
            flags += ["--" + flag.replace("_", "-")] if value else []
        elif value is not None:
            flags += ["--" + flag.replace("_", "-"), str(value)]
    return flags


def train(run: Path, data: Path, minutes: float, seed: int, flags: list[str], new_run: list[str]) -> float:
    """``img2img train pix2pix`` in a fresh process; an existing run is resumed (its saved options,
    without ``new_run``: --init-from starts a run only). Returns the minutes it took (a resumed run:
    its budget)."""
    resume = (run / "checkpoints" / "last.pt").exists()
    command = [sys.executable, "-m", "img2img", "train", "pix2pix", "--data", str(data), "--out", str(run)]
    command += ["--minutes", f"{minutes:g}", "--seed", str(seed), "--no-progress", *flags]
    command += ["--resume"] if resume else new_run
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    if resume:  # trained in more than one process: the budget it was given in all (as bench/train_zoo.py says)
        return minutes
    return (time.perf_counter() - started) / 60


def steps_of(model_dir: Path) -> int:
    return int((json.loads((model_dir / "config.json").read_text()).get("training") or {}).get("steps") or 0)


# ------------------------------------------------------------------------------------ the table
COLUMNS = (
    ("psnr", "PSNR", ".2f"),
    ("psnr_y", "PSNR-Y", ".2f"),
    ("ssim_y", "SSIM-Y", ".3f"),
    ("sharpness", "sharpness", ".2f"),
)


def format_table(rows: list[tuple[str, dict[str, float], int | None, float | None]]) -> str:
    """One markdown table: (name, eval row, steps, minutes) per row."""
    lines = [
        "| model | " + " | ".join(c[1] for c in COLUMNS) + " | steps | minutes |",
        "|" + " --- |" * (len(COLUMNS) + 3),
    ]
    for name, row, steps, minutes in rows:
        cells = [format(row[key], fmt) if row.get(key) is not None else "" for key, _, fmt in COLUMNS]
        cells += ["" if steps is None else str(steps), "" if minutes is None else f"{minutes:.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", type=Path, help="folders of photos (as given to bench/train_zoo.py)")
    parser.add_argument("--source", default="restore", help="shipped model name, run or model folder (default restore)")
    parser.add_argument("--finetune-minutes", type=float, default=5.0, help="fine-tuning budget (default 5)")
    parser.add_argument("--scratch-minutes", type=float, default=15.0, help="from-scratch budget (default 15)")
    parser.add_argument("--out", type=Path, default=Path("bench-finetune"))
    parser.add_argument("--copies", type=int, default=4, help="damaged copies of each training photo (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the damage and of both runs (default 0)")
    args = parser.parse_args()
    if args.copies < 1:
        parser.error("--copies must be at least 1")

    from bench.common import cpu_model
    from img2img.evaluate import INPUT_ROW, evaluate_model

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    model_dir, settings = source_settings(args.source)
    load_start = os.getloadavg()[0]
    train_names, val_names, left = split(args.photos, out, ZOO_VAL_FRACTION, ZOO_SPLIT_SEED)
    for item in left:
        print(f"left out {item}", flush=True)
    print(f"held out (never trained on by {args.source}): {', '.join(val_names)}", flush=True)
    data = out / "data"
    pairs = out / "pairs"
    n_train, n_val = (len(names) for names in write_pairs(
        list((data / "train").iterdir()), list((data / "val").iterdir()), pairs, args.copies, args.seed
    ))  # fmt: skip
    print(f"pairs: {n_train} train ({len(train_names)} photos x {args.copies}), {n_val} val in {pairs}", flush=True)
    flags = setting_flags(settings)

    finetuned = out / "run_finetune"
    ft_minutes = train(finetuned, pairs, args.finetune_minutes, args.seed, flags, ["--init-from", str(args.source)])
    adopted = json.loads((finetuned / "config.json").read_text())  # the architecture it took from the source
    scratch = out / "run_scratch"
    architecture = architecture_flags(adopted)
    sc_minutes = train(scratch, pairs, args.scratch_minutes, args.seed, flags, architecture)

    reports = {}
    for name, model in (("source", model_dir), ("finetune", finetuned), ("scratch", scratch)):
        report = evaluate_model(model, pairs / "val", seed=args.seed)
        report.to_json(out / f"eval_{name}.json")
        reports[name] = report.rows
    rows = [
        ("damaged input", reports["source"][INPUT_ROW], None, None),
        (f"{args.source} unchanged", reports["source"]["model"], steps_of(model_dir), None),
        (f"fine-tuned from {args.source}", reports["finetune"]["model"], steps_of(finetuned / "model"), ft_minutes),
        ("from scratch", reports["scratch"]["model"], steps_of(scratch / "model"), sc_minutes),
    ]
    won = rows[2][1]["psnr"] > rows[3][1]["psnr"]
    table = format_table(rows)
    cores = os.cpu_count()
    footer = (
        f"{len(val_names)} held-out photos, damage bench/finetune.py unseen_damage (seed {args.seed}); "
        f"budgets {args.finetune_minutes:g} min fine-tuning, {args.scratch_minutes:g} min from scratch, "
        f"settings {' '.join(flags)}\n\nmachine: {cpu_model()}, {cores} cores; load average at start "
        f"{load_start:.2f}, at end {os.getloadavg()[0]:.2f}\n\nfine-tuned beats from scratch on PSNR: "
        + ("yes" if won else "**no**")
    )
    (out / "finetune.md").write_text(table + "\n\n" + footer + "\n")
    print(table)
    print()
    print(footer)
    return 0 if won else 1


if __name__ == "__main__":
    sys.exit(main())
