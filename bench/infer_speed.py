"""Inference speed of the generators: torch eager vs onnxruntime fp32 vs onnxruntime int8, and folder-job overhead.

Usage::

    python bench/infer_speed.py                                   # every net, 256 and 512, all backends
    python bench/infer_speed.py --nets unet_256_resize,compact_sr_x4 --sizes 256 --repeats 3
    python bench/infer_speed.py --threads 2 --json infer_speed.json --folder-images 50
    python bench/infer_speed.py --no-dynamic --no-folder

Nets (preset defaults, i.e. the papers' widths):

* ``unet_256``: pix2pix U-Net, 8 downsamplings, 64 base channels, batch norm, 4x4 transposed-conv
  upsampling (the reference);
* ``unet_256_resize``: the same with ``upsample="resize"`` (bilinear x2 + 3x3 conv);
* ``resnet_9blocks``: CycleGAN ResNet generator, 64 base channels, instance norm;
* ``srresnet_x4``: SRGAN generator, 16 residual blocks, 64 channels, batch norm, x4;
* ``compact_sr_x4``: CompactSR, 5 convs of 64 channels, x4.

**Sizes are output sizes.** ``--sizes 256`` means a 256x256 input for the x1 nets and a 64x64
input (256 / 4) for the x4 super-resolution nets, whose output is then 256x256.

Weights (``--weights``): by default (``trained``) each net is first trained for ``--train-steps``
(300) steps on ``--photos`` with ``img2img.train`` (bf16 autocast, seed ``--seed``): the U-Nets and
the ResNet as pix2pix generators on the ``restore`` recipe (256 and 128 crops), the SR nets with
SRGAN on the ``sr`` recipe (96 crops, batch 8). The runs are kept in ``--cache`` and reused when
net, steps, seed and photo folder match. Trained weights matter for int8: a random-weight net
amplifies rounding noise layer after layer (its activations have no structure), so its int8
PSNR says little about a trained model's (U-Net 256 at 512: 29.5 dB random, 42 dB after 300
steps). ``--weights random`` builds each net with a fixed seed and PyTorch's default init
instead, with batch-norm running statistics re-estimated on the calibration photos (one
train-mode forward of all of them) so that eval-mode activations have a realistic scale.
The model folder is the source of every backend: torch loads it back, ``export_onnx`` writes
fp32, int8 static (QDQ, per-channel weights, ``--calibration-method`` on ``--calib-images``
photos from ``--photos``, the graph rewritten by ``img2img.nets.rewrite.for_export``) and, unless
``--no-dynamic``, int8 dynamic (no calibration) ONNX files from it. All backends therefore have
the same weights.

Timing: batch 1; each net runs in two fresh processes (one for torch, one for onnxruntime, so
neither one's idle worker threads spin while the other is timed); per (backend, size),
``--warmup`` untimed runs, then ``--repeats`` timed ones (``time.perf_counter``); ms/image is
their median. torch: ``net.eval()`` under ``torch.no_grad()``, fp32; onnxruntime:
``img2img_runtime.Model(path, threads=N).run_batch`` (CPUExecutionProvider, the runtime's default
session options). Both use ``--threads`` threads (default: torch's default thread count). The
timed input is the pre-processed PSNR photo (see below).

FLOP/s: FLOPs of one forward of the torch net at that size, counted by
``torch.utils.flop_counter.FlopCounterMode`` (convolutions, each multiply-add = 2 FLOPs), divided
by the row's ms/image. For int8 rows this is the *effective* rate (fp32-equivalent FLOPs per
second). "% peak" divides it by the fp32 4096^3 matmul peak measured at the start of the run.

PSNR: one real photo from ``--photos`` (the first colour photo that is not a calibration photo),
short side resized to the size (INTER_AREA) and centre-cropped square; for x4 nets that crop is
downscaled by 4 (INTER_AREA) to make the input. Every backend translates it with the runtime's
own pipeline (``img2img_runtime.processing.run_images``: normalise, pad, run, crop, clamp,
``uint8``); PSNR is between those uint8 outputs (peak 255, over all pixels and channels):
int8 rows vs onnxruntime fp32, the onnxruntime fp32 row vs torch. "out std" is the standard
deviation of the fp32 uint8 output, to show it is not a flat image.

Folder job: ``--folder-images`` 256x256 JPEG crops of the photos (cycled, random positions,
quality 95) are written to a temporary folder; ``Model(fp32.onnx, threads=N)`` (batch size 4,
the runtime's default) runs ``translate_folder(in, out)`` on it: decode + pre-process +
inference + post-process + encode + atomic write. The model-only time is the same number of
``run_batch`` calls on pre-made inputs of the same shapes (batches of 4 x 3 x 256 x 256, from
the same images). Overhead % = (job time / model-only time - 1) * 100. ``--folder-rounds``
alternate model-only and job runs; the fastest of each is used (robust to other processes on a
shared machine). The net is ``--folder-net``, by default ``unet_256_resize`` when its measured
fp32 time promises a job under 60 s, else the first of the other nets that does.

Targets (from the issue; printed as PASS/MISS, never asserted): onnxruntime fp32 at least as fast
as torch eager; int8 (static) at least 1.7x the onnxruntime fp32 rate with PSNR >= 35 dB vs fp32,
for every net and size; folder-job overhead < 10 %.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: img2img, bench.common
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "export"))  # img2img_runtime, if not installed
from bench.common import (  # noqa: E402
    count_flops,
    environment,
    format_table,
    matmul_peak,
    median,
    run_isolated,
    time_calls,
)
from img2img_runtime.metrics import psnr_uint8  # noqa: E402

NETS: dict[str, tuple[str, dict[str, Any], str, str]] = {  # key -> (preset, overrides, task, description)
    "unet_256": (
        "unet_256",
        {"upsample": "transpose"},
        "pix2pix",
        "pix2pix U-Net, 8 downs, 64 ch, batch norm, 4x4 transposed-conv up (reference)",
    ),
    "unet_256_resize": ("unet_256", {"upsample": "resize"}, "pix2pix", "the same U-Net with bilinear x2 + 3x3 conv up"),
    "resnet_9blocks": ("resnet_9blocks", {}, "cyclegan", "CycleGAN ResNet, 9 blocks, 64 ch, instance norm"),
    "srresnet_x4": ("srresnet_x4", {}, "srgan", "SRResNet x4, 16 blocks, 64 ch, batch norm (input = size / 4)"),
    "compact_sr_x4": ("compact_sr_x4", {}, "srgan", "CompactSR x4, 5 convs, 64 ch (input = size / 4)"),
}
# how --weights trained makes each net's weights: (task, recipe, training crop size, extra train() options)
TRAINING: dict[str, tuple[str, str, int, dict[str, Any]]] = {
    "unet_256": ("pix2pix", "restore", 256, {}),
    "unet_256_resize": ("pix2pix", "restore", 256, {}),
    "resnet_9blocks": ("pix2pix", "restore", 128, {}),
    "srresnet_x4": ("srgan", "sr", 96, {"batch_size": 8}),
    "compact_sr_x4": ("srgan", "sr", 96, {"batch_size": 8}),
}
BACKENDS = ("torch", "ort_fp32", "ort_int8", "ort_int8_dyn")
BACKEND_LABELS = {
    "torch": "torch eager fp32",
    "ort_fp32": "ORT fp32",
    "ort_int8": "ORT int8 static",
    "ort_int8_dyn": "ORT int8 dynamic",
}
INT8_SPEEDUP_TARGET = 1.7
INT8_PSNR_TARGET = 35.0
FOLDER_OVERHEAD_TARGET = 10.0
FOLDER_BUDGET_S = 60.0
FOLDER_PREFERENCE = ("unet_256_resize", "unet_256", "compact_sr_x4", "resnet_9blocks", "srresnet_x4")


# ---------------------------------------------------------------------------------------- images
def photo_square(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 H x W x 3 -> size x size x 3: short side resized to ``size`` (INTER_AREA), centre crop."""
    import cv2

    h, w = image.shape[:2]
    f = size / min(h, w)
    resized = cv2.resize(
        image,
        (max(size, round(w * f)), max(size, round(h * f))),
        interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC,
    )
    top, left = (resized.shape[0] - size) // 2, (resized.shape[1] - size) // 2
    return np.ascontiguousarray(resized[top : top + size, left : left + size])


