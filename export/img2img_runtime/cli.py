"""``img2img-onnx``: translate images or folders with an exported model; torch is not needed.

    img2img-onnx --model model.onnx --input DIR_OR_IMAGE --output DIR [--tile auto|N|none] [--batch-size 4]
                 [--max-pixels N]
"""

from __future__ import annotations

import argparse
import sys


def parse_tile(value: str) -> int | str | None:
    if value == "auto":
        return "auto"
    if value in ("none", "0"):
        return None
    try:
        tile = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--tile takes 'auto', 'none' or a size in pixels, not {value!r}") from None
    if tile <= 0:
        raise argparse.ArgumentTypeError("--tile must be positive")
    return tile


def parse_max_pixels(value: str) -> int:
    try:
        number = float(value)
        pixels = int(number)
        if pixels != number or pixels < 0:
            raise ValueError
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"--max-pixels takes a whole number of pixels >= 0 (0 = no limit), not {value!r}") from None
    return pixels


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``img2img-onnx`` and ``img2img translate``."""
    parser.add_argument("--input", required=True, help="an image or a folder (searched recursively)")
    parser.add_argument("--output", required=True, help="output folder (relative paths and formats are kept)")
    parser.add_argument("--tile", type=parse_tile, default="auto",
                        help="'auto' (default: tile images larger than twice the model's suggested tile), a tile size in pixels, or 'none'")
    parser.add_argument("--overlap", type=int, help="tile overlap in pixels (default: the model's suggestion)")
    parser.add_argument("--batch-size", type=int, default=4, help="images or tiles per run (default 4)")
    parser.add_argument("--max-pixels", type=parse_max_pixels, metavar="N",
                        help="refuse input images with more than N pixels (width x height), from their header, before "
                             "decoding (default: $IMG2IMG_MAX_PIXELS, else 100000000; 0 = no limit); larger legal images are tiled")
    parser.add_argument("--overwrite", action="store_true", help="rewrite outputs that already exist (default: skip them)")
    parser.add_argument("--no-recursive", dest="recursive", action="store_false")
    parser.add_argument("--no-progress", dest="progress", action="store_false")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="img2img-onnx", description="Run an exported img2img model (ONNX) on images or folders.")
    parser.add_argument("--model", required=True, help="a .onnx file written by `img2img export`")
    add_run_arguments(parser)
    parser.add_argument("--threads", type=int, help="onnxruntime threads (default: all cores)")
    parser.add_argument("--providers", nargs="+", help="onnxruntime execution providers (default: CPUExecutionProvider)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .model import Model

    try:
        model = Model(args.model, providers=args.providers, tile=args.tile, overlap=args.overlap,
                      batch_size=args.batch_size, threads=args.threads, max_pixels=args.max_pixels)
        report = model.translate_folder(args.input, args.output, overwrite=args.overwrite, recursive=args.recursive, progress=args.progress)
    except (OSError, ValueError) as error:  # missing/unreadable/busy folders, refused outputs
        print(f"img2img-onnx: error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
