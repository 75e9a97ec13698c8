"""Output parity: every backend against PyTorch FP32, and every backend's task metrics against the truth.

Inputs are ``--images`` examples spread evenly over a data source (default the
built-in ``sample``), loaded with ``revive.train.data.load_item`` at the model's
size (centre square, no flip). Colorize models get the clean gray; restore and
pipeline models get it damaged by the two-stage damage generator (default kinds)
(``revive.train.damage``, seeded per image by ``validation_rng(0, key)``), whose
mask defines the damaged region.

Against the reference (``torch-fp32``: the export graph in PyTorch on the CPU,
true FP32) per output role: PSNR over all images together (``null`` with
``"identical": true`` when the outputs are equal), the worst image's PSNR, mean
SSIM and the largest absolute difference of the uint8 outputs.

Against the truth (``revive.runtime.metrics``): ``rgb`` outputs against the
colour image (PSNR, SSIM, SSIM on the damaged region, HSV histogram
similarity); ``restored`` outputs against the clean gray (PSNR, SSIM, SSIM on
the damaged region). Means over images; each backend's difference to the
reference's figure is reported beside it.

A backend passes when its PSNR against the reference reaches the threshold of
its precision (FP32 60 dB, FP16 45 dB, BF16 30 dB by default) and no SSIM against
the truth moves by more than ``max_dssim`` (0.001). The command exits 1 when any
backend that ran fails.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from revive.runtime import metrics

from .backends import Models, for_each_backend

__all__ = ["Thresholds", "compare_outputs", "load_truth", "run_parity", "truth_metrics"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    min_psnr_fp32: float = 60.0
    min_psnr_fp16: float = 45.0
    min_psnr_bf16: float = 30.0
    max_dssim: float = 0.001
    min_psnr_int8: float = 40.0

    def min_psnr(self, precision: str) -> float:
        return {"fp32": self.min_psnr_fp32, "fp16": self.min_psnr_fp16, "bf16": self.min_psnr_bf16,
                "int8": self.min_psnr_int8}[precision]


@dataclass
class Truth:
    keys: list[str]
    inputs: np.ndarray  # uint8 N x 1 x S x S, what the model is fed
    gray: np.ndarray  # clean gray N x S x S
    color: np.ndarray  # N x S x S x 3
    mask: np.ndarray | None  # damaged region N x S x S, None when the input is undamaged


def load_truth(data: str, count: int, size: int, damaged: bool) -> Truth:
    from revive.train.data import discover, load_item

    items = discover(data)
    if count < 1:
        raise ValueError("--images must be >= 1")
    picks = [items[int(i)] for i in np.linspace(0, len(items) - 1, min(count, len(items)))]
    grays, colors, inputs, masks = [], [], [], []
    for item in picks:
        gray, color = load_item(item, size, None)
        grays.append(gray)
        colors.append(color)
        if damaged:
            from revive.train.damage import damage, validation_rng

            bad, mask = damage(gray, validation_rng(0, item.key))
            inputs.append(bad)
            masks.append(mask)
        else:
            inputs.append(gray)
    return Truth([it.key for it in picks], np.stack(inputs)[:, None], np.stack(grays), np.stack(colors),
                 np.stack(masks) if damaged else None)


def run_batches(backend: Any, inputs: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    parts = [backend.run(inputs[i:i + batch_size]) for i in range(0, len(inputs), batch_size)]
    return {role: np.concatenate([p[role] for p in parts]) for role in parts[0]}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return metrics.psnr(a, b)


def compare_outputs(ref: np.ndarray, out: np.ndarray) -> dict[str, Any]:
    """uint8 N x C x S x S outputs against the reference's."""
    per_image = [_psnr(r, o) for r, o in zip(ref, out)]
    ssims = [metrics.ssim(_hwc(r), _hwc(o)) for r, o in zip(ref, out)]
    total = _psnr(ref, out)
    return {"psnr_db": total, "identical": math.isinf(total), "worst_image_psnr_db": min(per_image),
            "ssim": float(np.mean(ssims)),
            "max_abs_diff": int(np.abs(ref.astype(np.int16) - out.astype(np.int16)).max()),
            "mean_abs_diff": float(np.abs(ref.astype(np.float32) - out.astype(np.float32)).mean())}


def _hwc(x: np.ndarray) -> np.ndarray:
    return x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0)


def truth_metrics(role: str, out: np.ndarray, truth: Truth) -> dict[str, float | None] | None:
    """Mean task metrics of one output role against the ground truth (None: role has no truth)."""
    if role == "rgb":
        targets = truth.color
    elif role == "restored":
        targets = truth.gray
    else:
        return None
    rows: dict[str, list[float]] = {"psnr": [], "ssim": [], "ssim_damaged": [], "color": []}
    for i, (o, t) in enumerate(zip(out, targets)):
        pred = _hwc(o)
        rows["psnr"].append(min(metrics.psnr(t, pred), 100.0))
        rows["ssim"].append(metrics.ssim(t, pred))
        if truth.mask is not None and truth.mask[i].any():
            rows["ssim_damaged"].append(metrics.masked_ssim(t, pred, truth.mask[i]))
        if role == "rgb":
            rows["color"].append(metrics.hsv_histogram_similarity(t, pred))
    return {k: (float(np.mean(v)) if v else None) for k, v in rows.items()}


