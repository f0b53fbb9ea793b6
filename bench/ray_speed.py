"""Folder jobs on Ray against the local engine: images/s for 500 small images.

Usage::

    python bench/ray_speed.py                       # 500 images of 64 x 64, tiny SR x2 model, 1 and 2 actors
    python bench/ray_speed.py --images 2000 --size 128 --json ray.json

The model is ``compact_sr_x2`` (32 channels, 3 convs; untrained: speed does not depend on the
weights), exported with ``img2img export``. Rows: the local engine (``Model.translate_folder``,
onnxruntime on all cores, reading and writing in threads) and ``translate_dataset`` on a local Ray
instance limited to 2 CPUs with 1 and 2 actors (1 CPU and 1 onnxruntime thread each). Each row
writes into a fresh folder; times include listing, reading, inference and writing, and for Ray
the actor start-up (the cluster is started once, before the first Ray row, and not timed).
Overhead = Ray's time over the local engine's, minus 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: img2img, bench.common
from bench.common import format_table  # noqa: E402


def make_model(folder: Path) -> Path:
    import torch

    from img2img.checkpoint import save_pretrained
    from img2img.export import export_onnx
    from img2img.nets import create_model
    from img2img.tasks.base import generator_io_spec

    torch.manual_seed(0)
    net = create_model("compact_sr_x2", base_channels=32, num_convs=3).eval()
    io_spec = generator_io_spec(net)
    save_pretrained({"AtoB": net}, folder / "model", task="srgan", io_spec=io_spec)
    return export_onnx(folder / "model", folder / "sr.onnx").path


def make_images(folder: Path, count: int, size: int) -> None:
    import cv2

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(count):
        image = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (5, 5), 0)
        cv2.imwrite(str(folder / f"{i:05d}.png"), image)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    import ray

    from img2img_runtime import Model
    from img2img_runtime.ray import translate_dataset

    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()}; ray {ray.__version__}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = make_model(root)
        make_images(root / "in", args.images, args.size)
        started = time.perf_counter()
        report = Model(model, batch_size=args.batch_size).translate_folder(root / "in", root / "local", progress=False)
        local_s = time.perf_counter() - started
        rows.append({"engine": "local (onnxruntime, all cores)", "s": local_s, "written": len(report.written)})
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            for actors in (1, 2):
                out = root / f"ray{actors}"
                started = time.perf_counter()
                report = translate_dataset(
                    model, root / "in", out, actors=actors, batch_size=args.batch_size, progress=False
                )
                rows.append({"engine": f"ray, {actors} actor(s)", "s": time.perf_counter() - started,
                             "written": len(report.written)})  # fmt: skip
                same = all((out / p.name).read_bytes() == p.read_bytes() for p in (root / "local").iterdir())
                rows[-1]["identical"] = "yes" if same else "NO"
                shutil.rmtree(out)
        finally:
            ray.shutdown()
    for row in rows:
        row["ips"] = row["written"] / row["s"]
        row["overhead"] = 100 * (row["s"] / local_s - 1)
    print(
        f"# {args.images} PNG images of {args.size} x {args.size} -> x2, batch {args.batch_size}; load average {os.getloadavg()}"
    )
    print(format_table(rows, [("engine", "engine", "s"), ("images", "written", "d"), ("seconds", "s", ".2f"),
                              ("images/s", "ips", ".1f"), ("vs local %", "overhead", "+.0f"),
                              ("same bytes", "identical", "s")]))  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
