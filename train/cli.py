"""``revive-train``: train a model family. A thin layer over the library.

One subcommand per registered family (train/families/): its options, its checks and its
run come from the registry; this module adds the training-loop flags they all share.

    revive-train pix2pix --mode lab --data sample --epochs 10 --image-size 256
    revive-train two-stage --data train.csv --image-size 256 --folds 5 --cv
    torchrun --nproc-per-node 4 -m revive.train pix2pix --data DIR ...
"""

from __future__ import annotations

import argparse
import logging
import math
import sys

from revive.runtime.card import DEFAULT_BATCH_SIZE
from revive.runtime.errors import UsageError, UserError, parse_args, report

__all__ = ["add_loop_options", "build_parser", "entry", "loop_options", "main", "run_family"]

log = logging.getLogger("revive.train")


def add_loop_options(parser: argparse.ArgumentParser, default_batch: int = DEFAULT_BATCH_SIZE) -> None:
    g = parser.add_argument_group("training loop")
    g.add_argument("--data", default="sample",
                   help="'sample' (built in), a folder of colour images, a folder with color/ and gray/, "
                        "or a CSV of (damaged gray, colour truth) pairs")
    g.add_argument("--out", default=None, help="run folder for checkpoints and curves (default runs/<family>)")
    g.add_argument("--epochs", type=int, default=None,
                   help="total epochs (default 10, or --epochs-constant + --epochs-decay)")
    g.add_argument("--epochs-constant", type=int, default=None,
                   help="epochs at the initial rate before a linear decay (official pix2pix: 100)")
    g.add_argument("--epochs-decay", type=int, default=0,
                   help="epochs over which the rate decays linearly to 0 (official pix2pix: 100)")
    g.add_argument("--lr-schedule", choices=["linear", "cosine", "cyclic"], default="linear",
                   help="linear: constant then linear decay; cosine: cosine annealing over all epochs; "
                        "cyclic: cosine with warm restarts every --cycle-epochs")
    g.add_argument("--cycle-epochs", type=int, default=10)
    g.add_argument("--batch-size", type=int, default=default_batch)
    g.add_argument("--max-steps", type=int, default=0, help="stop after N steps (smoke runs)")
    g.add_argument("--val-fraction", type=float, default=0.15, help="share of groups held out for validation")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    g.add_argument("--amp", choices=["auto", "bf16", "fp16", "off"], default="auto",
                   help="mixed precision on CUDA (auto: bf16 where supported, else fp16; off on CPU)")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels-last memory format (default: on for CUDA)")
    g.add_argument("--compile", action="store_true", help="torch.compile the networks")
    g.add_argument("--workers", type=int, default=-1, help="data-loader worker processes (-1: auto)")
    g.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across GPUs under torchrun")
    g.add_argument("--resume", default="", help="continue a run from its last.pt")
    g.add_argument("--overwrite", action="store_true",
                   help="start afresh in an --out folder that holds an earlier run, replacing its checkpoints "
                        "(without it, such a folder is refused)")
    g.add_argument("--val-every", type=int, default=1, metavar="N",
                   help="validate every N epochs and after the last (best.pt is chosen among those; default 1)")
    g.add_argument("--bn-recal", type=int, default=0, metavar="N",
                   help="before each validation and checkpoint, recompute the BatchNorm statistics of the trained "
                        "network over the epoch's last N batches (0: off; the restorer and colorizer support it)")


def loop_options(args: argparse.Namespace, run_folder: str):
    """The shared loop flags as LoopOptions; ``run_folder`` is the default ``--out``."""
    from .loop import LoopOptions

    epochs = args.epochs
    if epochs is None:
        epochs = (args.epochs_constant + args.epochs_decay) if args.epochs_constant is not None else 10
    return LoopOptions(out_dir=args.out or run_folder, epochs=epochs, epochs_decay=args.epochs_decay,
                       lr_schedule=args.lr_schedule, cycle_epochs=args.cycle_epochs, batch_size=args.batch_size,
                       max_steps=args.max_steps, seed=args.seed, amp=args.amp, channels_last=args.channels_last,
                       compile=args.compile, workers=args.workers, sync_bn=args.sync_bn, resume=args.resume,
                       overwrite=args.overwrite, bn_recal=args.bn_recal,
                       val_every=args.val_every)


def run_family(args: argparse.Namespace) -> int:
    """Train the family ``args.family`` names: run folder, processes, then the family's own ``train``."""
    from .distributed import setup_world, teardown_world
    from .families import get_family
    from .loop import check_run_folder

    family = get_family(args.family)
    opts = loop_options(args, family.run_folder)
    check_run_folder(opts.out_dir, opts.resume, opts.overwrite)
    world = setup_world(args.device)
    try:
        summary = family.train(args, opts, world)
    finally:
        teardown_world(world)
    if world.is_main:
        log.info("done: %s", summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .families import get_family, list_families

    parser = argparse.ArgumentParser(prog="revive-train", description="Train revive's models.")
    sub = parser.add_subparsers(dest="family", required=True)
    for name in list_families():
        family = get_family(name)
        p = sub.add_parser(name, help=family.help, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        family.add_options(p)
        add_loop_options(p, default_batch=family.default_batch)
    return parser


MAX_WORKERS = 64
MAX_IMAGE_SIZE = 8192


def check_args(args: argparse.Namespace) -> None:
    """Ranges argparse's types cannot say; a UsageError names the flag."""
    total = args.epochs if args.epochs is not None else (
        (args.epochs_constant + args.epochs_decay) if args.epochs_constant is not None else 10)
    checks = [
        (total >= 1, f"--epochs {total}: train for at least 1 epoch"),
        (args.epochs_constant is None or args.epochs_constant >= 0, "--epochs-constant must be 0 or more"),
        (args.epochs_decay >= 0, "--epochs-decay must be 0 or more"),
        (args.cycle_epochs >= 1, "--cycle-epochs must be at least 1"),
        (args.batch_size >= 1, "--batch-size must be at least 1"),
        (args.max_steps >= 0, "--max-steps must be 0 (no limit) or more"),
        (0 <= args.val_fraction < 1, f"--val-fraction {args.val_fraction}: must be within [0, 1)"),
        (-1 <= args.workers <= MAX_WORKERS, f"--workers {args.workers}: -1 (auto) or 0..{MAX_WORKERS}"),
    ]
    # The model flags most families share (a family without one simply does not have it).
    size, lr, ndf = (getattr(args, name, None) for name in ("image_size", "lr", "ndf"))
    checks += [
        (size is None or 32 <= size <= MAX_IMAGE_SIZE, f"--image-size {size}: must be within 32..{MAX_IMAGE_SIZE}"),
        (lr is None or (math.isfinite(lr) and lr > 0), f"--lr {lr}: must be a positive number"),
        (ndf is None or 1 <= ndf <= 1024, f"--ndf {ndf}: must be within 1..1024"),
    ]
    from .families import get_family

    checks += get_family(args.family).checks(args)
    problem = next((text for ok, text in checks if not ok), None)
    if problem:
        raise UsageError(problem)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        check_args(args)
        return run_family(args)
    except UserError as exc:  # real bugs keep their tracebacks
        return report("revive-train", exc)
    except KeyboardInterrupt:
        print("revive-train: interrupted; the last finished epoch is in last.pt (continue with --resume)",
              file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())