def net_input_image(image: np.ndarray, out_size: int, scale: int) -> np.ndarray:
    """The uint8 input whose output is ``out_size`` square: a centre crop, downscaled by ``scale``."""
    import cv2

    square = photo_square(image, out_size)
    if scale == 1:
        return square
    side = out_size // scale
    return cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------------------------------- building
def build_net(key: str, seed: int, calibration: list[np.ndarray]) -> torch.nn.Module:
    """The preset with a fixed seed; batch-norm running statistics re-estimated on ``calibration``."""
    from img2img.nets import create_model

    preset, overrides, _, _ = NETS[key]
    torch.manual_seed(seed)
    net = create_model(preset, **overrides)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if norms and calibration:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the forward passes
        net.train()
        with torch.no_grad():
            net(torch.from_numpy(np.concatenate(calibration)))
        for m in norms:
            m.momentum = 0.1
    return net.eval()


def train_net(key: str, photos: str, run_dir: str, steps: int, seed: int, threads: int) -> str:
    """Train ``key`` for ``steps`` on the photos with its recipe (runs in its own process); returns the run folder."""
    from img2img.training import train

    torch.set_num_threads(threads)
    preset, overrides, _, _ = NETS[key]
    task, recipe, size, extra = TRAINING[key]
    train(
        task,
        data=photos,
        out=run_dir,
        recipe=recipe,
        steps=steps,
        size=size,
        generator=preset,
        generator_kwargs=dict(overrides),
        precision="bf16",
        seed=seed,
        on_bad="skip",
        progress=False,
        sample_every=10**9,
        val_every=10**9,
        checkpoint_every=10**9,
        **extra,
    )
    return run_dir


