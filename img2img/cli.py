"""Command line: a thin layer over the Python API. Each subcommand parses flags and calls one function.

    img2img demo
    img2img models                                   (the shipped models: restore, sr-x4, sr-x4-gan, colorize, sketch)
    img2img prepare {sketch,colorize,restore,sr} PHOTOS OUT [--preset ...] [--scale N]
    img2img train {pix2pix,cyclegan,srgan} --data DIR --out RUN [options] [--stop-after N]
    img2img train gan --data digits|faces|DIR --arch mlp|dcgan [--condition class|acgan] --out RUN
    img2img sample --model RUN_OR_MODEL_DIR_OR_ONNX --output grid.png [--n 64] [--label 7] [--latent-walk]
    img2img train --out RUN --resume [--steps N]
    img2img train pix2pix --init-from NAME|RUN|MODEL_DIR --data DIR --task restore --out RUN   (fine-tune: a new run)
    img2img translate --model RUN_OR_MODEL_DIR_OR_ONNX --input IMAGE_OR_DIR --output DIR [--tile 512]
    img2img export RUN_OR_MODEL_DIR model.onnx [--opset N] [--fp16] [--int8 --calibration DIR [--calibration-method M]]
    img2img eval --model RUN_OR_MODEL_DIR_OR_ONNX --data PHOTOS --task restore|colorize|sketch|sr [--json out.json]
    img2img eval --model GAN_RUN_OR_MODEL [--data digits|DIR]   (class coverage, entropy, inception, accuracy)
    img2img web --model model.onnx [--port 8765] [--static SITE/]   (the model in the browser, onnxruntime-web)

Every command takes --verbose (the logs of onnx, onnxruntime, OpenCV, ... are hidden without it).
Ctrl-C stops at a safe point, prints one line on stderr (what was saved, and the command that
continues: for train the same command with --resume, for folder jobs the same command, which
skips finished outputs) and exits with status 130.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

S = argparse.SUPPRESS  # flags the user did not give stay out of the kwargs (resume keeps saved values)

# --help and argument errors answer at once (tests/test_fast_cli.py): building the parser imports no torch,
# kornia or OpenCV, main() runs a command's check_* (the checks across flags) before anything heavy loads,
# and each cmd_* imports what it runs.

# the restore recipe's --preset choices (the names only: no OpenCV)
from .data.restore_presets import RESTORE_PRESETS  # noqa: E402

# CLI flag -> generator / discriminator constructor keyword: one mapping for the CLI and img2img.train()
from .options import DISCRIMINATOR_FLAGS, GENERATOR_FLAGS  # noqa: E402,F401


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    # Flags not given stay out of the namespace (argument_default=SUPPRESS), so a resume keeps the saved
    # values and the unset ones take TrainConfig's per-task defaults: the defaults below are written out.
    from .config import BEST_METRICS
    from .options import FAMILIES, RECIPES

    p = sub.add_parser(
        "train",
        help="train a model on a folder of images",
        argument_default=S,
        usage="%(prog)s {pix2pix,cyclegan,srgan} --data DIR --out RUN [options]\n"
        "       %(prog)s gan --data digits|faces|DIR --arch mlp|dcgan --out RUN [options]\n"
        "       %(prog)s --out RUN --resume [options]   (see --help for the options)",
        description="Train pix2pix (paired), cyclegan (unpaired) or srgan (super-resolution) on image folders, "
        "or gan (the classic GAN lab: noise -> image) on the built-in digits or faces or a folder. "
        "Every flag is also a keyword of img2img.train() (--base-channels 32 = base_channels=32).",
    )
    p.add_argument(
        "task",
        nargs="?",
        default=None,
        choices=FAMILIES,
        help="model family (default: from the run folder with --resume, else pix2pix for --task "
        "restore/colorize/sketch and srgan for --task sr; required otherwise)",
    )
    p.add_argument(
        "--data",
        help="dataset folder (see README: folder formats); required unless --resume (default: "
        "the run's folder when resuming)",
    )
    p.add_argument("--out", required=True, help="run folder for checkpoints, samples, logs and the model")
    p.add_argument(
        "--resume",
        action="store_true",
        default=False,
        help="continue the run in --out where it stopped; the task and every option come from the run "
        "folder (bit-exact with the same --steps, device and thread count; see README) (default: off)",
    )
    p.add_argument(
        "--init-from",
        metavar="NAME|RUN|MODEL_DIR",
        help="fine-tune: start a new run (step 0, fresh optimizer and schedule) from the weights of a shipped "
        "model (img2img models), a run folder (its best/ or model/, and its discriminator from "
        "checkpoints/last.pt) or a model folder; the generator's architecture comes from the model and a "
        "model of another task is refused; not with --resume (default: none, fresh weights)",
    )
    p.add_argument(
        "--stop-after",
        type=int,
        metavar="N",
        help="stop at step N of the --steps schedule (with a checkpoint); a later --resume continues the "
        "same schedule, bit for bit (default: run all --steps)",
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--steps",
        type=int,
        help="total optimisation steps; the learning-rate decay is planned over them "
        "(default: 10000, or planned from --minutes)",
    )
    g.add_argument(
        "--minutes",
        type=float,
        help="time budget: plan the steps from the measured speed, then stop, "
        "validate and save when the time is spent (resumable; a resume plans again for the time left); "
        "with --steps the steps are kept and the budget only stops early (default: none)",
    )
    g.add_argument(
        "--profile",
        choices=["cpu", "gpu"],
        help="--task recipes: default settings for this kind of device (default: from the training device)",
    )
    g.add_argument(
        "--size",
        type=int,
        help="training crop size (default: pix2pix/cyclegan 256, srgan 96 = HR crop; "
        "--task recipes on a cpu profile 128)",
    )
    g.add_argument(
        "--load-size",
        type=int,
        help="shorter side is resized to this before the random crop (default: size * 286 / 256)",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        help="images per step (default: pix2pix/cyclegan 1, srgan 16; --task recipes 4 to 16 by profile)",
    )
    g.add_argument("--scale", type=int, choices=[2, 4, 8], help="super-resolution factor (srgan) (default: 4)")
    g.add_argument("--direction", choices=["AtoB", "BtoA"], help="translate A to B or B to A (default: AtoB)")
    g.add_argument("--in-channels", type=int, choices=[1, 3], help="input channels: 1 = grayscale (default: 3)")
    g.add_argument("--out-channels", type=int, choices=[1, 3], help="output channels: 1 = grayscale (default: 3)")
    g.add_argument("--num-workers", type=int, help="CPU data-loading workers (default: 2; gan on digits or faces 0)")
    g.add_argument(
        "--no-flip", dest="hflip", action="store_false", help="no random horizontal flips (default: flips on)"
    )
    g.add_argument("--vflip", action="store_true", help="random vertical flips too (default: off)")
    g.add_argument(
        "--crop-scale",
        type=float,
        help="random resized crop on the device keeping this..1 of the area, e.g. 0.8 (default: off)",
    )
    g.add_argument("--affine-degrees", type=float, help="random rotation up to +- this many degrees (default: 0)")
    g.add_argument("--affine-translate", type=float, help="random shift up to this fraction of the size (default: 0)")
    g.add_argument("--affine-scale", type=float, help="random zoom 1 +- this (default: 0)")
    g.add_argument(
        "--recolor",
        action=argparse.BooleanOptionalAction,
        help="recipe training: shuffle each photo crop's R, G, B channels before the input is made, so a "
        "restore net learns the damage, not the training photos' palette (default: off)",
    )
    g.add_argument(
        "--vary-photos",
        type=float,
        metavar="STRENGTH",
        help="recipe training: give each photo crop a random tone curve (gamma up to exp(+-0.3 x STRENGTH)) "
        "and hue turn (up to +-180 x STRENGTH degrees) before the input is made, so a restore net does not "
        "take the training photos' palette for the undamaged look; 0 = off (default: 0; restore recipe 1)",
    )
    g.add_argument("--jitter", type=float, help="colour jitter strength on the input only, e.g. 0.2 (default: 0)")
    g.add_argument(
        "--task",
        dest="recipe",
        choices=RECIPES,
        help="train on plain photos: make inputs on the fly with this recipe, fresh damage every epoch "
        "(default: none, the folder holds pairs)",
    )
    g.add_argument(
        "--hints",
        action="store_true",
        help="pix2pix (--task colorize, sketch): learn from colour hints drawn at random from the target, so "
        "that a person's colour points or strokes guide the output (translate --hints) (default: off)",
    )
    g.add_argument("--preset", choices=RESTORE_PRESETS, help="--task restore: how much damage (default: medium)")
    g.add_argument(
        "--realistic", action="store_true", help="--task sr: blur, noise and JPEG around the downscale (default: off)"
    )
    g.add_argument(
        "--color-space",
        choices=["rgb", "lab"],
        help="pix2pix: lab = colorization (L in, ab out) (default: rgb; --task colorize sets lab)",
    )
    g.add_argument(
        "--skip-bad",
        dest="on_bad",
        action="store_const",
        const="skip",
        help="skip unreadable or unmatched files, listed in RUN/skipped.txt, instead of stopping (default: stop)",
    )
    n = p.add_argument_group("networks")
    n.add_argument(
        "--generator",
        help="generator preset: unet_256, unet_128, resnet_9blocks, resnet_6blocks, srresnet_x4, "
        "compact_sr_x4, ... (default: pix2pix unet_256, cyclegan resnet_9blocks, srgan srresnet_x4)",
    )
    n.add_argument(
        "--generator-kwargs",
        type=json_object,
        metavar="JSON",
        help="more generator constructor arguments as a JSON object, e.g. a net of your own's settings: "
        "'{\"growth\": 16}' (the flags below set the common ones; a contradiction is an error) (default: none)",
    )
    n.add_argument("--base-channels", type=int, help="generator width (default: 64; cpu recipe profiles 32)")
    n.add_argument(
        "--num-downs",
        type=int,
        help="U-Net depth; sizes must be multiples of 2^depth (default: unet_256 8, unet_128 7; cpu recipe profiles 6)",
    )
    n.add_argument(
        "--num-blocks",
        type=int,
        help="residual blocks, ResNet and SRResNet (default: resnet_9blocks 9, "
        "resnet_6blocks 6, srresnet 16; sr cpu profile 6)",
    )
    n.add_argument(
        "--head-kernel",
        type=int,
        help="SRResNet: kernel size of the last conv, at the output resolution (default: 9, the paper's; "
        "sr cpu profile 3: about twice as fast on a CPU)",
    )
    n.add_argument(
        "--norm",
        choices=["batch", "instance", "none"],
        help="generator normalisation (default: instance; restore recipe none)",
    )
    n.add_argument("--dropout", type=float, help="generator dropout (default: U-Net 0.5, ResNet 0)")
    n.add_argument(
        "--upsample",
        choices=["transpose", "resize"],
        help="U-Net upsampling: transposed conv or resize + conv (default: transpose; recipes resize)",
    )
    n.add_argument(
        "--residual",
        action=argparse.BooleanOptionalAction,
        help="U-Net/SRResNet predict a correction to the input (bicubic for SR) and start as it "
        "(default: on for the restore and sr recipes, else off)",
    )
    n.add_argument(
        "--global-context",
        action=argparse.BooleanOptionalAction,
        help="U-Net: add a whole-picture summary to the innermost level, so photo-wide changes "
        "(a colour cast, a fade) are judged from the whole photo (default: off)",
    )
    n.add_argument(
        "--global-color",
        action=argparse.BooleanOptionalAction,
        help="U-Net: first correct the whole input with a photo-wide colour transform predicted from "
        "its histograms (fading, casts); inference then runs on whole images (default: on for the "
        "restore recipe, else off)",
    )
    n.add_argument(
        "--global-vignette",
        action=argparse.BooleanOptionalAction,
        help="U-Net with --global-color: the colour head also undoes a darkening towards the photo's "
        "corners, judged from the brightness of a 4 x 4 grid (default: on for the restore recipe, else off)",
    )
    n.add_argument(
        "--detail-sigma",
        type=float,
        help="residual U-Net: high-pass its correction (take away its Gaussian blur of this sigma, in "
        "pixels), so it repairs detail and leaves tone over larger areas to the colour head (default: 0, off)",
    )
    n.add_argument(
        "--color-window",
        type=int,
        metavar="PX",
        help="U-Net with --global-color: judge the colour of a photo larger than PX pixels (the training crop "
        "size) from 4 x 4 overlapping windows of it, each 3/4 of its side, and average (default: 0, the whole photo)",
    )
    n.add_argument(
        "--vignette-scale",
        type=float,
        metavar="S",
        help="U-Net with --global-vignette: at inference undo the predicted vignette at this share (0-1) of its "
        "strength; the head learns it from crops and over-corrects whole photos whose subject is brighter than "
        "their edges (default: 0.75 for the restore recipe, else 1)",
    )
    n.add_argument(
        "--zero-start",
        action=argparse.BooleanOptionalAction,
        help="U-Net: the last conv starts at zero, so a new colorize net outputs no colour (the gray "
        "input) and learns from there (default: off)",
    )
    n.add_argument("--d-layers", type=int, help="PatchGAN layers, 3 = 70x70 receptive field (default: 3)")
    n.add_argument("--d-channels", type=int, help="PatchGAN width (default: 64; cpu recipe profiles 32)")
    n.add_argument(
        "--d-norm",
        choices=["batch", "instance", "none"],
        help="PatchGAN normalisation (default: batch; cyclegan and wgangp instance)",
    )
    n.add_argument(
        "--spectral-norm", action="store_true", help="spectral normalisation in the discriminator (default: off)"
    )
    n.add_argument("--d-scales", type=int, help="multi-scale discriminator: number of scales (default: 1)")
    lo = p.add_argument_group("losses")
    lo.add_argument(
        "--gan-mode",
        choices=["vanilla", "lsgan", "hinge", "wgangp"],
        help="GAN objective (default: pix2pix and srgan vanilla, cyclegan lsgan)",
    )
    lo.add_argument("--lambda-l1", type=float, help="pix2pix reconstruction weight (default: 100)")
    lo.add_argument(
        "--pixel-loss",
        choices=["l1", "l2", "psnr"],
        help="pix2pix reconstruction loss: l1 (the paper), l2, or psnr (per-image -PSNR in dB) (default: l1)",
    )
    lo.add_argument(
        "--lambda-color",
        type=float,
        help="pix2pix with a colour head: weight of the head's own loss in the generator's, the PSNR of its "
        "corrected input to the target over 8 x 8 blocks (default: 0; ignored with --color-replay)",
    )
    lo.add_argument(
        "--color-replay",
        type=int,
        metavar="K",
        help="pix2pix with a colour head: train the head apart from the generator, on its own loss, with K "
        "updates per step on batches replayed from the statistics of the last 8192 training crops "
        "(default: 0, the head trains with the generator; restore recipe 4)",
    )
    lo.add_argument("--lambda-cycle", type=float, help="cyclegan cycle weight (default: 10)")
    lo.add_argument("--lambda-identity", type=float, help="cyclegan identity weight, relative to cycle (default: 0.5)")
    lo.add_argument("--lambda-gp", type=float, help="gradient penalty weight for wgangp (default: 10)")
    lo.add_argument("--pool-size", type=int, help="cyclegan image pool (default: 50)")
    lo.add_argument(
        "--adv-weight",
        type=float,
        help="weight of the generator GAN term; 0 = no GAN, PSNR-oriented "
        "(default: pix2pix 1, srgan 1e-3; restore recipe 0, colorize/sketch 0.01, sr recipe on a CPU 0.02)",
    )
    lo.add_argument(
        "--warmup-steps",
        type=int,
        help="srgan pixel-loss-only steps before the GAN starts; 0 = none (default: steps x --warmup-fraction)",
    )
    lo.add_argument(
        "--warmup-fraction",
        type=float,
        help="srgan: the warm-up's share of the steps when --warmup-steps is not given, re-planned with "
        "--minutes (default: 0.5, the paper's two stages; sr recipe on a CPU 0.3)",
    )
    lo.add_argument(
        "--vgg-weights",
        help="local VGG19 weights file: srgan content loss = VGG19 relu5_4 MSE / 12.75^2 "
        "(default: $IMG2IMG_VGG19_WEIGHTS; without either: L1 + discriminator feature matching)",
    )
    lo.add_argument(
        "--content-loss",
        choices=["vgg", "l1+fm"],
        help="srgan content loss (default: vgg when VGG19 weights are given, else l1+fm)",
    )
    o = p.add_argument_group("optimisation")
    o.add_argument("--lr", type=float, help="Adam learning rate (default: 2e-4; srgan 1e-4; cpu recipe profiles 5e-4)")
    o.add_argument("--beta1", type=float, help="Adam beta1 (default: 0.5; srgan 0.9)")
    o.add_argument("--beta2", type=float, help="Adam beta2 (default: 0.999)")
    o.add_argument(
        "--decay-steps", type=int, help="LR decay over the last N steps (default: half of the steps after the warm-up)"
    )
    o.add_argument(
        "--decay-fraction",
        type=float,
        help="the LR decay's share of the steps after the warm-up when --decay-steps is not given, re-planned "
        "with --minutes (default: 0.5)",
    )
    o.add_argument(
        "--lr-schedule",
        choices=["linear", "step"],
        help="after steps - decay-steps: linear decay to 0 or x0.1 (default: pix2pix/cyclegan linear, srgan step)",
    )
    o.add_argument("--grad-clip", type=float, help="clip the gradient norm to this (default: no clipping)")
    o.add_argument(
        "--ema",
        type=float,
        metavar="DECAY",
        help="validate, sample and save an exponential moving average of the generators' weights with this "
        "decay, e.g. 0.999 (default: 0, the last weights)",
    )
    o.add_argument(
        "--max-bad-steps",
        type=int,
        help="consecutive non-finite steps before a rollback to the last good state (default: 20)",
    )
    o.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16"],
        help="fp16 needs CUDA; bf16 autocast works on CPU (default: fp32)",
    )
    o.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="channels-last memory format, faster on recent GPUs and for the restore U-Net on a CPU "
        "(default: off; the restore recipe's cpu profile on)",
    )
    o.add_argument("--seed", type=int, help="seed of the weights, the data order and the augmentation (default: 0)")
    o.add_argument("--device", help="auto, cpu, cuda, cuda:1, mps (default: auto)")
    lab = p.add_argument_group("the GAN lab (img2img train gan)")
    lab.add_argument(
        "--arch",
        choices=["mlp", "dcgan"],
        help="mlp: the classic lab (two hidden layers, 2-D latent, G lr 1e-3, D lr 2e-4); dcgan: "
        "transposed convs with batch norm (default: dcgan)",
    )
    lab.add_argument("--latent-dim", type=int, help="noise size (default: mlp 2, dcgan 100)")
    lab.add_argument(
        "--condition",
        choices=["class", "acgan"],
        help="class: a conditional GAN (choose the class); acgan: the discriminator also names the class "
        "(default: unconditional)",
    )
    lab.add_argument(
        "--gan-loss",
        choices=["vanilla", "lsgan", "hinge", "wgangp"],
        help="the GAN objective, same as --gan-mode (default: vanilla)",
    )
    lab.add_argument("--n-critic", type=int, help="discriminator steps per generator step (default: 1; wgangp 5)")
    lab.add_argument(
        "--d-lr", type=float, help="discriminator learning rate (default: --lr; gan mlp 2e-4, wgangp 1e-4)"
    )
    lg = p.add_argument_group("logging")
    lg.add_argument("--log-every", type=int, help="steps between RUN/log.jsonl records (default: 10)")
    lg.add_argument("--sample-every", type=int, help="steps between RUN/samples grids (default: 500)")
    lg.add_argument(
        "--checkpoint-every", type=int, help="steps between checkpoints, RUN/checkpoints/last.pt (default: 1000)"
    )
    lg.add_argument("--val-every", type=int, help="steps between validations on the val split (default: 1000)")
    lg.add_argument(
        "--best-metric",
        metavar="METRIC",
        help=f"what picks RUN/best on the val split: {', '.join(BEST_METRICS)}, or a score a task of your own "
        "defines; GAN warm-up steps are never picked; a metric the task does not score is refused (pix2pix and "
        "srgan: psnr, ssim, sharpness or last; cyclegan: cycle_psnr or last; gan: inception, coverage, accuracy "
        "or last) "
        "(default: psnr; the restore recipe last; cyclegan cycle_psnr; srgan with a GAN term sharpness)",
    )
    lg.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar (default: a bar on stderr)"
    )
    p.set_defaults(func=cmd_train, _check=check_train, _parser=p)


def check_train(args: argparse.Namespace) -> None:
    from .options import FAMILIES

    if not args.resume and args.task is None and not hasattr(args, "recipe"):
        args._parser.error(
            f"the model family ({', '.join(FAMILIES)}) is required, e.g. img2img train pix2pix --data DIR "
            "--out RUN (with --resume it comes from the run folder)"
        )
    if not args.resume and not hasattr(args, "data"):
        args._parser.error("--data is required (unless --resume)")
    if args.resume and hasattr(args, "init_from"):
        from .options import INIT_FROM_WITH_RESUME

        args._parser.error(INIT_FROM_WITH_RESUME)


def json_object(text: str) -> dict[str, Any]:
    """An argparse type: a JSON object (``'{"growth": 16}'``)."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error.msg} at character {error.pos}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"growth\": 16}}', got {text!r}")
    return value


