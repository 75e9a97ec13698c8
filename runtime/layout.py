"""Layout: how one picture becomes model rows (uint8 S x S), and how the rows' outputs become a picture again.

Two layouts, both behind the same three calls (``len(plan)``, ``plan.row(i)``, ``plan.put(i, outputs)``), so a
batcher only moves rows and never knows which layout made them; rows of many pictures share batches:

- :class:`WholeView`: the picture resized to the model's S x S, one row. Colorizers always see this view
  (colour is low-frequency; the anchors do the same: DeOldify and DDColor colour a small view and keep the
  original luminance). Restorers see it with ``--tile off`` or ``--size model``.
- :class:`TilePlan`: overlapping N x N windows of a working gray (the full-resolution picture, or a copy no
  longer than ``--max-side``), each resized to S x S when N != S (``--tile auto`` is N = S: no resampling).
  A restorer's scratches are 1-4 px wide on a scan; at 256 px for the whole picture they vanish.

Blending: along each axis, a tile's weight rises from 0 over its first ``overlap`` pixels as a raised cosine
(``sin^2(pi t / 2P)``) and falls back to 0 over its last ``overlap`` pixels (no ramp at the picture's own
borders), and the weights of all tiles covering a position are normalised to sum to exactly 1; the 2-D
weight is the product of the two 1-D weights, so it sums to 1 too. A tile's outermost pixel, where the
network saw padding instead of the neighbourhood, weighs exactly 0 and its neighbours little
(``sin^2(pi / 2P)``), so for a local operator (a 3 x 3 filter) the blend equals the operator on the whole
picture within rounding away from the picture's own borders: no seam. The windows ramp smoothly, so a network
whose tiles disagree a little (a U-Net sees more than 3 x 3) fades from one tile to the next.
A picture smaller than a tile in one direction is padded by mirroring to the tile's size; the padding is cut
off again.

Tiles are cut when a batch is formed (``row(i)``), never all at once; the merge keeps two sums at the working
size: restored gray in 1/256 of a level (uint16), damage mask in float16 (it is only compared with 128),
4 bytes per pixel in all. Use::

    plan = TilePlan(gray, model_size=256, tile=256, overlap=32)   # gray: uint8 H x W
    for i in range(len(plan)):                                    # any batching, any order, any threads
        outputs = backend.run(plan.row(i)[None, None])            # {"restored": 1x1xSxS, "mask": ...}
        plan.put(i, {role: value[0] for role, value in outputs.items()})
    restored, mask = plan.result()                                # uint8 H x W each
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .fill import DEFAULT_FILL, FILLS

__all__ = ["AUTO", "OFF", "LayoutOptions", "TilePlan", "WholeView", "parse_tile", "tile_starts", "tile_weights",
           "view"]

AUTO, OFF = "auto", "off"
MIN_TILE = 8
_FIXED = 256  # the restored sum is kept in 1/256 of a level (uint16)
_DOWN = Image.Resampling.BICUBIC


@dataclass(frozen=True)
class LayoutOptions:
    """How a restorer sees a picture (``--tile``, ``--overlap``, ``--max-side``); colorizers always see it whole.

    ``tile``: ``"auto"`` tiles of the model's own size S (one picture pixel per model pixel); ``"off"`` the
    whole picture at S x S (the behaviour before tiling); an int N: N x N tiles, each resized to S x S.
    ``overlap``: pixels shared by neighbouring tiles (``None``: N // 8). ``max_side``: restore on a working
    copy whose longer side is at most this (``None``: full resolution); the result is upsampled back.
    ``fill``: ``"model"`` the restorer's own reconstruction, ``"classical"`` push-pull interpolation behind its
    mask (fill.py).
    """

    tile: int | str = AUTO
    overlap: int | None = None
    max_side: int | None = None
    fill: str = DEFAULT_FILL  # what fills the damage the restorer finds: "model" or "classical" (fill.py)

    def __post_init__(self) -> None:
        if self.tile not in (AUTO, OFF) and not (isinstance(self.tile, int) and self.tile >= MIN_TILE):
            raise ValueError(f"tile must be 'auto', 'off' or a size of at least {MIN_TILE} px, not {self.tile!r}")
        if self.overlap is not None and self.overlap < 0:
            raise ValueError(f"overlap must be 0 or more pixels, not {self.overlap}")
        if self.fill not in FILLS:
            raise ValueError(f"fill must be {' or '.join(map(repr, FILLS))}, not {self.fill!r}")
        if self.max_side is not None and self.max_side < 1:
            raise ValueError(f"max_side must be at least 1 pixel, not {self.max_side}")

    @property
    def tiled(self) -> bool:
        return self.tile != OFF

    def tile_size(self, model_size: int) -> int:
        return model_size if self.tile == AUTO else int(self.tile)

    def overlap_px(self, tile: int) -> int:
        overlap = tile // 8 if self.overlap is None else self.overlap
        if overlap > tile // 2:
            raise ValueError(f"overlap {overlap} px is more than half the {tile}-px tile")
        return overlap


def parse_tile(text: str) -> int | str:
    """``--tile`` value: auto, off or a size in pixels."""
    text = text.strip().lower()
    if text in (AUTO, OFF):
        return text
    try:
        size = int(text)
    except ValueError:
        raise ValueError(f"--tile takes auto, off or a size in pixels, not {text!r}") from None
    if size < MIN_TILE:
        raise ValueError(f"--tile {size}: tiles must be at least {MIN_TILE} px")
    return size


def view(gray: Image.Image, size: int) -> np.ndarray:
    """The whole picture as one uint8 ``size`` x ``size`` row (the same resize decoding uses)."""
    return np.asarray(gray.resize((size, size), _DOWN, reducing_gap=3.0))


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start of each tile along one axis: evenly spread, first at 0, last ending at ``length``.

    Neighbours share at least ``overlap`` pixels; ``length <= tile`` gives one tile.
    """
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap)) if tile > overlap else length - tile + 1
    count = max(count, 2)
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_weights(starts: list[int], length: int, tile: int, overlap: int) -> list[np.ndarray]:
    """One float32 weight per tile along one axis; at every position the weights of the tiles there sum to 1."""
    span = max(length, tile)
    t = np.arange(tile, dtype=np.float64)
    raw = []
    for start in starts:
        w = np.ones(tile)
        if overlap > 1 and start > 0:  # (a 1-px ramp would be all zeros)
            head = t < overlap
            w[head] = np.sin(np.pi * t[head] / (2 * overlap)) ** 2
        if overlap > 1 and start + tile < span:
            tail = t >= tile - overlap
            w[tail] = np.minimum(w[tail], np.sin(np.pi * (tile - 1 - t[tail]) / (2 * overlap)) ** 2)
        raw.append(w)
    total = np.zeros(span)
    for start, w in zip(starts, raw):
        total[start:start + tile] += w
    return [(w / total[start:start + tile]).astype(np.float32) for start, w in zip(starts, raw)]


