"""PyTorch datasets and the epoch-aware sampler that makes every draw reproducible.

The sampler yields ``(index, epoch)`` pairs, so a dataset derives its random
numbers from ``(seed, epoch, index)`` and needs no state in worker processes;
resuming at an epoch boundary replays exactly the same data. It also shards
for distributed training, as ``DistributedSampler`` does.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .data import Item, load_item
from .encoding import encode_input, encode_target

__all__ = ["ColorizeDataset", "EpochSampler", "example_rng"]


def example_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


class EpochSampler(Sampler):
    """Shuffles per epoch from ``(seed, epoch)``; shards across ``world_size`` ranks.

    Each rank gets ``ceil(n / world_size)`` indices (padded by wrapping, as
    DistributedSampler does), so every rank runs the same number of steps.
    """

    def __init__(self, n: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.per_rank = -(-n // world_size) if n else 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.arange(self.n)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        total = self.per_rank * self.world_size
        order = np.resize(order, total)  # wraps around to pad
        for index in order[self.rank:total:self.world_size]:
            yield int(index), self.epoch


class ColorizeDataset(Dataset):
    """Gray input and colour target, encoded for ``color_space``, plus the uint8 originals."""

    def __init__(self, items: list[Item], image_size: int, color_space: str, train: bool, seed: int) -> None:
        self.items, self.size, self.color_space = items, image_size, color_space
        self.train, self.seed = train, seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        rng = example_rng(self.seed, epoch, index) if self.train else None
        gray, color = load_item(self.items[index], self.size, rng)
        return {
            "input": torch.from_numpy(encode_input(gray, self.color_space)),
            "target": torch.from_numpy(encode_target(color, self.color_space)),
            "gray": torch.from_numpy(np.array(gray))[None],
            "color": torch.from_numpy(np.array(color.transpose(2, 0, 1))),
        }
