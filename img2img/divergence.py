"""Divergence: telling an exploding run from a noisy one, and rolling it back to a good state.

A GAN run can blow up in two ways: its losses become NaN/inf (:mod:`img2img.optimization` skips
those updates and raises :class:`~img2img.optimization.NonFiniteLossError` after
``max_bad_steps`` in a row), or the weights run away while every loss stays finite (``--lr 1e3``:
the outputs saturate and the reconstruction loss sits far above where it started). The training
loop keeps an in-memory copy of the last good state (nets with their batch-norm buffers,
optimizers) and, on either kind of divergence, goes back to it with a lower learning rate
(:data:`LR_BACKOFF`); after :data:`MAX_ROLLBACKS` tries it stops with :class:`TrainingDiverged`.
Checkpoints are only ever written from finite states.

The explosion rules (:class:`LossWatch`) are robust to the noise of GAN losses:

* **loss**: the *median* of the last ``window`` steps' reconstruction loss (the generator's terms
  that are not adversarial: L1, cycle, identity, content; all of them for a pure GAN) against the
  lowest such median seen so far over full windows (the first one is the first ``window`` steps':
  the median of a few steps is one easy image's loss; steps without a generator term, the
  critic-only steps of ``--n-critic``, are not counted). A run has exploded
  when the recent median is more than ``factor`` times that reference (a pure GAN, e.g. the GAN
  lab, :data:`PURE_GAN_FACTOR` times more: its generator loss grows as the discriminator learns). Losses that only
  fluctuate, or rise a little as the discriminator improves, stay far below the factor. A term
  that was not summed before (a content loss that starts after a pixel-loss warm-up) changes the
  objective: the reference starts again from the new sum.
* **weights**: bounded outputs (tanh) cap the loss, so a run whose weights ran away can show a
  loss only twice its start. The global norm of all weights is checked every
  :data:`WEIGHT_CHECK_EVERY` steps against its value at the start of the run: more than
  ``weight_growth`` (100) times that is an explosion (training at sane learning rates moves the
  norm by a small factor).
"""

from __future__ import annotations

import copy
import math
from collections import deque
from typing import Any

import torch

#: learning-rate multiplier after each rollback
LR_BACKOFF = 0.5
#: rollbacks before a run is given up
MAX_ROLLBACKS = 3
#: steps between checks of the weights' norm
WEIGHT_CHECK_EVERY = 10


class TrainingDiverged(RuntimeError):
    """Raised when a run still diverges after :data:`MAX_ROLLBACKS` rollbacks."""


# generator terms measured through a discriminator: its GAN term, an AC-GAN's class term, and the
# feature matching on its features (SRGAN's "fm"): they rise as the discriminator learns
ADVERSARIAL_SUFFIXES = ("gan", "class", "fm")
# a pure GAN's terms (no reconstruction) rise several-fold as its discriminator learns: a looser factor
PURE_GAN_FACTOR = 5.0


def _adversarial(key: str) -> bool:
    return key.endswith(ADVERSARIAL_SUFFIXES)


def _watched_terms(losses: dict[str, float]) -> list[str]:
    """The keys :func:`reconstruction_loss` sums."""
    generator = [k for k in losses if k.startswith("G_")]
    plain = [k for k in generator if not _adversarial(k)]
    return plain if plain else generator


def reconstruction_loss(losses: dict[str, float]) -> float:
    """The generator's non-adversarial terms summed (all generator terms if there are none)."""
    return float(sum(losses[k] for k in _watched_terms(losses)))


class LossWatch:
    """Robust explosion test over recent losses (see the module docstring).

    Args:
        window: steps in the rolling median.
        factor: the recent median must exceed ``factor`` x the best median to count as an explosion.
    """

    def __init__(self, window: int = 25, factor: float = 4.0, weight_growth: float = 100.0) -> None:
        self.window = window
        self.factor = factor
        self.weight_growth = weight_growth
        self.recent: deque[float] = deque(maxlen=window)
        self.best: float | None = None
        self.terms: set[str] = set()  # every loss key summed so far: a new one restarts the reference
        self.weight_norm: float | None = None  # at the start of the run

    def observe_weights(self, norm: float) -> str | None:
        """Check the weights' global norm (the first call sets the reference); a reason or None."""
        if self.weight_norm is None or self.weight_norm <= 0:
            self.weight_norm = norm
            return None
        if not math.isfinite(norm) or norm > self.weight_growth * self.weight_norm:
            return f"the weights' norm grew {norm / self.weight_norm:.3g}x since the start ({self.weight_norm:.4g} -> {norm:.4g})"
        return None

    def observe(self, losses: dict[str, float]) -> str | None:
        """Record one step's losses; a reason string when the run has exploded, else None."""
        value = reconstruction_loss(losses)
        pure_gan = not any(k.startswith("G_") and not _adversarial(k) for k in losses)
        factor = self.factor * (PURE_GAN_FACTOR if pure_gan else 1.0)
        if not math.isfinite(value):
            return None  # non-finite steps are the optimizer's guard's business
        terms = set(_watched_terms(losses))
        if not terms:  # no generator term this step (a critic-only step of --n-critic): nothing to judge
            return None
        if not terms <= self.terms:  # a new term: the objective changed (e.g. a warm-up ended)
            if self.terms:
                self.recent.clear()
                self.best = None
            self.terms |= terms
        self.recent.append(value)
        if len(self.recent) < self.window:  # the median of a few steps is one easy image's loss: no reference
            return None
        median = float(sorted(self.recent)[(len(self.recent) - 1) // 2])  # the lower median
        if self.best is None or median < self.best:
            self.best = median
        if self.best > 0 and median > factor * self.best:
            return (
                f"the median loss of the last {self.window} steps ({median:.4g}) is {median / self.best:.1f}x "
                f"its best ({self.best:.4g})"
            )
        return None

    def reset(self) -> None:
        """Forget the recent steps (after a rollback), keeping the reference."""
        self.recent.clear()

    def state_dict(self) -> dict[str, Any]:
        return {
            "recent": list(self.recent),
            "best": self.best,
            "terms": sorted(self.terms),
            "weight_norm": self.weight_norm,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.recent = deque(state.get("recent", []), maxlen=self.window)
        self.best = state.get("best")
        self.terms = set(state.get("terms", []))
        self.weight_norm = state.get("weight_norm")


def weight_norm(module: torch.nn.Module) -> float:
    """Global L2 norm of the trained parameters (float64 sum of squares); frozen ones (a perceptual
    loss's net, the averaged weights of ``--ema``) are left out."""
    total = sum(float(p.detach().double().pow(2).sum()) for p in module.parameters() if p.requires_grad)
    return math.sqrt(total)


def all_finite(module: torch.nn.Module) -> bool:
    """True if every parameter and floating-point buffer (e.g. batch-norm statistics) is finite."""
    return all(
        bool(torch.isfinite(t).all()) for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()
    )


def snapshot(net: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Any]:
    """A CPU copy of the nets (parameters and buffers) and the optimizers' states."""
    return {
        "net": {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()},
        "optimizers": {name: copy.deepcopy(_to_cpu(opt.state_dict())) for name, opt in optimizers.items()},
    }


def restore(net: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer], state: dict[str, Any]) -> None:
    """Load a :func:`snapshot` back (tensors go back to their devices)."""
    net.load_state_dict(state["net"])
    for name, opt in optimizers.items():
        opt.load_state_dict(copy.deepcopy(state["optimizers"][name]))


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value
