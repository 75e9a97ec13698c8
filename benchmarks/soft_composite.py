"""The restore composite, soft ramp against hard switch: one restorer's outputs composited each way, scored.

    python -m revive.benchmarks.soft_composite --checkpoint RESTORE_CKPT [--seeds 1,2,3]
        [--rules hard,0.35:0.65,0.25:0.75,0.45:0.55] [--out DIR] [--tag TAG]

The restorer (a ``restore`` checkpoint) runs once per picture in eval mode, as the
exported graph runs it; its rounded reconstruction and rounded mask are then
composited by each rule:

- ``hard``: the reconstruction where mask >= 128, the input elsewhere (the graphs'
  rule before the soft composite);
- ``LOW:HIGH``: ``round(input + w * (reconstruction - input))`` with
  ``w = clip((mask / 255 - LOW) / (HIGH - LOW), 0, 1)`` (the shipped ramp is
  ``revive.runtime.composite.SOFT_LOW:SOFT_HIGH``).

Pictures: the validation crops of the photos held out of training (the split
``revive-train`` made: ``--val-fraction``, ``--split-seed``), each damaged with
the checkpoint's damage kinds under every ``--seeds`` validation seed. Seed 0 is
the damage the training run validated (and picked ``best.pt``) on, so the
default seeds are 1, 2, 3: damage the restorer never saw, on photos it never saw.

Per rule, means over the pictures: PSNR and SSIM on the true damaged region and
on the whole picture (against the clean gray); the IoU of the pixels the
composite changed with the true damage (what a user sees repaired); collateral
change on undamaged pixels (mean absolute change in gray levels, and the share of
them changed at all); and robustness: the same restorer under bfloat16 autocast,
composited by the same rule, against the FP32 composite (PSNR, and the share of
pixels that moved by more than 16 levels: flips between input and reconstruction).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from revive.runtime import metrics

__all__ = ["composite", "main", "parse_rule", "run_comparison", "score_rule"]

log = logging.getLogger("revive.soft_composite")

DEFAULT_RULES = "hard,0.35:0.65,0.25:0.75,0.45:0.55,0.2:0.5"
FLIP_LEVELS = 16


def parse_rule(text: str) -> tuple[float, float] | None:
    """``hard`` -> None; ``LOW:HIGH`` -> (low, high) with 0 <= low < high <= 1."""
    if text == "hard":
        return None
    try:
        low, high = (float(v) for v in text.split(":"))
    except ValueError:
        raise ValueError(f"rule {text!r}: give hard or LOW:HIGH, e.g. 0.35:0.65") from None
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"rule {text!r}: needs 0 <= LOW < HIGH <= 1")
    return low, high


def composite(recon: np.ndarray, gray: np.ndarray, mask: np.ndarray, rule: tuple[float, float] | None) -> np.ndarray:
    """uint8 reconstruction, input and mask (any equal shapes) -> the uint8 restored picture by ``rule``."""
    if rule is None:
        return np.where(mask >= 128, recon, gray)
    low, high = rule
    w = np.clip((mask.astype(np.float32) / 255.0 - low) / (high - low), 0.0, 1.0)
    base = gray.astype(np.float32)
    return np.clip(np.rint(base + w * (recon.astype(np.float32) - base)), 0, 255).astype(np.uint8)


def score_rule(restored: np.ndarray, damaged: np.ndarray, truth: np.ndarray, damage: np.ndarray) -> dict[str, float]:
    """One picture's figures (all uint8 H x W; ``damage`` bool: the true mask)."""
    changed = restored != damaged
    clean = ~damage
    union = (changed | damage).sum()
    diff = np.abs(restored.astype(np.int16) - damaged.astype(np.int16))
    return {"psnr_damaged": min(metrics.masked_psnr(truth, restored, damage), 100.0),
            "ssim_damaged": metrics.masked_ssim(truth, restored, damage),
            "psnr": min(metrics.psnr(truth, restored), 100.0), "ssim": metrics.ssim(truth, restored),
            "changed_iou": float((changed & damage).sum() / union) if union else 1.0,
            "collateral_mean_abs": float(diff[clean].mean()) if clean.any() else 0.0,
            "collateral_share": float(changed[clean].mean()) if clean.any() else 0.0}


