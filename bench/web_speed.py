"""The browser page's speed: ms per image in headless Chromium (onnxruntime-web, WebAssembly, threads)
against ``img2img_runtime`` (onnxruntime in Python) on the same exported models.

Usage::

    python bench/web_speed.py                      # U-Net 256 at 256x256, compact SR x4 at 128 -> 512
    python bench/web_speed.py --repeats 10 --chromium /usr/bin/chromium --json web.json
    python bench/web_speed.py --self-ensemble 8    # both sides average 8 flipped/transposed views

Models: ``unet_256`` (64 base channels, 8 levels; the pix2pix generator) and ``compact_sr_x4``
(64 channels, 5 convs), untrained (speed does not depend on the weights), exported with
``img2img export``. The page times ``translate`` (pre-processing, the onnxruntime-web run, post-
processing) on a fixed image (``window.img2img.time``); Python times ``Model.__call__`` on an
image of the same size. Both report the median of ``--repeats`` after one warm-up run.
Chromium gets cross-origin isolation from ``img2img web``, so onnxruntime-web runs on
``min(4, cores)`` threads; Python's onnxruntime uses its default thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: img2img, bench.common
from bench.common import environment, format_table  # noqa: E402

CASES = {
    "unet_256 256x256": ("unet_256", {}, 256, 1),
    "compact_sr_x4 128->512": ("compact_sr_x4", {}, 128, 4),
}


def export_case(name: str, overrides: dict, scale: int, folder: Path) -> Path:
    import torch

    from img2img.checkpoint import save_pretrained
    from img2img.export import export_onnx
    from img2img.nets import create_model
    from img2img.tasks.base import generator_io_spec

    torch.manual_seed(0)
    net = create_model(name, **overrides).eval()
    io_spec = generator_io_spec(net)
    save_pretrained({"AtoB": net}, folder / name, task="pix2pix" if scale == 1 else "srgan", io_spec=io_spec)
    return export_onnx(folder / name, folder / f"{name}.onnx").path


def python_ms(model: Path, size: int, repeats: int, views: int = 1) -> list[float]:
    from img2img_runtime import Model

    runtime = Model(model, tile=None, self_ensemble=views)
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    runtime(image)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        runtime(image)
        times.append(1000 * (time.perf_counter() - started))
    return times


def browser_ms(model: Path, size: int, repeats: int, chromium: str, views: int = 1) -> tuple[list[float], str]:
    from playwright.sync_api import sync_playwright

    from img2img_runtime import web

    server = web.serve(model, port=0, background=True, self_ensemble=views)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(web.url_of(server))
            page.wait_for_selector("#status[data-state='ready']", timeout=60_000)
            threads = page.text_content("#model-info") or ""
            times = page.evaluate(f"window.img2img.time({size}, {size}, {repeats}, 1)")
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return times, threads.rsplit(";", 1)[-1].strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    parser.add_argument("--json", help="also write the results here")
    from img2img_runtime.cli import add_self_ensemble_argument

    add_self_ensemble_argument(parser)
    args = parser.parse_args(argv)
    if not args.chromium:
        parser.error("no Chromium found: apt install chromium, or give --chromium PATH")
    import torch

    env = environment(torch.device("cpu"))
    print(f"# {env}; load average {os.getloadavg()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (name, overrides, size, scale) in CASES.items():
            model = export_case(name, overrides, scale, Path(tmp))
            web_times, threads = browser_ms(model, size, args.repeats, args.chromium, args.self_ensemble)
            py_times = python_ms(model, size, args.repeats, args.self_ensemble)
            web_ms, py_ms = statistics.median(web_times), statistics.median(py_times)
            rows.append(
                {
                    "case": label,
                    "mb": model.stat().st_size / 1e6,
                    "web": web_ms,
                    "python": py_ms,
                    "ratio": web_ms / py_ms,
                    "threads": threads,
                }
            )
            print(f"# {label}: done, load average {os.getloadavg()}", flush=True)
    columns = [
        ("model", "case", "s"),
        ("MB", "mb", ".1f"),
        ("Chromium ms", "web", ".0f"),
        ("Python ms", "python", ".0f"),
        ("web / Python", "ratio", ".2f"),
        ("page threads", "threads", "s"),
    ]
    views = f"; {args.self_ensemble} views averaged" if args.self_ensemble > 1 else ""
    print(f"# median of {args.repeats} runs after one warm-up; onnxruntime-web WebAssembly vs onnxruntime CPU{views}")
    print(format_table(rows, columns))
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
