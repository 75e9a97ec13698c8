"""Stable colour for films: the colorizer's chroma averaged over neighbouring frames, reset at scene cuts.

A colorizer sees one frame at a time, so grain, flicker and dust that change from frame to frame change its
colours too: a static shot shimmers. Colour is low-frequency and carries little detail, so it can be averaged
over time where luminance cannot: only the model's chroma (Cb, Cr of its S x S output) is filtered, and every
frame keeps its own full-resolution luminance (composite.py lays the chroma on it).

:class:`ChromaSmoother` is a centred window of ``window`` frames (``radius`` each side) inside one shot:

- **Scene cuts reset it.** No frame is averaged with a frame of another shot. Near a shot's ends the window
  shrinks symmetrically (``min(radius, frames since the cut, frames to the next cut)``), so the first frame
  after a cut gets exactly its own chroma, and no frame is pulled towards one side in time.
- **Motion does not smear colour.** A neighbour's chroma counts, pixel by pixel, by how alike the two frames'
  gray is there: weight ``exp(-(dg / sigma)^2)``, ``dg`` the difference of the frames' blurred, brightness-
  normalised gray (``guide_of``). Where an object moved, its neighbours' colour is left out; in a static
  shot the weights are ~1 and the window averages fully. Normalising each frame's gray (mean and spread)
  keeps old film's frame-to-frame brightness flicker from reading as motion, and the blur keeps grain from it.

:class:`SceneCuts` finds the cuts on the gray frames: a 32 x 32 thumbnail of each frame, normalised to zero
mean and unit spread (flicker again), compared with the previous frame's by mean absolute difference. A cut
is a score above ``threshold`` that also stands out from the shot so far (``ratio`` x the median of its
recent scores), so a pan or a shaky camera, whose every frame differs, is not cut at each frame.

Both work on plain arrays, frame after frame, holding only the ``window`` frames they need: memory is flat
over a film of any length.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["ChromaSmoother", "SceneCuts", "TemporalOptions", "chroma_planes", "guide_of", "small_gray"]

THUMB = 32  # side of the thumbnails cuts are detected on
GUIDE_BLUR = 2  # box blur radius (px of the S x S view) of the motion guide: grain out, structure in
GUIDE_SIGMA = 0.25  # motion guide difference (in units of the frame's gray spread) at which a weight is 1/e
_MIN_SPREAD = 4.0  # gray levels: a flat (black, faded) frame is not stretched into noise


@dataclass(frozen=True)
class TemporalOptions:
    """``--temporal auto|off`` and ``--temporal-window``; the cut detector's and guide's settings."""

    mode: str = "auto"  # auto: smooth a colorizer's chroma; off: every frame on its own
    window: int = 9  # frames, odd
    cut_threshold: float = 0.35
    cut_ratio: float = 3.0
    sigma: float = GUIDE_SIGMA

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "off"):
            raise ValueError(f"--temporal takes auto or off, not {self.mode!r}")
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"--temporal-window {self.window}: give an odd number of frames (1 = off)")

    @property
    def on(self) -> bool:
        return self.mode == "auto" and self.window > 1


def chroma_planes(rgb: np.ndarray) -> np.ndarray:
    """The colorizer's S x S x 3 uint8 RGB -> float32 2 x S x S (Cb, Cr), the planes composite.py lays down."""
    ycc = np.asarray(Image.fromarray(rgb, "RGB").convert("YCbCr"))
    return np.ascontiguousarray(ycc[..., 1:].transpose(2, 0, 1), dtype=np.float32)


def small_gray(luma: Image.Image, size: int) -> np.ndarray:
    """A frame's gray at the chroma's S x S (float32), aligned with the colorizer's view of it."""
    return np.asarray(luma.resize((size, size), Image.Resampling.BOX, reducing_gap=2.0), np.float32)


