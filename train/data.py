"""Training data: where examples come from, how they split, and how one becomes tensors.

Sources (``--data``):

- ``sample``: the built-in set (train/sample.py), no download.
- ``DIR`` holding ``color/`` and ``gray/``: paired images matched by relative
  path and stem (the public landscape colour/grayscale set's layout).
- ``DIR``: any folder of colour images, searched recursively; the grayscale
  input is made on the fly (Pillow's BT.601 luma, as the runtime does).

Randomness is a pure function of ``(seed, epoch, index)``: a data-loader worker
needs no shared state, and a resumed run draws exactly what the uninterrupted
run would have drawn.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from revive.runtime.color import rgb_to_gray
from revive.runtime.errors import UsageError, describe
from revive.runtime.inputs import DEFAULT_EXTS
from revive.runtime.system import cpu_count

from .csv_data import discover_csv
from .items import DataError, Item
from .sample import SAMPLE_PHOTOS, sample_crops, sample_photo

__all__ = ["IMAGE_EXTENSIONS", "DataError", "Item", "discover", "kfold_items", "load_item", "readable_images",
           "split_items", "square_crop"]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = DEFAULT_EXTS  # the runtime reads every one of them


def discover(data: str | Path) -> list[Item]:
    """All examples of a data source, in a stable order."""
    if str(data) == "sample":
        return [Item(key=f"sample:{p}:{i}", group=p, photo=p, crop=c)
                for p in SAMPLE_PHOTOS for i, c in enumerate(sample_crops(p))]
    root = Path(data)
    if root.suffix.lower() == ".csv":
        return discover_csv(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (use 'sample' for the built-in set)")
    if (root / "color").is_dir() and (root / "gray").is_dir():
        return _discover_paired(root)
    found = _images_under(root)
    if not found:
        raise DataError(f"{root}: no images with extensions {', '.join(IMAGE_EXTENSIONS)}")
    usable = readable_images(found, root)
    return [Item(key=str(p.relative_to(root)), group=str(p.relative_to(root)), color=str(p)) for p in usable]


def readable_images(paths: list[Path], source: Path) -> list[Path]:
    """The paths Pillow can decode whole; each other one is logged by name and reason, then a count.

    A truncated or foreign file would otherwise end a training run at the first batch that
    draws it. Decoding is checked up front (JPEGs in draft mode, at 1/8 scale) on a few
    threads; only when nothing usable is left is it an error.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, cpu_count())) as pool:
        reasons = list(pool.map(_unreadable, paths))
    bad = [(p, r) for p, r in zip(paths, reasons) if r]
    for path, reason in bad:
        log.warning("%s: %s; left out", path, reason)
    if len(bad) == len(paths):
        raise DataError(f"{source}: none of its {len(paths)} image files can be read (first: {bad[0][0]}: "
                        f"{bad[0][1]})")
    if bad:
        log.warning("%s: %d of %d image files left out (unreadable, listed above)", source, len(bad), len(paths))
    return [p for p, r in zip(paths, reasons) if not r]


def _unreadable(path: Path) -> str:
    """Why ``path`` cannot be used as a training image ('' if it can)."""
    from revive.runtime.files import not_a_regular_file

    problem = not_a_regular_file(path)
    if problem:
        return problem
    try:
        with Image.open(path) as image:
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
            if image.width < 1 or image.height < 1:
                return "image has no pixels"
    except Image.UnidentifiedImageError:
        return "empty file" if path.stat().st_size == 0 else "not an image Pillow can read"
    except Exception as exc:  # corrupt files make decoders raise OSError, SyntaxError, EOFError, ...
        return f"cannot decode: {describe(exc)}"
    return ""


