"""Synthetic damage: random polygons filled with random grays, and the mask that says where.

The restorer learns to find and inpaint damage shaped like the scratches, tears
and stains of old prints, so every training image gets damage drawn fresh:

- ``POLYGONS``: 1 to 4 polygons per image (inclusive);
- ``VERTICES``: 3 to 8 vertices per polygon (inclusive);
- ``RADIUS``: each vertex lies at a distance from its polygon's centre drawn
  uniformly from 3 % to 18 % of the image side, at sorted random angles (so the
  outline never crosses itself); the centre is uniform over the image, so a
  polygon may be cut by the border;
- ``FILL``: each polygon is filled with one gray level drawn uniformly from
  0..255 (inclusive).

Polygons are rasterised with Pillow's ``ImageDraw.polygon`` (outline included).
The mask is boolean, true on every pixel a polygon covers; where polygons
overlap the later one's gray wins.

Reproducibility: training damage comes from ``training_rng(seed, epoch, index)``
(fresh every epoch, the same on every machine and after a resume); validation
damage comes from ``validation_rng(seed, key)``, seeded by the item's stable key
(a SHA-256 of it: Python's ``hash`` of a string changes with every process), so
a validation image is damaged the same way in every epoch and every run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["FILL", "POLYGONS", "RADIUS", "VERTICES", "Polygon", "apply_damage", "damage", "random_polygons",
           "training_rng", "validation_rng"]

POLYGONS = (1, 4)  # polygons per image, inclusive
VERTICES = (3, 8)  # vertices per polygon, inclusive
RADIUS = (0.03, 0.18)  # vertex distance from the centre, as a fraction of the image side
FILL = (0, 255)  # fill gray level, inclusive

_DAMAGE_STREAM = 0xDA  # separates the damage draws from the crop/flip draws of the same example


@dataclass(frozen=True)
class Polygon:
    vertices: tuple[tuple[float, float], ...]  # (x, y) pixel coordinates
    center: tuple[float, float]
    fill: int


def training_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """Fresh damage every epoch, a pure function of ``(seed, epoch, index)``."""
    return np.random.default_rng([seed, epoch, index, _DAMAGE_STREAM])


def validation_rng(seed: int, key: str) -> np.random.Generator:
    """The same damage for the same image and seed, in every epoch and every run."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, digest, _DAMAGE_STREAM])


def random_polygons(size: int, rng: np.random.Generator) -> list[Polygon]:
    """Draw the polygons for a ``size`` x ``size`` image (see the module docstring for the ranges)."""
    polygons = []
    for _ in range(int(rng.integers(POLYGONS[0], POLYGONS[1] + 1))):
        n = int(rng.integers(VERTICES[0], VERTICES[1] + 1))
        cx, cy = rng.uniform(0, size, 2)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(RADIUS[0], RADIUS[1], n) * size
        vertices = tuple((float(cx + r * np.cos(a)), float(cy + r * np.sin(a))) for a, r in zip(angles, radii))
        fill = int(rng.integers(FILL[0], FILL[1] + 1))
        polygons.append(Polygon(vertices, (float(cx), float(cy)), fill))
    return polygons


def apply_damage(gray: np.ndarray, polygons: list[Polygon]) -> tuple[np.ndarray, np.ndarray]:
    """Paint ``polygons`` onto a uint8 HxW gray image; returns (damaged uint8, mask bool)."""
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError(f"damage needs a uint8 HxW gray image, got {gray.dtype} {gray.shape}")
    image = Image.fromarray(gray)
    mask = Image.new("L", image.size, 0)
    paint, mark = ImageDraw.Draw(image), ImageDraw.Draw(mask)
    for poly in polygons:
        paint.polygon(poly.vertices, fill=poly.fill)
        mark.polygon(poly.vertices, fill=255)
    return np.array(image), np.asarray(mask) > 0


def damage(gray: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random polygon damage on a square uint8 gray image: (damaged, mask)."""
    return apply_damage(gray, random_polygons(max(gray.shape), rng))
