"""Build the sample photos that ship with img2img (``img2img/assets/samples/`` and ``samples_extra/``).

``samples/``: 12 photos from the scientific Python wheels listed in its ATTRIBUTION.md (all public
domain, CC0, CC-BY-2.0 or MIT); ``img2img demo`` holds two of them back. ``samples_extra/``: the
23 colour photos among OpenCV's sample images (Debian's ``opencv-doc`` package, Apache-2.0 AND
BSD-3-Clause), which the demo adds to its training photos only. Each is resized so its shorter side
is 256 px, centre-cropped to 256 x 256 and saved as JPEG (quality 90), about 25 kB each.

Usage:
    python datasets/make_samples.py SOURCE_DIR [--out img2img/assets/samples]
    python datasets/make_samples.py EXTRA_DIR --extra [--out img2img/assets/samples_extra]

SOURCE_DIR holds the original files (e.g. the project's shared development photos, ``dev/``);
EXTRA_DIR the ``opencv_*`` files (``extra/``: ``apt-get download opencv-doc``, then
``usr/share/doc/opencv-doc/examples/data/``, renamed ``opencv_NAME``).
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

# OpenCV's colour sample photos (basketball1, grayscale, is left out): file stem after "opencv_"
OPENCV_PHOTOS = (
    "aero1 aero3 aloeL apple baboon board building butterfly chicky_512 ela_original fruits graf1 home left "
    "leuvenA leuvenB licenseplate_motion messi5 orange rubberwhale1 smarties squirrel_cls stuff"
).split()
OPENCV_ORIGIN = "OpenCV samples/data (Debian opencv-doc)"
OPENCV_LICENSE = "Apache-2.0 AND BSD-3-Clause"
OPENCV_NOTE = (
    "The licence is the one Debian's `opencv-doc` copyright file states for the OpenCV source tree; "
    "the origin of each picture is not recorded there (`baboon` is the classic USC-SIPI test image)."
)


def extra_sources(source: Path) -> dict[str, tuple[str, str, str]]:
    """``SOURCES``-like entries for the OpenCV photos found in ``source`` (``opencv_NAME.jpg/png``)."""
    out = {}
    for stem in OPENCV_PHOTOS:
        found = sorted(source.glob(f"opencv_{stem}.*"))
        if not found:
            raise SystemExit(f"{source}: no opencv_{stem}.* (expected the OpenCV sample photos)")
        out[found[0].name] = (stem, f"{OPENCV_ORIGIN}: {found[0].name[len('opencv_') :]}", OPENCV_LICENSE)
    return out


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
    parser.add_argument("--extra", action="store_true", help="the OpenCV photos (default --out: samples_extra)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    assets = Path(__file__).resolve().parents[1] / "img2img/assets"
    args.out = args.out or assets / ("samples_extra" if args.extra else "samples")
    args.out.mkdir(parents=True, exist_ok=True)
    sources = extra_sources(args.source) if args.extra else SOURCES
    lines = [
        "# Sample photos shipped with img2img" + (": extra training photos for the demo" if args.extra else ""),
        "",
        f"Made by `datasets/make_samples.py{' --extra' if args.extra else ''}` "
        f"(resized, centre-cropped to {args.size} x {args.size}, JPEG quality 90).",
        "",
        *([OPENCV_NOTE, ""] if args.extra else []),
        "| file | origin | license |",
        "| --- | --- | --- |",
    ]
    for name, (short, origin, license_) in sources.items():
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