def trained_model_dir(key: str, args: argparse.Namespace, threads: int) -> Path:
    """RUN/model of ``key`` trained ``--train-steps`` on ``--photos``: from ``--cache`` when there, else trained now."""
    photos = args.photos.resolve()
    where = hashlib.sha1(str(photos).encode()).hexdigest()[:8]  # two folders of the same name do not share runs
    tag = f"{key}_{args.train_steps}steps_seed{args.seed}_{photos.name}-{where}_{TRAINING[key][2]}px"
    run = args.cache / tag
    if not (run / "model" / "config.json").exists():
        if run.exists():
            shutil.rmtree(run)
        run_isolated(train_net, key, str(args.photos), str(run), args.train_steps, args.seed, threads)
    return run / "model"


def io_spec(net: torch.nn.Module) -> dict[str, Any]:
    return {
        "input": {"channels": net.in_channels},
        "output": {"channels": net.out_channels},
        "scale": net.scale,
        "size_multiple": net.size_multiple,
        "min_size": net.min_size,
    }


def op_histogram(path: str | os.PathLike) -> dict[str, int]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return dict(collections.Counter(node.op_type for node in model.graph.node).most_common())


QUANTIZED_OPS = {
    "QLinearConv",
    "ConvInteger",
    "QLinearMatMul",
    "MatMulInteger",
    "QLinearAdd",
    "QLinearMul",
    "QLinearConcat",
    "QLinearLeakyRelu",
    "QLinearSigmoid",
    "QLinearAveragePool",
    "QLinearGlobalAveragePool",
    "DynamicQuantizeLinear",
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearMul",
    "QGemm",
}


def describe_int8_ops(hist: dict[str, int]) -> str:
    """``quantized: QLinearConv 16, ...; float: Resize 7, ...`` (float ops run between (De)QuantizeLinear)."""
    q = [f"{op} {n}" for op, n in hist.items() if op in QUANTIZED_OPS]
    f = [f"{op} {n}" for op, n in hist.items() if op not in QUANTIZED_OPS]
    return f"int8/q: {', '.join(q) or '-'} | float: {', '.join(f) or '-'}"


# ---------------------------------------------------------------------------------------- children
def measure_torch(model_dir: str, inputs: dict[int, np.ndarray], repeats: int, warmup: int, threads: int) -> dict:
    """Torch eager timings, FLOPs and uint8 outputs per size (runs in its own process)."""
    from img2img.infer import Translator

    torch.set_num_threads(threads)
    translator = Translator.from_pretrained(model_dir, device="cpu", precision="fp32", tile=None, batch_size=1)
    net = translator.net().eval()
    spec = translator.spec()
    out: dict[int, dict] = {}
    for size, image in inputs.items():
        from img2img_runtime.processing import prepare

        x = torch.from_numpy(prepare(image, spec)[0][None].copy())

        def forward() -> None:
            with torch.no_grad():
                net(x)

        times = time_calls(forward, steps=repeats, warmup=warmup)
        flops = count_flops(forward)
        output = translator.translate_arrays([image])[0]
        out[size] = {"times": times, "flops": flops, "output": output, "input_shape": tuple(x.shape)}
    return {"threads": torch.get_num_threads(), "sizes": out}


def measure_ort(paths: dict[str, str], inputs: dict[int, np.ndarray], repeats: int, warmup: int, threads: int) -> dict:
    """onnxruntime timings and uint8 outputs per (backend, size) (runs in its own process, no torch ops)."""
    from img2img_runtime import Model
    from img2img_runtime.processing import prepare, run_images

    out: dict[str, dict[int, dict]] = {}
    for backend, path in paths.items():
        model = Model(path, threads=threads, tile=None, batch_size=1)
        out[backend] = {}
        for size, image in inputs.items():
            x = np.ascontiguousarray(prepare(image, model.spec)[0][None])
            times = time_calls(lambda m=model, x=x: m.run_batch(x), steps=repeats, warmup=warmup)
            output = run_images(model.run_batch, [image], model.spec, batch_size=1)[0]
            out[backend][size] = {"times": times, "output": output}
        del model
    return out


