"""Build the sample photos that ship with img2img (``img2img/assets/samples/``).

The photos come from the scientific Python wheels listed in ATTRIBUTION.md (all public domain,
CC0, CC-BY-2.0 or MIT). Each is resized so its shorter side is 256 px, centre-cropped to
256 x 256 and saved as JPEG (quality 90), about 25 kB each.

Usage:
    python datasets/make_samples.py SOURCE_DIR [--out img2img/assets/samples]

SOURCE_DIR holds the original files (e.g. the project's shared development photos).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

# file in SOURCE_DIR -> (short name, origin, license)
SOURCES = {
    "skimage_astronaut.png": ("astronaut", "scikit-image skimage.data.astronaut (NASA)", "public domain"),
    "skimage_chelsea.png": ("chelsea", "scikit-image skimage.data.chelsea", "CC0"),
    "skimage_coffee.png": ("coffee", "scikit-image skimage.data.coffee", "CC0"),
    "skimage_rocket.png": ("rocket", "scikit-image skimage.data.rocket (SpaceX)", "CC0"),
    "skimage_motorcycle_left.png": (
        "motorcycle",
        "scikit-image skimage.data.stereo_motorcycle (Middlebury)",
        "see scikit-image docs",
    ),
    "skimage_immunohistochemistry.png": ("ihc", "scikit-image skimage.data.immunohistochemistry", "CC0"),
    "sklearn_china.jpg": ("china", "scikit-learn sklearn/datasets/images/china.jpg (Flickr)", "CC-BY-2.0"),
    "sklearn_flower.jpg": ("flower", "scikit-learn sklearn/datasets/images/flower.jpg (Flickr)", "CC-BY-2.0"),
    "mpl_grace_hopper.jpg": ("grace_hopper", "matplotlib mpl-data/sample_data (US Navy)", "public domain"),
    "scipy_face.png": ("face", "scipy scipy.misc.face", "public domain"),
    "mahotas_DepartmentStore.jpg": ("store", "mahotas demos/data/DepartmentStore.jpg", "MIT"),
    "mahotas_luispedro.jpg": ("luispedro", "mahotas demos/data/luispedro.jpg", "MIT"),
}


def square_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    s = size / min(h, w)
    image = cv2.resize(image, (max(size, round(w * s)), max(size, round(h * s))), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top : top + size, left : left + size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "img2img/assets/samples")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Sample photos shipped with img2img",
        "",
        "Made by `datasets/make_samples.py` (resized, centre-cropped to 256 x 256, JPEG quality 90).",
        "",
        "| file | origin | license |",
        "| --- | --- | --- |",
    ]
    for name, (short, origin, license_) in SOURCES.items():
        image = cv2.imread(str(args.source / name), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"{args.source / name}: cannot read")
        out = args.out / f"{short}.jpg"
        cv2.imwrite(str(out), square_crop(image, args.size), [cv2.IMWRITE_JPEG_QUALITY, 90])
        lines.append(f"| `{out.name}` | {origin} | {license_} |")
        print("wrote", out)
    (args.out / "ATTRIBUTION.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
