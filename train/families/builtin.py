"""``revive-train builtin``: the one command that makes the bundled restorer and colorizer (train/builtin.py).

Training is this package's; exporting both models, scoring them (the scan-like restore benchmark beside the
classical method, the colorizer against the gray input) and writing those figures into their cards is the
benchmarks layer's, reached by module path (``RUN``) as the export graphs are, so the layers keep pointing
one way. Its checkpoints are a ``restore`` and a ``colorize`` model, exported and run like any other.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._registry import Family, load_hook, register_family

__all__ = ["BUILTIN", "RUN"]

RUN = "revive.benchmarks.builtin:run"


def add_options(p: argparse.ArgumentParser) -> None:
    from ..builtin import Recipe

    g = p.add_argument_group("recipe (defaults: the bundled models' own)")
    g.add_argument("--restore-steps", type=int, default=Recipe.restore_steps, help="restorer training steps")
    g.add_argument("--precision-steps", type=int, default=Recipe.precision_steps,
                   help="steps of the restorer's optional second stage, which weights false detections by what "
                        "filling them would change (default 0: none; README 'Bundled models' has its trade-off)")
    g.add_argument("--precision-fill-cost", type=float, default=Recipe.precision_fill_cost,
                   help="weight of that cost in the second stage's loss")
    g.add_argument("--precision-pos-weight", type=float, default=Recipe.precision_pos_weight,
                   help="BCE weight of damaged pixels in the second stage")
    g.add_argument("--precision-long-scratches", type=float, default=Recipe.precision_long_scratches,
                   help="straight scratches across the whole tile, per 128 x 128 px, added to the second stage's "
                        "tiles (film's persistent scratch is one)")
    g.add_argument("--colorize-epochs", type=int, default=Recipe.color_epochs, help="colorizer epochs")
    g.add_argument("--bundle", action="store_true",
                   help="copy the two ONNX models into this installation's revive/runtime/models/ when done "
                        "(they become builtin:restore and builtin:colorize)")
    g.add_argument("--no-baseline", action="store_true",
                   help="score without the classical baseline (when OpenCV, the bench extra, is not installed)")


def checks(args: argparse.Namespace) -> list[tuple[bool, str]]:
    return [(args.restore_steps >= 1, "--restore-steps must be at least 1"),
            (args.precision_steps >= 0, "--precision-steps must be 0 or more"),
            (args.precision_fill_cost >= 0, "--precision-fill-cost must be 0 or more"),
            (args.precision_pos_weight > 0, "--precision-pos-weight must be above 0"),
            (args.precision_long_scratches >= 0, "--precision-long-scratches must be 0 or more"),
            (args.colorize_epochs >= 1, "--colorize-epochs must be at least 1")]


def train(args: argparse.Namespace, loop, world) -> str:
    return load_hook(RUN)(args, loop, world)


def random_pair(workdir: Path, image_size: int = 128, small: bool = False) -> tuple[Path, Path]:
    """A random-weight tile restorer and a slim pix2pix Lab colorizer with the configs the recipe writes."""
    import torch

    from ..builtin import Recipe
    from ..checkpoint import save_checkpoint
    from ..pix2pix_task import Pix2PixOptions, Pix2PixTask
    from ..tile_restore_task import TileRestoreOptions, TileRestoreTask

    torch.manual_seed(0)
    restore = TileRestoreTask(TileRestoreOptions(tile=image_size, widths=(8, 8, 16) if small else
                                                 Recipe.restore_widths))
    colorize = Pix2PixTask(Pix2PixOptions(color_space="lab", image_size=image_size, ngf=4 if small else
                                          Recipe.color_ngf))
    paths = workdir / f"builtin_restore_{image_size}.pt", workdir / f"builtin_colorize_{image_size}.pt"
    save_checkpoint(paths[0], restore.nets["restorer"], {**restore.config(), "train": {}, "metrics": {}})
    save_checkpoint(paths[1], colorize.nets["generator"], {**colorize.config(), "train": {}, "metrics": {}})
    return paths


BUILTIN = register_family(Family(
    name="builtin", help="the bundled models: a scan-tile restorer and a Lab colorizer from scikit-image's photos, "
                         "exported, scored and carded (train/builtin.py)",
    add_options=add_options, train=train, checks=checks, default_batch=16,
    graph="revive.export.graph:PipelineGraph", random_checkpoint=random_pair, bench_name="builtin"))
