"""The recipe of the bundled models: what ``revive-train builtin`` trains, from scikit-image's photos only.

Two models ship inside the package (runtime/models/): a restorer for scans at their own resolution and a
colorizer. Both come from this recipe and nothing else, on a 2-core CPU, so anyone can make them again:

- **restorer**: ``tile_unet_restorer`` (train/models/tile_unet.py; a few thousand multiply-adds per pixel, so
  the runtime restores several Mpx/s of scan on two cores) on ``RESTORE_TILE``-px windows of
  scikit-image's photos at their own resolution or enlarged (train/scan_data.py), damaged at scan scale
  (train/scan_damage.py), for ``RESTORE_STEPS`` steps of ``RESTORE_BATCH`` tiles with a one-cycle rate
  (train/tile_restore_task.py says what the losses score), then a second stage
  (``precision_steps``; 0: none): more steps from that stage's best checkpoint, at a lower rate, on tiles of
  a new seed, with false detections weighted by what filling them would change (``fill_cost_weight``) and
  straight scratches across the whole tile added to its draws (``precision_long_scratches``). The fill cost
  stops the restorer taking highlights and specks for damage; alone it also taught it to leave a film's
  long straight scratch, which the added scratches mostly undo (README "Bundled models" has the figures).
  The restorer is exported
  for ``DEPLOY_TILE``-px tiles: the network is fully convolutional, and a larger tile wastes less on the
  overlap of its neighbours.
- **colorizer**: pix2pix in Lab mode (L -> ab; train/pix2pix_task.py) with ``COLOR_NGF`` base filters at
  ``COLOR_SIZE`` px on the ``sample`` crops, ``COLOR_EPOCHS`` epochs; it sees a whole picture at that size,
  and its chroma goes on the picture's own luminance (runtime/composite.py).

The validation photos (``scan_data.HELD_OUT``: coffee and immunohistochemistry, the ``sample`` split of
seed 0) are never trained on by either model; the scan-like benchmark is made from them.

This module trains; exporting, scoring and writing the cards is the benchmarks layer's
(benchmarks/builtin.py), which ``revive-train builtin`` calls through the family registry.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .distributed import World
from .loop import LoopOptions, fit
from .scan_damage import TRAINING, DamageRanges
from .scan_data import HELD_OUT, ScanTileDataset, restorer_photos
from .tile_restore_task import TileRestoreOptions, TileRestoreTask

__all__ = ["Recipe", "cpu_seconds", "train_colorizer", "train_precision", "train_restorer"]

log = logging.getLogger(__name__)
VAL_FRACTION = 0.15  # the sample split (revive-train's default), which holds out HELD_OUT for seed 0


@dataclass(frozen=True)
class Recipe:
    """Every number of the recipe (written into the cards)."""

    restore_steps: int = 24000  # ~80 min of a quiet 2-core EPYC (5.2 steps/s): inside the 2-h sitting
    restore_batch: int = 16
    restore_tile: int = 96  # training windows
    deploy_tile: int = 128  # the exported model's tile (card image_size)
    restore_widths: tuple[int, ...] = (12, 16, 32, 64)
    restore_val_tiles: int = 96
    steps_per_epoch: int = 100
    precision_steps: int = 6000  # the second stage (docstring; 0: none)
    precision_lr: float = 5e-4
    precision_fill_cost: float = 24.0  # measured against 4, 16 and 32 (README "Bundled models")
    precision_pos_weight: float = 4.0  # damaged pixels' BCE weight there (2 in the first stage)
    precision_long_scratches: float = 1.0  # straight scratches across the tile per 128 x 128 px in its tiles:
    # without them the stage learns to leave a film's persistent scratch (README)
    color_size: int = 128
    color_ngf: int = 16
    color_epochs: int = 12
    color_batch: int = 8
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stage_dict(self, stage: str) -> dict[str, Any]:
        """The fields ``stage`` is trained from (a stage is reused while these stay the same)."""
        prefix = {"restore": ("restore_", "deploy_tile"), "precision": ("restore_", "deploy_tile", "precision_"),
                  "colorize": ("color_",)}[stage]
        return {"stage": stage, **{k: v for k, v in self.to_dict().items()
                                   if k.startswith(prefix) or k in ("seed", "steps_per_epoch")}}


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (the data-loader workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class _DeployedRestoreTask(TileRestoreTask):
    """Trains on ``restore_tile`` windows; the checkpoint says the tile it is exported for."""

    def __init__(self, opts: TileRestoreOptions, deploy_tile: int) -> None:
        super().__init__(opts)
        self.deploy_tile = deploy_tile

    def config(self) -> dict[str, Any]:
        return {**super().config(), "image_size": self.deploy_tile, "train_tile": self.opts.tile}


def train_restorer(out: Path, recipe: Recipe, loop: LoopOptions, world: World) -> dict[str, Any]:
    """The restorer into ``out`` (best.pt by validation score, last.pt); the last history row and timings."""
    log.info("builtin restorer: %d steps of %d x %d-px tiles from %d photos (%s held out)", recipe.restore_steps,
             recipe.restore_batch, recipe.restore_tile, len(restorer_photos()), ", ".join(HELD_OUT))
    return _fit_restorer(out, recipe, loop, world, TileRestoreOptions(tile=recipe.restore_tile,
                                                                      widths=recipe.restore_widths),
                         steps=recipe.restore_steps, seed=recipe.seed, validations=6)


def train_precision(out: Path, start: Path, recipe: Recipe, loop: LoopOptions, world: World) -> dict[str, Any]:
    """The second restorer stage (docstring) into ``out``, from the weights of checkpoint ``start``."""
    log.info("builtin restorer, precision stage: %d steps from %s, fill-cost weight %g", recipe.precision_steps,
             start, recipe.precision_fill_cost)
    options = TileRestoreOptions(tile=recipe.restore_tile, widths=recipe.restore_widths, lr=recipe.precision_lr,
                                 mask_pos_weight=recipe.precision_pos_weight,
                                 fill_cost_weight=recipe.precision_fill_cost)
    ranges = replace(TRAINING, long_scratches=recipe.precision_long_scratches)
    return {**_fit_restorer(out, recipe, loop, world, options, steps=recipe.precision_steps,
                            seed=recipe.seed + 1,  # tiles stage 1 never drew
                            validations=3, start=start, ranges=ranges),
            "started_from": str(start)}


def _fit_restorer(out: Path, recipe: Recipe, loop: LoopOptions, world: World, options: TileRestoreOptions, *,
                  steps: int, seed: int, validations: int, start: Path | None = None,
                  ranges: DamageRanges = TRAINING) -> dict[str, Any]:
    """One restorer stage: ``steps`` on tiles drawn from ``seed``, validated ``validations`` times on the
    held-out photos (always the same tiles), from fresh weights or from checkpoint ``start``'s."""
    epochs = math.ceil(steps / recipe.steps_per_epoch)
    opts = replace(loop, out_dir=str(out), epochs=epochs, batch_size=recipe.restore_batch, max_steps=steps,
                   lr_schedule="cosine", seed=seed, val_every=max(1, epochs // validations))
    torch.manual_seed(seed)
    task = _DeployedRestoreTask(options, recipe.deploy_tile)
    if start is not None:
        from .checkpoint import load_checkpoint, load_weights

        load_weights(task.nets["restorer"], load_checkpoint(start)["model"], start, "restorer")
    train_set = ScanTileDataset(restorer_photos(), recipe.restore_tile, recipe.steps_per_epoch * recipe.restore_batch,
                                seed, train=True, ranges=ranges)
    val_set = ScanTileDataset(HELD_OUT, recipe.deploy_tile, recipe.restore_val_tiles, recipe.seed, train=False)
    return _timed(lambda: fit(task, train_set, val_set, opts, world))


def train_colorizer(out: Path, recipe: Recipe, loop: LoopOptions, world: World) -> dict[str, Any]:
    """pix2pix (Lab) on the ``sample`` split of ``recipe.seed`` into ``out``; the last row and timings."""
    from .data import discover, split_items
    from .datasets import ColorizeDataset
    from .pix2pix_task import Pix2PixOptions, Pix2PixTask

    train_items, val_items = split_items(discover("sample"), VAL_FRACTION, recipe.seed)
    held = sorted({i.photo for i in val_items})
    if tuple(held) != tuple(sorted(HELD_OUT)):
        raise RuntimeError(f"the sample split of seed {recipe.seed} holds out {held}, not {HELD_OUT}")
    opts = replace(loop, out_dir=str(out), epochs=recipe.color_epochs, batch_size=recipe.color_batch,
                   max_steps=0, lr_schedule="linear", epochs_decay=recipe.color_epochs // 2, seed=recipe.seed,
                   val_every=max(1, recipe.color_epochs // 6))
    torch.manual_seed(recipe.seed)
    task = Pix2PixTask(Pix2PixOptions(color_space="lab", image_size=recipe.color_size, ngf=recipe.color_ngf,
                                      ndf=recipe.color_ngf))
    train_set = ColorizeDataset(train_items, recipe.color_size, "lab", train=True, seed=recipe.seed)
    val_set = ColorizeDataset(val_items, recipe.color_size, "lab", train=False, seed=recipe.seed)
    log.info("builtin colorizer: pix2pix lab, ngf %d, %d px, %d epochs on %d sample crops", recipe.color_ngf,
             recipe.color_size, recipe.color_epochs, len(train_items))
    return _timed(lambda: fit(task, train_set, val_set, opts, world))


def _timed(run) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    row = run()
    return {"last": {k: v for k, v in row.items() if isinstance(v, (int, float))},
            "wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(cpu_seconds() - cpu, 1)}
