"""``img2img-onnx``: translate images or folders with an exported model; torch is not needed.

    img2img-onnx --model model.onnx --input DIR_OR_IMAGE --output DIR [--tile auto|N|none] [--batch-size 4]
                 [--max-pixels N] [--verbose]

Ctrl-C stops after the outputs being written, prints one line (what is kept and the command that
finishes the job: the same one, which skips finished outputs) and exits with status 130.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .argparsing import HelpfulParser


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
        raise argparse.ArgumentTypeError(
            f"--max-pixels takes a whole number of pixels >= 0 (0 = no limit), not {value!r}"
        ) from None
    return pixels


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum`` (the flag's own error message otherwise)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value!r}")
        return number

    return parse


def add_self_ensemble_argument(parser: argparse.ArgumentParser) -> None:
    """``--self-ensemble N``: average the outputs of flipped and transposed copies (translate, eval)."""
    parser.add_argument(
        "--self-ensemble",
        type=int,
        choices=[1, 2, 4, 8],
        default=1,
        metavar="N",
        help="also run N-1 flipped/transposed copies of each image and average the outputs: 2 adds the mirror "
        "image, 4 the upside-down ones, 8 the transposed ones; N times slower, usually a little more accurate "
        "(default 1: off)",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``img2img-onnx`` and ``img2img translate``."""
    parser.add_argument("--input", required=True, help="an image or a folder (searched recursively)")
    parser.add_argument("--output", required=True, help="output folder (relative paths and formats are kept)")
    parser.add_argument(
        "--hints",
        metavar="DIR",
        help="hint models (colorize, sketch): a folder of colour strokes, HINTS/NAME.png for each input NAME.*, "
        "colour on transparent (for one input image: its stroke file) (default: no hints)",
    )
    parser.add_argument(
        "--tile",
        type=parse_tile,
        default="auto",
        help="'auto' (default: tile images larger than twice the model's suggested tile), a tile size in pixels, or 'none'",
    )
    parser.add_argument(
        "--overlap",
        type=whole_number(0),
        help="tile overlap in pixels, below the tile size (default: the model's suggestion with --tile auto, "
        "a tile size // 8 with --tile N)",
    )
    parser.add_argument("--batch-size", type=whole_number(1), default=4, help="images or tiles per run (default 4)")
    add_self_ensemble_argument(parser)
    parser.add_argument(
        "--max-pixels",
        type=parse_max_pixels,
        metavar="N",
        help="refuse input images with more than N pixels (width x height), from their header, before "
        "decoding (default: $IMG2IMG_MAX_PIXELS, else 100000000; 0 = no limit); larger legal images are tiled",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="rewrite outputs that already exist (default: skip them)"
    )
    parser.add_argument(
        "--no-recursive",
        dest="recursive",
        action="store_false",
        help="a folder's images only, not its subfolders' (default: recursive)",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar (default: a bar on stderr)"
    )


VERBOSE_HELP = "also show the logs of the libraries underneath (onnxruntime, onnx, OpenCV, ...); default: quiet"


def command_line(prog: str, argv: Sequence[str], *, drop: Sequence[str] = (), add: Sequence[str] = ()) -> str:
    """``prog`` and ``argv`` as one shell-quoted command to copy, without the flags in ``drop``
    (flags without a value, e.g. ``--overwrite``), with ``add`` appended."""
    kept = [
        arg
        for arg in argv
        if not any(arg == flag or (len(arg) > 2 and flag.startswith(arg) and arg.startswith("--")) for flag in drop)
    ]
    return shlex.join([prog, *kept, *add])


def interrupted(prog: str, what: str, command: str) -> int:
    """Ctrl-C: close the progress bars, print ONE line on stderr (what was kept, and the command
    that continues), and return 130 (the shell's status for SIGINT)."""
    tqdm_module = sys.modules.get("tqdm.std")
    for bar in list(getattr(getattr(tqdm_module, "tqdm", None), "_instances", []) or []):
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a bar that cannot close is no reason to fail here
            pass
    sys.stdout.flush()
    print(f"{prog}: interrupted; {what}: {command}", file=sys.stderr, flush=True)
    return 130


class _ListModels(argparse.Action):
    """``--list-models``: print the shipped models and exit (like --help, before --model is required)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from .zoo import format_table

        print(format_table())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = HelpfulParser(
        prog="img2img-onnx", description="Run an exported img2img model (ONNX) on images or folders."
    )
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument(
        "--list-models", action=_ListModels, help="list the shipped models and exit (default: run --model)"
    )
    parser.add_argument(
        "--model",
        required=True,
        help="a .onnx file written by `img2img export`, or a shipped model's name: "
        + "restore, sr-x4, sr-x4-gan, colorize, sketch (`img2img-onnx --list-models` lists them)",
    )
    add_run_arguments(parser)
    parser.add_argument("--threads", type=int, help="onnxruntime threads (default: all cores)")
    parser.add_argument(
        "--providers",
        nargs="+",
        metavar="PROVIDER",
        help="onnxruntime execution providers (default: CPUExecutionProvider)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    from .logs import quiet_third_party
    from .model import Model, WrongModelKind

    quiet_third_party(args.verbose)
    try:
        model = Model(
            args.model,
            providers=args.providers,
            tile=args.tile,
            overlap=args.overlap,
            batch_size=args.batch_size,
            threads=args.threads,
            max_pixels=args.max_pixels,
            self_ensemble=args.self_ensemble,
        )
        report = model.translate_folder(
            args.input,
            args.output,
            overwrite=args.overwrite,
            recursive=args.recursive,
            progress=args.progress,
            hints=args.hints,
        )
    except KeyboardInterrupt:  # outputs are written whole or not at all; a rerun skips the finished ones
        return interrupted(
            "img2img-onnx",
            f"finished outputs are kept in {args.output}; the same command finishes the rest",
            command_line("img2img-onnx", argv, drop=["--overwrite"]),
        )
    except (OSError, ValueError, WrongModelKind) as error:  # missing/unreadable/busy folders, refused outputs
        print(f"img2img-onnx: error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
