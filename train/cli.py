"""``revive-train``: train a model family. A thin layer over the library.

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

__all__ = ["build_parser", "entry", "main"]

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


def loop_options(args: argparse.Namespace, family: str):
    from .loop import LoopOptions

    epochs = args.epochs
    if epochs is None:
        epochs = (args.epochs_constant + args.epochs_decay) if args.epochs_constant is not None else 10
    return LoopOptions(out_dir=args.out or f"runs/{family}", epochs=epochs, epochs_decay=args.epochs_decay,
                       lr_schedule=args.lr_schedule, cycle_epochs=args.cycle_epochs, batch_size=args.batch_size,
                       max_steps=args.max_steps, seed=args.seed, amp=args.amp, channels_last=args.channels_last,
                       compile=args.compile, workers=args.workers, sync_bn=args.sync_bn, resume=args.resume,
                       overwrite=args.overwrite, bn_recal=args.bn_recal,
                       val_every=args.val_every)


def run_pix2pix(args: argparse.Namespace) -> int:
    import torch

    from .data import discover, split_items
    from .datasets import ColorizeDataset
    from .distributed import setup_world, teardown_world
    from .loop import check_run_folder, fit
    from .pix2pix_task import Pix2PixOptions, Pix2PixTask

    opts = loop_options(args, "pix2pix")
    check_run_folder(opts.out_dir, opts.resume, opts.overwrite)
    world = setup_world(args.device)
    try:
        train_items, val_items = split_items(discover(args.data), args.val_fraction, args.seed)
        torch.manual_seed(args.seed)  # the same initial weights for the same seed
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


def _score_weights(text: str):
    from revive.runtime.metrics import ScoreWeights

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or min(values) < 0 or sum(values) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give three non-negative weights SSIM,DAMAGED_SSIM,COLOR "
                                         "(e.g. 0.4,0.4,0.2)")
    return ScoreWeights(*values)


def _channels(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not 3 <= len(values) <= 5 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give three to five decoder widths, e.g. 256,128,64,32,16")
    return values


def _damage_kinds(text: str) -> tuple[str, ...]:
    from .damage import parse_kinds

    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_two_stage_options(p: argparse.ArgumentParser, stage: str) -> None:
    """Options of ``restore``, ``colorize`` and ``two-stage`` (each shows the ones it uses)."""
    from .damage import DAMAGE_KINDS, DEFAULT_KINDS
    from .models.smp_unet import DEFAULT_DECODER, DEFAULT_ENCODER
    from .restore_task import RestoreOptions

    g = p.add_argument_group("model")
    g.add_argument("--image-size", type=int, default=256, help="square training size (a multiple of 32)")
    g.add_argument("--encoder", default=DEFAULT_ENCODER, help="segmentation-models-pytorch encoder")
    g.add_argument("--encoder-weights", default="imagenet",
                   help="'imagenet' (loaded when cached or downloadable, else random, said in the log), "
                        "'none', or a .safetensors/.pth file of encoder weights")
    g.add_argument("--decoder-channels", type=_channels, default=DEFAULT_DECODER,
                   help="U-Net decoder widths, comma-separated, one per encoder stage: 5 values use the whole "
                        "encoder, 3 or 4 stop it after that many stages (cheaper; the demo's restorer uses 3)")
    g.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (betas 0.5, 0.999)")
    g.add_argument("--ndf", type=int, default=64, help="PatchGAN base filters (only with a GAN weight > 0)")
    if stage in ("restore", "two-stage"):
        g.add_argument("--hole-weight", type=float, default=6.0,
                       help="L1 weight of damaged pixels (undamaged pixels weigh 1)")
        g.add_argument("--mask-weight", type=float, default=1.0, help="weight of the damage-mask BCE")
        g.add_argument("--mask-pos-weight", type=float, default=RestoreOptions.mask_pos_weight,
                       help="BCE weight of a damaged pixel (clean pixels weigh 1)")
        g.add_argument("--dice-weight", type=float, default=RestoreOptions.dice_weight,
                       help="weight of the soft Dice loss on the damage mask (0 = off)")
        g.add_argument("--mask-prior", type=float, default=RestoreOptions.mask_prior, metavar="P",
                       help="start the mask head at damage probability P (e.g. 0.05) instead of 0.5")
        g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=RestoreOptions.augment,
                       help="train the restorer on rotated, mirrored and gamma-shifted views (default on; "
                            "train/restore_data.py)")
        g.add_argument("--gan-restore", type=float, default=0.0, metavar="W",
                       help="weight of the adversarial inpainting loss (0 = off)")
    if stage in ("colorize", "two-stage"):
        g.add_argument("--mode", choices=["rgb", "lab"], default="rgb", help="rgb: gray -> RGB; lab: L -> ab")
        g.add_argument("--gan-color", type=float, default=0.0, metavar="W",
                       help="weight of the adversarial colour loss (0 = off)")
        g.add_argument("--colorize-input", choices=["restored", "clean"],
                       default="restored" if stage == "two-stage" else "clean",
                       help="train the colorizer on the restorer's outputs or on the clean gray")
    g.add_argument("--damage", type=_damage_kinds, default=",".join(DEFAULT_KINDS), metavar="KIND,...",
                   help=f"synthetic damage kinds, from {','.join(DAMAGE_KINDS)} (ranges: train/damage.py; "
                        "fading and grain change every pixel and stay out of the mask)")
    if stage == "colorize":
        g.add_argument("--restorer", default=None, metavar="CKPT",
                       help="a trained restorer: --colorize-input restored feeds its outputs; "
                            "validation then scores the whole pipeline")
    e = p.add_argument_group("evaluation")
    e.add_argument("--score-weights", type=_score_weights, default="0.4,0.4,0.2", metavar="S,D,C",
                   help="weights of whole SSIM, damaged-region SSIM and HSV colour similarity in the score")
    e.add_argument("--folds", type=int, default=0, help="K-fold cross-validation: number of folds (0 = off)")
    e.add_argument("--fold", type=int, default=0, help="which fold validates (0..K-1)")
    e.add_argument("--cv", action="store_true", help="run every fold; writes OUT/cv_summary.json")


def run_two_stage_family(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .colorize_task import ColorizeOptions
    from .data import discover
    from .distributed import setup_world, teardown_world
    from .loop import check_run_folder
    from .restore_task import RestoreOptions
    from .two_stage import Split, finite, run

    stage = args.family
    weights = None if args.encoder_weights.lower() == "none" else args.encoder_weights
    common = dict(image_size=args.image_size, encoder=args.encoder, encoder_weights=weights,
                  decoder_channels=args.decoder_channels, ndf=args.ndf, lr=args.lr, score_weights=args.score_weights)
    ropts = copts = None
    if stage in ("restore", "two-stage"):
        ropts = RestoreOptions(**common, hole_weight=args.hole_weight, mask_weight=args.mask_weight,
                               mask_pos_weight=args.mask_pos_weight, dice_weight=args.dice_weight,
                               mask_prior=args.mask_prior, damage_kinds=args.damage, gan_weight=args.gan_restore,
                               augment=args.augment)
    if stage in ("colorize", "two-stage"):
        copts = ColorizeOptions(**common, color_space=args.mode, gan_weight=args.gan_color,
                                colorize_input=args.colorize_input)
    if stage == "colorize" and args.colorize_input == "restored" and not args.restorer:
        raise UsageError("--colorize-input restored needs --restorer CKPT (or use revive-train two-stage)")
    opts = loop_options(args, stage.replace("-", "_"))
    check_run_folder(opts.out_dir, opts.resume, opts.overwrite)
    world = setup_world(args.device)
    try:
        split = Split(val_fraction=args.val_fraction, folds=args.folds, fold=args.fold, cv=args.cv, seed=args.seed)
        result = run(stage, discover(args.data), split, replace(opts), world, ropts, copts,
                     getattr(args, "restorer", None), args.damage)
    finally:
        teardown_world(world)
    if world.is_main:
        shown = finite(result) if "metrics" not in result else {
            k: f"{v['mean']:.4f} +- {v['std']:.4f}" for k, v in result["metrics"].items()}
        log.info("done: run folder %s; %s", opts.out_dir, shown)
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
    for stage, text in (("restore", "restorer: EfficientNet-B3 U-Net inpainting polygon damage + damage mask"),
                        ("colorize", "colorizer: EfficientNet-B3 U-Net, gray -> RGB or ab"),
                        ("two-stage", "restorer, then a colorizer on its outputs (OUT/restore, OUT/colorize)")):
        p = sub.add_parser(stage, help=text, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        add_two_stage_options(p, stage)
        add_loop_options(p, default_batch=8)
        p.set_defaults(run=run_two_stage_family)
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
        (32 <= args.image_size <= MAX_IMAGE_SIZE, f"--image-size {args.image_size}: must be within "
                                                  f"32..{MAX_IMAGE_SIZE}"),
        (math.isfinite(args.lr) and args.lr > 0, f"--lr {args.lr}: must be a positive number"),
        (1 <= args.ndf <= 1024, f"--ndf {args.ndf}: must be within 1..1024"),
    ]
    if args.family == "pix2pix":
        checks += [(1 <= args.ngf <= 1024, f"--ngf {args.ngf}: must be within 1..1024"),
                   (math.isfinite(args.lambda_l1) and args.lambda_l1 >= 0, "--lambda-l1 must be 0 or more")]
    else:
        checks += [(args.folds >= 0, "--folds must be 0 (off) or at least 2"), (args.fold >= 0, "--fold must be 0 or more")]
        weights = [getattr(args, name) for name in ("hole_weight", "mask_weight", "mask_pos_weight", "dice_weight",
                                                    "gan_restore", "gan_color") if hasattr(args, name)]
        checks.append((all(math.isfinite(w) and w >= 0 for w in weights), "loss weights must be 0 or more"))
        prior = getattr(args, "mask_prior", None)
        checks.append((prior is None or 0 < prior < 1, f"--mask-prior {prior}: must be within (0, 1)"))
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
        return args.run(args)
    except UserError as exc:  # real bugs keep their tracebacks
        return report("revive-train", exc)
    except KeyboardInterrupt:
        print("revive-train: interrupted; the last finished epoch is in last.pt (continue with --resume)",
              file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())
