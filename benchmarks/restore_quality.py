"""``revive-bench restore-quality``: how well a restorer finds and fills damage, beside the classical method.

    revive-bench restore-quality [--engine builtin:restore] [--baseline classical]          # the scan-like set
    revive-bench restore-quality --inputs DAMAGED_DIR --truth TRUTH_DIR --engine restore.onnx [--engine colorize.onnx]

Without ``--inputs`` the benchmark builds its scan-like set (benchmarks/scan_set.py: held-out photos enlarged
2-4x, damage at scan scale, a seed of its own). Inputs are damaged gray photos; each truth is the undamaged
photo (colour or gray) with the same relative path and stem, any image extension. The engines run through
``runtime-infer``'s library entry point exactly as a user runs them (native resolution, tiles,
``--save-restored``), and the restored gray is scored against the truth's gray (Pillow's BT.601 luma):

- ``damage`` (the true mask): where the input departs from the truth's gray by more than
  ``MASK_THRESHOLD`` = 12 gray levels, the rule train/csv_data.py uses for CSV pairs;
- ``restorer mask``: the pixels the restorer changed (output != input): what it replaced, as the user sees it;
- per image: mask IoU of the two; the mean absolute error on the damaged region of the input and of the
  output (``mae_damaged_*``, gray levels); the mean change of the undamaged pixels (``change_undamaged``:
  what a restorer did where it should have left the picture alone); PSNR and SSIM on the damaged region
  and SSIM on the whole image; means over the images that have damage.

``--baseline classical`` scores, on the same inputs, the median-difference detector with Telea's inpainting
(benchmarks/classical.py) and Telea's fill on the restorer's own mask grown by a pixel, which tells the
network's fill apart from its detection. The restorer's speed through runtime-infer (Mpx/s of input, restore
alone, so the colorizer does not count) is recorded beside it.

A file that cannot be paired, read, or differs in size from its truth is listed with the reason and left
out of the means; it never stops the run.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from revive.runtime import metrics
from revive.runtime.color import rgb_to_gray
from revive.runtime.inputs import DEFAULT_EXTS
from revive.runtime.fill import DEFAULT_FILL, FILLS

__all__ = ["BASELINES", "MASK_THRESHOLD", "METRICS", "quality_markdown", "run_engines", "run_restore_quality",
           "score_pair", "true_mask"]

log = logging.getLogger(__name__)

MASK_THRESHOLD = 12  # gray levels; the same as revive.train.csv_data.MASK_THRESHOLD (a test holds them together)
METRICS = ("mask_iou", "mae_damaged_input", "mae_damaged_output", "change_undamaged", "recall", "precision",
           "mae_damaged_found", "missed_error_share", "psnr_damaged_input",
           "psnr_damaged_output", "ssim_damaged_input", "ssim_damaged_output", "ssim_input", "ssim_output")
BASELINES = ("classical",)
# The rows a --baseline classical run scores: revive as run (its --fill), the classical method, revive's mask
# filled by Telea, revive with the other --fill.
METHODS = ("revive", "classical", "revive_mask_telea", "revive_other_fill")


def true_mask(damaged: np.ndarray, truth_gray: np.ndarray, threshold: int = MASK_THRESHOLD) -> np.ndarray:
    """Where a damaged input departs from its truth's gray by more than ``threshold`` levels."""
    return np.abs(damaged.astype(np.int16) - truth_gray.astype(np.int16)) > threshold


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def _mean_abs(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16))[where].mean()) if where.any() else float("nan")


def score_pair(damaged: np.ndarray, output: np.ndarray, truth_gray: np.ndarray,
               mask: np.ndarray | None = None) -> dict[str, Any]:
    """Every metric of one (input, restored output, truth gray) triple, all uint8 HxW.

    ``mask`` is the true damage when it is known (synthetic damage); otherwise it is
    derived with ``true_mask``.
    """
    mask = true_mask(damaged, truth_gray) if mask is None else np.asarray(mask, dtype=bool)
    changed = output != damaged
    row = {"damaged_share": float(mask.mean()), "changed_share": float(changed.mean()),
           "mask_iou": _iou(mask, changed), "change_undamaged": _mean_abs(output, damaged, ~mask),
           # where the error comes from: the damage found (and how well it was filled) and the damage missed
           "recall": float((mask & changed).sum() / mask.sum()) if mask.any() else float("nan"),
           "precision": float((mask & changed).sum() / changed.sum()) if changed.any() else float("nan"),
           "mae_damaged_found": _mean_abs(output, truth_gray, mask & changed),
           "missed_error_share": float(np.abs(output.astype(np.int16) - truth_gray)[mask & ~changed].sum()
                                       / max(1, np.abs(output.astype(np.int16) - truth_gray)[mask].sum())),
           "ssim_input": metrics.ssim(truth_gray, damaged), "ssim_output": metrics.ssim(truth_gray, output)}
    for name, picture in (("input", damaged), ("output", output)):
        row[f"mae_damaged_{name}"] = _mean_abs(picture, truth_gray, mask)
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


