"""``revive-bench damage-types``: how much of each kind of damage a restorer finds and takes away.

    revive-bench damage-types [--engine builtin:restore] [--fill classical|model] [--tag T]

The scan-like set's means hide which damage a restorer leaves: a restorer trained to stop taking highlights
for damage can learn to leave a long straight scratch, which its mask IoU barely shows. So each kind is
scored on pictures that carry it alone:

- **scan kinds** (scratches, hairs, dust, folds, polygons): the held-out photos
  (``revive.train.scan_data.HELD_OUT``) enlarged 2x and 3x with Lanczos, as the scan-like set, each with one
  kind drawn alone by train/scan_damage.py at the evaluation draws' sizes and tones, ``KIND_COUNTS`` marks
  per 128 x 128 px (denser than a scan, so every picture holds enough of the kind), from ``SEED``;
- **film kinds** (film dust and film scratch, at each size): one frame of each shot of the synthetic film
  (benchmarks/synthetic_film.py: five photos, white and black specks of 1-3 px and a bright 2-px scratch down
  the whole frame) at 320 x 240 and at 960 x 720.

The restorer runs through ``runtime-infer``'s library entry point as a user runs it (tiles, ``--fill``). Per
kind, over all its pictures (pixel-weighted): the share of the kind's damaged pixels the restorer changed
(*found*), the mean error left on them (|output - truth|, gray levels, against the input's), and the mean
change of the undamaged pixels of those pictures. A damaged pixel is one the damage moved by more than
``MASK_THRESHOLD`` levels, the rule of restore-quality.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .restore_quality import MASK_THRESHOLD, run_engines
from .scan_set import enlarged, save_gray

__all__ = ["FILM_SIZES", "KIND_COUNTS", "SCALES", "SEED", "damage_markdown", "run_damage_types"]

SEED = 2029  # neither training (0, 1) nor the scan-like set (2027) draws from it
SCALES = (2, 3)
KIND_COUNTS = {"scratches": 1.0, "hairs": 0.5, "dust": 4.0, "folds": 0.05, "polygons": 0.15}
FILM_SIZES = ((320, 240), (960, 720))
_COUNT_FIELDS = tuple(KIND_COUNTS)  # the DamageRanges fields that count marks of each kind


def _scan_pictures(scales: tuple[int, ...]) -> list[dict[str, Any]]:
    """Each held-out photo at each scale with each kind alone: name, kind, damaged, truth, mask."""
    from revive.train.scan_damage import EVALUATION, draw_scan_damage
    from revive.train.scan_data import HELD_OUT, photo_gray

    pictures = []
    for photo in HELD_OUT:
        gray = photo_gray(photo)
        for scale in scales:
            big = enlarged(gray, scale)
            for k, (kind, count) in enumerate(KIND_COUNTS.items()):
                ranges = replace(EVALUATION, **{f: (count if f == kind else 0.0) for f in _COUNT_FIELDS})
                rng = np.random.default_rng([SEED, sum(map(ord, photo)), scale, k])
                drawn = draw_scan_damage(big, rng, ranges)
                pictures.append({"name": f"{kind}_{photo}_x{scale}", "kind": kind, "damaged": drawn.damaged,
                                 "truth": drawn.base, "masks": {kind: drawn.mask}})
    return pictures


def _film_pictures(sizes: tuple[tuple[int, int], ...]) -> list[dict[str, Any]]:
    """One frame per shot of the synthetic film at each of ``FILM_SIZES``, dust and scratch as two kinds."""
    from .synthetic_film import FilmTruth

    pictures = []
    for w, h in sizes:
        truth = FilmTruth(size=(w, h), shot_frames=(1,) * 5)
        for i in range(truth.frames):
            frame = truth.frame(i)
            moved = np.abs(frame.damaged.astype(np.int16) - frame.undamaged) > MASK_THRESHOLD
            pictures.append({"name": f"film_{w}x{h}_{i}", "kind": "film", "damaged": frame.damaged,
                             "truth": frame.undamaged,
                             "masks": {f"film dust {w}x{h}": frame.dust & moved,
                                       f"film scratch {w}x{h}": frame.scratch & moved}})
    return pictures


def _sums(damaged: np.ndarray, output: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    inp, out, tru = (a.astype(np.int16) for a in (damaged, output, truth))
    return {"pixels": int(mask.sum()), "found": int((out != inp)[mask].sum()),
            "error_in": float(np.abs(inp - tru)[mask].sum()), "error_out": float(np.abs(out - tru)[mask].sum())}


def run_damage_types(engine: str, fill: str, device: str = "auto", keep: Path | None = None,
                     scales: tuple[int, ...] = SCALES,
                     film_sizes: tuple[tuple[int, int], ...] = FILM_SIZES) -> dict[str, Any]:
    """Score ``engine`` kind by kind (module docstring); plain data back."""
    pictures = _scan_pictures(scales) + _film_pictures(film_sizes)
    with tempfile.TemporaryDirectory(prefix="revive-damage-types.") as tmp:
        root = Path(keep or tmp)
        for p in pictures:
            save_gray(root / "inputs" / f"{p['name']}.png", p["damaged"])
        run = run_engines([engine], root / "inputs", root / "outputs", device, fill)
        totals: dict[str, dict[str, float]] = {}
        images = []
        for p in pictures:
            path = root / "outputs" / f"{p['name']}.restored.png"
            if not path.is_file():
                raise RuntimeError(f"runtime-infer wrote no {path.name} (see its log)")
            with Image.open(path) as im:
                output = np.asarray(im.convert("L"))
            damage = np.logical_or.reduce(list(p["masks"].values()))
            change = np.abs(output.astype(np.int16) - p["damaged"])[~damage]
            for kind, mask in p["masks"].items():
                row = _sums(p["damaged"], output, p["truth"], mask)
                total = totals.setdefault(kind, {"images": 0, "pixels": 0, "found": 0, "error_in": 0.0,
                                                 "error_out": 0.0, "change_sum": 0.0, "undamaged": 0})
                total["images"] += 1
                for key in ("pixels", "found", "error_in", "error_out"):
                    total[key] += row[key]
                total["change_sum"] += float(change.sum())
                total["undamaged"] += int(change.size)
                images.append({"image": p["name"], "kind": kind, **row})
    kinds = {kind: {"images": t["images"], "pixels": t["pixels"],
                    "found_share": t["found"] / max(1, t["pixels"]),
                    "mae_input": t["error_in"] / max(1, t["pixels"]),
                    "mae_output": t["error_out"] / max(1, t["pixels"]),
                    "change_undamaged": t["change_sum"] / max(1, t["undamaged"])}
             for kind, t in totals.items()}
    return {"engine": engine, "fill": fill, "seed": SEED, "scales": list(scales), "kind_counts": KIND_COUNTS,
            "film_sizes": [list(s) for s in film_sizes], "kinds": kinds, "images": images, "runtime": run}


def damage_markdown(data: dict[str, Any], machine_line: str) -> str:
    from .report import fmt, markdown_table

    rows = [[kind, str(k["images"]), str(k["pixels"]), fmt(100 * k["found_share"], 1), fmt(k["mae_input"], 1),
             fmt(k["mae_output"], 1), fmt(k["change_undamaged"], 3)] for kind, k in data["kinds"].items()]
    return (f"# Damage by kind\n\n{machine_line}\n\nCommand: `{data['command']}`\n\n"
            f"Restorer {data['engine']}, `--fill {data['fill']}`. Scan kinds: the held-out photos at "
            f"{', '.join(f'{s}x' for s in data['scales'])}, one kind drawn alone per picture (seed {data['seed']}); "
            f"film kinds: a frame of each of the synthetic film's five shots at "
            f"{' and '.join(f'{w}x{h}' for w, h in data['film_sizes'])}. *found* = share of the kind's damaged "
            "pixels the restorer changed; *left* = mean |output - truth| on them (gray levels), beside the "
            "input's; *change undamaged* = mean |output - input| on those pictures' undamaged pixels.\n\n"
            + markdown_table(["kind", "pictures", "damaged px", "found %", "error in", "error left",
                              "change undamaged"], rows))
