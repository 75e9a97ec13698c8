"""The two-stage data set: damaged gray, its mask, the clean gray and the colour truth.

One example yields (all 1 x S x S or 3 x S x S, S = ``image_size``):

- ``input``: the damaged gray as the restorer sees it, damaged/127.5 - 1;
- ``damaged`` (uint8), ``mask`` (float 0/1): what the damage did and where;
- ``gray`` (uint8): the restorer's target: the clean gray, or with ``fading``
  or ``grain`` in the damage kinds the degraded print before local damage
  (train/damage.py says why);
- ``clean_input``: the colorizer's encoding of that target gray (one channel:
  gray/127.5 - 1 for ``rgb``, L/50 - 1 for ``lab``; train/encoding.py);
- ``color`` (uint8) and ``target``: the colour truth, raw and encoded.

Colour folders and ``sample`` get synthetic damage of the kinds asked for (train/damage.py):
fresh per epoch when training, seeded by the item's key for validation. CSV
pairs bring their own damaged input; its mask is derived (train/csv_data.py).
"""

from __future__ import annotations

import numpy as np
import torch

from revive.runtime.color import rgb_to_gray

from .damage import DEFAULT_KINDS, draw_damage, training_rng, validation_rng
from .data import Item, load_item
from .datasets import ColorizeDataset, example_rng
from .encoding import encode_input, encode_target

__all__ = ["GAMMA", "RestoreDataset", "augment_view", "damaged_example"]

AUGMENT_STREAM = 0x61756720  # a fourth seed word that no other stream uses


GAMMA = (0.6, 1.6)  # restorer augmentation: the clean gray is raised to a power drawn log-uniformly in this range


def augment_view(gray: np.ndarray, color: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One of the 8 rotations and mirrorings of (gray, colour), and the gray under a random gamma.

    Damage does not care which way up a print is or how dark it was developed, and
    the built-in sample has six training photos: these views let the restorer meet
    many more pictures than it has (the held-out photos are a coffee cup and a
    microscope slide it never saw). The colour stays un-jittered; only the
    restorer, whose target is the gray, trains on these views.
    """
    turns, mirror = int(rng.integers(4)), bool(rng.integers(2))
    gray, color = np.rot90(gray, turns), np.rot90(color, turns)
    if mirror:
        gray, color = gray[::-1], color[::-1]
    gamma = float(np.exp(rng.uniform(*np.log(GAMMA))))
    gray = np.round(255.0 * (gray / 255.0) ** gamma).astype(np.uint8)
    return np.ascontiguousarray(gray), np.ascontiguousarray(color)


def damaged_example(item: Item, size: int, seed: int, epoch: int, index: int, train: bool,
                    kinds: tuple[str, ...] = DEFAULT_KINDS,
                    augment: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(damaged uint8 SxS, mask bool SxS, target gray uint8 SxS, colour uint8 SxSx3) for one example.

    ``augment`` (training only) adds ``augment_view``'s views, from a stream of their own
    so the damage drawn for (seed, epoch, index) is the same with or without them.
    """
    gray, color = load_item(item, size, example_rng(seed, epoch, index) if train else None)
    if train and augment and not item.damaged:
        gray, color = augment_view(gray, color, np.random.default_rng([seed, epoch, index, AUGMENT_STREAM]))
    if item.damaged:
        from .csv_data import derive_mask

        clean = rgb_to_gray(color)
        return gray, derive_mask(gray, clean), clean, color
    rng = training_rng(seed, epoch, index) if train else validation_rng(seed, item.key)
    drawn = draw_damage(gray, rng, kinds)
    return drawn.damaged, drawn.mask, drawn.base, color


class RestoreDataset(ColorizeDataset):
    """A ColorizeDataset example with synthetic damage (or a CSV pair's derived mask) added."""

    def __init__(self, items: list[Item], image_size: int, color_space: str, train: bool, seed: int,
                 damage_kinds: tuple[str, ...] = DEFAULT_KINDS, augment: bool = False) -> None:
        super().__init__(items, image_size, color_space, train, seed)
        self.damage_kinds = tuple(damage_kinds)
        self.augment = augment

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        damaged, mask, gray, color = damaged_example(self.items[index], self.size, self.seed, epoch, index,
                                                     self.train, self.damage_kinds, self.augment)
        return {
            "input": torch.from_numpy(damaged.astype(np.float32) / 127.5 - 1.0)[None],
            "damaged": torch.from_numpy(np.array(damaged))[None],
            "mask": torch.from_numpy(mask.astype(np.float32))[None],
            "gray": torch.from_numpy(np.array(gray))[None],
            "clean_input": torch.from_numpy(encode_input(gray, self.color_space)[:1].copy()),
            "color": torch.from_numpy(np.ascontiguousarray(color.transpose(2, 0, 1))),
            "target": torch.from_numpy(encode_target(color, self.color_space)),
        }
