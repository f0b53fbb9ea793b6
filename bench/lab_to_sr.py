"""From the GAN lab to super-resolution: small generated faces, upscaled by an SR model.

Usage::

    img2img train gan --data faces --arch dcgan --out runs/faces --minutes 3
    img2img train srgan --data PHOTOS --task sr --generator compact_sr_x4 --adv-weight 0 --out runs/sr --minutes 4
    python bench/lab_to_sr.py --faces runs/faces --sr runs/sr --out faces_sr.png

Writes one picture with three rows of the same 8 generated faces: as drawn (32 x 32, enlarged
with nearest neighbour), enlarged x4 with bicubic interpolation, and enlarged x4 by the SR model
(any img2img SR run, model folder or .onnx). Prints the sharpness (variance of the Laplacian) of
the two upscaled rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", required=True, help="a GAN lab run (or model / .onnx) trained on faces")
    parser.add_argument("--sr", required=True, help="a super-resolution run, model folder or .onnx")
    parser.add_argument("--out", required=True, help="the picture to write")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)

    from img2img import Translator
    from img2img.sampling import load_sampler
    from img2img_runtime.io import write_image
    from img2img_runtime.sampler import grid

    faces = load_sampler(args.faces).sample(args.n, seed=args.seed)  # n x 32 x 32 x 1
    rgb = np.repeat(faces, 3, axis=3)
    if args.sr.endswith(".onnx"):
        from img2img_runtime import Model

        upscale = Model(args.sr)
        sr = np.stack([upscale(face) for face in rgb])
    else:
        upscale = Translator.from_pretrained(args.sr, device="cpu")
        sr = np.stack(upscale(list(rgb)))
    scale = sr.shape[1] // rgb.shape[1]
    bicubic = np.stack([cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) for face in rgb])
    drawn = rgb.repeat(scale, axis=1).repeat(scale, axis=2)
    write_image(args.out, grid(np.concatenate([drawn, bicubic, sr]), args.n))

    def sharpness(images: np.ndarray) -> float:
        return float(np.mean([cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for im in images]))

    print(f"wrote {args.out}: rows = drawn at {rgb.shape[1]} px (nearest), bicubic x{scale}, SR x{scale}")
    print(f"sharpness (Laplacian variance): bicubic {sharpness(bicubic):.1f}, SR {sharpness(sr):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
