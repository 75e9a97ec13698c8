"""Short restorer experiments: which setting lets the damage mask cross 0.5 within a CPU budget.

    python -m revive.benchmarks.restore_experiments [--only NAME,...] [--steps 40] [--image-size 64]

Each experiment trains a fresh restorer (``RestoreTask``, the code ``revive-train``
runs) for ``--steps`` steps on crops of the built-in ``sample`` training photos,
damage drawn fresh each step, then scores a fixed validation set (crops of the
held-out photos, seeded damage) in eval mode, as the exported graph would run:
mask IoU (predicted mask >= 0.5), the mean mask probability on damaged and on
clean pixels, damaged-region SSIM of the composite against the clean gray (and
of the damaged input, the baseline), and the process CPU seconds (user + sys)
the experiment took. One experiment changes one thing against ``baseline``
(the settings the demo used when the restorer learned nothing). Each row also
scores crops of the *training* photos with validation damage
(``train_photos_mask_iou``): the gap to the held-out score is what the restorer
fails to carry over to pictures it never saw.

Keys beyond the loss and network ones: ``beta1`` (Adam), ``schedule``
(``constant`` or ``cosine`` over the run), ``bn_recal`` (BatchNorm statistics
recomputed over N fresh training batches before scoring, train/batch_norm.py),
``augment`` (rotations, mirrorings and gamma of the training views,
train/restore_data.py); the length of ``decoder`` sets the encoder depth.

Rows are appended to ``benchmarks/results/<machine>/restorer_experiments.json``;
the markdown there is the record with the conclusions.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from pathlib import Path

import numpy as np
import torch

from revive.runtime import metrics

__all__ = ["EXPERIMENTS", "main", "run_experiment"]

log = logging.getLogger("revive.restore_experiments")

# Settings of the demo's two-stage run before issue #11 (60 steps at 128 px there).
BASELINE = {"encoder": "efficientnet-b3", "decoder": "256,128,64,32,16", "lr": 1e-3, "mask_pos_weight": 1.0,
            "dice_weight": 0.0,
            "mask_prior": None, "hole_weight": 6.0, "mask_weight": 1.0, "damage": "polygons", "beta1": 0.5,
            "schedule": "constant", "bn_recal": 0, "augment": 0}

# name -> what it changes against BASELINE (one thing at a time, then combinations of the winners).
EXPERIMENTS: dict[str, dict] = {
    "baseline": {},
    "lr2e-4": {"lr": 2e-4},
    "lr3e-3": {"lr": 3e-3},
    "pos_weight10": {"mask_pos_weight": 10.0},
    "dice1": {"dice_weight": 1.0},
    "prior": {"mask_prior": 0.05},
    "mask_weight5": {"mask_weight": 5.0},
    "resnet18": {"encoder": "resnet18"},
    "effb0": {"encoder": "efficientnet-b0"},
    "mobilenet_v2": {"encoder": "mobilenet_v2"},
    "resnet18+dice+prior": {"encoder": "resnet18", "dice_weight": 1.0, "mask_prior": 0.05},
    "resnet18+pos10+prior": {"encoder": "resnet18", "mask_pos_weight": 10.0, "mask_prior": 0.05},
    "effb3+dice+prior": {"dice_weight": 1.0, "mask_prior": 0.05},
    "r18slim": {"encoder": "resnet18", "decoder": "64,32,32,16,16"},
    "r18slim+dice+prior": {"encoder": "resnet18", "decoder": "64,32,32,16,16", "dice_weight": 1.0,
                           "mask_prior": 0.05},
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stack(examples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([e[k] for e in examples]) for k in examples[0]}


def run_experiment(name: str, overrides: dict, steps: int, size: int, batch: int, val_images: int,
                   seed: int = 0, eval_every: int = 0) -> dict:
    """Train one configuration for ``steps`` steps and score the fixed validation set."""
    from revive.train.data import discover, split_items
    from revive.train.loop import Precision
    from revive.train.restore_data import RestoreDataset
    from revive.train.restore_task import RestoreOptions, RestoreTask

    settings = {**BASELINE, **overrides}
    train_items, val_items = split_items(discover("sample"), 0.15, seed)
    val_items = val_items[::max(1, len(val_items) // val_images)][:val_images]
    kinds = tuple(settings["damage"].split(","))
    train_set = RestoreDataset(train_items, size, "rgb", train=True, seed=seed, damage_kinds=kinds,
                               augment=bool(settings["augment"]))
    val_set = RestoreDataset(val_items, size, "rgb", train=False, seed=seed, damage_kinds=kinds)
    # The same number of crops of the training photos, with validation damage: the generalisation gap.
    seen_set = RestoreDataset(train_items[::max(1, len(train_items) // val_images)][:val_images], size, "rgb",
                              train=False, seed=seed, damage_kinds=kinds)
    torch.manual_seed(seed)
    opts = RestoreOptions(image_size=size, encoder=settings["encoder"], encoder_weights=None, lr=settings["lr"],
                          decoder_channels=tuple(int(c) for c in settings["decoder"].split(",")),
                          hole_weight=settings["hole_weight"], mask_weight=settings["mask_weight"],
                          mask_pos_weight=settings["mask_pos_weight"], dice_weight=settings["dice_weight"],
                          mask_prior=settings["mask_prior"], betas=(settings["beta1"], 0.999))
    task = RestoreTask(opts)
    if settings["schedule"] == "cosine":  # the rate follows half a cosine to 0 over the run, stepped every step
        schedulers = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=steps) for o in task.optimizers.values()]
    else:
        schedulers = []
    precision = Precision("off", torch.device("cpu"))
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    order = np.random.default_rng(seed).permutation(len(train_set) * (1 + steps * batch // len(train_set)))
    task.nets["restorer"].train()
    losses, curve, scoring_cpu = {}, [], 0.0
    for step in range(steps):
        keys = [(int(i) % len(train_set), int(i) // len(train_set)) for i in order[step * batch:(step + 1) * batch]]
        losses = task.train_step(_stack([train_set[k] for k in keys]), precision)
        for scheduler in schedulers:
            scheduler.step()
        if eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            t = _cpu_seconds()
            point = score(task, val_set)
            task.nets["restorer"].train()
            curve.append({"step": step + 1, "mask_iou": point["mask_iou"], "ssim_damaged": point["ssim_damaged"],
                          "train_mode_mask_iou": point["train_mode_mask_iou"]})
            log.info("  %s step %d: mask IoU %.3f (train-mode BN %.3f), damaged SSIM %.3f", name, step + 1,
                     point["mask_iou"], point["train_mode_mask_iou"], point["ssim_damaged"])
            scoring_cpu += _cpu_seconds() - t
    if settings["bn_recal"]:
        from revive.train.batch_norm import recalibrate_batch_norm

        picks = np.random.default_rng(seed + 1).integers(0, len(train_set), int(settings["bn_recal"]) * batch)
        batches = [_stack([train_set[(int(i), steps + j)] for j, i in enumerate(picks[b * batch:(b + 1) * batch])])
                   for b in range(int(settings["bn_recal"]))]
        recalibrate_batch_norm(task.nets["restorer"], [b["input"] for b in batches])
    train_cpu, train_wall = _cpu_seconds() - cpu0 - scoring_cpu, time.perf_counter() - wall0
    row = {"name": name, **{k: v for k, v in settings.items()}, "steps": steps, "image_size": size,
           "batch": batch, "val_images": len(val_set), "train_cpu_s": train_cpu, "train_wall_s": train_wall,
           **{f"last_{k}": float(v) for k, v in losses.items()}, "curve": curve}
    row.update(score(task, val_set))
    row["train_photos_mask_iou"] = score(task, seen_set)["mask_iou"]
    return row


@torch.no_grad()
def score(task, val_set) -> dict:
    """Eval-mode mask IoU, mask probabilities, damaged-region SSIM (restored and input) on ``val_set``."""
    import copy

    batch = _stack([val_set[i] for i in range(len(val_set))])
    mask = batch["mask"].numpy() > 0.5
    probe = copy.deepcopy(task.nets["restorer"]).train()  # batch statistics, running ones left alone
    prob_train = torch.sigmoid(probe(batch["input"])[:, 1:2]).numpy()
    net = task.nets["restorer"].eval()
    sums = task.eval_step(batch)
    n = sums.pop("count")
    prob = torch.sigmoid(net(batch["input"])[:, 1:2]).numpy()
    truths, damaged = batch["gray"].numpy()[:, 0], batch["damaged"].numpy()[:, 0]
    input_region = [metrics.masked_ssim(t, d, m[0]) for t, d, m in zip(truths, damaged, mask) if m.any()]
    return {"mask_iou": sums["mask_iou"] / n, "ssim_damaged": sums["ssim_damaged"] / n,
            "ssim_damaged_input": float(np.mean(input_region)) if input_region else float("nan"),
            "prob_on_damage": float(prob[mask].mean()) if mask.any() else float("nan"),
            "prob_on_clean": float(prob[~mask].mean()), "damaged_share": float(mask.mean()),
            "train_mode_mask_iou": _iou(prob_train >= 0.5, mask),
            "train_mode_prob_on_damage": float(prob_train[mask].mean()) if mask.any() else float("nan"),
            "train_mode_prob_on_clean": float(prob_train[~mask].mean())}


def _iou(guess: np.ndarray, mask: np.ndarray) -> float:
    """Mean per-image IoU over N x 1 x H x W masks; an image with neither scores 1."""
    scores = []
    for g, m in zip(guess, mask):
        union = (g | m).sum()
        scores.append(float((g & m).sum() / union) if union else 1.0)
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="restore_experiments", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated experiment names (default all: {', '.join(EXPERIMENTS)})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an ad-hoc experiment change, e.g. --set encoder=resnet18 --set lr=3e-3 "
                             "(runs one experiment named after the changes)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--val-images", type=int, default=8)
    parser.add_argument("--eval-every", type=int, default=0, help="also score every N steps (a learning curve)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("revive").setLevel(logging.WARNING)
    logging.getLogger("revive.restore_experiments").setLevel(logging.INFO)
    torch.backends.mkldnn.enabled = False  # as revive-train does on the CPU (train/two_stage.py)
    # One thread: on a shared machine two OpenMP threads spin-wait on each other (measured: 1.8 CPU s per
    # EfficientNet-B3 step at 64 px with two threads under load, 1.1 s with one).
    torch.set_num_threads(args.threads)
    if args.set:
        overrides = {}
        for pair in args.set:
            key, _, value = pair.partition("=")
            if key not in BASELINE:
                parser.error(f"--set {pair}: unknown key; choose from {', '.join(BASELINE)}")
            overrides[key] = type(BASELINE[key] if BASELINE[key] is not None else 0.0)(value) \
                if key not in ("encoder", "damage", "decoder", "schedule") else value
        todo = {"+".join(args.set): overrides}
    else:
        names = args.only.split(",") if args.only else list(EXPERIMENTS)
        unknown = [n for n in names if n not in EXPERIMENTS]
        if unknown:
            parser.error(f"unknown experiments {unknown}; choose from {', '.join(EXPERIMENTS)}")
        todo = {n: EXPERIMENTS[n] for n in names}
    from .report import results_dir

    args.out = results_dir(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "restorer_experiments.json"
    for name, overrides in todo.items():
        row = run_experiment(name, overrides, args.steps, args.image_size, args.batch, args.val_images, args.seed,
                             args.eval_every)
        rows = json.loads(path.read_text()) if path.is_file() else []
        path.write_text(json.dumps(rows + [row], indent=1))
        log.info("%-24s mask IoU %.3f  p(damage) %.3f  p(clean) %.3f  [train-mode BN: IoU %.3f, %.3f / %.3f]  "
                 "damaged SSIM %.3f (input %.3f)  train photos IoU %.3f  cpu %.0f s  wall %.0f s", name, row["mask_iou"],
                 row["prob_on_damage"], row["prob_on_clean"], row["train_mode_mask_iou"],
                 row["train_mode_prob_on_damage"], row["train_mode_prob_on_clean"], row["ssim_damaged"],
                 row["ssim_damaged_input"], row["train_photos_mask_iou"], row["train_cpu_s"], row["train_wall_s"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
