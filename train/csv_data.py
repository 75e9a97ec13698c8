"""CSV data: (damaged grayscale input, colour ground truth) pairs, as in the public restoration
and colorization competition data (``train.csv`` with ``ID,input_image_path,gt_image_path``).

Columns are found by header name, case-insensitively (spaces and dashes read as
underscores):

- input (damaged gray): ``input_image_path``, ``input_path``, ``input``, ``damaged``,
  ``damaged_path``, ``gray``, ``gray_path``, ``source``;
- truth (colour): ``gt_image_path``, ``gt_path``, ``gt``, ``target``, ``truth``,
  ``ground_truth``, ``color``, ``colour``, ``color_path``, ``label``;
- key (optional): ``id``, ``image_id``, ``name``; without one, the input path is the key.

A file with no recognised header and exactly two columns reads as
``input,truth`` (the first row is data then). Paths are relative to the CSV's
folder (absolute paths are kept). Every row is a split group of its own.

The damage mask of a CSV pair is not given, so it is derived: a pixel is damaged
where the input differs from the truth's gray (Pillow BT.601 luma) by more than
``MASK_THRESHOLD`` gray levels. The threshold sits above JPEG noise and the
rounding differences of other gray conversions; a polygon painted with almost
the original gray is missed, and that costs nothing (it is not damage to see).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .items import DataError, Item

__all__ = ["GT_COLUMNS", "ID_COLUMNS", "INPUT_COLUMNS", "MASK_THRESHOLD", "derive_mask", "discover_csv"]

INPUT_COLUMNS = ("input_image_path", "input_path", "input", "damaged", "damaged_path", "gray", "gray_path",
                 "source")
GT_COLUMNS = ("gt_image_path", "gt_path", "gt", "target", "truth", "ground_truth", "color", "colour",
              "color_path", "label")
ID_COLUMNS = ("id", "image_id", "name")
MASK_THRESHOLD = 12


def derive_mask(damaged: np.ndarray, truth_gray: np.ndarray, threshold: int = MASK_THRESHOLD) -> np.ndarray:
    """Bool mask of the pixels where a damaged input departs from the truth's gray."""
    return np.abs(damaged.astype(np.int16) - truth_gray.astype(np.int16)) > threshold


def _norm(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    normed = [_norm(h) for h in header]
    return next((normed.index(n) for n in names if n in normed), None)


def discover_csv(path: str | Path) -> list[Item]:
    """The pairs a CSV lists, in file order; missing files are a DataError that names them."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such CSV file")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError(f"{path}: empty CSV")
    header = rows[0]
    i_in, i_gt, i_id = _find(header, INPUT_COLUMNS), _find(header, GT_COLUMNS), _find(header, ID_COLUMNS)
    if i_in is None and i_gt is None and len(header) == 2:
        i_in, i_gt, body = 0, 1, rows  # headerless input,truth
    elif i_in is None or i_gt is None:
        missing = "an input column" if i_in is None else "a ground-truth column"
        raise DataError(f"{path}: header {header} has no {missing}; accepted input headers: "
                        f"{', '.join(INPUT_COLUMNS)}; ground truth: {', '.join(GT_COLUMNS)} "
                        "(a test CSV without ground truth cannot train)")
    else:
        body = rows[1:]
    root = path.parent
    items, missing_files = [], []
    for row in body:
        gray, color = (root / row[i_in].strip()).resolve(), (root / row[i_gt].strip()).resolve()
        missing_files += [str(p) for p in (gray, color) if not p.is_file()]
        key = row[i_id].strip() if i_id is not None else row[i_in].strip()
        items.append(Item(key=f"csv:{key}", group=f"csv:{key}", color=str(color), gray=str(gray), damaged=True))
    if missing_files:
        shown = ", ".join(missing_files[:3]) + (" ..." if len(missing_files) > 3 else "")
        raise DataError(f"{path}: {len(missing_files)} listed files do not exist ({shown}); "
                        "paths are read relative to the CSV's folder")
    if not items:
        raise DataError(f"{path}: no rows")
    return items