def measure_folder(path: str, in_dir: str, work_dir: str, threads: int, rounds: int) -> dict:
    """Whole folder job vs the same run_batch calls on pre-made inputs (runs in its own process)."""
    from img2img_runtime import Model
    from img2img_runtime.io import list_images, read_image
    from img2img_runtime.processing import prepare

    model = Model(path, threads=threads)
    images = [read_image(p, channels=model.spec.image_channels) for p in list_images(in_dir)]
    inputs = [
        np.stack([prepare(im, model.spec)[0] for im in images[i : i + model.batch_size]])
        for i in range(0, len(images), model.batch_size)
    ]
    model.run_batch(inputs[0])  # warm-up (first-run allocations)
    model_times, job_times, failed = [], [], 0
    for r in range(rounds):
        start = time.perf_counter()
        for batch in inputs:
            model.run_batch(batch)
        model_times.append(time.perf_counter() - start)
        out_dir = os.path.join(work_dir, f"out_{r}")
        start = time.perf_counter()
        report = model.translate_folder(in_dir, out_dir, overwrite=True, progress=False)
        job_times.append(time.perf_counter() - start)
        failed += len(report.failed)
        written = len(report.written)
        shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "images": len(images),
        "written": written,
        "failed": failed,
        "batch_size": model.batch_size,
        "calls": len(inputs),
        "batch_shape": list(inputs[0].shape),
        "model_times": model_times,
        "job_times": job_times,
    }


# ---------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--photos",
        type=Path,
        default=Path("/work/shared/data/dev"),
        help="folder of real photos: calibration, PSNR photo and folder-job crops",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per (net, backend, size); median reported")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--nets", default=",".join(NETS), help="comma-separated subset of " + ",".join(NETS))
    parser.add_argument("--sizes", default="256,512", help="comma-separated OUTPUT sizes (x4 nets get size/4 inputs)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch and onnxruntime threads (default: torch's default)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write environment, peak and rows here")
    parser.add_argument("--folder-images", type=int, default=100, help="images in the folder job (0: skip it)")
    parser.add_argument("--folder-net", default=None, help="net of the folder job (default: see the module doc)")
    parser.add_argument("--folder-rounds", type=int, default=3, help="alternating model-only/job rounds; fastest used")
    parser.add_argument("--no-folder", action="store_true", help="skip the folder job")
    parser.add_argument("--no-dynamic", action="store_true", help="skip int8 dynamic quantization")
    parser.add_argument(
        "--calib-images", type=int, default=8, help="photos used for int8 calibration and BN statistics"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--weights",
        choices=("trained", "random"),
        default="trained",
        help="trained: each net trained --train-steps on --photos first (cached); random: seeded init",
    )
    parser.add_argument("--train-steps", type=int, default=300, help="training steps per net for --weights trained")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "img2img" / "bench_infer",
        help="where --weights trained keeps its runs (reused when the settings match)",
    )
    parser.add_argument(
        "--calibration-method", default="auto", help="static int8 calibration (auto, percentile, minmax, entropy)"
    )
    args = parser.parse_args(argv)
    args.nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    for name in args.nets:
        if name not in NETS:
            parser.error(f"unknown net {name!r}; choose from {', '.join(NETS)}")
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes must be comma-separated integers")
    for name in args.nets:
        # U-Net: multiples of 256; ResNet: multiples of 4, >= 8; x4 nets: multiples of 4 (input = size / 4)
        multiple, least = (256, 256) if name.startswith("unet") else (4, 8) if name.startswith("resnet") else (4, 4)
        bad = [s for s in args.sizes if s % multiple or s < least]
        if bad:
            parser.error(f"sizes {bad} do not suit {name} (multiples of {multiple}, at least {least})")
    if args.repeats < 1 or args.warmup < 0 or args.calib_images < 1 or args.folder_rounds < 1:
        parser.error("--repeats, --calib-images, --folder-rounds must be >= 1 and --warmup >= 0")
    if args.folder_net and args.folder_net not in args.nets:
        parser.error(f"--folder-net {args.folder_net!r} must be one of the benchmarked --nets")
    if not args.photos.is_dir():
        parser.error(f"--photos {args.photos} is not a folder")
    return args


