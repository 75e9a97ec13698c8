"""``revive-bench restore-quality``: how well a restorer finds and fills damage, on any folder of pairs.

    revive-bench restore-quality --inputs DAMAGED_DIR --truth TRUTH_DIR --engine restore.onnx [--engine colorize.onnx]

Inputs are damaged gray photos; each truth is the undamaged photo (colour or gray)
with the same relative path and stem, any image extension. The engines run through
``runtime-infer`` exactly as a user runs them (native resolution, ``--save-restored``),
and the restored gray is scored against the truth's gray (Pillow's BT.601 luma, as
everywhere in revive):

- ``damage`` (the true mask): where the input departs from the truth's gray by more
  than ``MASK_THRESHOLD`` = 12 gray levels, the rule train/csv_data.py uses for CSV
  pairs (above JPEG noise and the rounding of other gray conversions);
- ``restorer mask``: the pixels the restorer changed (output != input): what it
  replaced, as the user sees it;
- per image: mask IoU of the two; PSNR and SSIM of the input and of the output on
  the damaged region (``masked_psnr``, ``masked_ssim``); SSIM of both on the whole
  image; means over the images that have damage.

A file that cannot be paired, read, or differs in size from its truth is listed
with the reason and left out of the means; it never stops the run.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from revive.runtime import metrics
from revive.runtime.color import rgb_to_gray
from revive.runtime.inputs import DEFAULT_EXTS

__all__ = ["MASK_THRESHOLD", "METRICS", "quality_markdown", "run_restore_quality", "score_pair", "true_mask"]

log = logging.getLogger(__name__)

MASK_THRESHOLD = 12  # gray levels; the same as revive.train.csv_data.MASK_THRESHOLD (a test holds them together)
METRICS = ("mask_iou", "psnr_damaged_input", "psnr_damaged_output", "ssim_damaged_input", "ssim_damaged_output",
           "ssim_input", "ssim_output")


def true_mask(damaged: np.ndarray, truth_gray: np.ndarray, threshold: int = MASK_THRESHOLD) -> np.ndarray:
    """Where a damaged input departs from its truth's gray by more than ``threshold`` levels."""
    return np.abs(damaged.astype(np.int16) - truth_gray.astype(np.int16)) > threshold


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def score_pair(damaged: np.ndarray, output: np.ndarray, truth_gray: np.ndarray,
               mask: np.ndarray | None = None) -> dict[str, Any]:
    """Every metric of one (input, restored output, truth gray) triple, all uint8 HxW.

    ``mask`` is the true damage when it is known (synthetic damage); otherwise it is
    derived with ``true_mask``.
    """
    mask = true_mask(damaged, truth_gray) if mask is None else np.asarray(mask, dtype=bool)
    changed = output != damaged
    row = {"damaged_share": float(mask.mean()), "changed_share": float(changed.mean()),
           "mask_iou": _iou(mask, changed),
           "ssim_input": metrics.ssim(truth_gray, damaged), "ssim_output": metrics.ssim(truth_gray, output)}
    for name, picture in (("input", damaged), ("output", output)):
        row[f"psnr_damaged_{name}"] = metrics.masked_psnr(truth_gray, picture, mask)
        row[f"ssim_damaged_{name}"] = metrics.masked_ssim(truth_gray, picture, mask)
    return row


def _find(folder: Path) -> dict[Path, Path]:
    return {p.relative_to(folder).with_suffix(""): p for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix.lower() in DEFAULT_EXTS}


def _gray(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L")) if image.mode in ("L", "I;16", "I") else rgb_to_gray(
            np.asarray(image.convert("RGB")))


def run_restore_quality(inputs: Path, truth: Path, engines: list[Path], workdir: Path | None = None,
                        runtime_args: list[str] | None = None) -> dict[str, Any]:
    """Run the engines on ``inputs`` and score each output against its truth; plain data back."""
    from revive.runtime.cli import main as runtime_infer

    for flag, folder in (("--inputs", inputs), ("--truth", truth)):
        if not folder.is_dir():
            raise ValueError(f"{flag} {folder}: no such folder")
    damaged_files, truth_files = _find(inputs), _find(truth)
    if not damaged_files:
        raise ValueError(f"--inputs {inputs}: no images")
    rows, failed = [], []
    with tempfile.TemporaryDirectory(prefix="revive-restore-quality.") as tmp:
        out = Path(workdir or tmp)
        argv = [a for e in engines for a in ("--engine", str(e))]
        code = runtime_infer(argv + [str(inputs), "-o", str(out), "--save-restored", "--overwrite", "--no-progress",
                                     "--format", "png", *(runtime_args or [])])  # the .restored.png read below
        if code == 2:
            raise ValueError("runtime-infer refused the engines or inputs (its message is above)")
        for rel, path in damaged_files.items():
            name = str(rel)
            if rel not in truth_files:
                failed.append({"image": name, "reason": f"no truth named {rel}.* under {truth}"})
                continue
            restored = out / rel.parent / f"{rel.name}.restored.png"
            if not restored.is_file():
                failed.append({"image": name, "reason": "runtime-infer wrote no output (see its log)"})
                continue
            try:
                damaged, truth_gray, output = _gray(path), _gray(truth_files[rel]), _gray(restored)
            except OSError as exc:
                failed.append({"image": name, "reason": f"unreadable: {exc}"})
                continue
            if damaged.shape != truth_gray.shape or output.shape != damaged.shape:
                failed.append({"image": name, "reason": f"input {damaged.shape[::-1]}, truth "
                                                        f"{truth_gray.shape[::-1]}, output {output.shape[::-1]}: "
                                                        "sizes differ"})
                continue
            rows.append({"image": name, "size": f"{damaged.shape[1]}x{damaged.shape[0]}",
                         **score_pair(damaged, output, truth_gray)})
    scored = [r for r in rows if r["damaged_share"] > 0]
    mean = {k: float(np.mean([r[k] for r in scored])) if scored else float("nan") for k in METRICS}
    return {"inputs": str(inputs), "truth": str(truth), "engines": [str(e) for e in engines],
            "mask_threshold": MASK_THRESHOLD, "images": rows, "failed": failed,
            "mean": mean, "images_scored": len(scored)}


def quality_markdown(data: dict[str, Any], machine_line: str) -> str:
    from .report import fmt, markdown_table

    header = ["image", "size", "damaged %", "mask IoU", "PSNR dmg in", "PSNR dmg out", "SSIM dmg in",
              "SSIM dmg out", "SSIM in", "SSIM out"]

    def cells(name, size, r):
        return [name, size, fmt(100 * r["damaged_share"], 1) if "damaged_share" in r else "",
                *(fmt(r[k], 3) for k in METRICS)]

    rows = [cells(r["image"], r["size"], r) for r in data["images"]]
    rows.append(cells(f"**mean of {data['images_scored']}**", "", data["mean"]))
    text = (f"# Restore quality\n\n{machine_line}\n\nCommand: `{data['command']}`\n\n"
            f"Inputs `{data['inputs']}`, truths `{data['truth']}`, engines {', '.join(data['engines'])}. "
            f"Damage = |input - truth gray| > {data['mask_threshold']}; the restorer's mask = pixels it changed. "
            "PSNR in dB; *dmg* = on the damaged region.\n\n" + markdown_table(header, rows))
    if data["failed"]:
        text += "\nNot scored:\n\n" + "".join(f"- `{f['image']}`: {f['reason']}\n" for f in data["failed"])
    return text