def _net_outputs(net: torch.nn.Module, inputs: torch.Tensor, bf16: bool) -> tuple[np.ndarray, np.ndarray]:
    """(rounded reconstruction, rounded mask), uint8 N x S x S, as ``restore_outputs`` rounds them."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = net(inputs).float()
    recon = torch.round(((out[:, 0] + 1.0) * 127.5).clamp(0.0, 255.0))
    mask = torch.round(torch.sigmoid(out[:, 1]) * 255.0)
    return recon.numpy().astype(np.uint8), mask.numpy().astype(np.uint8)


def _pictures(config: dict, seeds: list[int], val_fraction: float, split_seed: int) -> list[dict[str, Any]]:
    from revive.train.data import discover, split_items
    from revive.train.restore_data import RestoreDataset

    _, val_items = split_items(discover("sample"), val_fraction, split_seed)
    if not val_items:
        raise ValueError("no held-out photos: --val-fraction gives an empty validation split")
    kinds = tuple(config.get("damage") or ())
    pictures = []
    for seed in seeds:
        dataset = RestoreDataset(val_items, int(config["image_size"]), "rgb", train=False, seed=seed,
                                 **({"damage_kinds": kinds} if kinds else {}))
        for i in range(len(dataset)):
            example = dataset[i]
            pictures.append({"seed": seed, "input": example["input"], "damaged": example["damaged"].numpy()[0],
                             "gray": example["gray"].numpy()[0], "mask": example["mask"].numpy()[0] > 0.5})
    return pictures


def run_comparison(checkpoint: Path, rules: list[str], seeds: list[int], val_fraction: float = 0.15,
                   split_seed: int = 0, batch: int = 16) -> dict[str, Any]:
    """Every rule's mean figures over the held-out pictures (plain data)."""
    from revive.train.checkpoint import build_model, load_checkpoint

    payload = load_checkpoint(checkpoint)
    config = payload["config"]
    if config.get("task") != "restore":
        raise ValueError(f"{checkpoint}: a {config.get('task', 'colorize')!r} checkpoint; this compares restorers")
    net = build_model(config, payload["model"], checkpoint).eval()
    parsed = {name: parse_rule(name) for name in rules}
    pictures = [p for p in _pictures(config, seeds, val_fraction, split_seed) if p["mask"].any()]
    inputs = torch.stack([p["input"] for p in pictures])
    outs = {}
    for bf16 in (False, True):
        parts = [_net_outputs(net, inputs[i:i + batch], bf16) for i in range(0, len(inputs), batch)]
        outs[bf16] = (np.concatenate([a for a, _ in parts]), np.concatenate([m for _, m in parts]))
    (recon, mask), (recon16, mask16) = outs[False], outs[True]
    damaged = np.stack([p["damaged"] for p in pictures])
    rows: dict[str, dict[str, float]] = {}
    for name, rule in parsed.items():
        restored = composite(recon, damaged, mask, rule)
        restored16 = composite(recon16, damaged, mask16, rule)
        per = [score_rule(r, p["damaged"], p["gray"], p["mask"]) for r, p in zip(restored, pictures)]
        row = {k: float(np.nanmean([s[k] for s in per])) for k in per[0]}
        moved = np.abs(restored16.astype(np.int16) - restored.astype(np.int16))
        row["bf16_psnr"] = metrics.psnr(restored, restored16)
        row["bf16_flip_share"] = float((moved > FLIP_LEVELS).mean())
        rows[name] = row
        log.info("%-10s region PSNR %.2f SSIM %.4f, whole SSIM %.4f, changed IoU %.3f, collateral %.3f levels "
                 "(%.4f of clean pixels), bf16 %.1f dB", name, row["psnr_damaged"], row["ssim_damaged"], row["ssim"],
                 row["changed_iou"], row["collateral_mean_abs"], row["collateral_share"], row["bf16_psnr"])
    truth_mask = np.stack([p["mask"] for p in pictures])
    guess = mask >= 128
    ious = [float((g & t).sum() / (g | t).sum()) if (g | t).any() else 1.0 for g, t in zip(guess, truth_mask)]
    inputs_row = [score_rule(p["damaged"], p["damaged"], p["gray"], p["mask"]) for p in pictures]
    return {"checkpoint": str(checkpoint), "architecture": config.get("architecture"),
            "model_kwargs": config.get("model_kwargs"), "image_size": config.get("image_size"),
            "train_steps": config.get("step"),
            "damage": config.get("damage"), "seeds": seeds, "pictures": len(pictures),
            "split": {"val_fraction": val_fraction, "seed": split_seed},
            "mask_iou_at_half": float(np.mean(ious)),
            "input": {k: float(np.nanmean([s[k] for s in inputs_row])) for k in ("psnr_damaged", "ssim_damaged",
                                                                                   "psnr", "ssim")},
            "rules": rows}


