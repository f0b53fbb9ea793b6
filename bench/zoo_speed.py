"""Seconds per output megapixel of every shipped model with the torch-free runtime (``img2img-onnx``).

    python bench/zoo_speed.py PHOTO [--megapixels 1.0] [--repeats 3] [--threads N]

Each shipped model (``img2img models``) translates PHOTO, resized so that the *output* has about
``--megapixels`` megapixels (x4 models get a quarter-size input each way; colorize and sketch get the
gray or line-drawing version the recipe makes), through :class:`img2img_runtime.Model` with its
default settings (tiling, batch size): what ``img2img-onnx --model NAME`` does per image, without
reading and writing files. One untimed run, then the median of ``--repeats``. Prints the CPU, the
load average before and after, and one row per model: its ONNX precision, the output size, and
seconds per output megapixel (the issue's target: at most 1 s on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path, help="a colour photo")
    parser.add_argument("--megapixels", type=float, default=1.0, help="output size (default 1.0)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="onnxruntime threads (default: onnxruntime's choice)")
    args = parser.parse_args()

    import cv2
    import numpy as np

    from bench.common import cpu_model
    from img2img.data.recipes import Recipe
    from img2img_runtime import Model, zoo
    from img2img_runtime.io import read_image
    from img2img_runtime.metadata import read_metadata

    photo = read_image(args.photo, channels=3)
    print(f"cpu: {cpu_model()}, {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f}")
    print("| model | ONNX | output | s/MP |")
    print("| --- | --- | --- | --- |")
    for model in zoo.list_models():
        runner = Model(model.name, threads=args.threads)
        scale = int(read_metadata(runner.path).get("scale", 1))
        side = (args.megapixels * 1e6 * photo.shape[1] / photo.shape[0]) ** 0.5
        width, height = round(side / scale), round(side * photo.shape[0] / photo.shape[1] / scale)
        image = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
        if model.task in ("colorize", "sketch"):
            image, _ = Recipe(model.task)(image, np.random.default_rng(0))
        runner(image)  # untimed: onnxruntime's first-run set-up
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            out = runner(image)
            times.append(time.perf_counter() - started)
        megapixels = out.shape[0] * out.shape[1] / 1e6
        precision = "int8" if "int8" in str(read_metadata(runner.path).get("precision", "")) else "fp32"
        seconds = statistics.median(times) / megapixels
        print(f"| {model.name} | {precision} | {out.shape[1]}x{out.shape[0]} | {seconds:.3f} |", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
