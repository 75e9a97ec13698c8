"""Benchmark inputs with real photographic content, so decoding and encoding cost what they do on photos."""

from __future__ import annotations

from pathlib import Path

__all__ = ["inputs_or_sample", "make_inputs"]


def inputs_or_sample(folder: Path | None, count: int, size: int | tuple[int, int],
                     scratch: Path) -> tuple[Path, str]:
    """The benchmark's input folder and how to describe it: ``folder`` as given, or ``count`` sample PNGs
    of ``size`` made in ``scratch/inputs``."""
    if folder is not None:
        return folder, str(folder)
    shown = f"{size} px" if isinstance(size, int) else f"{size[0]}x{size[1]}"
    made = scratch / "inputs"
    make_inputs(made, count, size)
    return made, f"{count} gray PNGs from scikit-image photos, {shown}"


def make_inputs(folder: Path, count: int, size: int | tuple[int, int]) -> list[Path]:
    """``count`` gray PNGs cut from scikit-image's sample photos (real content, so PNG costs are real).

    ``size``: N for N x N pictures, or (width, height).
    """
    from PIL import Image
    from skimage import data

    out_w, out_h = (size, size) if isinstance(size, int) else size
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.camera()]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        im = Image.fromarray(photos[i % len(photos)]).convert("L")
        w, h = im.size
        scale = min(w / out_w, h / out_h) * (8 - i // len(photos) % 4) / 8  # crop with the output's shape
        cw, ch = max(1, round(out_w * scale)), max(1, round(out_h * scale))
        x, y = (w - cw) * (i % 3) // 2, (h - ch) * (i % 2)
        im = im.crop((x, y, x + cw, y + ch)).resize((out_w, out_h), Image.Resampling.BICUBIC)
        path = folder / f"img_{i:04d}.png"
        im.save(path)
        paths.append(path)
    return paths
