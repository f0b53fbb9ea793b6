"""Peak memory and time of one large photo through a full-size generator, tiled, with the runtime.

    python bench/large_image.py [--net unet_256] [--width 6000] [--height 4000] [--tile auto]

Exports the net (random weights, default width) to ONNX, then runs one synthetic
``width x height`` photo through ``img2img_runtime.Model`` in a fresh process (no torch loaded
there) and prints its peak RSS (``VmHWM``) and wall time. The issue's target: a 6000 x 4000 photo
through a U-Net 256 under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHILD = r"""
import json, sys, time
import numpy as np
from img2img_runtime import Model
path, width, height, tile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tile = tile if tile == "auto" else None if tile == "none" else int(tile)
yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
image = np.stack([128 + 100 * np.sin(xx / 97), 128 + 100 * np.cos(yy / 131), 128 + 60 * np.sin((xx + yy) / 53)], -1).astype(np.uint8)
del yy, xx
model = Model(path, tile=tile)
start = time.perf_counter()
out = model(image)
seconds = time.perf_counter() - start
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(json.dumps({"seconds": seconds, "peak_rss_mb": hwm / 1024, "shape": list(out.shape), "tile": model.tile,
                  "overlap": model.overlap, "torch_loaded": "torch" in sys.modules}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", default="unet_256")
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--tile", default="auto", help="auto, none or a tile size")
    args = parser.parse_args()

    import torch

    from img2img.checkpoint import save_pretrained
    from img2img.export import export_onnx
    from img2img.nets import create_model

    torch.manual_seed(0)
    net = create_model(args.net).eval()
    spec = {
        "input": {"channels": net.in_channels},
        "output": {"channels": net.out_channels},
        "scale": net.scale,
        "size_multiple": net.size_multiple,
        "min_size": getattr(net, "min_size", 1),
    }
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained({"AtoB": net}, Path(tmp) / "model", task="bench", io_spec=spec)
        started = time.perf_counter()
        report = export_onnx(Path(tmp) / "model", Path(tmp) / "model.onnx")
        print(f"{report.summary()} ({time.perf_counter() - started:.0f} s)")
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(Path(tmp) / "model.onnx"), str(args.width), str(args.height), args.tile],
            capture_output=True,
            text=True,
            check=True,
        )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(
        f"{args.net}, {args.width}x{args.height} photo, tile {result['tile']} overlap {result['overlap']}: "
        f"{result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB (target < 2048 MB), "
        f"output {result['shape']}, torch loaded in the runtime process: {result['torch_loaded']}"
    )


if __name__ == "__main__":
    main()