def pick_photos(folder: Path, n_calib: int) -> tuple[list[Path], Path, list[np.ndarray]]:
    """(calibration photos, PSNR photo, all readable colour-or-gray photos as uint8 RGB)."""
    from img2img_runtime.io import ImageReadError, list_images, read_image

    readable = []
    for path in list_images(folder):
        try:
            readable.append((path, read_image(path, channels=3)))
        except ImageReadError:
            continue
    if len(readable) < 2:
        raise SystemExit(f"need at least 2 readable images in {folder}")
    n_calib = min(n_calib, len(readable) - 1)
    calib = [p for p, _ in readable[:n_calib]]
    rest = readable[n_calib:]
    colour = [
        (p, im)
        for p, im in rest
        if not (np.array_equal(im[..., 0], im[..., 1]) and np.array_equal(im[..., 1], im[..., 2]))
    ]
    eval_path = (colour or rest)[0][0]
    return calib, eval_path, [im for _, im in readable]


def write_folder_images(images: list[np.ndarray], folder: Path, count: int, seed: int) -> None:
    from img2img_runtime.io import write_image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = images[i % len(images)]
        if min(image.shape[:2]) < 256:
            image = photo_square(image, 256)
        top = int(rng.integers(0, image.shape[0] - 256 + 1))
        left = int(rng.integers(0, image.shape[1] - 256 + 1))
        write_image(
            folder / f"img_{i:04d}.jpg", np.ascontiguousarray(image[top : top + 256, left : left + 256]), quality=95
        )


