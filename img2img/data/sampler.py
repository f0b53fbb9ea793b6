"""An endless, seeded, resumable and distributed-aware index stream for training."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` forever: a fresh seeded permutation every epoch.

    Each epoch's permutation depends only on ``(seed, epoch)``; it is padded (by repeating its
    start) to a multiple of ``world_size`` and rank ``r`` takes every ``world_size``-th index
    from ``r``. ``start`` is a position in this rank's stream, so a run resumed at step ``s``
    with batch size ``b`` passes ``start = s * b`` and sees exactly the samples it would have
    seen without stopping. The epoch travels with the index so datasets can seed per-item
    randomness from ``(seed, epoch, index)``, independently of the number of workers.
    """

    def __init__(
        self, num_items: int, *, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1, start: int = 0
    ) -> None:
        if num_items <= 0:
            raise ValueError("the dataset is empty")
        self.num_items = num_items
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.start = start
        self.per_rank = -(-num_items // world_size)  # ceil

    def epoch_indices(self, epoch: int) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.num_items, generator=g).tolist()
        else:
            order = list(range(self.num_items))
        total = self.per_rank * self.world_size
        order = (order * (total // len(order) + 1))[:total]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, offset = divmod(self.start, self.per_rank)
        while True:
            indices = self.epoch_indices(epoch)
            for index in indices[offset:]:
                yield epoch, index
            epoch, offset = epoch + 1, 0
