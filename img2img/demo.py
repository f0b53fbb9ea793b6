"""``img2img demo``: restore damaged photos with a small pix2pix trained in a few minutes on a CPU.

1. ``prepare restore`` on the photos bundled with the package (``img2img/assets/samples``, see
   ATTRIBUTION.md there): B is the clean photo, A an aged copy (blur, noise, fading, colour
   cast, scratches, dust, JPEG: the ``medium`` preset). Two photos are held back for validation.
2. Trains pix2pix (a U-Net with 6 levels, 32 base channels and resize + conv upsampling, which
   avoids checkerboard artefacts) on 64 x 64 crops.
3. Restores the held-back photos at full size and writes ``index.html`` with
   ``input | output | target`` rows and the loss curves (``losses.png``).
"""

from __future__ import annotations

import time
from pathlib import Path

from img2img_runtime.io import list_images, read_image, write_image

SAMPLES = Path(__file__).resolve().parent / "assets" / "samples"


def run_demo(out: str | Path = "img2img-demo", *, steps: int | None = None, device: str = "auto") -> Path:
    """Prepare data, train, restore the held-back photos; returns the HTML page's path."""
    from .infer import Translator
    from .metrics import psnr_uint8
    from .prepare import prepare
    from .report import plot_curves, read_log, write_html
    from .train import train

    out = Path(out)
    data, run, results = out / "data", out / "run", out / "results"
    report = prepare("restore", SAMPLES, data, preset="medium", val_fraction=2 / 12, seed=0)
    print(f"demo: {report.summary()} in {data} (photos from {SAMPLES})")
    started = time.perf_counter()
    result = train(
        "pix2pix", data=str(data), out=str(run), steps=steps or 1500, size=64, batch_size=4,
        generator="unet_256", generator_kwargs={"num_downs": 6, "base_channels": 32, "upsample": "resize"},
        discriminator_kwargs={"base_channels": 32}, num_workers=0, lr=5e-4,
        sample_every=250, checkpoint_every=500, val_every=250, device=device,
        resume=(run / "checkpoints" / "last.pt").exists(),
    )
    print(f"demo: trained {result.step} steps in {time.perf_counter() - started:.0f} s")
    translator = Translator.from_pretrained(run, device=device)
    rows = []
    for a_path in list_images(data / "val" / "A"):
        damaged, clean = read_image(a_path), read_image(data / "val" / "B" / a_path.name)
        restored = translator(damaged)
        for kind, image in (("input", damaged), ("output", restored), ("target", clean)):
            write_image(results / f"{a_path.stem}_{kind}.png", image)
        caption = f"PSNR to the clean photo: damaged {psnr_uint8(damaged, clean):.2f} dB, restored {psnr_uint8(restored, clean):.2f} dB"
        rows.append({"name": a_path.stem, "caption": caption,
                     **{k: f"results/{a_path.stem}_{k}.png" for k in ("input", "output", "target")}})
        print(f"  {a_path.stem}: {caption}")
    plot_curves(read_log(run / "log.jsonl"), out / "losses.png")
    page = write_html(
        out / "index.html", title="img2img demo: old-photo restoration with pix2pix",
        rows=rows, images=["losses.png"],
        notes=[f"Trained {result.step} steps on {report.counts['train']} photos (64 x 64 crops); "
               "the rows below are held-back photos, restored at full size.",
               f"Model: {run / 'best'}; sample grids during training: {run / 'samples'}."],
    )
    print(f"demo: open {page}")
    return page
