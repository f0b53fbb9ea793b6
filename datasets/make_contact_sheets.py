"""Contact sheets of the dataset recipes: what A (input) and B (target) look like.

One PNG per recipe in ``datasets/contact_sheets/``::

    sketch.png  colorize.png  restore_light.png  restore_medium.png  restore_heavy.png
    sr_x4.png   sr_x4_realistic.png

Each sheet has a title line and one row per photo: the photo | input A | target B, every cell
192 x 192 px with a small label. One-channel inputs (sketch, grayscale) are shown as gray RGB;
low-resolution inputs (sr) are enlarged with nearest-neighbour interpolation, so their pixels
stay visible. The recipes run exactly as ``img2img prepare`` runs them, with the generator
``np.random.default_rng([seed, index])`` for the photo at ``index``, so the sheets are
reproducible.

Usage::

    python datasets/make_contact_sheets.py                       # bundled sample photos
    python datasets/make_contact_sheets.py --source DIR --out DIR --seed 1
    python datasets/make_contact_sheets.py --photos astronaut chelsea coffee rocket

PNG files are written with the strongest zlib setting. A sheet that would be larger than
``--max-kb`` is stored with fewer bits per sample (7, then 6, then 5: the low bits are dropped
and the value is centred in its step), which keeps grain and JPEG damage visible while keeping
the sheets small enough to commit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "export"))

from img2img.data.recipes import Recipe  # noqa: E402
from img2img_runtime.io import list_images, read_image  # noqa: E402

# sheet name -> (recipe, options, title, what A is)
SHEETS: dict[str, tuple[str, dict, str, str]] = {
    "sketch": ("sketch", {}, "sketch: A = XDoG line drawing (1 channel), B = photo", "A: sketch"),
    "colorize": ("colorize", {}, "colorize: A = grayscale (BT.601 luma), B = photo", "A: gray"),
    "restore_light": ("restore", {"preset": "light"}, "restore --preset light: A = aged copy, B = photo", "A: light"),
    "restore_medium": (
        "restore",
        {"preset": "medium"},
        "restore --preset medium: A = aged copy, B = photo",
        "A: medium",
    ),
    "restore_heavy": ("restore", {"preset": "heavy"}, "restore --preset heavy: A = aged copy, B = photo", "A: heavy"),
    "sr_x4": ("sr", {"scale": 4}, "sr --scale 4: A = bicubic 1/4 (shown x4 nearest), B = photo", "A: LR x4"),
    "sr_x4_realistic": (
        "sr",
        {"scale": 4, "realistic": True},
        "sr --scale 4 --realistic: A = blur+noise+JPEG 1/4 (shown x4 nearest)",
        "A: LR real",
    ),
}
DEFAULT_PHOTOS = ("astronaut", "chelsea", "coffee", "motorcycle")
FONT = cv2.FONT_HERSHEY_SIMPLEX
TITLE_HEIGHT = 24


def label(image: np.ndarray, text: str, *, scale: float = 0.42) -> np.ndarray:
    """Writes ``text`` in white on a dark box in the top-left corner of ``image`` (in place)."""
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, 1)
    cv2.rectangle(image, (0, 0), (width + 6, height + baseline + 5), (0, 0, 0), -1)
    cv2.putText(image, text, (3, height + 3), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def cell(image: np.ndarray, size: int, text: str) -> np.ndarray:
    """An RGB ``size x size`` tile: gray replicated, small images enlarged with nearest, large ones shrunk."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    height, width = image.shape[:2]
    if (height, width) != (size, size):
        enlarge = max(height, width) < size
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST if enlarge else cv2.INTER_AREA)
    return label(np.ascontiguousarray(image), text)


def contact_sheet(
    recipe: Recipe, photos: list[tuple[str, np.ndarray]], *, title: str, a_label: str, cell_size: int, seed: int
) -> np.ndarray:
    """Rows of photo | A | B for ``photos`` (name, uint8 RGB), under a title line."""
    rows = []
    for index, (name, photo) in enumerate(photos):
        a, b = recipe(photo, np.random.default_rng([seed, index]))
        rows.append(
            np.hstack([cell(photo, cell_size, name), cell(a, cell_size, a_label), cell(b, cell_size, "B: target")])
        )
    sheet = np.vstack(rows)
    header = np.full((TITLE_HEIGHT, sheet.shape[1], 3), 255, np.uint8)
    cv2.putText(header, title, (4, TITLE_HEIGHT - 8), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([header, sheet])


def encode_png(image: np.ndarray, max_kb: float) -> tuple[bytes, int]:
    """PNG bytes of an RGB image and the bits per sample used: 8, or fewer until it fits ``max_kb``."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    for bits in (8, 7, 6, 5):
        drop = 8 - bits
        reduced = bgr if drop == 0 else ((bgr >> drop) << drop) + np.uint8(1 << (drop - 1))
        ok, data = cv2.imencode(".png", reduced, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise RuntimeError("PNG encoding failed")
        if len(data) <= max_kb * 1024:
            break
    return data.tobytes(), bits


def load_photos(source: Path, names: list[str] | None, count: int) -> list[tuple[str, np.ndarray]]:
    paths = list_images(source)
    if not paths:
        raise SystemExit(f"no images found in {source}")
    by_stem = {p.stem: p for p in paths}
    if names:
        missing = [n for n in names if n not in by_stem]
        if missing:
            raise SystemExit(f"not in {source}: {', '.join(missing)} (available: {', '.join(sorted(by_stem))})")
        chosen = [by_stem[n] for n in names]
    else:
        preferred = [by_stem[n] for n in DEFAULT_PHOTOS if n in by_stem]
        chosen = (preferred + [p for p in paths if p not in preferred])[:count]
    return [(p.stem, read_image(p)) for p in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Contact sheets (photo | A | B) of the dataset recipes.")
    parser.add_argument("--source", type=Path, default=ROOT / "img2img" / "assets" / "samples", help="folder of photos")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "datasets" / "contact_sheets", help="where the PNG sheets go"
    )
    parser.add_argument("--photos", nargs="+", help="photo names (file stems) to show (default: 4 bundled samples)")
    parser.add_argument("--count", type=int, default=4, help="rows per sheet when --photos is not given (default 4)")
    parser.add_argument("--cell", type=int, default=192, help="cell size in pixels (default 192)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the recipes' random generators (default 0)")
    parser.add_argument("--sheets", nargs="+", choices=list(SHEETS), default=list(SHEETS), help="which sheets to build")
    parser.add_argument(
        "--max-kb", type=float, default=380, help="store fewer bits per sample above this size (default 380)"
    )
    args = parser.parse_args(argv)

    photos = load_photos(args.source, args.photos, args.count)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.sheets:
        recipe_name, options, title, a_label = SHEETS[name]
        sheet = contact_sheet(
            Recipe(recipe_name, dict(options)),
            photos,
            title=title,
            a_label=a_label,
            cell_size=args.cell,
            seed=args.seed,
        )
        data, bits = encode_png(sheet, args.max_kb)
        path = args.out / f"{name}.png"
        path.write_bytes(data)
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {sheet.shape[1]}x{sheet.shape[0]}, "
            f"{len(data) / 1024:.0f} kB" + (f" ({bits} bits per sample)" if bits < 8 else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