def cmd_train(args: argparse.Namespace) -> int:
    from .training import train

    # the flags' names are train()'s keywords: train() maps them to TrainConfig fields (img2img.options)
    kwargs: dict[str, Any] = {
        k: v
        for k, v in vars(args).items()
        if k not in ("func", "command", "task", "resume", "stop_after", "verbose") and not k.startswith("_")
    }
    stop_after = getattr(args, "stop_after", None)
    result = train(args.task, resume=args.resume, stop_after=stop_after, **kwargs)
    if not is_main_rank():  # torchrun: one summary, from rank 0
        return 0
    print(train_summary(result))
    if result.total_steps and result.step < result.total_steps and stop_after is not None:
        again = train_command(["train", "--out", str(result.run_dir), "--resume"])
        print(f"stopped at step {result.step} of {result.total_steps}; continue with: {again}")
    return 0


def is_main_rank() -> bool:
    """False in the processes of a torchrun job other than rank 0 (they print no final lines)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def train_command(argv: list[str], add: list[str] | tuple[str, ...] = ()) -> str:
    """The command that runs ``img2img ARGV`` again as this process was started: under torchrun
    (``WORLD_SIZE`` > 1) the same ``torchrun`` launch (nodes, processes per node, and on several
    nodes the rendezvous endpoint), else plain ``img2img``."""
    from img2img_runtime.cli import command_line

    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return command_line("img2img", argv, add=add)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)) or world)
    nodes = max(1, world // max(local, 1))
    launch = ["--nnodes", str(nodes), "--nproc-per-node", str(local)]
    if nodes > 1:
        endpoint = f"{os.environ.get('MASTER_ADDR', 'HOST')}:{os.environ.get('MASTER_PORT', '29500')}"
        launch += ["--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint]
    return command_line("torchrun", [*launch, "-m", "img2img", *argv], add=add)


def train_summary(result: Any) -> str:
    """The final line of ``img2img train``: the latest model and the best one, with their scores."""

    def scores(metrics: dict[str, Any]) -> str:
        return ", ".join(
            f"{k[4:]}={v:.4g}" for k, v in metrics.items() if k.startswith("val_") and isinstance(v, float)
        )

    latest = scores(result.metrics)
    total = getattr(result, "total_steps", None)
    done = (
        f"{result.step} of {total} steps"
        if total and result.step < total
        else f"{result.step} step{'' if result.step == 1 else 's'}"
    )
    line = f"trained {done}; latest model in {result.run_dir / 'model'}" + (f" ({latest})" if latest else "")
    if result.best:
        best = scores(result.best)
        line += (
            f"; best by {result.best['best_metric']} in {result.run_dir / 'best'} "
            f"(step {result.best['best_step']}{': ' + best if best else ''})"
        )
    return line


def _add_translate_parser(sub: argparse._SubParsersAction) -> None:
    from img2img_runtime.cli import add_run_arguments

    p = sub.add_parser("translate", help="translate an image or a folder with a trained or exported model")
    p.add_argument(
        "--model",
        required=True,
        help="run folder, model folder, checkpoint .pt, exported .onnx, or a shipped model's name (img2img models)",
    )
    add_run_arguments(p)
    p.add_argument("--direction", choices=["AtoB", "BtoA"], help="for two-way models (cyclegan) (default: the model's)")
    p.add_argument("--device", default="auto", help="torch models: auto, cpu, cuda, mps (default: auto)")
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this machine; ray: a Ray cluster's actor pool (.onnx models; pip install 'img2img[ray]'; "
        "--input/--output may be URIs such as s3://) (default: local)",
    )
    p.add_argument(
        "--ray-address",
        help="--engine ray: the cluster ('auto': an existing one) (default: the running one, or a new local instance)",
    )
    p.add_argument("--actors", type=int, help="--engine ray: actor pool size (default: one per CPU of the cluster)")
    p.set_defaults(func=cmd_translate, _check=check_translate)


def check_translate(args: argparse.Namespace) -> None:
    if str(args.model).endswith(".onnx") and args.direction:
        raise ValueError("an exported .onnx file holds one direction; --direction applies to run/model folders")
    from img2img_runtime.zoo import is_model_name

    if args.engine == "ray" and not (str(args.model).endswith(".onnx") or is_model_name(args.model)):
        raise ValueError("--engine ray runs exported models: img2img export RUN model.onnx, then --model model.onnx")
    if args.engine == "ray" and args.hints:
        raise ValueError("--hints runs with the local engine (a hint model runs on Ray without hints)")
    if args.engine != "ray" and (args.ray_address or args.actors):
        raise ValueError("--ray-address and --actors are options of --engine ray")
    if args.actors is not None and args.actors < 1:
        raise ValueError("--actors must be >= 1")


def cmd_translate(args: argparse.Namespace) -> int:
    if args.engine == "ray":
        from img2img_runtime.ray import translate_dataset

        report = translate_dataset(
            args.model,
            args.input,
            args.output,
            address=args.ray_address,
            actors=args.actors,
            batch_size=args.batch_size,
            tile=args.tile,
            overlap=args.overlap,
            self_ensemble=args.self_ensemble,
            overwrite=args.overwrite,
            recursive=args.recursive,
            max_pixels=args.max_pixels,
            progress=args.progress,
        )
        print(report.summary())
        return 0 if report.ok else 1
    if str(args.model).endswith(".onnx"):  # the torch-free runtime: one implementation for .onnx files
        from img2img_runtime import Model

        runner = Model(
            args.model,
            tile=args.tile,
            overlap=args.overlap,
            batch_size=args.batch_size,
            max_pixels=args.max_pixels,
            self_ensemble=args.self_ensemble,
        )
    else:
        from .infer import Translator

        runner = Translator.from_pretrained(
            args.model,
            device=args.device,
            direction=args.direction,
            batch_size=args.batch_size,
            tile=args.tile,
            overlap=args.overlap,
            max_pixels=args.max_pixels,
            self_ensemble=args.self_ensemble,
        )
    try:
        report = runner.translate_folder(
            args.input,
            args.output,
            overwrite=args.overwrite,
            recursive=args.recursive,
            progress=args.progress,
            hints=args.hints,
        )
    except PermissionError as error:  # an unreadable input folder (main() handles the other errors)
        raise FileNotFoundError(str(error)) from error
    print(report.summary())
    return 0 if report.ok else 1


def _add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained model to a self-describing ONNX file",
        description="Export one generator to ONNX (dynamic batch/height/width, metadata for the runtime) and check it.",
    )
    p.add_argument("model", help="run folder, model folder or checkpoint .pt")
    p.add_argument("output", help="the .onnx file to write")
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    p.add_argument(
        "--direction", choices=["AtoB", "BtoA"], help="which generator of a cyclegan model (default: the model's)"
    )
    p.add_argument(
        "--fp16",
        action="store_true",
        help="fp16 weights and arithmetic (for GPU runtimes), float32 input/output (default: fp32)",
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="int8 for CPU runtimes: static with --calibration, else dynamic (default: fp32)",
    )
    p.add_argument("--calibration", help="folder of representative images for static int8 quantization (default: none)")
    from .quantize import CALIBRATION_METHODS

    p.add_argument(
        "--calibration-method",
        choices=CALIBRATION_METHODS,
        default="auto",
        help="how static int8 picks activation ranges (default auto: the best of several percentiles)",
    )
    p.add_argument(
        "--no-check", dest="check", action="store_false", help="skip the onnxruntime-vs-torch check (default: check)"
    )
    p.set_defaults(func=cmd_export, _check=check_export)


def check_export(args: argparse.Namespace) -> None:
    if args.calibration and not args.int8:
        raise ValueError("--calibration is for --int8")


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx

    report = export_onnx(
        args.model,
        args.output,
        direction=args.direction,
        opset=args.opset,
        fp16=args.fp16,
        int8=args.int8,
        calibration=args.calibration,
        calibration_method=args.calibration_method,
        check=args.check,
        progress=True,
    )
    print(report.summary())
    return 0


def _add_prepare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="build a paired training folder from ordinary photos",
        description="Make A/B pairs from photos with a recipe: sketch (A = line drawing), colorize (A = grayscale), "
        "restore (A = aged/damaged), sr (A = low resolution). Writes OUT/{train,val}/{A,B}.",
    )
    p.add_argument(
        "recipe", choices=["sketch", "colorize", "restore", "sr"], help="how the inputs (A) are made from the photos"
    )
    p.add_argument("photos", help="folder of photos (searched recursively)")
    p.add_argument("out", help="output folder")
    p.add_argument("--preset", choices=RESTORE_PRESETS, help="restore: how much damage (default medium)")
    p.add_argument("--scale", type=int, choices=[2, 4, 8], help="sr: downscaling factor (default 4)")
    p.add_argument(
        "--realistic", action="store_true", help="sr: blur, noise and JPEG around the downscale (default: off)"
    )
    p.add_argument(
        "--val-fraction", type=float, default=0.1, help="share of photos held out for validation (default: 0.1)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the damage and of the train/val split (default: 0)")
    p.add_argument(
        "--max-size", type=int, help="downscale photos larger than this (longer side) first (default: no limit)"
    )
    p.add_argument("--overwrite", action="store_true", help="rebuild pairs that already exist (default: keep them)")
    p.set_defaults(func=cmd_prepare, _check=check_prepare)


def recipe_options(args: argparse.Namespace, recipe: str) -> dict[str, Any]:
    """Recipe options from the flags that apply to ``recipe``."""
    if recipe == "restore":
        return {"preset": args.preset or "medium"}
    if recipe == "sr":
        return {"scale": args.scale or 4, "realistic": bool(args.realistic)}
    return {}


def cmd_prepare(args: argparse.Namespace) -> int:
    from .prepare import prepare

    report = prepare(
        args.recipe,
        args.photos,
        args.out,
        val_fraction=args.val_fraction,
        seed=args.seed,
        max_size=args.max_size,
        overwrite=args.overwrite,
        progress=True,
        **recipe_options(args, args.recipe),
    )
    print(report.summary())
    return 0 if not report.failed else 1


def _add_eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score a model beside simple baselines (PSNR, SSIM, colourfulness, sharpness, speed)",
        description="Make inputs from photos with a task's recipe (or take the pairs of an A/B folder), run the "
        "model, and print its PSNR (RGB and luma), SSIM, colourfulness, sharpness and seconds per "
        "megapixel beside the baselines (bicubic for sr, the input itself otherwise).",
    )
    p.add_argument(
        "--model",
        required=True,
        help="run folder, model folder, checkpoint .pt, exported .onnx, or a shipped model's name (img2img models)",
    )
    p.add_argument(
        "--data",
        help="folder of photos (with --task), or a paired folder with A/ and B/ (val/ preferred); GAN lab "
        "models: the labelled images of the classifier (default: what the model was trained on)",
    )
    p.add_argument(
        "--task",
        choices=["restore", "colorize", "sketch", "sr"],
        help="make the inputs from photos with this recipe (default: none, --data is a paired A/B folder)",
    )
    p.add_argument("--scale", type=int, choices=[2, 4, 8], help="sr: downscaling factor (default 4)")
    p.add_argument("--preset", choices=RESTORE_PRESETS, help="restore: how much damage (default medium)")
    p.add_argument(
        "--realistic", action="store_true", help="sr: blur, noise and JPEG around the downscale (default: off)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs' randomness (default: 0)")
    p.add_argument(
        "--hints",
        type=_hint_counts,
        metavar="N,N,...",
        help="colorize, sketch with a hint model: score it given each number of colour points drawn from the "
        "target, e.g. 0,1,5,20, beside a non-learned spreading of the same points (default: no hints)",
    )
    p.add_argument("--max-images", type=int, help="evaluate at most this many images (default: all)")
    p.add_argument(
        "--max-size",
        type=int,
        help="downscale photos whose longer side exceeds this first, INTER_AREA (default: no limit)",
    )
    p.add_argument("--device", default="auto", help="torch models: auto, cpu, cuda, mps (default: auto)")
    p.add_argument(
        "--direction", choices=["AtoB", "BtoA"], help="for two-way models, cyclegan run folders (default: the model's)"
    )
    p.add_argument(
        "--json", help="also write the report (rows, per-image values, skipped files) to this JSON file (default: none)"
    )
    from img2img_runtime.cli import add_self_ensemble_argument

    add_self_ensemble_argument(p)
    p.set_defaults(func=cmd_eval, _check=check_eval)


def check_recipe_flags(recipe: str | None, args: argparse.Namespace, what: str = "--task") -> None:
    """``--preset`` (restore) and ``--scale``/``--realistic`` (sr) given for another recipe: an error, not ignored."""
    if args.preset and recipe != "restore":
        raise ValueError(f"--preset is for {what} restore")
    if (args.scale or args.realistic) and recipe != "sr":
        raise ValueError(f"--scale and --realistic are for {what} sr")


def check_eval(args: argparse.Namespace) -> None:
    check_recipe_flags(args.task, args)


def check_prepare(args: argparse.Namespace) -> None:
    check_recipe_flags(args.recipe, args, "the recipe")


def _hint_counts(text: str) -> list[int]:
    """``"0,1,5,20"`` -> ``[0, 1, 5, 20]`` (argparse type of ``eval --hints``)."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected hint counts like 0,1,5,20, got {text!r}") from None
    if not counts or any(n < 0 for n in counts):
        raise argparse.ArgumentTypeError(f"expected hint counts like 0,1,5,20 (whole numbers >= 0), got {text!r}")
    return counts