def mark(ok: bool | None) -> str:
    return "-" if ok is None else "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import onnxruntime as ort

    from img2img.checkpoint import save_pretrained
    from img2img.export import export_onnx
    from img2img.quantize import calibration_batches
    from img2img_runtime.processing import ModelSpec

    t_start = time.perf_counter()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    env = environment(torch.device("cpu"))
    env["onnxruntime"] = ort.__version__
    env["ort_providers"] = ort.get_available_providers()
    peak = matmul_peak(torch.float32)
    backends = [b for b in BACKENDS if not (args.no_dynamic and b == "ort_int8_dyn")]
    print(f"CPU: {env['cpu']} ({env['cpu_count']} logical CPUs)")
    print(
        f"torch {env['torch']} | onnxruntime {env['onnxruntime']} (CPUExecutionProvider) | python {env['python']} | "
        f"threads {threads} (torch and onnxruntime intra-op)"
    )
    print(
        f"matmul peak fp32: {peak['flops_per_s'] / 1e9:.1f} GFLOP/s (4096^3, best {peak['best_s'] * 1e3:.1f} ms, "
        f"median {peak['median_s'] * 1e3:.1f} ms)"
    )
    try:
        print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except OSError:
        pass

    calib_paths, eval_path, all_images = pick_photos(args.photos, args.calib_images)
    from img2img_runtime.io import read_image

    eval_image = read_image(eval_path, channels=3)
    print(
        f"batch 1; {args.warmup} warm-up + {args.repeats} timed runs, median; sizes are OUTPUT sizes "
        f"({', '.join(map(str, args.sizes))}; x4 nets take size/4 inputs)"
    )
    print(
        f"calibration (int8 static, BN statistics): {len(calib_paths)} photos from {args.photos}; "
        f"PSNR photo: {eval_path.name} (uint8 outputs of the runtime pipeline, vs ORT fp32)"
    )
    for name in args.nets:
        print(f"  {name}: {NETS[name][3]}")
    print(flush=True)

    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    net_info: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="infer_speed_") as tmp_root:
        tmp = Path(tmp_root)
        calib_dir = tmp / "calibration"
        calib_dir.mkdir()
        for p in calib_paths:
            os.symlink(p.resolve(), calib_dir / p.name)

        for name in args.nets:
            print(
                f"[{time.perf_counter() - t_start:6.0f} s] {name}: build, save, export ...", file=sys.stderr, flush=True
            )
            try:
                task = NETS[name][2]
                probe = build_net(name, args.seed, calibration=[])  # shape facts only; BN stats next
                spec = ModelSpec(
                    in_channels=probe.in_channels,
                    out_channels=probe.out_channels,
                    scale=probe.scale,
                    size_multiple=probe.size_multiple,
                    min_size=probe.min_size,
                )
                if args.weights == "trained":
                    print(
                        f"[{time.perf_counter() - t_start:6.0f} s] {name}: weights: {args.train_steps} training steps "
                        f"({TRAINING[name][0]}, {TRAINING[name][1]} recipe) ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    model_dir = trained_model_dir(name, args, threads)
                    from img2img.checkpoint import load_pretrained

                    net = next(iter(load_pretrained(model_dir)[1].values())).eval()
                else:
                    net = build_net(name, args.seed, calibration_batches(calib_dir, spec))
                    model_dir = tmp / name / "model"
                    save_pretrained({"AtoB": net}, model_dir, task=task, io_spec=io_spec(net))
                paths: dict[str, str] = {}
                info: dict[str, Any] = {"params_m": sum(p.numel() for p in net.parameters()) / 1e6, "exports": {}}
                for backend in backends[1:]:
                    out = tmp / name / f"{backend}.onnx"
                    t0 = time.perf_counter()
                    report = export_onnx(
                        model_dir,
                        out,
                        int8=backend.startswith("ort_int8"),
                        calibration=calib_dir if backend == "ort_int8" else None,
                        check=True,
                        calibration_method=args.calibration_method,
                    )
                    info["exports"][backend] = {
                        "seconds": time.perf_counter() - t0,
                        "exporter": report.exporter,
                        "max_abs_diff": report.max_abs_diff,
                        "notes": report.notes,
                        "mb": out.stat().st_size / 2**20,
                    }
                    paths[backend] = str(out)
                info["ops"] = {b: op_histogram(p) for b, p in paths.items() if b.startswith("ort_int8")}
                inputs = {size: net_input_image(eval_image, size, net.scale) for size in args.sizes}
                del net, probe

                print(f"[{time.perf_counter() - t_start:6.0f} s] {name}: torch ...", file=sys.stderr, flush=True)
                res_t = run_isolated(measure_torch, str(model_dir), inputs, args.repeats, args.warmup, threads)
                print(f"[{time.perf_counter() - t_start:6.0f} s] {name}: onnxruntime ...", file=sys.stderr, flush=True)
                res_o = run_isolated(measure_ort, paths, inputs, args.repeats, args.warmup, threads)
            except Exception as exc:  # report and go on with the other nets
                traceback.print_exception(exc)
                failed.append(name)
                continue
            info["paths"] = paths
            net_info[name] = info

            for size in args.sizes:
                t = res_t["sizes"][size]
                flops = t["flops"]
                ref = {"torch": t["output"], **{b: res_o[b][size]["output"] for b in paths}}
                ms = {"torch": median(t["times"]) * 1e3, **{b: median(res_o[b][size]["times"]) * 1e3 for b in paths}}
                times = {"torch": t["times"], **{b: res_o[b][size]["times"] for b in paths}}
                for backend in backends:
                    row: dict[str, Any] = {
                        "net": name,
                        "size": size,
                        "input": "x".join(map(str, t["input_shape"][2:])),
                        "backend": BACKEND_LABELS[backend],
                        "backend_key": backend,
                        "ms": ms[backend],
                        "ms_min": min(times[backend]) * 1e3,
                        "ms_max": max(times[backend]) * 1e3,
                        "times_s": times[backend],
                        "gflop": flops / 1e9,
                        "gflops": flops / (ms[backend] / 1e3) / 1e9,
                    }
                    row["pct_peak"] = 100 * row["gflops"] * 1e9 / peak["flops_per_s"]
                    row["spread_pct"] = 100 * (row["ms_max"] - row["ms_min"]) / row["ms"]
                    if backend == "torch":
                        row["out_std"] = float(ref["torch"].astype(np.float64).std())
                    elif backend == "ort_fp32":
                        row["speedup"] = ms["torch"] / ms["ort_fp32"]
                        row["speedup_min"] = min(times["torch"]) / min(times["ort_fp32"])
                        row["speedup_vs"] = "torch"
                        row["psnr_db"] = psnr_uint8(ref["ort_fp32"], ref["torch"])
                        row["psnr_vs"] = "torch"
                        row["out_std"] = float(ref["ort_fp32"].astype(np.float64).std())
                        row["target"] = mark(row["speedup"] >= 1.0)
                    else:
                        row["speedup"] = ms["ort_fp32"] / ms[backend]
                        row["speedup_min"] = min(times["ort_fp32"]) / min(times[backend])
                        row["speedup_vs"] = "ORT fp32"
                        row["psnr_db"] = psnr_uint8(ref[backend], ref["ort_fp32"])
                        row["psnr_vs"] = "ORT fp32"
                        row["target"] = mark(
                            row["speedup"] >= INT8_SPEEDUP_TARGET and row["psnr_db"] >= INT8_PSNR_TARGET
                        )
                    rows.append(row)

        folder: dict[str, Any] | None = None
        if not args.no_folder and args.folder_images > 0 and net_info:
            folder = run_folder_job(args, rows, net_info, all_images, tmp, threads, t_start)

    columns = [
        ("net", "net", "s"),
        ("size", "size", "d"),
        ("input", "input", "s"),
        ("backend", "backend", "s"),
        ("ms/img", "ms", ".1f"),
        ("min ms", "ms_min", ".1f"),
        ("spread%", "spread_pct", ".0f"),
        ("GFLOP", "gflop", ".2f"),
        ("GFLOP/s", "gflops", ".1f"),
        ("%peak", "pct_peak", ".1f"),
        ("speed-up", "speedup", ".2f"),
        ("x(min)", "speedup_min", ".2f"),
        ("vs", "speedup_vs", "s"),
        ("PSNR dB", "psnr_db", ".1f"),
        ("out std", "out_std", ".1f"),
        ("target", "target", "s"),
    ]
    print(format_table(rows, columns))
    print(
        "\nms/img: median, min ms: fastest of the timed runs; spread%: (max - min) / median. GFLOP: torch FlopCounterMode count of one "
        "forward (int8 rows: fp32-equivalent, effective rate). speed-up: ORT fp32 vs torch eager; int8 rows vs ORT fp32 (x(min): the same from the fastest runs). "
        "PSNR: uint8 outputs of the runtime pipeline on the photo, ORT fp32 row vs torch, int8 rows vs ORT fp32 "
        "(inf = identical). out std: of the fp32 uint8 output (0-255)."
    )
    noisy = [r for r in rows if r["spread_pct"] > 25]
    if noisy:
        print(
            f"NOISY: {len(noisy)} of {len(rows)} rows have a spread over 25 % (other processes on this machine?); "
            "compare with the min column and re-run before drawing close conclusions."
        )
    print(
        f"target per row: ORT fp32 speed-up >= 1.0; int8: speed-up >= {INT8_SPEEDUP_TARGET} and PSNR >= {INT8_PSNR_TARGET:.0f} dB"
    )

    print(
        "\nint8 graphs (op types of the quantized ONNX files; float ops run between DequantizeLinear/QuantizeLinear):"
    )
    for name, info in net_info.items():
        for backend, hist in info["ops"].items():
            print(f"  {name} {BACKEND_LABELS[backend]}: {describe_int8_ops(hist)}")
    print(
        "export times: "
        + "; ".join(
            f"{name} " + ", ".join(f"{BACKEND_LABELS[b]} {e['seconds']:.0f} s" for b, e in info["exports"].items())
            for name, info in net_info.items()
        )
    )

    summary = summarize(rows, folder)
    if folder:
        print(
            f"\nfolder job: {folder['net']} ORT fp32, {folder['images']} JPEG 256x256 -> "
            f"{folder['out_size']}x{folder['out_size']} JPEG, batch {folder['batch_size']} ({folder['calls']} run_batch calls "
            f"of {'x'.join(map(str, folder['batch_shape']))}), {folder['rounds']} rounds, fastest used; chosen because {folder['why']}"
        )
        print(
            f"  whole job (decode + pre + inference + post + encode + write): {folder['job_s']:.2f} s = "
            f"{folder['job_ips']:.2f} images/s   (rounds: {', '.join(f'{x:.2f}' for x in folder['job_times'])} s)"
        )
        print(
            f"  model only (same run_batch calls, pre-made inputs):        {folder['model_s']:.2f} s = "
            f"{folder['model_ips']:.2f} images/s   (rounds: {', '.join(f'{x:.2f}' for x in folder['model_times'])} s)"
        )
        print(
            f"  overhead = (job / model-only - 1) * 100 = {folder['overhead_pct']:.1f} %   "
            f"[{mark(folder['overhead_pct'] < FOLDER_OVERHEAD_TARGET)} target < {FOLDER_OVERHEAD_TARGET:.0f} %]"
            + (f"; {folder['failed']} FAILED images" if folder["failed"] else "")
        )

    print("\ntargets (from the issue; not asserted):")
    for line in summary:
        print("  " + line)
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    print(
        f"\nload average at end: {load} (on {env['cpu_count']} CPUs); total run time {time.perf_counter() - t_start:.0f} s"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "environment": env,
                    "threads": threads,
                    "matmul_peak_fp32": peak,
                    "rows": rows,
                    "nets": {n: {k: v for k, v in i.items() if k != "paths"} for n, i in net_info.items()},
                    "folder": folder,
                    "failed": failed,
                    "targets": summary,
                },
                indent=2,
                default=str,
            )
        )
        print(f"wrote {args.json}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def run_folder_job(
    args: argparse.Namespace,
    rows: list[dict],
    net_info: dict,
    images: list[np.ndarray],
    tmp: Path,
    threads: int,
    t_start: float,
) -> dict[str, Any] | None:
    """Choose the net, write the JPEGs, time the job against model-only runs."""

    def estimate_s(name: str) -> float | None:
        """Estimated seconds of inference for the job's 256x256 inputs, from the measured ORT fp32 rows."""
        scale = 4 if NETS[name][0].endswith("_x4") else 1
        best = None
        for r in rows:
            if r["net"] == name and r["backend_key"] == "ort_fp32":
                in_side = r["size"] // scale
                est = r["ms"] / 1e3 * (256 / in_side) ** 2 * args.folder_images
                if best is None or abs(in_side - 256) < best[0]:
                    best = (abs(in_side - 256), est)
        return None if best is None else best[1]

    if args.folder_net:
        name, why = args.folder_net, "--folder-net"
    else:
        candidates = [n for n in FOLDER_PREFERENCE if n in net_info and estimate_s(n) is not None]
        fits = [n for n in candidates if estimate_s(n) < FOLDER_BUDGET_S]
        if fits:
            name = fits[0]
            why = (
                f"it is the first of {', '.join(candidates)} whose measured ORT fp32 time "
                f"promises < {FOLDER_BUDGET_S:.0f} s of inference for {args.folder_images} images "
                f"(estimated {estimate_s(name):.0f} s)"
            )
        elif candidates:
            name = min(candidates, key=estimate_s)
            why = f"no net promises < {FOLDER_BUDGET_S:.0f} s; the fastest (estimated {estimate_s(name):.0f} s)"
        else:
            return None
    print(f"[{time.perf_counter() - t_start:6.0f} s] folder job: {name} ...", file=sys.stderr, flush=True)
    in_dir = tmp / "folder_in"
    write_folder_images(images, in_dir, args.folder_images, args.seed)
    work = tmp / "folder_work"
    work.mkdir()
    try:
        res = run_isolated(
            measure_folder, net_info[name]["paths"]["ort_fp32"], str(in_dir), str(work), threads, args.folder_rounds
        )
    except Exception as exc:  # noqa: BLE001
        traceback.print_exception(exc)
        return None
    job_s, model_s = min(res["job_times"]), min(res["model_times"])
    scale = 4 if NETS[name][0].endswith("_x4") else 1
    return {
        **res,
        "net": name,
        "why": why,
        "rounds": args.folder_rounds,
        "out_size": 256 * scale,
        "job_s": job_s,
        "model_s": model_s,
        "job_ips": res["images"] / job_s,
        "model_ips": res["images"] / model_s,
        "overhead_pct": (job_s / model_s - 1) * 100,
    }