def run_engines(engines: list[str | Path], inputs: Path, out: Path, device: str, fill: str) -> dict[str, Any]:
    """runtime-infer (library entry point) on ``inputs`` with ``--fill fill``; its throughput figures back."""
    from revive.runtime.infer import InferOptions, infer_files
    from revive.runtime.layout import LayoutOptions

    options = InferOptions(device=device, save_restored=True, overwrite=True, progress=False, fmt="png",
                           layout=LayoutOptions(fill=fill))  # fmt: the NAME.restored.png read below
    started, cpu = time.perf_counter(), _process_cpu_s()
    stats = infer_files(engines, [inputs], out, options)
    summary = stats.summary()
    cpu_s = _process_cpu_s() - cpu
    return {"wall_s": round(time.perf_counter() - started, 3), "cpu_s": round(cpu_s, 3),
            "engines": [str(e) for e in engines], **summary["throughput"],
            "mpx_per_cpu_s": round(stats.pixels / 1e6 / cpu_s, 3) if cpu_s > 0 else 0.0,
            "counts": summary["counts"]}


def _process_cpu_s() -> float:
    """CPU seconds of this process, every thread (ONNX Runtime's too): on a shared machine Mpx per CPU-second
    says what the restorer costs, and on N idle cores the wall speed is at most N times it."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _mean(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows if not np.isnan(r[key])]
    return float(np.mean(values)) if values else float("nan")


def run_restore_quality(inputs: Path | None, truth: Path | None, engines: list[str | Path],
                        workdir: Path | None = None, device: str = "auto",
                        baseline: str | None = None, fill: str = DEFAULT_FILL) -> dict[str, Any]:
    """Run the engines on ``inputs`` (or the scan-like set) and score each output; plain data back.

    ``fill`` is runtime-infer's ``--fill``; with a baseline the other fill is scored too (its own row).
    """
    from revive.runtime.models import resolve_model

    if baseline is not None and baseline not in BASELINES:
        raise ValueError(f"--baseline {baseline}: choose {', '.join(BASELINES)}")
    with tempfile.TemporaryDirectory(prefix="revive-restore-quality.") as tmp:
        root = Path(workdir or tmp)
        scan_set = None
        if inputs is None:
            from .scan_set import build_scan_set

            scan_set = build_scan_set(root / "scan_set")
            inputs, truth = root / "scan_set" / "inputs", root / "scan_set" / "truth"
        for flag, folder in (("--inputs", inputs), ("--truth", truth)):
            if folder is None or not folder.is_dir():
                raise ValueError(f"{flag} {folder}: no such folder")
        damaged_files, truth_files = _find(inputs), _find(truth)
        if not damaged_files:
            raise ValueError(f"--inputs {inputs}: no images")
        engines = [str(e) for e in engines]
        for engine in engines:
            resolve_model(engine)  # a builtin: name that is not there fails here, with its one line
        out = root / "outputs"
        run = run_engines(engines, inputs, out, device, fill)
        speed = run if len(engines) == 1 else run_engines(engines[:1], inputs, root / "restore_only", device, fill)
        other = next(f for f in FILLS if f != fill)
        if baseline:
            run_engines(engines, inputs, root / f"fill_{other}", device, other)
        if baseline:
            from .classical import DETECTOR  # fails early, naming the extra, when OpenCV is missing
        rows, failed = [], []
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
            row = {"image": name, "size": f"{damaged.shape[1]}x{damaged.shape[0]}",
                   **score_pair(damaged, output, truth_gray)}
            if baseline:
                other_output = _gray(root / f"fill_{other}" / rel.parent / f"{rel.name}.restored.png")
                row["baselines"] = {**_baselines(damaged, output, truth_gray),
                                    "revive_other_fill": score_pair(damaged, other_output, truth_gray)}
            rows.append(row)
    scored = [r for r in rows if r["damaged_share"] > 0]
    result = {"inputs": "scan-like set (benchmarks/scan_set.py)" if scan_set else str(inputs),
              "truth": "" if scan_set else str(truth), "scan_set": scan_set, "engines": engines,
              "mask_threshold": MASK_THRESHOLD, "images": rows, "failed": failed,
              "mean": {k: _mean(scored, k) for k in METRICS}, "images_scored": len(scored),
              "runtime": run, "restore_speed": speed, "cpu_count": os.cpu_count(), "baseline": baseline,
              "fill": fill, "other_fill": other}
    if baseline:
        from dataclasses import asdict

        result["detector"] = asdict(DETECTOR)
        result["methods"] = {"revive": result["mean"],
                             **{m: {k: _mean([r["baselines"][m] for r in scored], k) for k in METRICS}
                                for m in METHODS[1:]}}
    return result


def _baselines(damaged: np.ndarray, output: np.ndarray, truth_gray: np.ndarray) -> dict[str, dict]:
    from .classical import classical_restore, grow_mask, telea_fill

    own_mask = grow_mask(output != damaged, 1)
    return {"classical": score_pair(damaged, classical_restore(damaged), truth_gray),
            "revive_mask_telea": score_pair(damaged, telea_fill(damaged, own_mask), truth_gray)}


_FILL_WORDS = {"model": "the network's own fill", "classical": "revive's push-pull fill, runtime/fill.py"}


def quality_markdown(data: dict[str, Any], machine_line: str) -> str:
    from .report import fmt, markdown_table

    header = ["image", "size", "damaged %", "mask IoU", "MAE dmg in", "MAE dmg out", "change undamaged", "recall",
              "precision", "MAE found", "missed share of error", "PSNR dmg in", "PSNR dmg out", "SSIM dmg in", "SSIM dmg out", "SSIM in", "SSIM out"]

    def cells(name, size, r):
        return [name, size, fmt(100 * r["damaged_share"], 2) if "damaged_share" in r else "",
                *(fmt(r[k], 3) for k in METRICS)]

    rows = [cells(r["image"], r["size"], r) for r in data["images"]]
    rows.append(cells(f"**mean of {data['images_scored']}**", "", data["mean"]))
    speed = data["restore_speed"]
    text = (f"# Restore quality\n\n{machine_line}\n\nCommand: `{data['command']}`\n\n"
            f"Inputs {data['inputs']}, engines {', '.join(data['engines'])}. "
            f"Damage = |input - truth gray| > {data['mask_threshold']}; the restorer's mask = pixels it changed. "
            "MAE in gray levels, PSNR in dB; *dmg* = on the damaged region; *change undamaged* = mean "
            "|output - input| elsewhere.\n\n"
            f"Restorer speed through runtime-infer (restore alone, tiles, {speed['engines'][0]}): "
            f"**{speed['mpx_per_s']} Mpx/s** of input ({speed['tiles']} tiles in {speed['wall_s']} s wall, "
            f"{speed.get('cpu_s')} CPU s: {speed.get('mpx_per_cpu_s')} Mpx per CPU-second; {data['cpu_count']} CPUs, "
            f"load average {data['machine']['load_average']}).\n\n" + markdown_table(header, rows))
    if data.get("methods"):
        fill, other = data.get("fill", "model"), data.get("other_fill", "classical")
        names = {"revive": f"revive, `--fill {fill}` (the network's mask; {_FILL_WORDS[fill]})",
                 "classical": f"classical: median-difference detector + Telea ({data['detector']})",
                 "revive_mask_telea": "revive's mask (grown 1 px) + OpenCV Telea's fill",
                 "revive_other_fill": f"revive, `--fill {other}` (the network's mask; {_FILL_WORDS[other]})"}
        table = [[names[m], *(fmt(v[k], 3) for k in ("mask_iou", "mae_damaged_output", "change_undamaged",
                                                      "psnr_damaged_output", "ssim_damaged_output"))]
                 for m, v in data["methods"].items() if m in names]
        ratio = data["methods"]["revive"]["mae_damaged_output"] / data["methods"]["classical"]["mae_damaged_output"]
        text += ("\n## Beside the classical method (means)\n\n"
                 + markdown_table(["method", "mask IoU", "MAE dmg", "change undamaged", "PSNR dmg", "SSIM dmg"],
                                  table)
                 + f"\nInput MAE on the damaged region: {fmt(data['mean']['mae_damaged_input'], 2)}. "
                 f"revive's damaged-region MAE is **{ratio:.2f}x** the classical method's.\n")
    if data["failed"]:
        text += "\nNot scored:\n\n" + "".join(f"- `{f['image']}`: {f['reason']}\n" for f in data["failed"])
    return text
