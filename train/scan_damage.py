"""Damage drawn at the scale a scan has it: sizes in pixels of the picture, not shares of a model's view.

A print scanned at 600-1200 dpi shows scratches 1-4 px wide, dust 1-6 px in radius and creases 3-8 px
wide, whatever the scan's size; train/damage.py draws damage as shares of the model's square, which is right
for a whole picture shrunk to 64-256 px and wrong for tiles of a scan. This module draws the same kinds at
fixed pixel sizes with counts per area, so one generator serves 128-px training tiles and 10-Mpx
evaluation scans alike.

Variety is the point (the restorer must not learn one generator's habits): every mark is drawn anti-aliased
(4x supersampled), half of them with a blurred edge, a share of them semi-transparent; tones are bright,
dark or mid-gray; scratches are straight, bent or curved like hairs; dust is round, elliptical or ragged.
``TRAINING`` and ``EVALUATION`` are two different sets of draws (the evaluation one: longer scratches, more
opaque, fewer mid tones, another density), and the benchmark's scans use another seed as well.

The mask is where the local damage moved a pixel by more than ``MASK_LEVELS`` gray levels: the rule
``revive-bench restore-quality`` scores with (|input - truth| > 12), so the network learns to mark exactly
what it is scored on; fainter changes are left alone (their error is below the threshold anyway). Fading
and grain, as in train/damage.py, change every pixel, come first and stay out of the mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .damage import Damage

__all__ = ["EVALUATION", "MASK_LEVELS", "REFERENCE_AREA", "TRAINING", "DamageRanges", "draw_scan_damage"]

MASK_LEVELS = 12  # a pixel is damaged where the damage moved it by more than this (restore_quality's rule)
REFERENCE_AREA = 128 * 128  # counts below are per this many pixels
_SUPER = 4  # supersampling of every mark


@dataclass(frozen=True)
class DamageRanges:
    """Counts (mean per ``REFERENCE_AREA`` pixels, Poisson), sizes in px, tones in gray levels; inclusive."""

    scratches: float = 1.8  # training draws are denser than scans: a small tile must hold damage to learn from
    scratch_width: tuple[float, float] = (1.0, 5.0)
    scratch_length: tuple[float, float] = (12.0, 160.0)
    hairs: float = 0.5
    long_scratches: float = 0.0  # film's kind: straight, across the whole picture, 1-3 px (off in TRAINING)
    long_scratch_width: tuple[float, float] = (1.0, 3.0)
    dust: float = 6.0
    dust_radius: tuple[float, float] = (0.7, 7.0)
    folds: float = 0.35
    fold_width: tuple[float, float] = (2.0, 10.0)
    fold_shift: tuple[int, int] = (35, 130)
    polygons: float = 0.6
    polygon_radius: tuple[float, float] = (3.0, 26.0)
    clean_share: float = 0.15  # share of pictures left without local damage
    opaque_share: float = 0.6  # the rest get an opacity in ``opacity``
    opacity: tuple[float, float] = (0.35, 1.0)
    blurred_share: float = 0.5
    blur: tuple[float, float] = (0.3, 1.2)  # Gaussian sigma of a blurred mark's edge, px
    mid_share: float = 0.2  # marks in a mid gray instead of bright or dark
    fade_share: float = 0.4
    fade_contrast: tuple[float, float] = (0.55, 0.95)
    fade_level: tuple[int, int] = (160, 235)
    grain_share: float = 0.6
    grain_sigma: tuple[float, float] = (1.0, 6.0)


TRAINING = DamageRanges()
EVALUATION = DamageRanges(scratches=0.35, scratch_width=(1.0, 4.0), scratch_length=(60.0, 400.0), hairs=0.1,
                          dust=1.2, dust_radius=(1.0, 6.0), folds=0.006, fold_width=(3.0, 8.0), fold_shift=(60, 120),
                          polygons=0.03, polygon_radius=(6.0, 30.0), clean_share=0.0, opaque_share=0.8,
                          opacity=(0.6, 1.0), blurred_share=0.3, mid_share=0.1, fade_share=0.5, grain_share=0.5,
                          grain_sigma=(1.0, 4.0))


def _tone(rng: np.random.Generator, r: DamageRanges) -> float:
    u = rng.random()
    if u < r.mid_share:
        return float(rng.uniform(56, 200))
    return float(rng.uniform(200, 255) if u < r.mid_share + (1 - r.mid_share) / 2 else rng.uniform(0, 55))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """Small sizes are more common than large ones (dust, scratches): log-uniform over the range."""
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


class _Canvas:
    """Marks are drawn one at a time in their own bounding box, supersampled, then laid on the picture."""

    def __init__(self, base: np.ndarray) -> None:
        self.pixels = base.astype(np.float32)
        self.h, self.w = base.shape

    def lay(self, points: np.ndarray, draw, rng: np.random.Generator, r: DamageRanges, reach: float,
            tone: float | None, shift: float = 0.0) -> None:
        """``draw(ImageDraw, offset_points_scaled)`` paints coverage 255; blend it in with a tone or a shift."""
        margin = reach + 4
        x0, y0 = np.floor(points.min(0) - margin).astype(int)
        x1, y1 = np.ceil(points.max(0) + margin).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.w), min(y1, self.h)
        if x1 <= x0 or y1 <= y0:
            return
        canvas = Image.new("L", ((x1 - x0) * _SUPER, (y1 - y0) * _SUPER), 0)
        draw(ImageDraw.Draw(canvas), (points - [x0, y0]) * _SUPER)
        cover = canvas.reduce(_SUPER)
        if rng.random() < r.blurred_share:
            cover = cover.filter(ImageFilter.GaussianBlur(float(rng.uniform(*r.blur))))
        alpha = np.asarray(cover, np.float32) / 255.0
        if rng.random() >= r.opaque_share:
            alpha *= float(rng.uniform(*r.opacity))
        box = self.pixels[y0:y1, x0:x1]
        if tone is None:
            box += alpha * shift
        else:
            box += alpha * (tone - box)

    def result(self) -> np.ndarray:
        return np.clip(np.rint(self.pixels), 0, 255).astype(np.uint8)


def _count(rng: np.random.Generator, rate: float, area: float) -> int:
    return int(rng.poisson(rate * area / REFERENCE_AREA))


def _polyline(rng: np.random.Generator, start: np.ndarray, length: float, segments: int, turn: float) -> np.ndarray:
    heading = rng.uniform(0, 2 * np.pi)
    points = [start]
    for _ in range(segments):
        heading += rng.uniform(-turn, turn)
        points.append(points[-1] + length / segments * np.array([np.cos(heading), np.sin(heading)]))
    return np.array(points)


def _line(width: float):
    def draw(d: ImageDraw.ImageDraw, pts: np.ndarray) -> None:
        d.line([tuple(p) for p in pts], fill=255, width=max(1, round(width * _SUPER)), joint="curve")
    return draw


def _scratches(c: _Canvas, rng: np.random.Generator, r: DamageRanges, area: float) -> None:
    size = np.array([c.w, c.h], np.float64)
    for _ in range(_count(rng, r.scratches, area)):
        width = _log_uniform(rng, r.scratch_width)
        length = _log_uniform(rng, r.scratch_length)
        pts = _polyline(rng, rng.uniform(0, 1, 2) * size, length, int(rng.integers(1, 4)), np.pi / 12)
        c.lay(pts, _line(width), rng, r, width, _tone(rng, r))
    for _ in range(_count(rng, r.hairs, area)):  # fibres: thin, long, curling
        width = float(rng.uniform(1.0, 2.2))
        pts = _polyline(rng, rng.uniform(0, 1, 2) * size, _log_uniform(rng, r.scratch_length), 12, np.pi / 5)
        c.lay(pts, _line(width), rng, r, width, _tone(rng, r))
    if r.long_scratches > 0:  # drawn only when asked: the draws above stay those of earlier recipes
        reach = float(np.hypot(c.w, c.h))
        for _ in range(_count(rng, r.long_scratches, area)):
            width = _log_uniform(rng, r.long_scratch_width)
            angle = rng.uniform(0, np.pi)
            direction = reach * np.array([np.cos(angle), np.sin(angle)])
            centre = rng.uniform(0, 1, 2) * size
            c.lay(np.array([centre - direction, centre + direction]), _line(width), rng, r, width, _tone(rng, r))


def _dust(c: _Canvas, rng: np.random.Generator, r: DamageRanges, area: float) -> None:
    for _ in range(_count(rng, r.dust, area)):
        centre = rng.uniform(0, 1, 2) * [c.w, c.h]
        radius = _log_uniform(rng, r.dust_radius)
        if rng.random() < 0.3:  # ragged: a small star-shaped polygon
            n = int(rng.integers(5, 10))
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            radii = radius * rng.uniform(0.5, 1.0, n)
            pts = centre + np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)

            def draw(d, p):
                d.polygon([tuple(q) for q in p], fill=255)
        else:
            ratio = float(rng.uniform(0.5, 1.0))
            rx, ry = (radius, radius * ratio) if rng.random() < 0.5 else (radius * ratio, radius)
            pts = np.array([centre - [rx, ry], centre + [rx, ry]])

            def draw(d, p):
                d.ellipse([tuple(p[0]), tuple(p[1])], fill=255)
        c.lay(pts, draw, rng, r, 0.0, _tone(rng, r))


def _folds(c: _Canvas, rng: np.random.Generator, r: DamageRanges, area: float) -> None:
    for _ in range(_count(rng, r.folds, area)):
        width = float(rng.uniform(*r.fold_width))
        centre = rng.uniform(0, 1, 2) * [c.w, c.h]
        angle = rng.uniform(0, np.pi)
        reach = float(np.hypot(c.w, c.h))
        direction = np.array([np.cos(angle), np.sin(angle)])
        bend = rng.normal(0, 0.01 * reach) * np.array([-direction[1], direction[0]])
        pts = np.array([centre - reach * direction, centre + bend, centre + reach * direction])
        sign = 1.0 if rng.random() < 0.75 else -1.0  # cracked emulsion shows the paper: mostly brighter
        c.lay(pts, _line(width), rng, r, width, None, sign * float(rng.uniform(*r.fold_shift)))


def _polygons(c: _Canvas, rng: np.random.Generator, r: DamageRanges, area: float) -> None:
    for _ in range(_count(rng, r.polygons, area)):
        n = int(rng.integers(3, 9))
        centre = rng.uniform(0, 1, 2) * [c.w, c.h]
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(*r.polygon_radius) * rng.uniform(0.4, 1.0, n)
        pts = centre + np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)

        def draw(d, p):
            d.polygon([tuple(q) for q in p], fill=255)
        c.lay(pts, draw, rng, r, 0.0, _tone(rng, r))


def _degrade(gray: np.ndarray, rng: np.random.Generator, r: DamageRanges) -> np.ndarray:
    out = gray.astype(np.float32)
    if rng.random() < r.fade_share:
        k, level = rng.uniform(*r.fade_contrast), rng.uniform(*r.fade_level)
        out = out * k + level * (1.0 - k)
    if rng.random() < r.grain_share:
        out = out + rng.normal(0.0, rng.uniform(*r.grain_sigma), out.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_scan_damage(gray: np.ndarray, rng: np.random.Generator, ranges: DamageRanges = TRAINING) -> Damage:
    """Fade and grain a uint8 H x W gray (``base``), then draw scan-scale damage on it; the mask marks the
    pixels the damage moved by more than MASK_LEVELS."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"damage needs a uint8 HxW gray image, got {gray.dtype} {gray.shape}")
    streams = rng.spawn(5)  # one per kind: changing one kind's draws leaves the others as they were
    base = _degrade(gray, streams[0], ranges)
    if rng.random() < ranges.clean_share:
        return Damage(base.copy(), np.zeros(base.shape, bool), base)
    canvas = _Canvas(base)
    area = float(base.size)
    _polygons(canvas, streams[1], ranges, area)
    _folds(canvas, streams[2], ranges, area)
    _scratches(canvas, streams[3], ranges, area)
    _dust(canvas, streams[4], ranges, area)
    damaged = canvas.result()
    mask = np.abs(damaged.astype(np.int16) - base.astype(np.int16)) > MASK_LEVELS
    return Damage(damaged, mask, base)
