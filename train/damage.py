"""Synthetic damage of old prints, drawn at the working resolution, and the mask that says where.

The restorer learns to find and inpaint the damage old photographs carry, so
every training image gets damage drawn fresh from ``--damage KIND,...``
(default ``DEFAULT_KINDS``). Sizes are in pixels of the S x S image the model
sees (S = ``--image-size``) or as a share of S; every range is inclusive.

Local damage (inside the mask; painted in this order, later over earlier):

- ``polygons`` (stains, tears, lost emulsion): ``POLYGONS`` = 1-4 per image,
  ``VERTICES`` = 3-8 each, at a distance from the polygon's centre of
  ``RADIUS`` = 3-18 % of S (sorted random angles, so the outline never crosses
  itself; the centre is uniform over the image, so the border may cut it);
  filled with one gray level from ``FILL`` = 0..255 at least
  ``POLYGON_CONTRAST`` = 48 levels from the mean gray it covers (a patch the
  same gray as the photo under it is no damage a restorer can see).
- ``folds`` (creases): ``FOLDS`` = 0-2 straight lines from one border to
  another, ``FOLD_WIDTH`` = 2-5 px wide, brightened (cracked emulsion shows
  the paper) by ``FOLD_SHIFT`` = 60-120 gray levels, clipped at 255.
- ``scratches`` (scratches and cracks): ``SCRATCHES`` = 1-6 polylines of
  ``SCRATCH_SEGMENTS`` = 1-4 segments, ``SCRATCH_LENGTH`` = 15-60 % of S long in
  all, ``SCRATCH_WIDTH`` = 1-3 px wide, each bright (``BRIGHT`` = 200..255) or
  dark (``DARK`` = 0..55) with even odds.
- ``spots`` (dust and spots): ``SPOTS`` = 3-30 ellipses with radii of
  ``SPOT_RADIUS`` = 0.4-2 % of S (at least 1 px), each bright or dark as above.

Global degradations (every pixel, never in the mask; applied first, so local
damage lies on the degraded print):

- ``fading``: ``gray * k + level * (1 - k)`` with contrast ``FADE_CONTRAST``
  k = 0.55-0.85 towards a paper tone ``FADE_LEVEL`` = 170..235.
- ``grain``: Gaussian noise of ``GRAIN_SIGMA`` = 2-8 gray levels per pixel.

Why the global ones stay out of the mask: the exported restore graph keeps the
input wherever the mask is off (export/graph.py), and a mask that marks every
pixel says nothing about where to inpaint. So the mask holds local damage only,
and the restorer's target is the degraded print before local damage (``base``):
it learns to find and fill damage on faded, grainy prints without mistaking the
grain for damage, and it does not undo fading or grain.

The mask is exact: true exactly where the local damage changed a pixel
(``damaged != base``); a painted pixel that kept its value is not damage.

Reproducibility: training damage comes from ``training_rng(seed, epoch, index)``
(fresh every epoch, the same on every machine and after a resume); validation
damage comes from ``validation_rng(seed, key)``, seeded by the item's stable key
(a SHA-256 of it: Python's ``hash`` of a string changes with every process).
Each kind draws from its own child stream of that generator, so adding or
removing a kind leaves the other kinds' draws as they were.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["BRIGHT", "DAMAGE_KINDS", "DARK", "DEFAULT_KINDS", "FADE_CONTRAST", "FADE_LEVEL", "FILL", "FOLDS",
           "FOLD_SHIFT", "FOLD_WIDTH", "GLOBAL_KINDS", "GRAIN_SIGMA", "LOCAL_KINDS", "POLYGONS",
           "POLYGON_CONTRAST", "RADIUS", "SCRATCHES", "SCRATCH_LENGTH", "SCRATCH_SEGMENTS", "SCRATCH_WIDTH",
           "SPOTS", "SPOT_RADIUS", "VERTICES", "Damage", "Polygon", "Stroke", "apply_damage", "damage",
           "draw_damage", "parse_kinds", "random_polygons", "training_rng", "validation_rng"]

POLYGONS = (1, 4)  # polygons per image
VERTICES = (3, 8)  # vertices per polygon
RADIUS = (0.03, 0.18)  # vertex distance from the centre, share of S
FILL = (0, 255)  # fill gray level
POLYGON_CONTRAST = 48  # least |fill - mean gray under the polygon|
FOLDS = (0, 2)
FOLD_WIDTH = (2, 5)  # px
FOLD_SHIFT = (60, 120)  # gray levels added
SCRATCHES = (1, 6)
SCRATCH_SEGMENTS = (1, 4)
SCRATCH_LENGTH = (0.15, 0.60)  # whole polyline, share of S
SCRATCH_WIDTH = (1, 3)  # px
SPOTS = (3, 30)
SPOT_RADIUS = (0.004, 0.02)  # share of S, at least 1 px
BRIGHT = (200, 255)
DARK = (0, 55)
FADE_CONTRAST = (0.55, 0.85)
FADE_LEVEL = (170, 235)
GRAIN_SIGMA = (2.0, 8.0)

GLOBAL_KINDS = ("fading", "grain")
LOCAL_KINDS = ("polygons", "folds", "scratches", "spots")
DAMAGE_KINDS = GLOBAL_KINDS + LOCAL_KINDS  # the order they are applied in
DEFAULT_KINDS = ("polygons", "scratches", "spots", "folds")

_DAMAGE_STREAM = 0xDA  # separates the damage draws from the crop/flip draws of the same example


@dataclass(frozen=True)
class Polygon:
    vertices: tuple[tuple[float, float], ...]  # (x, y) pixel coordinates
    center: tuple[float, float]
    fill: int | None  # None: chosen against the gray under it when painted (POLYGON_CONTRAST)
    fill_draw: float = 0.0  # uniform [0, 1) that picks that fill


@dataclass(frozen=True)
class Stroke:
    """A polyline (scratch) or straight line (fold) ``width`` px wide."""

    points: tuple[tuple[float, float], ...]
    width: int
    gray: int | None = None  # painted gray level (scratches)
    shift: int = 0  # gray levels added (folds)


class Damage(NamedTuple):
    damaged: np.ndarray  # uint8 HxW: what the restorer sees
    mask: np.ndarray  # bool HxW: exactly where the local damage changed ``base``
    base: np.ndarray  # uint8 HxW: the print after global degradations, before local damage


def training_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """Fresh damage every epoch, a pure function of ``(seed, epoch, index)``."""
    return np.random.default_rng([seed, epoch, index, _DAMAGE_STREAM])


def validation_rng(seed: int, key: str) -> np.random.Generator:
    """The same damage for the same image and seed, in every epoch and every run."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, digest, _DAMAGE_STREAM])


