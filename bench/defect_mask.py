"""Is an explicit defect mask worth a second net? An oracle measurement on held-out photos.

    python bench/defect_mask.py PHOTOS [--model restore] [--preset varied] [--seeds 0,1] [--max-size 768]

Bringing-Old-Photos-Back-to-Life finds scratches with a detector net and fills them from their
surroundings before restoring. Before training such a detector, this measures what a *perfect*
one would give: each photo is damaged with the restore preset (seeded, as ``img2img eval``
does), and the localized defects' true mask is recorded while the damage is made (every pixel
that the ``scratches``, ``dust`` or ``creases`` step changed by more than 8 levels). Then the
model restores

* ``model``: the damaged photo, as it is;
* ``oracle mask + inpaint``: the damaged photo with the masked pixels (dilated by 1 px) filled
  from their surroundings first (OpenCV's Telea inpainting), i.e. a perfect detector in front of
  the model; and ``inpaint only``: that filled photo without the model.

It prints PSNR over the whole photo and inside the defect mask, for the damaged input and each
row, averaged over the photos and seeds. A large gain of the oracle row over the model row (in
the mask especially) says a detector is worth training; a small one says the model already
fills the defects it is shown, or that what is left is not in the defects.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LOCALIZED = ("scratches", "dust", "creases")
CHANGED = 8  # levels: a pixel a localized step changed by more than this is a defect pixel


def damage_with_mask(photo, preset: str, rng):
    """(damaged photo, bool mask of the localized defects), drawing from ``rng`` exactly as the preset's Degrader."""
    import numpy as np

    from img2img.data.degrade import restore_degrader

    out = np.ascontiguousarray(photo)
    mask = np.zeros(photo.shape[:2], bool)
    for step in restore_degrader(preset).steps:
        if rng.random() < step.p:
            before = out
            out = step(out, rng)
            if step.name in LOCALIZED:
                mask |= np.abs(out.astype(np.int16) - before.astype(np.int16)).max(axis=2) > CHANGED
    return out, mask


def psnr(a, b, where=None) -> float:
    import numpy as np

    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = diff[where].mean() if where is not None else diff.mean()
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--model", default="restore", help="a shipped model's name, .onnx, run or model folder")
    parser.add_argument("--preset", default="varied")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--max-size", type=int, default=768, help="longer side of the photos (default 768)")
    args = parser.parse_args()

    import cv2
    import numpy as np

    from img2img import Translator
    from img2img_runtime import Model, zoo
    from img2img_runtime.io import list_images, read_image

    onnx = args.model.endswith(".onnx") or zoo.is_model_name(args.model)  # names: the shipped ONNX file
    runner = Model(args.model) if onnx else Translator.from_pretrained(args.model)
    rows: dict[str, list[tuple[float, float]]] = {}
    photos = [p for folder in args.photos for p in (list_images(folder) if folder.is_dir() else [folder])]
    print(f"{len(photos)} photos, preset {args.preset}, seeds {args.seeds}; load average {os.getloadavg()[0]:.2f}")
    for seed in (int(s) for s in args.seeds.split(",")):
        for index, path in enumerate(photos):
            clean = read_image(path, channels=3)
            scale = args.max_size / max(clean.shape[:2])
            if scale < 1:
                clean = cv2.resize(clean, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            damaged, mask = damage_with_mask(clean, args.preset, np.random.default_rng([seed, index]))
            if mask.sum() < 16:
                continue  # no localized defect drawn for this photo
            filled = cv2.inpaint(
                damaged, cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)), 3, cv2.INPAINT_TELEA
            )
            outputs = {
                "damaged input": damaged,
                "model": runner(damaged),
                "inpaint only": filled,
                "oracle mask + inpaint, then model": runner(filled),
            }
            for name, image in outputs.items():
                rows.setdefault(name, []).append((psnr(image, clean), psnr(image, clean, mask)))
    count = len(next(iter(rows.values()), []))
    print(f"{count} damaged photos with localized defects")
    print("| row | PSNR | PSNR in the defect mask |")
    print("| --- | --- | --- |")
    for name, values in rows.items():
        whole, inside = np.mean([v[0] for v in values]), np.mean([v[1] for v in values])
        print(f"| {name} | {whole:.2f} | {inside:.2f} |")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