def summarize(rows: list[dict], folder: dict | None) -> list[str]:
    lines = []
    fp32 = [r for r in rows if r["backend_key"] == "ort_fp32"]
    if fp32:
        misses = [f"{r['net']}@{r['size']} ({r['speedup']:.2f}x)" for r in fp32 if r["speedup"] < 1.0]
        lines.append(
            f"[{mark(not misses)}] onnxruntime fp32 at least as fast as torch eager: "
            f"{len(fp32) - len(misses)}/{len(fp32)} rows"
            + (f"; misses: {', '.join(misses)}" if misses else "")
            + f" (speed-ups {min(r['speedup'] for r in fp32):.2f}x .. {max(r['speedup'] for r in fp32):.2f}x)"
        )
    for key in ("ort_int8", "ort_int8_dyn"):
        sel = [r for r in rows if r["backend_key"] == key]
        if not sel:
            continue
        misses = [
            f"{r['net']}@{r['size']} ({r['speedup']:.2f}x, {r['psnr_db']:.1f} dB)" for r in sel if r["target"] != "PASS"
        ]
        lines.append(
            f"[{mark(not misses)}] {BACKEND_LABELS[key]} >= {INT8_SPEEDUP_TARGET}x ORT fp32 and PSNR >= "
            f"{INT8_PSNR_TARGET:.0f} dB for every generator: {len(sel) - len(misses)}/{len(sel)} rows"
            + (f"; misses: {', '.join(misses)}" if misses else "")
            + ("" if key == "ort_int8" else " (informational: the issue's target is for the calibrated export)")
        )
    if folder:
        lines.append(
            f"[{mark(folder['overhead_pct'] < FOLDER_OVERHEAD_TARGET)}] folder-job overhead < "
            f"{FOLDER_OVERHEAD_TARGET:.0f} %: {folder['overhead_pct']:.1f} % ({folder['net']}, "
            f"{folder['job_ips']:.2f} vs {folder['model_ips']:.2f} images/s)"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