def cmd_eval(args: argparse.Namespace) -> int:
    from .sampling import is_gan_model

    if is_gan_model(args.model):
        return _eval_gan(args)
    if not args.data:
        raise ValueError("--data is required: a folder of photos (with --task) or a paired A/B folder")
    from .evaluate import evaluate_model

    report = evaluate_model(
        args.model,
        args.data,
        task=args.task,
        scale=args.scale or 4,
        preset=args.preset or "medium",
        realistic=args.realistic,
        seed=args.seed,
        max_images=args.max_images,
        max_size=args.max_size,
        device=args.device,
        direction=args.direction,
        progress=True,
        self_ensemble=args.self_ensemble,
        hints=args.hints,
    )
    print(report.table())
    if args.json:
        report.to_json(args.json)
        print(f"wrote {args.json}")
    return 0


def _eval_gan(args: argparse.Namespace) -> int:
    import json

    from .sampling import evaluate_gan, format_gan_report

    if args.task:
        raise ValueError(f"{args.model} is a GAN lab model (noise -> image): --task does not apply")
    report = evaluate_gan(args.model, data=args.data, n=args.max_images or 1000, seed=args.seed)
    print(format_gan_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


def _add_sample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="draw images from a GAN lab model (img2img train gan): a grid, a latent walk, or the training strip",
        description="Draw new images from a GAN lab model (run folder, model folder or exported .onnx). "
        "Conditional models draw one row per class unless --label is given.",
    )
    p.add_argument("--model", required=True, help="run folder, model folder, or exported .onnx")
    p.add_argument("--output", required=True, help="the picture to write (.png, .jpg; .gif with --over-time)")
    p.add_argument(
        "--n",
        type=int,
        default=64,
        help="how many samples; a conditional model without --label draws one row per class of ceil(n / classes) "
        "samples (default: 64)",
    )
    p.add_argument(
        "--label",
        help="conditional models: the class (name, or index when no class has that name) of every sample "
        "(default: all)",
    )
    p.add_argument(
        "--latent-walk",
        action="store_true",
        help="a grid over a plane of the latent space instead (for a 2-D latent: the whole learned manifold) "
        "(default: a grid of random samples)",
    )
    p.add_argument("--walk-steps", type=int, default=15, help="--latent-walk: cells per side (default: 15)")
    p.add_argument(
        "--over-time",
        action="store_true",
        help="a run folder's fixed-noise grids over training: a GIF (--output x.gif) or a strip of 8 (default: off)",
    )
    p.add_argument(
        "--columns",
        type=int,
        help="samples per row (default: about square; a conditional model without --label: one row per class)",
    )
    p.add_argument("--scale", type=int, default=2, help="enlarge each sample this many times (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default: 0)")
    p.set_defaults(func=cmd_sample, _check=check_sample)


