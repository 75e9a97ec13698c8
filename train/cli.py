"""``revive-train``: train a model family. A thin layer over the library.

    revive-train pix2pix --mode lab --data sample --epochs 10 --image-size 256
    torchrun --nproc-per-node 4 -m revive.train pix2pix --data DIR ...
"""

from __future__ import annotations

import argparse
import logging
import sys

from .checkpoint import CheckpointError
from .data import DataError

__all__ = ["build_parser", "entry", "main"]

log = logging.getLogger("revive.train")


def add_loop_options(parser: argparse.ArgumentParser, default_batch: int = 32) -> None:
    g = parser.add_argument_group("training loop")
    g.add_argument("--data", default="sample",
                   help="'sample' (built in), a folder of colour images, or a folder with color/ and gray/")
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


def loop_options(args: argparse.Namespace, family: str):
    from .loop import LoopOptions

    epochs = args.epochs
    if epochs is None:
        epochs = (args.epochs_constant + args.epochs_decay) if args.epochs_constant is not None else 10
    return LoopOptions(out_dir=args.out or f"runs/{family}", epochs=epochs, epochs_decay=args.epochs_decay,
                       lr_schedule=args.lr_schedule, cycle_epochs=args.cycle_epochs, batch_size=args.batch_size,
                       max_steps=args.max_steps, seed=args.seed, amp=args.amp, channels_last=args.channels_last,
                       compile=args.compile, workers=args.workers, sync_bn=args.sync_bn, resume=args.resume)


def run_pix2pix(args: argparse.Namespace) -> int:
    from .data import discover, split_items
    from .datasets import ColorizeDataset
    from .distributed import setup_world, teardown_world
    from .loop import fit
    from .pix2pix_task import Pix2PixOptions, Pix2PixTask

    world = setup_world(args.device)
    try:
        train_items, val_items = split_items(discover(args.data), args.val_fraction, args.seed)
        opts = loop_options(args, "pix2pix")
        task = Pix2PixTask(Pix2PixOptions(color_space=args.mode, image_size=args.image_size, ngf=args.ngf,
                                          ndf=args.ndf, lambda_l1=args.lambda_l1, lr=args.lr))
        train_set = ColorizeDataset(train_items, args.image_size, args.mode, train=True, seed=args.seed)
        val_set = ColorizeDataset(val_items, args.image_size, args.mode, train=False, seed=args.seed)
        row = fit(task, train_set, val_set, opts, world)
    finally:
        teardown_world(world)
    if world.is_main:
        log.info("done: checkpoints in %s (best.pt by validation PSNR, last.pt); last epoch %s",
                 opts.out_dir, {k: round(v, 4) for k, v in row.items() if isinstance(v, float)})
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revive-train", description="Train revive's models.")
    sub = parser.add_subparsers(dest="family", required=True)
    p = sub.add_parser("pix2pix", help="pix2pix colorizer (U-Net generator + PatchGAN)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--mode", choices=["rgb", "lab"], default="rgb",
                   help="rgb: gray x3 -> RGB; lab: L -> ab")
    p.add_argument("--image-size", type=int, default=256, help="square training size (a power of two)")
    p.add_argument("--ngf", type=int, default=64, help="generator base filters")
    p.add_argument("--ndf", type=int, default=64, help="discriminator base filters")
    p.add_argument("--lambda-l1", type=float, default=100.0)
    p.add_argument("--lr", type=float, default=2e-4)
    add_loop_options(p)
    p.set_defaults(run=run_pix2pix)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return args.run(args)
    except (DataError, CheckpointError, ValueError) as exc:
        print(f"revive-train: {exc}", file=sys.stderr)
        return 2


def entry() -> None:
    sys.exit(main())
