"""The GAN lab on the built-in digits: class coverage, entropy, inception score, conditional accuracy
and seconds per step after a fixed time budget per configuration.

Usage::

    python bench/gan_lab.py                        # 5 minutes each: mlp (2-D latent) and dcgan, with and without --condition class
    python bench/gan_lab.py --minutes 1 --configs dcgan,dcgan_class --out /tmp/lab --json lab.json

Each configuration is ``img2img.train("gan", data="digits", minutes=M, ...)`` with the lab's
defaults (mlp: 2-D latent, Adam G 1e-3 / D 2e-4; dcgan: 100-D latent, 2e-4; batch 64; seed 0)
in a fresh process, then ``img2img.sampling.evaluate_gan`` on the final model (``RUN/model``):
1,000 samples judged by the run's classifier (trained on the 4,500 training digits, its accuracy
on the 500 val digits printed). A "real digits" row scores the val digits themselves (the best a
model can do) and an "untrained" row a generator at step 0 (the floor). GFLOP/s is one training
step's FLOPs (``FlopCounterMode``) over the measured s/step, beside a 4096^3 fp32 matmul timed at
the start: the lab's small nets use a small share of the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: img2img, bench.common
from bench.common import environment, format_table, matmul_peak, peak_rss_mb, run_isolated  # noqa: E402

CONFIGS = {
    "mlp": {"arch": "mlp"},
    "mlp_class": {"arch": "mlp", "condition": "class"},
    "dcgan": {"arch": "dcgan"},
    "dcgan_class": {"arch": "dcgan", "condition": "class"},
}


def step_flops(run_dir: str) -> float:
    """FLOPs of one training step of the run's task (forward and backward of both nets)."""
    from bench.common import count_flops
    from img2img.config import TrainConfig
    from img2img.optimization import Optimization
    from img2img.tasks import build_task

    cfg = TrainConfig.from_dict(json.loads((Path(run_dir) / "config.json").read_text()))
    task = build_task(cfg.task, **cfg.task_kwargs())
    opt = Optimization(
        {name: torch.optim.Adam(params, lr=1e-9) for name, params in task.parameter_groups().items()},
        device=torch.device("cpu"),
    )
    batch = {
        "B": torch.rand(cfg.batch_size, cfg.out_channels, cfg.size, cfg.size) * 2 - 1,
        "label": torch.randint(0, max(1, len(cfg.class_names)), (cfg.batch_size,)),
    }
    return float(count_flops(lambda: task.training_step(batch, opt, 0)))


def run_config(name: str, options: dict, minutes: float, out: str, seed: int) -> dict:
    """Train one configuration for ``minutes`` and score it (in its own process)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    from img2img import train
    from img2img.sampling import evaluate_gan

    run_dir = os.path.join(out, name)
    started = time.perf_counter()
    result = train(
        "gan", data="digits", out=run_dir, minutes=minutes, seed=seed, no_progress=True, sample_every=250, **options
    )
    seconds = time.perf_counter() - started
    report = evaluate_gan(os.path.join(run_dir, "model"), data="digits")
    untrained = None
    if name in ("mlp", "dcgan"):  # the floor: a generator at step 0, judged the same way
        floor_dir = os.path.join(out, f"{name}_untrained")
        train("gan", data="digits", out=floor_dir, steps=1, seed=seed, no_progress=True, **options)
        untrained = evaluate_gan(os.path.join(floor_dir, "model"), data="digits")["rows"]["model"]
    log = [json.loads(line) for line in Path(run_dir, "log.jsonl").read_text().splitlines()]
    speeds = [r["s_per_step"] for r in log if "s_per_step" in r]
    return {
        "config": name,
        "steps": result.step,
        "train_s": seconds,
        "s_per_step": speeds[-1] if speeds else None,
        "flops_per_step": step_flops(run_dir),
        "rss_mb": peak_rss_mb(),
        "rows": report["rows"],
        "untrained": untrained,
        "classifier_accuracy": report["classifier_val_accuracy"],
        "health": [r["message"] for r in log if r.get("event") == "health"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per configuration (default 5)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, of {', '.join(CONFIGS)}")
    parser.add_argument("--out", help="where to keep the runs (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    names = [n for n in args.configs.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")
    env = environment(torch.device("cpu"))
    peak = matmul_peak()
    print(f"# {env}")
    print(f"# fp32 matmul 4096^3: {peak['flops_per_s'] / 1e9:.1f} GFLOP/s; load average {os.getloadavg()}")
    out = args.out or tempfile.mkdtemp(prefix="gan_lab_")
    results = []
    for name in names:
        result = run_isolated(run_config, name, CONFIGS[name], args.minutes, out, args.seed)
        results.append(result)
        print(f"# {name}: done, load average {os.getloadavg()}", flush=True)
    rows = []
    for result in results:
        model = result["rows"]["model"]
        gflops = result["flops_per_step"] / 1e9
        rows.append(
            {
                "config": result["config"],
                "steps": result["steps"],
                "s_step": result["s_per_step"],
                "gflops": gflops / result["s_per_step"] if result["s_per_step"] else None,
                "peak": 100 * gflops * 1e9 / result["s_per_step"] / peak["flops_per_s"]
                if result["s_per_step"]
                else None,
                **{k: model.get(k) for k in ("coverage", "entropy", "inception", "accuracy")},
            }
        )
        if result["untrained"]:
            floor = result["untrained"]
            rows.append(
                {
                    "config": f"  {result['config']} untrained",
                    **{k: floor.get(k) for k in ("coverage", "entropy", "inception")},
                }
            )
    real = results[0]["rows"].get("real images", {}) if results else {}
    rows.append({"config": "real val digits", **{k: real.get(k) for k in ("coverage", "entropy", "inception")}})
    columns = [
        ("config", "config", "s"),
        ("steps", "steps", "d"),
        ("s/step", "s_step", ".4f"),
        ("GFLOP/s", "gflops", ".2f"),
        ("% matmul", "peak", ".1f"),
        ("coverage", "coverage", ".2f"),
        ("entropy", "entropy", ".3f"),
        ("inception", "inception", ".2f"),
        ("cond. acc.", "accuracy", ".3f"),
    ]
    print(f"# {args.minutes:g} minutes of training each; 1,000 samples per model; runs in {out}")
    print(format_table(rows, columns))
    if results:
        print(f"# classifier: {results[0]['classifier_accuracy']:.1%} on the 500 real val digits")
    for result in results:
        for message in result["health"]:
            print(f"# {result['config']} health: {message}")
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": env, "matmul": peak, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