class WholeView:
    """One row: the picture at the model's S x S. ``outputs`` holds that row's outputs once put."""

    def __init__(self, row: np.ndarray) -> None:
        self._row = np.ascontiguousarray(row, np.uint8)
        self.outputs: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return 1

    def row(self, i: int) -> np.ndarray:
        return self._row

    def put(self, i: int, outputs: dict[str, np.ndarray]) -> bool:
        """Keep (a copy of) row ``i``'s outputs (role -> C x S x S); True: every row is back."""
        self.outputs = {role: np.array(value) for role, value in outputs.items()}
        return True


class TilePlan:
    """Overlapping tiles of a uint8 H x W gray for a restorer; merges their ``restored`` and ``mask`` outputs.

    ``put`` may be called from several threads, in any order; ``result`` once every row is back.
    """

    def __init__(self, gray: np.ndarray, model_size: int, tile: int, overlap: int) -> None:
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ValueError(f"expected a uint8 H x W gray, got {gray.dtype} {gray.shape}")
        self.size = gray.shape  # (H, W) before padding
        h, w = self.size
        if h < tile or w < tile:
            gray = np.pad(gray, ((0, max(tile - h, 0)), (0, max(tile - w, 0))), mode="symmetric")
        self.gray = gray
        self.model_size, self.tile, self.overlap = model_size, tile, overlap
        ph, pw = gray.shape
        ys, xs = tile_starts(ph, tile, overlap), tile_starts(pw, tile, overlap)
        wy, wx = tile_weights(ys, ph, tile, overlap), tile_weights(xs, pw, tile, overlap)
        self.boxes = [(y, x) for y in ys for x in xs]
        self._weights = [(a, b) for a in wy for b in wx]
        self._restored = np.zeros((ph, pw), np.uint16)  # fixed point, 1/256 level: sum <= 255 * 256
        self._mask = np.zeros((ph, pw), np.float16)  # only compared with 128 in the end: half the memory
        self._left = len(self.boxes)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.boxes)

    def row(self, i: int) -> np.ndarray:
        y, x = self.boxes[i]
        crop = self.gray[y:y + self.tile, x:x + self.tile]
        if self.tile == self.model_size:
            return crop
        s = self.model_size
        return np.asarray(Image.fromarray(crop).resize((s, s), Image.Resampling.BICUBIC))

    def put(self, i: int, outputs: dict[str, np.ndarray]) -> bool:
        """Blend row ``i``'s ``restored`` and ``mask`` (each 1 x S x S uint8) in; True: every row is back."""
        restored, mask = self._back(outputs["restored"][0], Image.Resampling.BICUBIC), \
            self._back(outputs["mask"][0], Image.Resampling.BILINEAR)
        y, x = self.boxes[i]
        wy, wx = self._weights[i]
        weight = wy[:, None] * wx[None, :]
        box = (slice(y, y + self.tile), slice(x, x + self.tile))
        restored = np.rint(weight * restored * _FIXED).astype(np.uint16)
        mask = (weight * mask).astype(np.float16)
        with self._lock:
            self._restored[box] += restored
            self._mask[box] += mask
            self._left -= 1
            return self._left == 0

    def _back(self, plane: np.ndarray, resample: Image.Resampling) -> np.ndarray:
        if self.tile == self.model_size:
            return plane.astype(np.float32)
        return np.asarray(Image.fromarray(plane).resize((self.tile, self.tile), resample), np.float32)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(restored, mask), uint8 H x W each, at the gray's own size; frees the sums."""
        if self._left:
            raise RuntimeError(f"{self._left} of {len(self.boxes)} tiles are not back yet")
        h, w = self.size
        restored = self._restored[:h, :w]
        restored += _FIXED // 2  # round half up; cannot overflow: the sum is at most 255 * 256 + a few
        restored >>= 8
        mask = self._mask[:h, :w]
        np.rint(mask, out=mask)
        np.clip(mask, 0, 255, out=mask)
        planes = restored.astype(np.uint8), mask.astype(np.uint8)
        self._restored = self._mask = self.gray = None
        return planes
