"""Helpers shared by the benchmarks in ``bench/``.

* :func:`environment`: torch version, thread count, CPU model (and GPU name) for a report header;
* :func:`time_calls`, :func:`median`: wall-clock timing with ``time.perf_counter``, device synchronised;
* :func:`peak_rss_mb`, :func:`gpu_peak_mb`: peak memory of this process;
* :func:`count_flops`: FLOPs of one call, counted by ``torch.utils.flop_counter.FlopCounterMode``;
* :func:`matmul_peak`: the machine's achievable matmul FLOP/s (an n x n @ n x n product), the
  yardstick for "what fraction of the hardware does a workload use";
* :func:`run_isolated`: run a function in a fresh process, so each configuration gets its own
  peak RSS and a clean allocator;
* :func:`format_table`: a plain-text table.

Scripts in this folder put the repository root on ``sys.path`` and ``from bench.common import ...``.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment(device: torch.device) -> dict[str, Any]:
    """What a benchmark ran on: versions, threads, CPU model and, on CUDA, the GPU."""
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_model(),
        "device": str(device),
        "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,  # other work competing for the CPU
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (CUDA kernels run asynchronously); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(
    fn: Callable[[], Any], *, steps: int, warmup: int = 0, device: torch.device | str = "cpu"
) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``steps`` times; return the seconds of each timed call."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def gpu_peak_mb(device: torch.device) -> float | None:
    """``torch.cuda.max_memory_allocated`` in MiB (None off CUDA); reset it with ``torch.cuda.reset_peak_memory_stats``."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn`` (matmuls and convolutions, forward and backward) by ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def matmul_peak(
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    *,
    n: int = 4096,
    repeats: int = 5,
    warmup: int = 2,
) -> dict[str, Any]:
    """Achievable matmul throughput: ``n x n @ n x n`` (``2 n^3`` FLOPs), best and median of ``repeats``.

    ``flops_per_s`` uses the best time (the peak this machine reaches with this torch build and
    thread count). On CUDA, fp32 follows ``torch.backends.cuda.matmul.allow_tf32`` as set.
    """
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    times = time_calls(lambda: torch.mm(a, b, out=out), steps=repeats, warmup=warmup, device=device)
    flops = 2 * n**3
    return {
        "dtype": str(dtype).removeprefix("torch."),
        "n": n,
        "best_s": min(times),
        "median_s": median(times),
        "flops_per_s": flops / min(times),
        "median_flops_per_s": flops / median(times),
    }


def run_isolated(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in a fresh spawned process and return its (picklable) result.

    ``fn`` must be a module-level function. Each call gets its own peak RSS and allocator, so
    memory figures do not leak between configurations. An exception in the child is re-raised
    here, with the child's traceback attached as its ``__cause__``.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """Rows as an aligned text table; ``columns`` are ``(header, key, format spec)``, None prints ``-``."""

    def cell(row: dict[str, Any], key: str, spec: str) -> str:
        value = row.get(key)
        return "-" if value is None else format(value, spec)

    body = [[cell(row, key, spec) for _, key, spec in columns] for row in rows]
    headers = [header for header, _, _ in columns]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    left = [spec in ("", "s") for _, _, spec in columns]  # text left-aligned, numbers right-aligned
    line = lambda cells: "  ".join(c.ljust(w) if lft else c.rjust(w) for c, w, lft in zip(cells, widths, left))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in body)])
