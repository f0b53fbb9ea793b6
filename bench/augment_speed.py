"""Data-pipeline speed: device augmentation (kornia) vs per-image albumentations, and the recipes.

Usage::

    python bench/augment_speed.py                                 # CPU, batch 16, 256 x 256
    python bench/augment_speed.py --device cuda --batch 64 --repeats 50
    python bench/augment_speed.py --photos img2img/assets/samples

(a) Augmentation of image pairs, the same transforms both ways:

* kornia: :class:`img2img.data.augment.DeviceAugment` as training builds it for pix2pix, with a
  random horizontal flip, a random resized crop (``crop_scale=0.8``), a random affine (rotation
  +-10 degrees, shift +-10 %, zoom 1 +- 0.1, reflection padding) and colour jitter 0.2 on the
  input only, applied to a uint8 batch of ``--batch`` pairs already on ``--device`` (the
  conversion to ``[-1, 1]`` included). One repeat is one batch; on CUDA the device is
  synchronised around it. On the CPU it runs with torch's default thread count and again with
  one thread.
* albumentations on the CPU, one pair at a time (as a DataLoader worker would do it), uint8
  numpy ``H x W x 3``: ``HorizontalFlip``, ``RandomResizedCrop`` (scale 0.8..1), ``Affine``
  (same ranges, reflection border) shared by the pair through ``additional_targets``, and
  ``ColorJitter`` (0.2, 0.2, 0.2, hue 0.05). Two rows: ``ColorJitter`` inside the same
  ``Compose`` (so it also hits the target, as the plain Compose does), and ``ColorJitter`` on the
  input alone after the shared geometry (what the kornia pipeline does). One repeat is
  ``--batch`` pairs, in a single thread (``cv2.setNumThreads(1)``, like a data worker).

(b) Pair making per data worker: the images per second a single process with one OpenCV/torch
thread (as ``img2img train`` sets up its workers) makes with each recipe: restore presets
light / medium / heavy (:func:`~img2img.data.degrade.restore_degrader`), sketch (XDoG),
colorize (BT.601 gray), super-resolution x4 bicubic and realistic
(:func:`~img2img.data.degrade.sr_degrade`). One repeat is one pass over all the photos, each with
its own seeded generator.

Photos come from ``--photos`` (default ``/work/shared/data/dev``, falling back to the bundled
samples), resized so the shorter side is ``--size`` and centre-cropped to ``--size`` square. Every
figure is the median over ``--repeats`` timed repeats after ``--warmup`` untimed ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository root: img2img, bench.common
from bench.common import environment, format_table, median, synchronize  # noqa: E402

DEFAULT_PHOTOS = Path("/work/shared/data/dev")
SAMPLES = ROOT / "img2img" / "assets" / "samples"

# The augmentation both ways: flip, resized crop, affine, jitter (input only in kornia).
CROP_SCALE, DEGREES, TRANSLATE, ZOOM, JITTER = 0.8, 10.0, 0.1, 0.1, 0.2


def load_photos(folder: Path, size: int) -> list[np.ndarray]:
    """uint8 RGB ``size x size`` centre crops of the photos under ``folder`` (shorter side resized first)."""
    from img2img_runtime.io import list_images, read_image

    photos = []
    for path in list_images(folder):
        image = read_image(path)
        h, w = image.shape[:2]
        f = size / min(h, w)
        new_h, new_w = max(size, round(h * f)), max(size, round(w * f))
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        photos.append(np.ascontiguousarray(image[top : top + size, left : left + size]))
    if not photos:
        raise SystemExit(f"no images found in {folder}")
    return photos


def timed(fn: Callable[[], object], repeats: int, warmup: int, device: torch.device) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls after ``warmup`` untimed ones (device synchronised)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return median(times)


# ------------------------------------------------------------------------------- augmentation


def bench_kornia(pairs: list[tuple[np.ndarray, np.ndarray]], device: torch.device, repeats: int, warmup: int) -> float:
    from img2img.data.augment import DeviceAugment, to_model_range

    augment = DeviceAugment(
        hflip=True, crop_scale=CROP_SCALE, degrees=DEGREES, translate=TRANSLATE, scale=ZOOM, jitter=JITTER, paired=True
    ).to(device)
    a = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2).contiguous().to(device)
    b = torch.from_numpy(np.stack([p[1] for p in pairs])).permute(0, 3, 1, 2).contiguous().to(device)

    def step() -> None:
        with torch.no_grad():
            augment(to_model_range(a), to_model_range(b))

    return len(pairs) / timed(step, repeats, warmup, device)


def bench_albumentations(
    pairs: list[tuple[np.ndarray, np.ndarray]], repeats: int, warmup: int, *, jitter_both: bool
) -> float:
    import albumentations as A

    size = pairs[0][0].shape[:2]
    geometry = [
        A.HorizontalFlip(p=0.5),
        A.RandomResizedCrop(size=size, scale=(CROP_SCALE, 1.0), p=1.0),
        A.Affine(
            rotate=(-DEGREES, DEGREES),
            translate_percent=(-TRANSLATE, TRANSLATE),
            scale=(1 - ZOOM, 1 + ZOOM),
            border_mode=cv2.BORDER_REFLECT_101,
            p=1.0,
        ),
    ]
    jitter = A.ColorJitter(brightness=JITTER, contrast=JITTER, saturation=JITTER, hue=JITTER / 4, p=1.0)
    if jitter_both:
        shared = A.Compose([*geometry, jitter], additional_targets={"target": "image"}, seed=0)
        input_only = None
    else:
        shared = A.Compose(geometry, additional_targets={"target": "image"}, seed=0)
        input_only = A.Compose([jitter], seed=1)

    def step() -> None:
        for a, b in pairs:
            out = shared(image=a, target=b)
            if input_only is not None:
                input_only(image=out["image"])

    return len(pairs) / timed(step, repeats, warmup, torch.device("cpu"))


# ---------------------------------------------------------------------------------- recipes


def recipe_makers() -> dict[str, tuple[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]]]:
    from img2img.data.degrade import restore_degrader, sr_degrade
    from img2img.data.sketch import sketch

    return {
        "restore light": ("restore_degrader('light')", restore_degrader("light")),
        "restore medium": ("restore_degrader('medium')", restore_degrader("medium")),
        "restore heavy": ("restore_degrader('heavy')", restore_degrader("heavy")),
        "sketch": ("sketch(method='xdog')", lambda image, rng: sketch(image)),
        "colorize": ("cv2 RGB2GRAY (BT.601)", lambda image, rng: cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)),
        "sr x4 bicubic": ("sr_degrade(scale=4)", lambda image, rng: sr_degrade(image, 4, rng)),
        "sr x4 realistic": (
            "sr_degrade(scale=4, realistic=True)",
            lambda image, rng: sr_degrade(image, 4, rng, realistic=True),
        ),
    }


def bench_recipe(
    fn: Callable[[np.ndarray, np.random.Generator], np.ndarray], photos: list[np.ndarray], repeats: int, warmup: int
) -> float:
    counter = iter(range(10**9))

    def one_pass() -> None:
        r = next(counter)
        for i, photo in enumerate(photos):
            fn(photo, np.random.default_rng([0, r, i]))

    return len(photos) / timed(one_pass, repeats, warmup, torch.device("cpu"))


# ------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--photos",
        type=Path,
        default=None,
        help=f"folder of photos (default {DEFAULT_PHOTOS}, else the bundled samples)",
    )
    parser.add_argument("--batch", type=int, default=16, help="pairs per augmentation batch (default 16)")
    parser.add_argument("--size", type=int, default=256, help="crop size (default 256)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device of the kornia pipeline")
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats; the median is reported (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed repeats first (default 2)")
    parser.add_argument("--skip", choices=("augment", "recipes"), help="leave out one part")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    device = torch.device(args.device)
    folder = args.photos or (DEFAULT_PHOTOS if DEFAULT_PHOTOS.is_dir() else SAMPLES)
    photos = load_photos(folder, args.size)

    import albumentations
    import kornia

    env = environment(device)
    print(f"CPU: {env['cpu']} ({env['cpu_count']} CPUs)" + (f" | GPU: {env['gpu']}" if "gpu" in env else ""))
    print(
        f"torch {env['torch']} | kornia {kornia.__version__} | albumentations {albumentations.__version__} | "
        f"opencv {cv2.__version__} | numpy {np.__version__} | python {env['python']}"
    )
    print(
        f"photos: {len(photos)} from {folder}, {args.size}x{args.size} centre crops | "
        f"median of {args.repeats} repeats after {args.warmup} warm-up"
    )

    if args.skip != "augment":
        pairs = [(photos[i % len(photos)], photos[(i + 1) % len(photos)]) for i in range(args.batch)]
        default_threads = torch.get_num_threads()
        rows = [
            {
                "pipeline": "kornia DeviceAugment (batched)",
                "where": str(device),
                "threads": default_threads if device.type == "cpu" else None,
                "pairs_s": bench_kornia(pairs, device, args.repeats, args.warmup),
            }
        ]
        if device.type == "cpu" and default_threads > 1:  # small ops often scale badly with threads
            torch.set_num_threads(1)
            try:
                rows.append(
                    {
                        "pipeline": "kornia DeviceAugment (batched)",
                        "where": "cpu",
                        "threads": 1,
                        "pairs_s": bench_kornia(pairs, device, args.repeats, args.warmup),
                    }
                )
            finally:
                torch.set_num_threads(default_threads)
        cv2_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            for both in (False, True):
                name = "albumentations per pair, jitter " + ("A and B (one Compose)" if both else "A only")
                rows.append(
                    {
                        "pipeline": name,
                        "where": "cpu",
                        "threads": 1,
                        "pairs_s": bench_albumentations(pairs, args.repeats, args.warmup, jitter_both=both),
                    }
                )
        finally:
            cv2.setNumThreads(cv2_threads)
        for row in rows:
            row["ms"] = 1000 / row["pairs_s"]
            row["images_s"] = 2 * row["pairs_s"]
        print(
            f"\n(a) augmentation: hflip + resized crop (scale {CROP_SCALE}..1) + affine (+-{DEGREES:g} deg, "
            f"+-{TRANSLATE:g} shift, zoom 1+-{ZOOM:g}) + jitter {JITTER:g}; {args.batch} pairs of "
            f"{args.size}x{args.size} per repeat"
        )
        print(
            format_table(
                rows,
                [
                    ("pipeline", "pipeline", "s"),
                    ("where", "where", "s"),
                    ("threads", "threads", "d"),
                    ("pairs/s", "pairs_s", ".1f"),
                    ("images/s", "images_s", ".1f"),
                    ("ms/pair", "ms", ".2f"),
                ],
            )
        )
        print(
            "images/s counts A and B (2 per pair); kornia threads = torch threads, albumentations runs as one "
            "single-threaded worker (multiply by the number of DataLoader workers)"
        )

    if args.skip != "recipes":
        cv2_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
        cv2.setNumThreads(1)
        torch.set_num_threads(1)
        try:
            rows = []
            for name, (call, fn) in recipe_makers().items():
                rate = bench_recipe(fn, photos, args.repeats, args.warmup)
                rows.append({"recipe": name, "call": call, "images_s": rate, "ms": 1000 / rate})
        finally:
            cv2.setNumThreads(cv2_threads)
            torch.set_num_threads(torch_threads)
        print(
            f"\n(b) pair making per data worker (one process, 1 OpenCV/torch thread), {args.size}x{args.size}, "
            f"{len(photos)} photos per repeat"
        )
        print(
            format_table(
                rows,
                [
                    ("recipe", "recipe", "s"),
                    ("call", "call", "s"),
                    ("images/s", "images_s", ".1f"),
                    ("ms/image", "ms", ".2f"),
                ],
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
