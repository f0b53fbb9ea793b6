"""Training-step speed of pix2pix, CycleGAN and SRGAN: seconds per step, memory and achieved FLOP/s.

Usage::

    python bench/train_speed.py                          # all tasks, fp32 and bf16 autocast, on the CPU
    python bench/train_speed.py --tasks srgan --precision bf16 --steps 20 --warmup 3
    python bench/train_speed.py --threads 2 --json train_speed.json
    python bench/train_speed.py --device cuda --precision fp32,bf16,fp16
    python bench/train_speed.py --tasks sr_cpu,sr_cpu_9x9 --precision fp32 --threads 2

Configurations (each task's paper settings, as ``TrainConfig`` defaults give them):

* pix2pix: ``unet_256`` (64 base channels) + 70x70 PatchGAN on (input, output) pairs (6 channels),
  vanilla GAN + 100 * L1, batch 1, 256x256;
* cyclegan: two ``resnet_9blocks`` + two PatchGANs, lsgan, cycle + identity losses, batch 1, 256x256;
* srgan: ``srresnet_x4`` + PatchGAN on HR images, adversarial phase (``warmup_steps=0``), no VGG
  weights (content = L1 + discriminator feature matching), batch 16, 24x24 -> 96x96.

Also, on request (``--tasks``), the sr recipe's CPU profile (``--task sr --profile cpu``: SRResNet with
6 blocks of 32 channels, a global residual and a 3x3 last conv, PatchGAN of 32 channels, batch 8,
24x24 -> 96x96), in its GAN stage (``sr_cpu``) and its pixel-loss warm-up (``sr_cpu_warmup``), and
the same with the paper's 9x9 last conv (``sr_cpu_9x9``, ``sr_cpu_9x9_warmup``).

One step is ``Task.training_step`` (discriminator and generator updates, Adam) plus
``Optimization.end_iteration``, on a fixed batch of random tensors in [-1, 1] already on the device
(no data loading). Each (task, precision) runs in a fresh process: ``--warmup`` untimed steps, then
``--steps`` timed ones (``time.perf_counter``, device synchronised); s/step is their median. GFLOP/step
is one full ``training_step`` counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and
convolutions, forward and backward of every net); GFLOP/s divides it by the median step time and
is compared with a 4096^3 matmul timed at the start of the run: fp32 for every row, and for bf16/fp16
rows also the matmul peak in that dtype. Peak RSS is ``ru_maxrss`` of the configuration's process;
+RSS is its increase from just before the task is built. On CUDA, GPU MB is
``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: img2img, bench.common
from bench.common import (  # noqa: E402
    count_flops,
    environment,
    format_table,
    gpu_peak_mb,
    matmul_peak,
    median,
    peak_rss_mb,
    run_isolated,
    time_calls,
)

TASKS = ("pix2pix", "cyclegan", "srgan")
# name -> (task, TrainConfig keywords): the recipes' CPU profiles, on request
_SR_CPU = {"recipe": "sr", "profile": "cpu"}
_HEAD_9 = {"generator_kwargs": {"head_kernel": 9}}
PROFILES = {
    "sr_cpu": ("srgan", {**_SR_CPU, "warmup_steps": 0}),
    "sr_cpu_warmup": ("srgan", {**_SR_CPU, "warmup_steps": 10**9}),
    "sr_cpu_9x9": ("srgan", {**_SR_CPU, **_HEAD_9, "warmup_steps": 0}),
    "sr_cpu_9x9_warmup": ("srgan", {**_SR_CPU, **_HEAD_9, "warmup_steps": 10**9}),
}
CHOICES = TASKS + tuple(PROFILES)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DESCRIPTIONS = {
    "pix2pix": "unet_256 (64 ch) + PatchGAN 70x70 (6 ch in), vanilla + L1, batch 1, 256x256",
    "cyclegan": "2 x resnet_9blocks + 2 x PatchGAN 70x70, lsgan + cycle + identity, batch 1, 256x256",
    "srgan": "srresnet_x4 + PatchGAN 70x70 on HR, adversarial, L1 + feature matching, batch 16, 24x24 -> 96x96",
    "sr_cpu": "sr recipe, cpu profile: SRResNet 6 x 32 ch, residual, 3x3 head + PatchGAN 32 ch, GAN stage, "
    "batch 8, 24x24 -> 96x96",
    "sr_cpu_warmup": "the same, pixel-loss warm-up (generator only)",
    "sr_cpu_9x9": "sr recipe, cpu profile with the paper's 9x9 head (--head-kernel 9), GAN stage",
    "sr_cpu_9x9_warmup": "the same, pixel-loss warm-up (generator only)",
}


def measure(task_name: str, precision: str, steps: int, warmup: int, threads: int | None, device_name: str) -> dict:
    """Build one task, run its training steps and return the row (runs in its own process)."""
    from img2img.config import TrainConfig
    from img2img.optimization import Optimization
    from img2img.tasks import build_task

    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device_name)
    config_name = task_name
    task_name, overrides = PROFILES.get(config_name, (config_name, {"warmup_steps": 0}))
    cfg = TrainConfig(task=task_name, vgg_weights=None, device=device_name, **overrides)
    torch.manual_seed(0)
    rss_before = peak_rss_mb()
    with tempfile.TemporaryDirectory() as empty_hub:  # no VGG19 weights, even where a cached copy exists
        os.environ.pop("IMG2IMG_VGG19_WEIGHTS", None)
        torch.hub.set_dir(empty_hub)
        task = build_task(task_name, **cfg.task_kwargs())
    task = task.to(device).train()
    optimizers = {
        name: torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        for name, params in task.parameter_groups().items()
    }
    opt = Optimization(optimizers, device=device, precision=precision)

    lr_size = cfg.size // cfg.scale if task_name == "srgan" else cfg.size
    batch = {  # random images in [-1, 1], already on the device
        "A": torch.rand(cfg.batch_size, cfg.in_channels, lr_size, lr_size, device=device) * 2 - 1,
        "B": torch.rand(cfg.batch_size, cfg.out_channels, cfg.size, cfg.size, device=device) * 2 - 1,
    }
    counter = itertools.count()

    def step() -> None:
        task.training_step(batch, opt, next(counter))
        opt.end_iteration()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = time_calls(step, steps=steps, warmup=warmup, device=device)
    peak_rss, gpu_mb = peak_rss_mb(), gpu_peak_mb(device)
    flops = count_flops(step)  # after timing: the counter's dispatch overhead stays out of the times
    s_per_step = median(times)
    return {
        "task": config_name,
        "precision": precision,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "batch_size": cfg.batch_size,
        "size": cfg.size,
        "warmup": warmup,
        "steps": steps,
        "params_m": sum(p.numel() for p in task.parameters()) / 1e6,
        "s_per_step": s_per_step,
        "s_min": min(times),
        "s_max": max(times),
        "times": times,
        "images_per_s": cfg.batch_size / s_per_step,
        "gflop_per_step": flops / 1e9,
        "gflops": flops / s_per_step / 1e9,
        "peak_rss_mb": peak_rss,
        "rss_increase_mb": peak_rss - rss_before,
        "gpu_peak_mb": gpu_mb,
        "skipped_updates": opt.skipped_total,
    }


COLUMNS = [
    ("task", "task", "s"),
    ("precision", "precision", "s"),
    ("s/step", "s_per_step", ".3f"),
    ("min s", "s_min", ".3f"),
    ("images/s", "images_per_s", ".2f"),
    ("GFLOP/step", "gflop_per_step", ".1f"),
    ("GFLOP/s", "gflops", ".1f"),
    ("% fp32 peak", "pct_fp32_peak", ".1f"),
    ("% dtype peak", "pct_dtype_peak", ".1f"),
    ("peak RSS MB", "peak_rss_mb", ".0f"),
    ("+RSS MB", "rss_increase_mb", ".0f"),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before timing")
    parser.add_argument(
        "--tasks",
        default=",".join(TASKS),
        help=f"comma-separated, of {', '.join(CHOICES)} (default: {','.join(TASKS)})",
    )
    parser.add_argument("--precision", default="fp32,bf16", help="comma-separated: fp32, bf16, fp16 (CUDA only)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--json", type=Path, default=None, help="also write environment, matmul peaks and rows here")
    args = parser.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    args.precision = [p.strip() for p in args.precision.split(",") if p.strip()]
    for name in args.tasks:
        if name not in CHOICES:
            parser.error(f"unknown task {name!r}; choose from {', '.join(CHOICES)}")
    for p in args.precision:
        if p not in DTYPES:
            parser.error(f"unknown precision {p!r}; choose from {', '.join(DTYPES)}")
        if p == "fp16" and args.device != "cuda":
            parser.error("fp16 autocast needs --device cuda; use bf16 on the CPU")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    env = environment(device)
    print(f"torch {env['torch']} | python {env['python']} | threads {env['threads']} (of {env['cpu_count']} CPUs)")
    print(
        f"CPU: {env['cpu']}"
        + (f" | GPU: {env['gpu']}" if "gpu" in env else "")
        + f" | load average {env['loadavg_1m']:.2f}"
    )

    peaks = {p: matmul_peak(DTYPES[p], device) for p in dict.fromkeys(["fp32", *args.precision])}
    for p, peak in peaks.items():
        print(
            f"matmul peak {p}: {peak['flops_per_s'] / 1e9:.1f} GFLOP/s "
            f"(4096^3, best {peak['best_s'] * 1e3:.1f} ms, median {peak['median_s'] * 1e3:.1f} ms)"
        )
    print(
        f"{args.warmup} warm-up + {args.steps} timed steps per configuration, each in a fresh process; "
        f"random inputs on {device} (no data loading)"
    )
    for name in args.tasks:
        print(f"  {name}: {DESCRIPTIONS[name]}")
    print(flush=True)

    rows, failed = [], []
    for name, precision in itertools.product(args.tasks, args.precision):
        print(f"running {name} {precision} ...", file=sys.stderr, flush=True)
        try:
            row = run_isolated(measure, name, precision, args.steps, args.warmup, args.threads, args.device)
        except Exception as exc:  # report and go on with the other configurations
            traceback.print_exception(exc)
            failed.append(f"{name} {precision}")
            continue
        row["pct_fp32_peak"] = 100 * row["gflops"] * 1e9 / peaks["fp32"]["flops_per_s"]
        row["pct_dtype_peak"] = (
            None if precision == "fp32" else 100 * row["gflops"] * 1e9 / peaks[precision]["flops_per_s"]
        )
        rows.append(row)
        print(f"  {name} {precision}: {row['s_per_step']:.3f} s/step", file=sys.stderr, flush=True)

    columns = COLUMNS + ([("GPU MB", "gpu_peak_mb", ".0f")] if device.type == "cuda" else [])
    print(format_table(rows, columns))
    print(
        "\n% dtype peak: achieved FLOP/s relative to the matmul peak in the row's autocast dtype; "
        "+RSS: peak RSS increase from just before building the task."
    )
    noisy = [f"{r['task']} {r['precision']}" for r in rows if r["s_max"] > 1.5 * r["s_min"]]
    if noisy:
        print(
            f"note: step times vary by more than 1.5x in {', '.join(noisy)}: other processes competing for "
            f"the CPU? (load average now {os.getloadavg()[0]:.2f}); see 'times' in --json"
        )
    if any(row["skipped_updates"] for row in rows):
        print("note: some updates were skipped (non-finite losses or gradients); see the warnings above")
    if args.json:
        args.json.write_text(
            json.dumps({"environment": env, "matmul_peaks": peaks, "rows": rows, "failed": failed}, indent=2)
        )
        print(f"wrote {args.json}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
