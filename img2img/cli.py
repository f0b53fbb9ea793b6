"""Command line: a thin layer over the Python API. Each subcommand parses flags and calls one function.

    img2img demo
    img2img prepare {sketch,colorize,restore,sr} PHOTOS OUT [--preset ...] [--scale N]
    img2img train {pix2pix,cyclegan,srgan} --data DIR --out RUN [options] [--resume]
    img2img translate --model RUN_OR_MODEL_DIR_OR_ONNX --input IMAGE_OR_DIR --output DIR [--tile 512]
    img2img export RUN_OR_MODEL_DIR model.onnx [--opset N] [--fp16] [--int8 --calibration DIR [--calibration-method M]]
    img2img eval --model RUN_OR_MODEL_DIR_OR_ONNX --data PHOTOS --task restore|colorize|sketch|sr [--json out.json]
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

S = argparse.SUPPRESS  # flags the user did not give stay out of the kwargs (resume keeps saved values)

# CLI flag -> generator / discriminator constructor keyword
GENERATOR_FLAGS = {"base_channels": int, "num_downs": int, "num_blocks": int, "norm": str, "dropout": float, "upsample": str,
                   "residual": bool, "global_context": bool}
DISCRIMINATOR_FLAGS = {"d_layers": ("n_layers", int), "d_channels": ("base_channels", int), "d_norm": ("norm", str),
                       "d_scales": ("num_scales", int)}


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a folder of images", argument_default=S,
                       description="Train pix2pix (paired), cyclegan (unpaired) or srgan (super-resolution) on image folders.")
    p.add_argument("task", choices=["pix2pix", "cyclegan", "srgan"])
    p.add_argument("--data", help="dataset folder (see README: folder formats)")
    p.add_argument("--out", required=True, help="run folder for checkpoints, samples, logs and the model")
    p.add_argument("--resume", action="store_true", default=False, help="continue the run in --out exactly where it stopped")
    g = p.add_argument_group("data")
    g.add_argument("--steps", type=int, help="total optimisation steps (default 10000, or planned from --minutes)")
    g.add_argument("--minutes", type=float, help="time budget: plan the steps from the measured speed, then stop, "
                                                 "validate and save when the time is spent (resumable)")
    g.add_argument("--profile", choices=["cpu", "gpu"], help="--task recipes: default settings for this kind of "
                                                             "device (default: from the training device)")
    g.add_argument("--size", type=int, help="training crop size (pix2pix/cyclegan 256, srgan 96 = HR crop)")
    g.add_argument("--load-size", type=int, help="shorter side is resized to this before the random crop")
    g.add_argument("--batch-size", type=int, help="images per step (pix2pix/cyclegan 1, srgan 16)")
    g.add_argument("--scale", type=int, choices=[2, 4, 8], help="super-resolution factor (srgan; default 4)")
    g.add_argument("--direction", choices=["AtoB", "BtoA"], help="translate A to B (default) or B to A")
    g.add_argument("--in-channels", type=int, choices=[1, 3])
    g.add_argument("--out-channels", type=int, choices=[1, 3])
    g.add_argument("--num-workers", type=int, help="CPU data-loading workers (default 2)")
    g.add_argument("--no-flip", dest="hflip", action="store_false", help="no random horizontal flips")
    g.add_argument("--vflip", action="store_true", help="random vertical flips too")
    g.add_argument("--crop-scale", type=float, help="random resized crop on the device keeping this..1 of the area (e.g. 0.8)")
    g.add_argument("--affine-degrees", type=float, help="random rotation up to +- this many degrees")
    g.add_argument("--affine-translate", type=float, help="random shift up to this fraction of the size")
    g.add_argument("--affine-scale", type=float, help="random zoom 1 +- this")
    g.add_argument("--recolor", action=argparse.BooleanOptionalAction,
                   help="recipe training: shuffle each photo crop's R, G, B channels before the input is made, so a "
                        "restore net learns the damage, not the training photos' palette (default: off)")
    g.add_argument("--jitter", type=float, help="colour jitter strength on the input only (e.g. 0.2)")
    g.add_argument("--task", dest="recipe", choices=["sketch", "colorize", "restore", "sr"],
                   help="train on plain photos: make inputs on the fly with this recipe (fresh damage every epoch)")
    g.add_argument("--preset", choices=["light", "medium", "heavy"], help="--task restore: how much damage (default medium)")
    g.add_argument("--realistic", action="store_true", help="--task sr: blur, noise and JPEG around the downscale")
    g.add_argument("--color-space", choices=["rgb", "lab"], help="pix2pix: lab = colorization (L in, ab out); --task colorize sets it")
    g.add_argument("--skip-bad", dest="on_bad", action="store_const", const="skip",
                   help="skip unreadable or unmatched files (listed in RUN/skipped.txt) instead of stopping")
    n = p.add_argument_group("networks")
    n.add_argument("--generator", help="generator preset (unet_256, unet_128, resnet_9blocks, resnet_6blocks, srresnet_x4, compact_sr_x4, ...)")
    n.add_argument("--base-channels", type=int, help="generator width")
    n.add_argument("--num-downs", type=int, help="U-Net depth (sizes must be multiples of 2^depth)")
    n.add_argument("--num-blocks", type=int, help="residual blocks (ResNet, SRResNet)")
    n.add_argument("--norm", choices=["batch", "instance", "none"], help="generator normalisation")
    n.add_argument("--dropout", type=float, help="generator dropout")
    n.add_argument("--upsample", choices=["transpose", "resize"], help="U-Net upsampling: transposed conv or resize + conv")
    n.add_argument("--residual", action=argparse.BooleanOptionalAction,
                   help="U-Net/SRResNet predict a correction to the input (bicubic for SR) and start as it "
                        "(default: on for the restore and sr recipes)")
    n.add_argument("--global-context", action=argparse.BooleanOptionalAction,
                   help="U-Net: add a whole-picture summary to the innermost level, so photo-wide changes "
                        "(a colour cast, a fade) are judged from the whole photo")
    n.add_argument("--d-layers", type=int, help="PatchGAN layers (3 = 70x70 receptive field)")
    n.add_argument("--d-channels", type=int, help="PatchGAN width")
    n.add_argument("--d-norm", choices=["batch", "instance", "none"])
    n.add_argument("--spectral-norm", action="store_true", help="spectral normalisation in the discriminator")
    n.add_argument("--d-scales", type=int, help="multi-scale discriminator: number of scales")
    lo = p.add_argument_group("losses")
    lo.add_argument("--gan-mode", choices=["vanilla", "lsgan", "hinge", "wgangp"])
    lo.add_argument("--lambda-l1", type=float, help="pix2pix reconstruction weight (100)")
    lo.add_argument("--pixel-loss", choices=["l1", "l2", "psnr"],
                    help="pix2pix reconstruction loss: l1 (the paper), l2, or psnr (per-image -PSNR in dB)")
    lo.add_argument("--lambda-cycle", type=float, help="cyclegan cycle weight (10)")
    lo.add_argument("--lambda-identity", type=float, help="cyclegan identity weight, relative to cycle (0.5)")
    lo.add_argument("--lambda-gp", type=float, help="gradient penalty weight for wgangp (10)")
    lo.add_argument("--pool-size", type=int, help="cyclegan image pool (50)")
    lo.add_argument("--adv-weight", type=float, help="weight of the generator GAN term (pix2pix 1, srgan 1e-3; 0 = no GAN: PSNR-oriented)")
    lo.add_argument("--warmup-steps", type=int, help="srgan pixel-loss-only steps before the GAN starts (default steps/2; 0 = none)")
    lo.add_argument("--vgg-weights", help="local VGG19 weights file: srgan content loss = VGG19 relu5_4 MSE / 12.75^2 "
                    "(else $IMG2IMG_VGG19_WEIGHTS; without either: L1 + discriminator feature matching)")
    lo.add_argument("--content-loss", choices=["vgg", "l1+fm"], help="srgan content loss (default: vgg when VGG19 weights are given)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--lr", type=float, help="Adam learning rate (2e-4; srgan 1e-4)")
    o.add_argument("--beta1", type=float, help="Adam beta1 (0.5; srgan 0.9)")
    o.add_argument("--beta2", type=float)
    o.add_argument("--decay-steps", type=int, help="LR decay over the last N steps (default: half of the steps after the warm-up)")
    o.add_argument("--lr-schedule", choices=["linear", "step"],
                   help="after steps - decay-steps: linear decay to 0 (pix2pix, cyclegan) or x0.1 (srgan)")
    o.add_argument("--grad-clip", type=float, help="clip gradient norm")
    o.add_argument("--max-bad-steps", type=int,
                   help="consecutive non-finite steps before a rollback to the last good state (default 20)")
    o.add_argument("--precision", choices=["fp32", "bf16", "fp16"], help="fp16 needs CUDA; bf16 autocast works on CPU")
    o.add_argument("--channels-last", action="store_true", help="channels-last memory format (faster on recent GPUs)")
    o.add_argument("--seed", type=int)
    o.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, mps")
    lg = p.add_argument_group("logging")
    lg.add_argument("--log-every", type=int)
    lg.add_argument("--sample-every", type=int)
    lg.add_argument("--checkpoint-every", type=int)
    lg.add_argument("--val-every", type=int)
    from .config import BEST_METRICS

    lg.add_argument("--best-metric", choices=BEST_METRICS,
                    help="what picks RUN/best on the val split (default psnr; cyclegan cycle_psnr; srgan with a GAN term sharpness); "
                         "GAN warm-up steps are never picked")
    lg.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    kwargs: dict[str, Any] = {k: v for k, v in vars(args).items() if k not in ("func", "command", "task", "resume")}
    gen = {k: kwargs.pop(k) for k in list(kwargs) if k in GENERATOR_FLAGS}
    disc = {DISCRIMINATOR_FLAGS[k][0]: kwargs.pop(k) for k in list(kwargs) if k in DISCRIMINATOR_FLAGS}
    recipe_flags = {k: kwargs.pop(k) for k in ("preset", "realistic") if k in kwargs}
    if recipe_flags:
        kwargs["recipe_options"] = recipe_flags
    if kwargs.pop("spectral_norm", False):
        disc["spectral_norm"] = True
    if gen:
        kwargs["generator_kwargs"] = gen
    if disc:
        kwargs["discriminator_kwargs"] = disc
    if not args.resume and "data" not in kwargs:
        raise SystemExit("img2img train: --data is required (unless --resume)")
    result = train(args.task, resume=args.resume, **kwargs)
    print(train_summary(result))
    return 0


def train_summary(result: Any) -> str:
    """The final line of ``img2img train``: the latest model and the best one, with their scores."""
    def scores(metrics: dict[str, Any]) -> str:
        return ", ".join(f"{k[4:]}={v:.4g}" for k, v in metrics.items() if k.startswith("val_") and isinstance(v, float))

    latest = scores(result.metrics)
    line = f"trained {result.step} steps; latest model in {result.run_dir / 'model'}" + (f" ({latest})" if latest else "")
    if result.best:
        line += (f"; best by {result.best['best_metric']} in {result.run_dir / 'best'} "
                 f"(step {result.best['best_step']}: {scores(result.best)})")
    return line


def _add_translate_parser(sub: argparse._SubParsersAction) -> None:
    from img2img_runtime.cli import add_run_arguments

    p = sub.add_parser("translate", help="translate an image or a folder with a trained or exported model")
    p.add_argument("--model", required=True, help="run folder, model folder, checkpoint .pt, or exported .onnx")
    add_run_arguments(p)
    p.add_argument("--direction", choices=["AtoB", "BtoA"], help="for two-way models (cyclegan)")
    p.add_argument("--device", default="auto", help="torch models: auto, cpu, cuda, mps")
    p.set_defaults(func=cmd_translate)


def cmd_translate(args: argparse.Namespace) -> int:
    if str(args.model).endswith(".onnx"):  # the torch-free runtime: one implementation for .onnx files
        from img2img_runtime import Model

        if args.direction:
            raise ValueError("an exported .onnx file holds one direction; --direction applies to run/model folders")
        runner = Model(args.model, tile=args.tile, overlap=args.overlap, batch_size=args.batch_size, max_pixels=args.max_pixels)
    else:
        from .infer import Translator

        runner = Translator.from_pretrained(args.model, device=args.device, direction=args.direction,
                                            batch_size=args.batch_size, tile=args.tile, overlap=args.overlap,
                                            max_pixels=args.max_pixels)
    try:
        report = runner.translate_folder(args.input, args.output, overwrite=args.overwrite, recursive=args.recursive,
                                         progress=args.progress)
    except PermissionError as error:  # an unreadable input folder (main() handles the other errors)
        raise FileNotFoundError(str(error)) from error
    print(report.summary())
    return 0 if report.ok else 1


def _add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained model to a self-describing ONNX file",
                       description="Export one generator to ONNX (dynamic batch/height/width, metadata for the runtime) and check it.")
    p.add_argument("model", help="run folder, model folder or checkpoint .pt")
    p.add_argument("output", help="the .onnx file to write")
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], help="which generator of a cyclegan model")
    p.add_argument("--fp16", action="store_true", help="fp16 weights and arithmetic (for GPU runtimes), float32 input/output")
    p.add_argument("--int8", action="store_true", help="int8 for CPU runtimes: static with --calibration, else dynamic")
    p.add_argument("--calibration", help="folder of representative images for static int8 quantization")
    from img2img_runtime.quantize import CALIBRATION_METHODS

    p.add_argument("--calibration-method", choices=CALIBRATION_METHODS, default="auto",
                   help="how static int8 picks activation ranges (default auto: the best of several percentiles)")
    p.add_argument("--no-check", dest="check", action="store_false", help="skip the onnxruntime-vs-torch check")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx

    if args.calibration and not args.int8:
        raise ValueError("--calibration is for --int8")
    report = export_onnx(args.model, args.output, direction=args.direction, opset=args.opset, fp16=args.fp16,
                         int8=args.int8, calibration=args.calibration, calibration_method=args.calibration_method,
                         check=args.check)
    print(report.summary())
    return 0


def _add_prepare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="build a paired training folder from ordinary photos",
                       description="Make A/B pairs from photos with a recipe: sketch (A = line drawing), colorize (A = grayscale), "
                                   "restore (A = aged/damaged), sr (A = low resolution). Writes OUT/{train,val}/{A,B}.")
    p.add_argument("recipe", choices=["sketch", "colorize", "restore", "sr"])
    p.add_argument("photos", help="folder of photos (searched recursively)")
    p.add_argument("out", help="output folder")
    p.add_argument("--preset", choices=["light", "medium", "heavy"], help="restore: how much damage (default medium)")
    p.add_argument("--scale", type=int, choices=[2, 4, 8], help="sr: downscaling factor (default 4)")
    p.add_argument("--realistic", action="store_true", help="sr: blur, noise and JPEG around the downscale")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of photos held out for validation (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-size", type=int, help="downscale photos larger than this (longer side) first")
    p.add_argument("--overwrite", action="store_true", help="rebuild pairs that already exist")
    p.set_defaults(func=cmd_prepare)


def recipe_options(args: argparse.Namespace, recipe: str) -> dict[str, Any]:
    """Recipe options from the flags that apply to ``recipe``."""
    if recipe == "restore":
        return {"preset": args.preset or "medium"}
    if recipe == "sr":
        return {"scale": args.scale or 4, "realistic": bool(args.realistic)}
    return {}


def cmd_prepare(args: argparse.Namespace) -> int:
    from .prepare import prepare

    report = prepare(args.recipe, args.photos, args.out, val_fraction=args.val_fraction, seed=args.seed,
                     max_size=args.max_size, overwrite=args.overwrite, **recipe_options(args, args.recipe))
    print(report.summary())
    return 0 if not report.failed else 1


def _add_eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score a model beside simple baselines (PSNR, SSIM, colourfulness, sharpness, speed)",
                       description="Make inputs from photos with a task's recipe (or take the pairs of an A/B folder), run the "
                                   "model, and print its PSNR (RGB and luma), SSIM, colourfulness, sharpness and seconds per "
                                   "megapixel beside the baselines (bicubic for sr, the input itself otherwise).")
    p.add_argument("--model", required=True, help="run folder, model folder, checkpoint .pt, or exported .onnx")
    p.add_argument("--data", required=True, help="folder of photos (with --task), or a paired folder with A/ and B/ (val/ preferred)")
    p.add_argument("--task", choices=["restore", "colorize", "sketch", "sr"],
                   help="make the inputs from photos with this recipe; omit for a paired A/B folder")
    p.add_argument("--scale", type=int, choices=[2, 4, 8], help="sr: downscaling factor (default 4)")
    p.add_argument("--preset", choices=["light", "medium", "heavy"], help="restore: how much damage (default medium)")
    p.add_argument("--realistic", action="store_true", help="sr: blur, noise and JPEG around the downscale")
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs' randomness (default 0)")
    p.add_argument("--max-images", type=int, help="evaluate at most this many images")
    p.add_argument("--max-size", type=int, help="downscale photos whose longer side exceeds this first (INTER_AREA)")
    p.add_argument("--device", default="auto", help="torch models: auto, cpu, cuda, mps")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], help="for two-way models (cyclegan run folders)")
    p.add_argument("--json", help="also write the report (rows, per-image values, skipped files) to this JSON file")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_model

    if args.preset and args.task != "restore":
        raise ValueError("--preset is for --task restore")
    if (args.scale or args.realistic) and args.task != "sr":
        raise ValueError("--scale and --realistic are for --task sr")
    report = evaluate_model(args.model, args.data, task=args.task, scale=args.scale or 4, preset=args.preset or "medium",
                            realistic=args.realistic, seed=args.seed, max_images=args.max_images, max_size=args.max_size,
                            device=args.device, direction=args.direction)
    print(report.table())
    if args.json:
        report.to_json(args.json)
        print(f"wrote {args.json}")
    return 0


def _add_demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train a small old-photo restoration model on the bundled photos and write an HTML page of results")
    p.add_argument("--out", default="img2img-demo", help="where to write data, run and results (default ./img2img-demo)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: as many as --minutes allows)")
    p.add_argument("--minutes", type=float, default=None, help="training time budget (default 3)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, steps=args.steps, minutes=args.minutes, device=args.device)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="img2img", description="Image-to-image translation with GANs.")
    parser.add_argument("--version", action="version", version=f"img2img {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo_parser(sub)
    _add_prepare_parser(sub)
    _add_train_parser(sub)
    _add_translate_parser(sub)
    _add_export_parser(sub)
    _add_eval_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"img2img {args.command}: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        from .divergence import TrainingDiverged

        if not isinstance(error, TrainingDiverged):
            raise
        print(f"img2img {args.command}: error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
