"""One optimisation step, written once for every task.

Tasks say *what* to minimise; :class:`Optimization` says *how* a loss becomes an update:
autocast, gradient scaling (fp16), data-parallel gradient averaging (``torchrun``), gradient
clipping and the guard against non-finite losses and gradients. The training loop owns one
instance and hands it to ``Task.training_step``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")


class NonFiniteLossError(RuntimeError):
    """Raised when too many consecutive steps produced NaN/inf losses or gradients."""


def set_requires_grad(modules: nn.Module | Iterable[nn.Module], flag: bool) -> None:
    """Freeze or unfreeze every parameter of ``modules`` (a discriminator during a generator step)."""
    if isinstance(modules, nn.Module):
        modules = [modules]
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(flag)


def distributed_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class Optimization:
    """Optimizers plus everything that turns a loss into a safe update.

    Args:
        optimizers: name -> optimizer (e.g. ``{"G": adam_g, "D": adam_d}``).
        device: the training device (decides which autocast/scaler applies).
        precision: ``"fp32"``, ``"bf16"`` (autocast on CPU or CUDA) or ``"fp16"`` (CUDA only,
            with a gradient scaler).
        grad_clip: clip the global gradient norm of each optimizer's parameters to this value.
        max_bad_steps: raise :class:`NonFiniteLossError` after this many consecutive
            iterations with a non-finite loss or gradient (each such update is skipped).
    """

    def __init__(
        self,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        device: torch.device,
        precision: str = "fp32",
        grad_clip: float | None = None,
        max_bad_steps: int = 20,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision == "fp16" and device.type != "cuda":
            raise ValueError("precision 'fp16' needs a CUDA device; use 'bf16' on CPU")
        self.optimizers = optimizers
        self.device = device
        self.precision = precision
        self.grad_clip = grad_clip
        self.max_bad_steps = max_bad_steps
        self.scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
        self.bad_steps = 0  # consecutive iterations with a skipped update
        self.skipped_total = 0
        self._bad_this_iteration = False
        self._scaled_this_iteration = False
        self._stepped: set[str] = set()
        self.last_stepped: frozenset[str] = frozenset()  # the optimizers the last iteration stepped

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context for forward passes: autocast in the chosen precision, a no-op for fp32."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def learning_rates(self) -> dict[str, float]:
        return {name: opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}

    def set_lr_factor(self, factor: float) -> None:
        """Set every param group's lr to ``initial_lr * factor`` (the schedule is a function of the step)."""
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] * factor

    def step(self, name: str, loss: torch.Tensor) -> bool:
        """Backpropagate ``loss`` and update the parameters of optimizer ``name``.

        Returns False when the update was skipped because the loss or the gradients were not
        finite (the parameters are left untouched).
        """
        opt = self.optimizers[name]
        self._stepped.add(name)
        params = [p for group in opt.param_groups for p in group["params"]]
        opt.zero_grad(set_to_none=True)
        if not _finite_on_every_rank(loss):  # one rank's NaN: every rank skips (none waits in the all-reduce)
            self._mark_bad(
                f"loss for {name!r} is {loss.item()}"
                if not torch.isfinite(loss.detach()).all()
                else f"loss for {name!r} is not finite on another rank"
            )
            return False
        self.scaler.scale(loss).backward()
        _all_reduce_gradients(params)
        self.scaler.unscale_(opt)
        self._scaled_this_iteration = True
        if self.grad_clip is not None:
            norm = nn.utils.clip_grad_norm_(params, self.grad_clip)
        else:
            norm = nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        if not torch.isfinite(norm):
            if self.precision != "fp16":  # with fp16 the scaler skips the step and lowers the scale
                opt.zero_grad(set_to_none=True)
                self._mark_bad(f"gradient norm for {name!r} is {norm.item()}")
                return False
        self.scaler.step(opt)
        return True

    def end_iteration(self) -> None:
        """Call once after all ``step`` calls of one training iteration."""
        self.last_stepped, self._stepped = frozenset(self._stepped), set()
        if self._scaled_this_iteration:  # GradScaler.update() needs an unscaled step to learn from
            self.scaler.update()
        self._scaled_this_iteration = False
        if self._bad_this_iteration:
            self.bad_steps += 1
            self.skipped_total += 1
            if self.bad_steps >= self.max_bad_steps:
                raise NonFiniteLossError(
                    f"{self.bad_steps} consecutive iterations had non-finite losses or gradients; "
                    "training has diverged. Try a lower --lr, --grad-clip 1.0, --precision fp32, "
                    "or another --gan-mode (lsgan and hinge are more stable than vanilla)."
                )
        else:
            self.bad_steps = 0
        self._bad_this_iteration = False

    def _mark_bad(self, what: str) -> None:
        if not self._bad_this_iteration:
            log.warning("skipping update: %s", what)
        self._bad_this_iteration = True

    def state_dict(self) -> dict:
        return {
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "scaler": self.scaler.state_dict(),
            "bad_steps": self.bad_steps,
            "skipped_total": self.skipped_total,
        }

    def load_state_dict(self, state: dict) -> None:
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.bad_steps = state.get("bad_steps", 0)
        self.skipped_total = state.get("skipped_total", 0)


def _finite_on_every_rank(loss: torch.Tensor) -> bool:
    """True if ``loss`` is finite here and on every data-parallel rank (one all-reduce of a flag)."""
    finite = bool(torch.isfinite(loss.detach()).all())
    rank, world = distributed_world()
    if world == 1:
        return finite
    flag = torch.tensor([1.0 if finite else 0.0], device=loss.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item() > 0)


def _all_reduce_gradients(params: list[torch.Tensor]) -> None:
    """Average gradients over data-parallel ranks (what DDP does, in one flat bucket)."""
    rank, world = distributed_world()
    if world == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def broadcast_state(module: nn.Module, *, buffers_only: bool = False) -> None:
    """Copy parameters and/or buffers from rank 0 to all ranks (start of training; BN statistics)."""
    rank, world = distributed_world()
    if world == 1:
        return
    tensors = list(module.buffers()) if buffers_only else [*module.parameters(), *module.buffers()]
    for t in tensors:
        if t.is_floating_point() or t.dtype in (torch.int64, torch.int32, torch.long):
            dist.broadcast(t.data, src=0)


#: learning-rate schedules of :func:`lr_factor`
LR_SCHEDULES = ("linear", "step")
#: the ``"step"`` schedule's factor after the drop (SRGAN: 1e-4, then 1e-5)
STEP_DECAY_FACTOR = 0.1


def lr_factor(step: int, total_steps: int, decay_steps: int, schedule: str = "linear") -> float:
    """Multiplier of the initial learning rate at (0-based) ``step`` of ``total_steps``.

    Both schedules keep the rate constant for the first ``total_steps - decay_steps`` steps; then

    * ``"linear"`` (pix2pix, CycleGAN): decays it linearly to zero over the last ``decay_steps``
      steps: ``1 - (step - decay_start) / decay_steps``;
    * ``"step"`` (SRGAN): multiplies it by :data:`STEP_DECAY_FACTOR` (0.1) for the last
      ``decay_steps`` steps.

    ``decay_steps <= 0`` keeps the rate constant throughout.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr schedule {schedule!r}; available: {', '.join(LR_SCHEDULES)}")
    decay_start = total_steps - decay_steps
    if decay_steps <= 0 or step < decay_start:
        return 1.0
    if schedule == "step":
        return STEP_DECAY_FACTOR
    return max(0.0, 1.0 - (step - decay_start) / float(decay_steps))
