"""An exponential moving average of the generators' weights (``--ema DECAY``).

The weights a GAN or a restoration net has after its last step are one noisy point of a
trajectory; their running average is a smoother function that scores better on photos it never
saw and changes little from one validation to the next (Karras et al. 2018 for GANs; Real-ESRGAN,
SwinIR and most restoration codebases serve the averaged weights). With ``ema > 0`` the loop keeps
a copy of every generator, updated after each optimisation step::

    averaged = decay_t * averaged + (1 - decay_t) * live,   decay_t = min(decay, (1 + n) / (10 + n))

where ``n`` is the number of updates so far: early on the average follows the live weights closely
(the initial weights are forgotten), later it spans about ``1 / (1 - decay)`` steps. Floating-point
buffers (batch-norm statistics) are averaged alike, integer ones copied. The copies are a submodule
of the task, so checkpoints, exact resume and divergence rollbacks carry them; validation, samples,
``RUN/best`` and ``RUN/model`` (and so ``from_pretrained``, ``export`` and ``eval``) use them.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
from torch import nn

# How fast the decay reaches its configured value: decay_t = min(decay, (1 + n) / (WARMUP + n)).
WARMUP = 10


class WeightAverage(nn.Module):
    """Averaged copies of ``generators`` (direction -> net), ``nets[direction]``, never trained directly."""

    def __init__(self, generators: dict[str, nn.Module], decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), e.g. 0.999, got {decay}")
        self.decay = float(decay)
        self.nets = nn.ModuleDict({name: copy.deepcopy(g).requires_grad_(False) for name, g in generators.items()})
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def current_decay(self) -> float:
        """The decay the next update uses (smaller during the first updates, see the module docstring)."""
        n = int(self.updates)
        return min(self.decay, (1 + n) / (WARMUP + n))

    def _pairs(self, generators: dict[str, nn.Module]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(averaged, live) tensors: every parameter and buffer, in the same order."""
        if set(generators) != set(self.nets):
            raise ValueError(f"averaging generators {sorted(self.nets)}, got {sorted(generators)}")
        for name, live in generators.items():
            averaged = self.nets[name]
            for mine, theirs in ((averaged.parameters(), live.parameters()), (averaged.buffers(), live.buffers())):
                yield from zip(mine, theirs, strict=True)

    @torch.no_grad()
    def update(self, generators: dict[str, nn.Module]) -> None:
        """One step of the average towards the live ``generators``."""
        weight = 1.0 - self.current_decay()
        averaged, live = [], []
        for mine, theirs in self._pairs(generators):
            if mine.is_floating_point():
                averaged.append(mine)
                live.append(theirs.detach().to(mine.dtype))
            else:
                mine.copy_(theirs)
        if averaged:
            torch._foreach_lerp_(averaged, live, weight)
        self.updates += 1

    @contextlib.contextmanager
    def applied(self, generators: dict[str, nn.Module]) -> Iterator[None]:
        """Within the block the live ``generators`` hold the averaged weights (for validation and
        samples); their own weights are back afterwards, also on an exception."""
        pairs = list(self._pairs(generators))
        with torch.no_grad():
            kept = [theirs.detach().clone() for _, theirs in pairs]
            for mine, theirs in pairs:
                theirs.copy_(mine)
        try:
            yield
        finally:
            with torch.no_grad():
                for (_, theirs), own in zip(pairs, kept, strict=True):
                    theirs.copy_(own)