def check_sample(args: argparse.Namespace) -> None:
    if args.n < 1 or args.scale < 1 or args.walk_steps < 2:
        raise ValueError("--n and --scale must be >= 1, --walk-steps >= 2")
    if args.over_time and args.latent_walk:
        raise ValueError("choose one of --latent-walk and --over-time")


def cmd_sample(args: argparse.Namespace) -> int:
    from img2img_runtime.io import write_image

    from .sampling import latent_walk, sample_grid, training_strip

    if args.over_time:
        print(f"wrote {training_strip(args.model, args.output)}")
        return 0
    if args.latent_walk:
        picture = latent_walk(args.model, steps=args.walk_steps, label=args.label, seed=args.seed, scale=args.scale)
    else:
        picture = sample_grid(
            args.model, args.n, label=args.label, seed=args.seed, columns=args.columns, scale=args.scale
        )
    write_image(args.output, picture)
    print(f"wrote {args.output} ({picture.shape[1]} x {picture.shape[0]})")
    return 0


def _add_web_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "web",
        help="run an exported model in the browser (onnxruntime-web): a local page, or a static site",
        description="Serve a page that runs an exported .onnx model in the browser, on the user's machine: a "
        "drawing pad for sketch models, photo drop with a before/after slider and download for photo models. "
        "Only the page's files and the model are served, from localhost.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="an .onnx file written by img2img export, or a shipped model's name (img2img models)",
    )
    p.add_argument("--port", type=int, default=8765, help="local port (default: 8765; 0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument(
        "--static",
        metavar="SITE",
        help="write a self-contained static site to this folder instead of serving (default: serve)",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window (default: open one)")
    from img2img_runtime.cli import add_self_ensemble_argument

    add_self_ensemble_argument(p)
    p.set_defaults(func=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    import threading

    from img2img_runtime import web

    if args.static:
        site = web.write_site(args.model, args.static, self_ensemble=args.self_ensemble)
        print(
            f"wrote {site}: put the folder on any web host (for several threads it must send "
            + ", ".join(f"{k}: {v}" for k, v in web.ISOLATION_HEADERS.items())
            + ")"
        )
        return 0
    server = web.serve(args.model, port=args.port, host=args.host, background=True, self_ensemble=args.self_ensemble)
    url = web.url_of(server)
    print(f"serving {args.model} at {url} (Ctrl-C stops)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        threading.Event().wait()  # until Ctrl-C
    except KeyboardInterrupt:
        server.shutdown()
        print("stopped")
    return 0


def _add_demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="train a small old-photo restoration model on the bundled photos with a 4.5-minute budget (the "
        "last validation included) and write an HTML page of results",
    )
    p.add_argument(
        "--out", default="img2img-demo", help="where to write data, run and results (default ./img2img-demo)"
    )
    p.add_argument("--steps", type=int, default=None, help="training steps (default: as many as --minutes allows)")
    p.add_argument("--minutes", type=float, default=None, help="training time budget (default 4.5)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (default: auto)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, steps=args.steps, minutes=args.minutes, device=args.device)
    return 0


def _add_models_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the shipped models (use them by name: --model restore)",
        description="The trained models that come with img2img: name, task, size, score on photos they never saw, "
        "training data and its licences. Every --model takes these names; each has a model card.",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the index (files, SHA-256, scores, training) as JSON (default: a table)",
    )
    p.add_argument(
        "--card", metavar="NAME", help="print one model's card, MODEL_CARD.md (default: the table of all models)"
    )
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    import json

    from img2img_runtime import zoo

    if args.card:
        print(zoo.get(args.card).card_path.read_text(encoding="utf-8"))
    elif args.json:
        print(json.dumps({m.name: zoo.describe(m) for m in zoo.list_models()}, indent=2))
    else:
        print(zoo.format_table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from img2img_runtime.argparsing import HelpfulParser

    from . import __version__

    parser = HelpfulParser(prog="img2img", description="Image-to-image translation with GANs.")
    parser.add_argument("--version", action="version", version=f"img2img {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo_parser(sub)
    _add_prepare_parser(sub)
    _add_train_parser(sub)
    _add_translate_parser(sub)
    _add_export_parser(sub)
    _add_eval_parser(sub)
    _add_sample_parser(sub)
    _add_web_parser(sub)
    _add_models_parser(sub)
    from img2img_runtime.cli import VERBOSE_HELP

    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    for command in sub.choices.values():  # also after the subcommand (img2img export ... --verbose)
        command.add_argument("--verbose", action="store_true", default=S, help=VERBOSE_HELP)
    return parser


def interrupted(args: argparse.Namespace, argv: list[str], interrupt: KeyboardInterrupt) -> int:
    """Ctrl-C: one line on stderr (what was kept, the command that continues), status 130."""
    from img2img_runtime.cli import command_line
    from img2img_runtime.cli import interrupted as report

    command = args.command
    prog = f"img2img {command}"
    if command == "train":
        if not is_main_rank():  # torchrun: rank 0 says it once
            return 130
        step = getattr(interrupt, "step", None)
        if step is None and not (Path(args.out) / "checkpoints" / "last.pt").exists():
            return report(prog, f"no checkpoint was saved yet in {args.out}; start again with", train_command(argv))
        saved = f"checkpoint at step {step} saved" if step is not None else "the last checkpoint is kept"
        add = [] if args.resume else ["--resume"]
        kept = [a for i, a in enumerate(argv) if a != "--init-from" and (i == 0 or argv[i - 1] != "--init-from")]
        kept = [a for a in kept if not a.startswith("--init-from=")]  # the run's weights are in its checkpoint now
        return report(prog, f"{saved} in {args.out}; resume with", train_command(kept, add=add))
    if command == "demo":
        step = getattr(interrupt, "step", None)
        saved = f"training saved at step {step}" if step is not None else "finished steps are kept"
        return report(prog, f"{saved} in {args.out}; the same command continues", command_line("img2img", argv))
    if command == "translate":
        return report(
            prog,
            f"finished outputs are kept in {args.output}; the same command finishes the rest",
            command_line("img2img", argv, drop=["--overwrite"]),
        )
    if command == "prepare":  # no --overwrite: keep the finished pairs (unless it was rebuilding earlier ones)
        from .prepare import read_prepare_json

        try:
            replacing = bool((read_prepare_json(args.out) or {}).get("replacing"))
        except ValueError:
            replacing = True
        drop = [] if replacing else ["--overwrite"]
        return report(
            prog,
            f"finished pairs are kept in {args.out}; the same command finishes the rest",
            command_line("img2img", argv, drop=drop),
        )
    if command == "export":
        return report(
            prog,
            f"nothing was written ({args.output} is written only when complete); run again with",
            command_line("img2img", argv),
        )
    return report(prog, "nothing was saved; run again with", command_line("img2img", argv))


def main(argv: list[str] | None = None) -> int:
    from img2img_runtime.logs import quiet_third_party

    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "_check"):
            args._check(args)  # before quiet_third_party and the command load OpenCV, onnxruntime, torch
        quiet_third_party(args.verbose)
        return args.func(args)
    except KeyboardInterrupt as interrupt:  # Ctrl-C: stopped at a safe point (see interrupted)
        return interrupted(args, argv, interrupt)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"img2img {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:  # an optional extra that is not installed (its message says what to install)
        if "pip install" not in str(error):
            raise
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
