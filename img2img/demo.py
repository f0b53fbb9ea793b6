"""``img2img demo``: restore damaged photos with a small pix2pix trained in a few minutes on a CPU.

1. ``prepare restore`` on the photos bundled with the package (``img2img/assets/samples``, see
   ATTRIBUTION.md there) holds two photos back and gives them fixed damage (``val/A``; blur,
   noise, fading, colour cast, scratches, dust, JPEG: the ``medium`` preset). The other photos
   are copied to ``photos/train``, with the 23 extra photos of ``img2img/assets/samples_extra``
   (training only: more photos teach the net less of one palette; measured 21.92/23.96 dB for the
   held-back photos vs 21.79/23.53 without them, 3 minutes each).
2. Trains pix2pix with the restore recipe's defaults (``--task restore``: fresh damage on every
   photo every epoch; a U-Net that predicts a correction to its input, so it starts as the
   identity) within a time budget (``--minutes``, default 4.5).
3. Restores the held-back photos at full size, averaging the model's outputs for the 8 flips and
   transposes of each photo (``self_ensemble=8``; with the plain model the motorcycle scored
   within 0.05 dB of its damaged input in four demo runs, 23.25-23.33 vs 23.30 dB; with the
   views 23.75-23.78, and the pagoda 22.57-22.81 vs 22.22), and writes ``index.html`` with
   ``input | output | target`` rows, the PSNRs and the loss curves (``losses.png``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from img2img_runtime.io import list_images, read_image, write_image

SAMPLES = Path(__file__).resolve().parent / "assets" / "samples"
EXTRA_SAMPLES = Path(__file__).resolve().parent / "assets" / "samples_extra"  # training photos only
DEMO_MINUTES = 4.5
# measured on the 2-core CPU: data, the last validation and save, restoring and the page, after training
DEMO_OVERHEAD_SECONDS = 20
DEMO_SELF_ENSEMBLE = 8  # views averaged when restoring the held-back photos (see the module docstring)


def run_demo(
    out: str | Path = "img2img-demo", *, steps: int | None = None, minutes: float | None = None, device: str = "auto"
) -> Path:
    """Prepare data, train, restore the held-back photos; returns the HTML page's path.

    ``steps`` fixes the number of training steps; otherwise training runs for ``minutes``
    (default 4.5). A rerun resumes the run in ``out/run``.
    """
    from .infer import Translator
    from .metrics import psnr_uint8
    from .prepare import prepare
    from .report import plot_curves, read_log, write_html
    from .training import train

    begun = time.perf_counter()
    out = Path(out)
    data, photos, run, results = out / "data", out / "photos", out / "run", out / "results"
    report = prepare("restore", SAMPLES, data, preset="medium", val_fraction=2 / 12, seed=0)
    print(f"demo: {report.summary()} in {data} (photos from {SAMPLES})")
    for split in ("train", "val"):  # the clean photos, for training on fresh damage (val: best-model choice)
        (photos / split).mkdir(parents=True, exist_ok=True)
        for clean in list_images(data / split / "B"):
            if not (photos / split / clean.name).exists():
                shutil.copyfile(clean, photos / split / clean.name)
    for extra in list_images(EXTRA_SAMPLES):  # distinct names from SAMPLES (a test checks)
        if not (photos / "train" / extra.name).exists():
            shutil.copyfile(extra, photos / "train" / extra.name)
    started = time.perf_counter()
    budget = {"steps": steps} if steps else {"minutes": minutes or DEMO_MINUTES}
    if not steps:  # a time budget: training takes that long whatever the machine (slower machines make fewer steps)
        finish = time.strftime("%H:%M", time.localtime(time.time() + 60 * budget["minutes"] + DEMO_OVERHEAD_SECONDS))
        print(
            f"demo: training for {budget['minutes']:g} minutes (the speed is measured on the first steps and the "
            f"schedule planned to fit), then restoring {report.counts['val']} photos: done at about {finish}"
        )
    result = train(
        "pix2pix",
        data=str(photos),
        recipe="restore",
        recipe_options={"preset": "medium"},
        out=str(run),
        profile="cpu",
        recolor=False,  # the colour head reads each photo's own colours; recoloured training measured 21.35/23.05 dB vs 21.56/23.17 without
        num_workers=0 if steps and steps < 50 else 2,
        sample_every=250,
        checkpoint_every=500,
        val_every=250,
        device=device,
        resume=(run / "checkpoints" / "last.pt").exists(),
        **budget,
    )
    print(f"demo: trained {result.step} steps in {time.perf_counter() - started:.0f} s")
    translator = Translator.from_pretrained(run, device=device, self_ensemble=DEMO_SELF_ENSEMBLE)
    rows = []
    for a_path in list_images(data / "val" / "A"):
        damaged, clean = read_image(a_path), read_image(data / "val" / "B" / a_path.name)
        restored = translator(damaged)
        for kind, image in (("input", damaged), ("output", restored), ("target", clean)):
            write_image(results / f"{a_path.stem}_{kind}.png", image)
        caption = f"PSNR to the clean photo: damaged {psnr_uint8(damaged, clean):.2f} dB, restored {psnr_uint8(restored, clean):.2f} dB"
        rows.append(
            {
                "name": a_path.stem,
                "caption": caption,
                **{k: f"results/{a_path.stem}_{k}.png" for k in ("input", "output", "target")},
            }
        )
        print(f"  {a_path.stem}: {caption}")
    plot_curves(read_log(run / "log.jsonl"), out / "losses.png")
    page = write_html(
        out / "index.html",
        title="img2img demo: old-photo restoration with pix2pix",
        rows=rows,
        images=["losses.png"],
        notes=[
            f"Trained {result.step} steps on {len(list_images(photos / 'train'))} photos (fresh damage on 128 x 128 crops "
            "every epoch); the rows below are held-back photos, restored at full size, each the average of the "
            f"model's outputs for {DEMO_SELF_ENSEMBLE} flipped and transposed copies (self_ensemble={DEMO_SELF_ENSEMBLE}).",
            f"Model: {run / 'best'}; sample grids during training: {run / 'samples'}.",
        ],
    )
    print(f"demo: open {page} (finished in {(time.perf_counter() - begun) / 60:.1f} minutes)")
    return page