def _images_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _discover_paired(root: Path) -> list[Item]:
    grays = {p.relative_to(root / "gray").with_suffix(""): p for p in _images_under(root / "gray")}
    colors = _images_under(root / "color")
    usable = set(readable_images([*colors, *grays.values()], root)) if colors or grays else set()
    grays = {rel: p for rel, p in grays.items() if p in usable}
    items, unmatched = [], 0
    for color in (c for c in colors if c in usable):
        rel = color.relative_to(root / "color").with_suffix("")
        gray = grays.get(rel)
        if gray is None:
            unmatched += 1
            continue
        items.append(Item(key=str(rel), group=str(rel), color=str(color), gray=str(gray)))
    if not items:
        raise DataError(f"{root}: no colour image in color/ has a gray/ twin with the same name")
    if unmatched:
        log.warning("%s: %d colour images have no gray twin and are skipped",
                                            root, unmatched)
    return items


def split_items(items: list[Item], val_fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """Deterministic train/validation split by group (a group never straddles the split)."""
    if not 0 <= val_fraction < 1:
        raise UsageError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups = sorted({it.group for it in items})
    if val_fraction == 0 or len(groups) < 2:
        return list(items), []
    order = np.random.default_rng(seed).permutation(len(groups))
    n_val = min(len(groups) - 1, max(1, math.ceil(val_fraction * len(groups))))
    val_groups = {groups[i] for i in order[:n_val]}
    return [it for it in items if it.group not in val_groups], [it for it in items if it.group in val_groups]


def kfold_items(items: list[Item], folds: int, fold: int, seed: int) -> tuple[list[Item], list[Item]]:
    """(train, validation) for fold ``fold`` of ``folds``: group-aware, disjoint, covering.

    Groups (a sample photo, a file) are shuffled by ``seed`` and dealt round-robin
    into ``folds`` folds, so fold sizes differ by at most one group; every group is
    validated in exactly one fold and a group never straddles train and validation.
    """
    groups = sorted({it.group for it in items})
    if not 2 <= folds <= len(groups):
        raise UsageError(f"--folds {folds}: need 2 <= folds <= number of groups ({len(groups)})")
    if not 0 <= fold < folds:
        raise UsageError(f"--fold {fold}: choose 0..{folds - 1}")
    order = np.random.default_rng(seed).permutation(len(groups))
    val_groups = {groups[g] for pos, g in enumerate(order) if pos % folds == fold}
    return [it for it in items if it.group not in val_groups], [it for it in items if it.group in val_groups]


def _read_rgb(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def _read_gray(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("L"))


def square_crop(h: int, w: int, rng: np.random.Generator | None) -> tuple[int, int, int]:
    """A random square (60-100 % of the short side) for training; the centre square otherwise."""
    short = min(h, w)
    if rng is None:
        return (h - short) // 2, (w - short) // 2, short
    side = max(1, int(rng.uniform(0.6, 1.0) * short))
    return int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1)), side


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    if array.shape[0] == size and array.shape[1] == size:
        return array
    return np.asarray(Image.fromarray(array).resize((size, size), Image.BICUBIC))


def load_item(item: Item, size: int, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """(gray uint8 SxS, colour uint8 SxSx3) for one example; ``rng`` None = validation view.

    Training views take a random square crop (sample crops are already drawn) and
    a random horizontal flip.
    """
    if item.photo:
        top, left, side = item.crop
        color = sample_photo(item.photo)[top:top + side, left:left + side]
        gray = None
    else:
        color = _read_rgb(item.color)
        gray = _read_gray(item.gray) if item.gray else None
        if gray is not None and gray.shape != color.shape[:2]:
            raise DataError(f"{item.gray}: size {gray.shape[::-1]} differs from its colour twin "
                            f"{item.color} {color.shape[1::-1]}")
        top, left, side = square_crop(*color.shape[:2], rng)
        color = color[top:top + side, left:left + side]
        gray = None if gray is None else gray[top:top + side, left:left + side]
    if rng is not None and rng.random() < 0.5:
        color = color[:, ::-1]
        gray = None if gray is None else gray[:, ::-1]
    color = _resize(np.ascontiguousarray(color), size)
    gray = rgb_to_gray(color) if gray is None else _resize(np.ascontiguousarray(gray), size)
    return gray, color
