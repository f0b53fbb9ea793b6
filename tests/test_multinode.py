"""Multi-node training the way ``torchrun`` runs it (README "Multi-GPU and multi-node").

Two "nodes" on this machine: two ``torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d
--rdzv-endpoint 127.0.0.1:PORT`` launchers, as the README's recipe runs one per node, meet at the
rendezvous and train one pix2pix run over gloo. Each rank saves its final weights; they must be
identical. Then the same job is killed on one rank (SIGKILL) after a checkpoint, torchrun stops
the other, and ``--resume`` continues it: the result must equal the uninterrupted run's, weight
for weight (every rank's random stream is in the checkpoint).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_UNET, make_paired

WORKER = textwrap.dedent(
    """
    import os, sys, torch
    import torch.distributed as dist
    from img2img import train

    out, data, results, steps, resume = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
    torch.set_num_threads(1)
    kwargs = dict(data=data, steps=steps, size=32, load_size=40, batch_size=1, device="cpu", num_workers=0,
                  checkpoint_every=3, sample_every=1000, val_every=1000, progress=False,
                  generator_kwargs={generator_kwargs!r}, discriminator_kwargs={discriminator_kwargs!r})
    if resume:
        result = train(out=out, resume=True, steps=steps, num_workers=0, progress=False)
    else:
        result = train("pix2pix", out=out, **kwargs)
    rank = dist.get_rank()
    torch.save(result.task.state_dict(), os.path.join(results, f"rank{{rank}}.pt"))
    dist.barrier()
    dist.destroy_process_group()
    """
).format(generator_kwargs=TINY_UNET["generator_kwargs"], discriminator_kwargs=TINY_UNET["discriminator_kwargs"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_nodes(worker: Path, args: list[str], env: dict[str, str]) -> list[subprocess.Popen]:
    """Two launchers with the README's multi-node arguments, one per "node"."""
    port = free_port()
    command = [
        sys.executable, "-m", "torch.distributed.run",
        "--nnodes", "2", "--nproc-per-node", "1",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"test{port}",
        "--max-restarts", "0", str(worker), *args,
    ]  # fmt: skip
    return [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]


def wait(processes: list[subprocess.Popen], timeout: float = 240) -> list[str]:
    outputs = []
    for process in processes:
        out, _ = process.communicate(timeout=timeout)
        outputs.append(out)
    return outputs


def differing(a: dict, b: dict) -> list[str]:
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.fixture
def job(tmp_path: Path):
    data = make_paired(tmp_path / "data", [f"{i:02d}" for i in range(6)], size=48)
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("WORLD_SIZE", None)
    return data, worker, env


def test_two_nodes_train_identically_and_resume_exactly(job, tmp_path: Path) -> None:
    data, worker, env = job
    steps = 30  # long enough that the kill lands after the first checkpoint (step 3) and before the end
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    for folder in (straight / "results", resumed / "results"):
        folder.mkdir(parents=True)

    # the uninterrupted job: both ranks end with the same weights
    outputs = wait(
        torchrun_nodes(worker, [str(straight / "run"), str(data), str(straight / "results"), str(steps), "0"], env)
    )
    assert all("Traceback" not in out for out in outputs), outputs
    rank0 = torch.load(straight / "results" / "rank0.pt", weights_only=True)
    rank1 = torch.load(straight / "results" / "rank1.pt", weights_only=True)
    assert differing(rank0, rank1) == [], "the two nodes ended with different weights"

    # the same job, one rank killed after its first checkpoint, then resumed
    nodes = torchrun_nodes(worker, [str(resumed / "run"), str(data), str(resumed / "results"), str(steps), "0"], env)
    checkpoint = resumed / "run" / "checkpoints" / "last.pt"
    deadline = time.time() + 180
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists(), "no checkpoint was written"
    victim = _a_training_rank(nodes)
    os.kill(victim, signal.SIGKILL)
    wait(nodes)
    assert not (resumed / "results" / "rank0.pt").exists(), "the job finished before the kill: make it longer"
    step = torch.load(checkpoint, weights_only=True)["step"]
    assert 0 < step < steps
    outputs = wait(
        torchrun_nodes(worker, [str(resumed / "run"), str(data), str(resumed / "results"), str(steps), "1"], env)
    )
    assert all("Traceback" not in out for out in outputs), outputs
    again = torch.load(resumed / "results" / "rank0.pt", weights_only=True)
    assert differing(again, rank0) == [], "resuming after the kill did not reproduce the uninterrupted run"
    assert differing(torch.load(resumed / "results" / "rank1.pt", weights_only=True), again) == []


def _a_training_rank(nodes: list[subprocess.Popen]) -> int:
    """The pid of a worker process (a child of one launcher), not the launcher itself."""
    for node in nodes:
        children = subprocess.run(["pgrep", "-P", str(node.pid)], capture_output=True, text=True).stdout.split()
        if children:
            return int(children[0])
    raise AssertionError("no worker process found")
