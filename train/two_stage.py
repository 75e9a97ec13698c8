"""Two-stage runs: restorer, colorizer, or both in turn; one split, one K-fold fold, or all folds.

``revive-train two-stage`` trains the restorer into ``OUT/restore/``, then a
colorizer into ``OUT/colorize/`` on the restorer's outputs (``best.pt``, or
``last.pt`` when there is no validation set) or on the clean gray
(``--colorize-input``). ``--cv`` repeats that for every fold into
``OUT/fold<i>/`` and writes ``OUT/cv_summary.json``: per metric of the last
epoch, the mean, the population standard deviation and the per-fold values.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from revive.runtime.errors import UsageError
from revive.runtime.files import write_atomic

from .checkpoint import CheckpointError, best_or_last, build_model, file_sha256, load_checkpoint
from .colorize_task import ColorizeOptions, ColorizeTask
from .damage import DEFAULT_KINDS
from .data import Item, kfold_items, split_items
from .distributed import World
from .loop import LoopOptions, fit
from .restore_data import RestoreDataset
from .restore_task import RestoreOptions, RestoreTask

__all__ = ["Split", "cpu_convolutions", "cross_validate", "load_restorer", "run", "train_colorize", "train_restore", "train_two_stage"]

log = logging.getLogger(__name__)


@dataclass
class Split:
    val_fraction: float = 0.15
    folds: int = 0  # 0 = a plain train/validation split by val_fraction
    fold: int = 0
    cv: bool = False  # run every fold
    seed: int = 0


def _datasets(train: list[Item], val: list[Item], size: int, color_space: str, seed: int,
              damage_kinds: tuple[str, ...], augment: bool = False):
    return (RestoreDataset(train, size, color_space, train=True, seed=seed, damage_kinds=damage_kinds,
                           augment=augment),
            RestoreDataset(val, size, color_space, train=False, seed=seed, damage_kinds=damage_kinds))


def load_restorer(path: str | Path, image_size: int | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A trained restorer from its checkpoint, with provenance for the colorizer's config."""
    payload = load_checkpoint(path)
    config = payload["config"]
    if config.get("task") != "restore":
        raise CheckpointError(f"{path}: a {config.get('task')!r} checkpoint, not a restorer")
    if image_size is not None and int(config["image_size"]) != image_size:
        raise CheckpointError(f"{path}: restorer trained at {config['image_size']} px, colorizer asked for "
                              f"{image_size} px; use the same --image-size")
    net = build_model(config, payload["model"], path).eval()
    return net, {"checkpoint": str(path), "sha256": file_sha256(path), "architecture": config["architecture"]}


def train_restore(train: list[Item], val: list[Item], ropts: RestoreOptions, loop: LoopOptions,
                  world: World) -> dict[str, Any]:
    torch.manual_seed(loop.seed)
    task = RestoreTask(ropts)
    return fit(task, *_datasets(train, val, ropts.image_size, "rgb", loop.seed, ropts.damage_kinds, ropts.augment),
               loop, world)


def train_colorize(train: list[Item], val: list[Item], copts: ColorizeOptions, loop: LoopOptions, world: World,
                   restorer_ckpt: str | Path | None = None,
                   damage_kinds: tuple[str, ...] = DEFAULT_KINDS) -> dict[str, Any]:
    restorer = None
    if restorer_ckpt:
        restorer, info = load_restorer(restorer_ckpt, copts.image_size)
        copts = replace(copts, restorer_info=info)
    torch.manual_seed(loop.seed)
    task = ColorizeTask(copts, restorer)
    return fit(task, *_datasets(train, val, copts.image_size, copts.color_space, loop.seed, damage_kinds), loop,
               world)


