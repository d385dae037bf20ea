"""Deterministic, resumable, rank-sharded data order for the trainer.

:class:`EpochSampler` fixes the order of every epoch by ``(seed, epoch)`` and can start mid-epoch;
:class:`SeededItems` fetches each item under a seed derived from its position, so random crops do
not depend on ``num_workers`` or on whether the run was resumed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from audiogen.training.checkpoint import preserved_rng


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(index, item_seed)`` for one process: a fixed order per ``(seed, epoch)``, sharded by rank.

    Each epoch is a permutation (or ``0..n-1`` without ``shuffle``) cut into global batches of
    ``batch_size * num_replicas``; process ``rank`` takes its slice of each. With ``drop_last``
    a partial last global batch is dropped, otherwise the order wraps around to fill it; a dataset
    smaller than one global batch is repeated. ``set_epoch(epoch, start_batch)`` skips the first
    ``start_batch`` batches (resume). ``item_seed`` depends on ``(seed, epoch, position)`` only.
    """

    def __init__(
        self,
        length: int,
        batch_size: int,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        if length < 1:
            raise ValueError("the dataset is empty")
        self.length, self.batch_size, self.num_replicas, self.rank = length, batch_size, num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch, self.start_batch = 0, 0
        global_batch = batch_size * num_replicas
        full = length // global_batch if drop_last else math.ceil(length / global_batch)
        self.batches_per_epoch = max(1, full)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's order and the first batch to yield."""
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch - self.start_batch) * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.length, generator=g) if self.shuffle else torch.arange(self.length)
        global_batch = self.batch_size * self.num_replicas
        needed = self.batches_per_epoch * global_batch
        order = order.repeat(math.ceil(needed / self.length))[:needed].tolist()
        for b in range(self.start_batch, self.batches_per_epoch):
            first = b * global_batch + self.rank * self.batch_size
            for pos in range(first, first + self.batch_size):
                yield order[pos], (self.seed * 1_000_003 + self.epoch) * 10_000_019 + pos


class SeededItems(torch.utils.data.Dataset):
    """Fetches ``dataset[index]`` with its randomness seeded by ``item_seed``.

    Before each item the global Python / NumPy / torch RNGs are seeded, and a dataset that draws
    from its own generator is told the seed through its ``set_item_seed(seed)`` method if it has
    one. This makes random crops a function of the sampler position (see :class:`EpochSampler`),
    not of ``num_workers`` or of a resume. The caller's RNG state is restored afterwards, so the
    training RNG stream is not disturbed.
    """

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        with preserved_rng(cuda=False):  # data loading only draws from CPU generators
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            set_item_seed = getattr(self.dataset, "set_item_seed", None)
            if set_item_seed is not None:
                set_item_seed(seed)
            return self.dataset[index]


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a nested batch (dicts, lists, tuples) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