def parse_kinds(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"polygons,scratches"`` -> a validated tuple of kinds; ``ValueError`` names the unknown ones."""
    kinds = tuple(k.strip() for k in text.split(",")) if isinstance(text, str) else tuple(text)
    kinds = tuple(k for k in kinds if k)
    unknown = [k for k in kinds if k not in DAMAGE_KINDS]
    if unknown or not kinds:
        raise ValueError(f"--damage {','.join(kinds) or text!r}: unknown kind(s) "
                         f"{', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(DAMAGE_KINDS)}")
    if not any(k in LOCAL_KINDS for k in kinds):
        raise ValueError(f"--damage {','.join(kinds)}: needs at least one local kind ({', '.join(LOCAL_KINDS)}); "
                         "fading and grain are never in the mask, so alone they leave nothing to find")
    return kinds


def _count(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _tone(rng: np.random.Generator) -> int:
    lo, hi = BRIGHT if rng.random() < 0.5 else DARK
    return int(rng.integers(lo, hi + 1))


def random_polygons(size: int, rng: np.random.Generator) -> list[Polygon]:
    """The polygons for a ``size`` x ``size`` image (see the module docstring for the ranges)."""
    polygons = []
    for _ in range(_count(rng, POLYGONS)):
        n = _count(rng, VERTICES)
        cx, cy = rng.uniform(0, size, 2)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(RADIUS[0], RADIUS[1], n) * size
        vertices = tuple((float(cx + r * np.cos(a)), float(cy + r * np.sin(a))) for a, r in zip(angles, radii))
        polygons.append(Polygon(vertices, (float(cx), float(cy)), None, float(rng.random())))
    return polygons


def contrasting_fill(mean: float, u: float) -> int:
    """A gray in FILL at least POLYGON_CONTRAST from ``mean``, picked uniformly by ``u`` in [0, 1)."""
    low = np.arange(FILL[0], FILL[1] + 1)
    allowed = low[np.abs(low - mean) >= POLYGON_CONTRAST]
    return int(allowed[min(len(allowed) - 1, int(u * len(allowed)))])


def random_folds(size: int, rng: np.random.Generator) -> list[Stroke]:
    """Straight creases from one border to another (two points on different sides)."""
    folds = []
    for _ in range(_count(rng, FOLDS)):
        sides = rng.choice(4, 2, replace=False)
        ends = []
        for side in sides:
            t = float(rng.uniform(0, size))
            ends.append(((t, 0.0), (float(size), t), (t, float(size)), (0.0, t))[side])
        folds.append(Stroke(tuple(ends), _count(rng, FOLD_WIDTH), shift=_count(rng, FOLD_SHIFT)))
    return folds


def random_scratches(size: int, rng: np.random.Generator) -> list[Stroke]:
    """Thin polylines: a random start, then segments turning by up to 45 degrees each."""
    scratches = []
    for _ in range(_count(rng, SCRATCHES)):
        segments = _count(rng, SCRATCH_SEGMENTS)
        length = rng.uniform(*SCRATCH_LENGTH) * size
        x, y = rng.uniform(0, size, 2)
        heading = rng.uniform(0, 2 * np.pi)
        points = [(float(x), float(y))]
        for _ in range(segments):
            heading += rng.uniform(-np.pi / 4, np.pi / 4)
            x, y = x + length / segments * np.cos(heading), y + length / segments * np.sin(heading)
            points.append((float(x), float(y)))
        scratches.append(Stroke(tuple(points), _count(rng, SCRATCH_WIDTH), gray=_tone(rng)))
    return scratches


def random_spots(size: int, rng: np.random.Generator) -> list[tuple[tuple[float, float, float, float], int]]:
    """Dust and spots: (bounding box x0, y0, x1, y1, gray) ellipses."""
    spots = []
    for _ in range(_count(rng, SPOTS)):
        cx, cy = rng.uniform(0, size, 2)
        rx, ry = np.maximum(1.0, rng.uniform(*SPOT_RADIUS, 2) * size)
        spots.append(((float(cx - rx), float(cy - ry), float(cx + rx), float(cy + ry)), _tone(rng)))
    return spots


def _paint_polygons(image: Image.Image, polygons: list[Polygon]) -> None:
    for poly in polygons:
        fill = poly.fill
        if fill is None:
            cover = Image.new("L", image.size, 0)
            ImageDraw.Draw(cover).polygon(poly.vertices, fill=255)
            under = np.asarray(image)[np.asarray(cover) > 0]
            fill = contrasting_fill(float(under.mean()) if under.size else 128.0, poly.fill_draw)
        ImageDraw.Draw(image).polygon(poly.vertices, fill=fill)


def _paint_folds(image: Image.Image, folds: list[Stroke]) -> Image.Image:
    for fold in folds:
        cover = Image.new("L", image.size, 0)
        ImageDraw.Draw(cover).line(fold.points, fill=255, width=fold.width)
        pixels = np.array(image)
        on = np.asarray(cover) > 0
        pixels[on] = np.minimum(255, pixels[on].astype(np.int16) + fold.shift).astype(np.uint8)
        image = Image.fromarray(pixels)
    return image


def apply_damage(gray: np.ndarray, polygons: list[Polygon]) -> tuple[np.ndarray, np.ndarray]:
    """Paint ``polygons`` onto a uint8 HxW gray image; returns (damaged uint8, mask bool)."""
    _check_gray(gray)
    image = Image.fromarray(gray)
    _paint_polygons(image, polygons)
    damaged = np.array(image)
    return damaged, damaged != gray


def _check_gray(gray: np.ndarray) -> None:
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"damage needs a uint8 HxW gray image, got {gray.dtype} {gray.shape}")


def _degrade(gray: np.ndarray, kinds: tuple[str, ...], streams: dict[str, np.random.Generator]) -> np.ndarray:
    out = gray.astype(np.float32)
    if "fading" in kinds:
        rng = streams["fading"]
        k, level = rng.uniform(*FADE_CONTRAST), rng.uniform(*FADE_LEVEL)
        out = out * k + level * (1.0 - k)
    if "grain" in kinds:
        rng = streams["grain"]
        out = out + rng.normal(0.0, rng.uniform(*GRAIN_SIGMA), out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_damage(gray: np.ndarray, rng: np.random.Generator, kinds: tuple[str, ...] = DEFAULT_KINDS) -> Damage:
    """Damage a uint8 HxW gray image with ``kinds``; see the module docstring for what each does."""
    _check_gray(gray)
    kinds = parse_kinds(kinds)
    streams = dict(zip(DAMAGE_KINDS, rng.spawn(len(DAMAGE_KINDS))))
    base = _degrade(gray, kinds, streams) if any(k in GLOBAL_KINDS for k in kinds) else gray
    size = max(gray.shape)
    image = Image.fromarray(base)
    if "polygons" in kinds:
        _paint_polygons(image, random_polygons(size, streams["polygons"]))
    if "folds" in kinds:
        image = _paint_folds(image, random_folds(size, streams["folds"]))
    draw = ImageDraw.Draw(image)
    if "scratches" in kinds:
        for scratch in random_scratches(size, streams["scratches"]):
            draw.line(scratch.points, fill=scratch.gray, width=scratch.width, joint="curve")
    if "spots" in kinds:
        for box, tone in random_spots(size, streams["spots"]):
            draw.ellipse(box, fill=tone)
    damaged = np.array(image)
    return Damage(damaged, damaged != base, base)


def damage(gray: np.ndarray, rng: np.random.Generator,
           kinds: tuple[str, ...] = DEFAULT_KINDS) -> tuple[np.ndarray, np.ndarray]:
    """(damaged, mask) of ``draw_damage`` for callers that need no ``base`` (no fading or grain)."""
    drawn = draw_damage(gray, rng, kinds)
    return drawn.damaged, drawn.mask