def train_two_stage(train: list[Item], val: list[Item], ropts: RestoreOptions, copts: ColorizeOptions,
                    loop: LoopOptions, world: World) -> dict[str, Any]:
    """Restorer into OUT/restore, then the colorizer into OUT/colorize; rows prefixed by stage."""
    if loop.resume:
        raise UsageError("two-stage runs do not resume; resume a stage with revive-train restore/colorize "
                         "--resume OUT/<stage>/last.pt")
    out = Path(loop.out_dir)
    restore_row = train_restore(train, val, ropts, replace(loop, out_dir=str(out / "restore")), world)
    restorer_ckpt = best_or_last(out / "restore")
    log.info("restorer done (%s); colorizer input: %s", restorer_ckpt, copts.colorize_input)
    color_row = train_colorize(train, val, copts, replace(loop, out_dir=str(out / "colorize")), world,
                               restorer_ckpt, ropts.damage_kinds)
    return {**{f"restore_{k}": v for k, v in restore_row.items()},
            **{f"colorize_{k}": v for k, v in color_row.items()}}


def cross_validate(items: list[Item], split: Split, out_dir: str | Path,
                   run_fold: Callable[[list[Item], list[Item], str], dict[str, Any]]) -> dict[str, Any]:
    """Run every fold into OUT/fold<i>; write and return the mean +- std summary."""
    rows = []
    for fold in range(split.folds):
        train, val = kfold_items(items, split.folds, fold, split.seed)
        log.info("fold %d/%d: %d train / %d val images", fold + 1, split.folds, len(train), len(val))
        rows.append(run_fold(train, val, str(Path(out_dir) / f"fold{fold}")))
    keys = [k for k in rows[0] if "val_" in k and all(isinstance(r.get(k), float) for r in rows)]
    summary = {"folds": split.folds, "seed": split.seed, "metrics": {}}
    for key in keys:
        values = [float(r[key]) for r in rows]
        summary["metrics"][key] = {"mean": float(np.mean(values)), "std": float(np.std(values)),
                                   "per_fold": values}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_atomic(Path(out_dir) / "cv_summary.json", json.dumps(summary, indent=1).encode())
    for key, stats in summary["metrics"].items():
        log.info("cv %s: %.4f +- %.4f", key, stats["mean"], stats["std"])
    return summary


def cpu_convolutions(device: torch.device) -> None:
    """On the CPU, run convolutions without oneDNN.

    Measured on a 2-core CPU with torch 2.15: one training step of the
    EfficientNet-B3 U-Net (32-64 px, batch 2) takes ~15 s with oneDNN and ~0.5 s
    without (the depthwise convolutions behind EfficientNet's dynamic "same"
    padding are what oneDNN handles badly). CUDA is unaffected.
    """
    if device.type == "cpu" and torch.backends.mkldnn.enabled:
        torch.backends.mkldnn.enabled = False
        log.info("CPU training: oneDNN convolutions off (EfficientNet's depthwise convolutions run "
                 "far faster without them)")


def run(stage: str, items: list[Item], split: Split, loop: LoopOptions, world: World,
        ropts: RestoreOptions | None = None, copts: ColorizeOptions | None = None,
        restorer_ckpt: str | None = None, damage_kinds: tuple[str, ...] = DEFAULT_KINDS) -> dict[str, Any]:
    """One stage ('restore', 'colorize') or both ('two-stage') on one split, one fold, or all folds."""
    cpu_convolutions(world.device)

    def one(train: list[Item], val: list[Item], out_dir: str) -> dict[str, Any]:
        opts = replace(loop, out_dir=out_dir)
        if stage == "restore":
            return train_restore(train, val, ropts, opts, world)
        if stage == "colorize":
            return train_colorize(train, val, copts, opts, world, restorer_ckpt, damage_kinds)
        return train_two_stage(train, val, ropts, copts, opts, world)

    if split.cv:
        if split.folds < 2:
            raise UsageError("--cv needs --folds K with K >= 2")
        if loop.resume:
            raise UsageError("--cv runs do not resume; resume one fold with --folds K --fold I --resume ...")
        return cross_validate(items, split, loop.out_dir, one)
    if split.folds:
        train, val = kfold_items(items, split.folds, split.fold, split.seed)
    else:
        train, val = split_items(items, split.val_fraction, split.seed)
    return one(train, val, loop.out_dir)


def finite(row: dict[str, Any]) -> dict[str, float]:
    """The float entries of a history row, rounded for a log line."""
    return {k: round(v, 4) for k, v in row.items() if isinstance(v, float) and math.isfinite(v)}