def guide_of(gray: np.ndarray) -> np.ndarray:
    """S x S gray -> the motion guide: blurred, then normalised to zero mean and unit spread."""
    blurred = np.asarray(Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).filter(
        ImageFilter.BoxBlur(GUIDE_BLUR)), np.float32)
    return _normalised(blurred)


def _normalised(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / max(float(a.std()), _MIN_SPREAD)


class SceneCuts:
    """``update(gray)`` per frame, in order: True when the frame starts a new shot (the first frame does)."""

    def __init__(self, threshold: float = 0.35, ratio: float = 3.0, history: int = 12) -> None:
        self.threshold, self.ratio = threshold, ratio
        self._previous: np.ndarray | None = None
        self._scores: collections.deque[float] = collections.deque(maxlen=history)
        self.last_score = 0.0

    def update(self, gray: np.ndarray) -> bool:
        thumb = _normalised(np.asarray(Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).resize(
            (THUMB, THUMB), Image.Resampling.BOX), np.float32))
        previous, self._previous = self._previous, thumb
        if previous is None:
            return True
        score = self.last_score = float(np.abs(thumb - previous).mean())
        stands_out = not self._scores or score > self.ratio * float(np.median(self._scores))
        if score > self.threshold and stands_out:
            self._scores.clear()
            return True
        self._scores.append(score)
        return False


@dataclass
class _Frame:
    index: int
    chroma: np.ndarray  # 2 x S x S float32
    guide: np.ndarray  # S x S float32


class ChromaSmoother:
    """Frames in with ``push(key, chroma, guide, cut)``, in order; out, in order, as ``(key, chroma uint8)``.

    A frame comes out once the ``radius`` frames after it are in, or its shot has ended (a cut, or ``flush``
    at the end of the film), so the output lags the input by ``radius`` frames.
    """

    def __init__(self, window: int, sigma: float = GUIDE_SIGMA) -> None:
        self.radius, self.sigma = window // 2, sigma
        self._frames: collections.deque[_Frame] = collections.deque()  # of the current shot, still needed
        self._pending: collections.deque[tuple[int, Any]] = collections.deque()  # (index, key) not yet out
        self._start = 0  # index of the current shot's first frame
        self._count = 0  # frames pushed

    def push(self, key: Any, chroma: np.ndarray, guide: np.ndarray, cut: bool) -> list[tuple[Any, np.ndarray]]:
        out = self._end_shot() if cut and self._count else []
        if cut:
            self._start = self._count
        self._frames.append(_Frame(self._count, chroma, guide))
        self._pending.append((self._count, key))
        self._count += 1
        last = self._count - 1
        while self._pending and self._pending[0][0] + self.radius <= last:
            index, key = self._pending.popleft()
            out.append((key, self._smoothed(index, None)))
        oldest_needed = (self._pending[0][0] if self._pending else self._count) - self.radius
        while self._frames and self._frames[0].index < oldest_needed:
            self._frames.popleft()
        return out

    def flush(self) -> list[tuple[Any, np.ndarray]]:
        """The end of the film: every frame still held comes out."""
        return self._end_shot()

    def _end_shot(self) -> list[tuple[Any, np.ndarray]]:
        end = self._count - 1
        out = [(key, self._smoothed(index, end)) for index, key in self._pending]
        self._pending.clear()
        self._frames.clear()
        return out

    def _smoothed(self, index: int, end: int | None) -> np.ndarray:
        """Frame ``index``'s chroma averaged over its window; ``end``: the last frame of its shot, if known."""
        radius = min(self.radius, index - self._start, self.radius if end is None else end - index)
        frames = {f.index: f for f in self._frames}
        centre = frames[index]
        total = centre.chroma.copy()
        weight = np.ones(centre.guide.shape, np.float32)
        for j in range(index - radius, index + radius + 1):
            if j == index:
                continue
            other = frames[j]
            w = np.exp(-np.square((other.guide - centre.guide) / self.sigma))
            total += w * other.chroma
            weight += w
        return np.clip(np.rint(total / weight), 0, 255).astype(np.uint8)