def comparison_markdown(data: dict[str, Any]) -> str:
    from .report import fmt, machine_line, markdown_table

    header = ["rule", "PSNR damaged dB", "SSIM damaged", "PSNR whole dB", "SSIM whole", "changed-pixel IoU",
              "collateral levels", "clean pixels changed", "bf16 vs fp32 dB", f"bf16 flips > {FLIP_LEVELS}"]
    rows = [[name, fmt(r["psnr_damaged"]), fmt(r["ssim_damaged"], 4), fmt(r["psnr"]), fmt(r["ssim"], 4),
             fmt(r["changed_iou"], 3), fmt(r["collateral_mean_abs"], 3), fmt(r["collateral_share"], 4),
             fmt(r["bf16_psnr"], 1), fmt(r["bf16_flip_share"], 5)] for name, r in data["rules"].items()]
    i = data["input"]
    rows.append(["(damaged input)", fmt(i["psnr_damaged"]), fmt(i["ssim_damaged"], 4), fmt(i["psnr"]),
                 fmt(i["ssim"], 4), "—", "0", "0", "—", "—"])
    return (f"# Restore composite: soft ramp vs hard switch\n\n{machine_line(data['machine'])}\n\n"
            f"Command: `{data['command']}`\n\nRestorer `{data['checkpoint']}` ({data['architecture']}, "
            f"{data['image_size']} px, {data['train_steps']} steps); {data['pictures']} held-out pictures "
            f"(validation crops of the held-out photos, damage seeds {', '.join(map(str, data['seeds']))}); "
            f"mask IoU at p = 0.5: {fmt(data['mask_iou_at_half'], 3)}. `hard` = reconstruction where mask >= 128; "
            "`LOW:HIGH` = the ramp of the damage probability.\n\n" + markdown_table(header, rows))


def main(argv: list[str] | None = None) -> int:
    from .report import write_results

    parser = argparse.ArgumentParser(prog="soft_composite", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a restore checkpoint (.pt)")
    parser.add_argument("--rules", default=DEFAULT_RULES, help="hard and LOW:HIGH ramps (default %(default)s)")
    parser.add_argument("--seeds", default="1,2,3", help="validation damage seeds (default %(default)s)")
    parser.add_argument("--val-fraction", type=float, default=0.15, help="the training run's (default 0.15)")
    parser.add_argument("--split-seed", type=int, default=0, help="the training run's --seed (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>/)")
    parser.add_argument("--tag", default="", help="suffix of the result files (soft_composite-TAG.json, .md)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    torch.backends.mkldnn.enabled = False  # as revive-train does on the CPU (train/two_stage.py)
    try:
        rules = [r.strip() for r in args.rules.split(",") if r.strip()]
        for rule in rules:
            parse_rule(rule)
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    result = run_comparison(args.checkpoint, rules, seeds, args.val_fraction, args.split_seed)
    command = "python -m revive.benchmarks.soft_composite " + " ".join(sys.argv[1:] if argv is None else argv)
    write_results("soft_composite", command, result, comparison_markdown, out=args.out, tag=args.tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
