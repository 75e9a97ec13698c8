"""Benchmark inputs with real photographic content, so decoding and encoding cost what they do on photos."""

from __future__ import annotations

from pathlib import Path

__all__ = ["make_inputs"]


def make_inputs(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` gray PNGs cut from scikit-image's sample photos (real content, so PNG costs are real)."""
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.camera()]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        im = Image.fromarray(photos[i % len(photos)]).convert("L")
        w, h = im.size
        crop = min(w, h) * (8 - i // len(photos) % 4) // 8
        x, y = (w - crop) * (i % 3) // 2, (h - crop) * (i % 2)
        im = im.crop((x, y, x + crop, y + crop)).resize((size, size), Image.Resampling.BICUBIC)
        path = folder / f"img_{i:04d}.png"
        im.save(path)
        paths.append(path)
    return paths