def _deltas(mine: dict | None, ref: dict | None) -> dict[str, float | None]:
    if mine is None or ref is None:
        return {}
    return {k: (mine[k] - ref[k] if mine[k] is not None and ref[k] is not None else None) for k in mine}


def run_parity(models: Models, names: list[str], data: str, count: int, batch_size: int,
               thresholds: Thresholds) -> dict[str, Any]:
    from .torch_graph import TorchGraphBackend

    ref_backend = TorchGraphBackend(models.need_checkpoint("parity"), device="cpu", max_batch=models.max_batch)
    card = ref_backend.card
    damaged = card.task in ("restore", "pipeline")
    truth = load_truth(data, count, card.image_size, damaged)
    log.info("parity on %d images of %s (%s input)", len(truth.keys), data, "damaged" if damaged else "clean")
    ref_out = run_batches(ref_backend, truth.inputs, batch_size)
    ref_truth = {role: truth_metrics(role, out, truth) for role, out in ref_out.items()}
    result: dict[str, Any] = {
        "reference": {"backend": "torch-fp32", "providers": ref_backend.providers, "vs_truth": ref_truth},
        "data": {"source": data, "images": len(truth.keys), "input": "damaged" if damaged else "clean gray",
                 "damaged_region": "synthetic damage mask" if damaged else "n/a (colorize model: clean input)"},
        "thresholds": asdict(thresholds), "backends": {}}
    ref_backend.close()
    for name, backend, precision in for_each_backend(names, models, result["backends"]):
        outs = run_batches(backend, truth.inputs, batch_size)
        entry: dict[str, Any] = {"status": "ok", "precision": precision, "providers": backend.providers,
                                 "min_psnr_db": thresholds.min_psnr(precision), "roles": {}}
        problems = []
        for role, ref in ref_out.items():
            vs_ref = compare_outputs(ref, outs[role])
            vs_truth = truth_metrics(role, outs[role], truth)
            delta = _deltas(vs_truth, ref_truth[role])
            entry["roles"][role] = {"vs_reference": vs_ref, "vs_truth": vs_truth, "delta_vs_reference": delta}
            if vs_ref["psnr_db"] < entry["min_psnr_db"]:
                problems.append(f"{role}: {vs_ref['psnr_db']:.2f} dB < {entry['min_psnr_db']:g} dB")
            for key in ("ssim", "ssim_damaged"):
                if delta.get(key) is not None and abs(delta[key]) > thresholds.max_dssim:
                    problems.append(f"{role}: |delta {key}| {abs(delta[key]):.4f} > {thresholds.max_dssim:g}")
        entry["passed"], entry["problems"] = not problems, problems
        log.info("%-14s %s", name, "passed" if not problems else "FAILED: " + "; ".join(problems))
        result["backends"][name] = entry
    return result


def parity_markdown(report: dict[str, Any]) -> str:
    from .report import fmt, machine_line, markdown_table

    def psnr_text(v: dict) -> str:
        return "identical" if v["identical"] else fmt(v["psnr_db"])

    rows, skipped = [], []
    ref = report["reference"]["vs_truth"]
    for role, m in ref.items():
        if m:
            rows.append(["torch-fp32 (reference)", "fp32", role, "—", "—", "—", fmt(m["psnr"]), fmt(m["ssim"], 4),
                         fmt(m["ssim_damaged"], 4), fmt(m["color"], 4), "", "", "—"])
    for name, e in report["backends"].items():
        if e["status"] != "ok":
            skipped.append(f"- `{name}`: skipped — {e['reason']}")
            continue
        for role, r in e["roles"].items():
            v, t, d = r["vs_reference"], r["vs_truth"] or {}, r["delta_vs_reference"]
            rows.append([name, e["precision"], role, psnr_text(v), fmt(v["ssim"], 5), str(v["max_abs_diff"]),
                         fmt(t.get("psnr")), fmt(t.get("ssim"), 4), fmt(t.get("ssim_damaged"), 4),
                         fmt(t.get("color"), 4), _signed(d.get("ssim")), _signed(d.get("color")),
                         "pass" if e["passed"] else "**FAIL**"])
    th = report["thresholds"]
    model = report["model"]
    text = [f"# Parity: {model['architecture']} ({model['task']}, {model['image_size']}×{model['image_size']})", "",
            machine_line(report["machine"]), "",
            f"{report['data']['images']} images of `{report['data']['source']}`, input: {report['data']['input']}; "
            f"damaged region: {report['data']['damaged_region']}. Command: `{report['command']}`", "",
            f"Thresholds: PSNR against PyTorch FP32 ≥ {th['min_psnr_fp32']:g} dB (fp32), "
            f"≥ {th['min_psnr_fp16']:g} dB (fp16), ≥ {th['min_psnr_bf16']:g} dB (bf16), "
            f"≥ {th.get('min_psnr_int8', 40):g} dB (int8); "
            f"|ΔSSIM against the truth| ≤ {th['max_dssim']:g}.", "",
            markdown_table(["backend", "precision", "output", "PSNR vs ref dB", "SSIM vs ref", "max abs diff",
                            "PSNR vs truth", "SSIM vs truth", "SSIM damaged", "colour sim", "ΔSSIM", "Δcolour",
                            "result"], rows)]
    if skipped:
        text += ["Skipped:", "", *skipped, ""]
    return "\n".join(text)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.5f}"
