"""``img2img demo``: restore damaged photos with a small pix2pix trained in a few minutes on a CPU.

1. Builds a paired dataset from the photos bundled with the package (``img2img/assets/samples``,
   see ATTRIBUTION.md there): B is the clean photo, A the same photo blurred, noisy, faded and
   JPEG-compressed. Two photos are held back for validation.
2. Trains pix2pix (a U-Net with 6 levels and 32 base channels) on 64 x 64 crops.
3. Translates the held-back photos at full size and writes ``input | output | target`` images.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from img2img_runtime.io import list_images, read_image, write_image

SAMPLES = Path(__file__).resolve().parent / "assets" / "samples"
HELD_BACK = ("chelsea", "coffee")


def damage(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A quick synthetic 'old photo': blur, fading, colour cast, grain and JPEG artefacts."""
    out = cv2.GaussianBlur(image, (0, 0), sigmaX=rng.uniform(0.8, 1.6)).astype(np.float32)
    out = 0.7 * out + 0.3 * out.mean() + np.array([18, 8, -12], np.float32)  # faded, yellowed
    out += rng.normal(0, 8, out.shape[:2])[:, :, None]  # film grain
    out = np.clip(out, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 35])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def build_demo_data(root: Path, seed: int = 0) -> Path:
    """Write ``root/{train,val}/{A,B}`` from the bundled sample photos."""
    rng = np.random.default_rng(seed)
    photos = list_images(SAMPLES)
    if not photos:
        raise FileNotFoundError(f"no sample photos in {SAMPLES}; reinstall img2img")
    for photo in photos:
        split = "val" if photo.stem in HELD_BACK else "train"
        clean = read_image(photo)
        write_image(root / split / "B" / f"{photo.stem}.png", clean)
        write_image(root / split / "A" / f"{photo.stem}.png", damage(clean, rng))
    return root


def run_demo(out: str | Path = "img2img-demo", *, steps: int | None = None, device: str = "auto") -> Path:
    """Build data, train, translate the held-back photos; returns the results folder."""
    from .infer import Translator
    from .metrics import psnr_uint8
    from .train import train

    out = Path(out)
    data = build_demo_data(out / "data")
    run = out / "run"
    print(f"demo: training pix2pix on {data} (photos from {SAMPLES}); run folder {run}")
    started = time.perf_counter()
    result = train(
        "pix2pix", data=str(data), out=str(run), steps=steps or 1200, size=64, batch_size=4,
        generator="unet_256", generator_kwargs={"num_downs": 6, "base_channels": 32},
        discriminator_kwargs={"base_channels": 32}, num_workers=0, lr=5e-4,
        sample_every=200, checkpoint_every=400, val_every=200, device=device, resume=(run / "checkpoints" / "last.pt").exists(),
    )
    print(f"demo: trained {result.step} steps in {time.perf_counter() - started:.0f} s")
    translator = Translator.from_pretrained(run, device=device)
    results = out / "results"
    lines = []
    for a_path in list_images(data / "val" / "A"):
        damaged, clean = read_image(a_path), read_image(data / "val" / "B" / a_path.name)
        restored = translator(damaged)
        write_image(results / f"{a_path.stem}_restored.png", restored)
        write_image(results / f"{a_path.stem}_input_output_target.png", np.concatenate([damaged, restored, clean], axis=1))
        lines.append(f"{a_path.stem}: PSNR damaged {psnr_uint8(damaged, clean):.2f} dB -> restored {psnr_uint8(restored, clean):.2f} dB")
    print("demo: held-back photos (never seen in training):")
    for line in lines:
        print("  " + line)
    print(f"demo: results in {results}, sample grids in {run / 'samples'}, model in {run / 'best'}")
    return results
