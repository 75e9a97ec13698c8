"""Restorer training tiles at scan resolution: crops of photos at their own size or enlarged 2-4x, damaged
at scan scale (train/scan_damage.py).

The runtime hands a restorer ``S x S`` tiles of the full-resolution scan (runtime/layout.py), so the
restorer learns on exactly that: a window of a photo at one picture pixel per model pixel. Scans of small
prints are enlarged copies of soft pictures, so most windows are cut from a photo enlarged 1.5-4x
(bicubic or Lanczos, drawn per tile), a quarter at the photo's own resolution and a few reduced. Each tile is
one of the 8 rotations and mirrorings under a random gamma, as in train/restore_data.py.

Photos: scikit-image's only (no download, so any other photo stays clean for evaluation): the colour
``sample`` photos as gray, less ``HELD_OUT`` (the scan-like benchmark's photos and the colorizer's validation
photos: the ``sample`` split of seed 0), plus the gray photographs and textures scikit-image ships
(``GRAY_PHOTOS``: faces, the moon, coins, grass, gravel, brick, printed pages...), which teach the restorer
that texture and print are not damage.

An epoch is ``length`` tiles drawn from ``(seed, epoch, index)``; validation tiles are fixed by
``(seed, index)``, so scores repeat across runs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from revive.runtime.color import rgb_to_gray

from .restore_data import GAMMA
from .sample import SAMPLE_PHOTOS, sample_photo
from .scan_damage import TRAINING, DamageRanges, draw_scan_damage

__all__ = ["GRAY_PHOTOS", "HELD_OUT", "ScanTileDataset", "photo_gray", "restorer_photos", "scan_tile"]

GRAY_PHOTOS = ("camera", "moon", "coins", "grass", "gravel", "brick", "clock", "page", "text", "cell")
HELD_OUT = ("coffee", "immunohistochemistry")  # = the sample split's validation photos for seed 0 (a test holds it)
_TRAIN_STREAM, _VAL_STREAM = 0x7411, 0x7A11
_RESAMPLE = (Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)


@lru_cache(maxsize=None)
def photo_gray(name: str) -> np.ndarray:
    """A scikit-image photo as uint8 gray (the colour ones through revive's BT.601 luma)."""
    if name in SAMPLE_PHOTOS:
        return rgb_to_gray(sample_photo(name))
    if name not in GRAY_PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose from {', '.join(SAMPLE_PHOTOS + GRAY_PHOTOS)}")
    import skimage.data

    gray = np.ascontiguousarray(getattr(skimage.data, name)(), dtype=np.uint8)
    gray.setflags(write=False)
    return gray


def restorer_photos() -> tuple[str, ...]:
    """The photos the bundled restorer trains on."""
    return tuple(p for p in SAMPLE_PHOTOS if p not in HELD_OUT) + GRAY_PHOTOS


def _scale(rng: np.random.Generator) -> float:
    u = rng.random()
    if u < 0.25:
        return 1.0
    if u < 0.33:
        return float(rng.uniform(0.6, 1.0))
    return float(np.exp(rng.uniform(np.log(1.5), np.log(4.0))))


def scan_tile(gray: np.ndarray, tile: int, rng: np.random.Generator, augment: bool = True) -> np.ndarray:
    """One ``tile`` x ``tile`` window of ``gray`` at a drawn enlargement, turned and gamma-shifted."""
    h, w = gray.shape
    scale = max(_scale(rng), tile / min(h, w))  # a small photo is enlarged at least to the tile
    side = max(1, min(round(tile / scale), h, w))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = gray[top:top + side, left:left + side]
    if side != tile:
        crop = np.asarray(Image.fromarray(crop).resize((tile, tile), _RESAMPLE[int(rng.integers(2))]))
    if augment:
        crop = np.rot90(crop, int(rng.integers(4)))
        if rng.integers(2):
            crop = crop[::-1]
        gamma = float(np.exp(rng.uniform(*np.log(GAMMA))))
        crop = np.round(255.0 * (crop / 255.0) ** gamma).astype(np.uint8)
    return np.ascontiguousarray(crop)


class ScanTileDataset(Dataset):
    """Damaged scan tiles: ``input`` (damaged/127.5 - 1), ``damaged`` and ``gray`` (uint8, the target: the
    print before local damage) and ``mask`` (float 0/1), each 1 x S x S."""

    def __init__(self, photos: tuple[str, ...], tile: int, length: int, seed: int, train: bool,
                 ranges: DamageRanges = TRAINING) -> None:
        self.photos, self.tile, self.length = tuple(photos), tile, length
        self.seed, self.train, self.ranges = seed, train, ranges

    def __len__(self) -> int:
        return self.length

    def example(self, index: int, epoch: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(damaged, mask, target) uint8/bool/uint8 for one example."""
        words = [self.seed, epoch, index, _TRAIN_STREAM] if self.train else [self.seed, index, _VAL_STREAM]
        rng = np.random.default_rng(words)
        photo = self.photos[int(rng.integers(len(self.photos)))]
        clean = scan_tile(photo_gray(photo), self.tile, rng, augment=self.train)
        drawn = draw_scan_damage(clean, rng, self.ranges)
        return drawn.damaged, drawn.mask, drawn.base

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        damaged, mask, target = self.example(index, epoch)
        return {"input": torch.from_numpy(damaged.astype(np.float32) / 127.5 - 1.0)[None],
                "damaged": torch.from_numpy(damaged)[None],
                "mask": torch.from_numpy(mask.astype(np.float32))[None],
                "gray": torch.from_numpy(target)[None]}
