"""The two-stage families: ``restore`` (inpaint damage + damage mask), ``colorize`` (gray -> RGB or ab) and
``two-stage`` (the restorer, then a colorizer on its outputs), EfficientNet-B3 U-Nets from
segmentation-models-pytorch.

The three share their options (each shows the ones it uses) and one runner
(train/two_stage.py: one split, one K-fold fold, or all folds). Checkpoints are
``restore`` and ``colorize`` models (family ``two_stage``); a restorer and a
colorizer export together as the fused ``pipeline`` graph.
"""

from __future__ import annotations

import argparse
import math
from functools import partial
from pathlib import Path
from typing import Any

from ._registry import Family, register_family

__all__ = ["COLORIZE", "PIPELINE", "RESTORE", "add_options"]

SMALL_DECODER = (32, 16, 16, 8, 8)  # random_checkpoint(small=True): a slim decoder on the real encoder


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
    from ..damage import parse_kinds

    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_options(p: argparse.ArgumentParser, stage: str) -> None:
    """Options of ``restore``, ``colorize`` and ``two-stage`` (each shows the ones it uses)."""
    from ..damage import DAMAGE_KINDS, DEFAULT_KINDS
    from ..models.smp_unet import DEFAULT_DECODER, DEFAULT_ENCODER
    from ..restore_task import RestoreOptions

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


def checks(args: argparse.Namespace) -> list[tuple[bool, str]]:
    weights = [getattr(args, name) for name in ("hole_weight", "mask_weight", "mask_pos_weight", "dice_weight",
                                                "gan_restore", "gan_color") if hasattr(args, name)]
    prior = getattr(args, "mask_prior", None)
    return [(args.folds >= 0, "--folds must be 0 (off) or at least 2"), (args.fold >= 0, "--fold must be 0 or more"),
            (all(math.isfinite(w) and w >= 0 for w in weights), "loss weights must be 0 or more"),
            (prior is None or 0 < prior < 1, f"--mask-prior {prior}: must be within (0, 1)")]


def train(args: argparse.Namespace, loop, world) -> str:
    from revive.runtime.errors import UsageError

    from ..colorize_task import ColorizeOptions
    from ..data import discover
    from ..restore_task import RestoreOptions
    from ..two_stage import Split, finite, run

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
    split = Split(val_fraction=args.val_fraction, folds=args.folds, fold=args.fold, cv=args.cv, seed=args.seed)
    result = run(stage, discover(args.data), split, loop, world, ropts, copts, getattr(args, "restorer", None),
                 args.damage)
    shown = finite(result) if "metrics" not in result else {
        k: f"{v['mean']:.4f} +- {v['std']:.4f}" for k, v in result["metrics"].items()}
    return f"run folder {loop.out_dir}; {shown}"


def _task(stage: str, image_size: int, color_space: str = "rgb", **options):
    if stage == "restore":
        from ..restore_task import RestoreOptions, RestoreTask

        return RestoreTask(RestoreOptions(image_size=image_size, encoder_weights=None, **options))
    from ..colorize_task import ColorizeOptions, ColorizeTask

    return ColorizeTask(ColorizeOptions(image_size=image_size, encoder_weights=None, color_space=color_space,
                                        **options))


def speed_task(stage: str, image_size: int, options: dict[str, Any]):
    return _task(stage, image_size, **({"encoder": options["encoder"]} if options.get("encoder") else {}))


def speed_batch(stage: str, n: int, size: int, seed: int = 0) -> dict[str, Any]:
    """The keys the restore (or colorize) ``train_step`` reads, with plausible values (RGB colour space)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    gray = torch.randint(0, 256, (n, 1, size, size), generator=g, dtype=torch.uint8)
    color = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    x = gray.float() / 127.5 - 1
    if stage == "restore":
        mask = (torch.rand(n, 1, size, size, generator=g) < 0.1).float()
        return {"input": x, "gray": gray, "mask": mask}
    return {"clean_input": x, "target": color}


def random_checkpoint(stage: str, workdir: Path, image_size: int = 256, small: bool = False,
                      stem: str = "") -> Path:
    """A random-weight restorer or colorizer with the config its task writes (random encoder: nothing is
    downloaded); ``small``: a slim decoder."""
    import torch

    from ..checkpoint import save_checkpoint

    torch.manual_seed(0)
    task = _task(stage, image_size, **({"decoder_channels": SMALL_DECODER} if small else {}))
    path = workdir / f"{stem or stage + '_random'}_{image_size}{'_small' if small else ''}.pt"
    save_checkpoint(path, task.nets[task.primary], {**task.config(), "train": {}, "metrics": {}})
    return path


def random_pair(workdir: Path, image_size: int = 256, small: bool = False) -> tuple[Path, Path]:
    return (random_checkpoint("restore", workdir, image_size, small, "restorer_random"),
            random_checkpoint("colorize", workdir, image_size, small, "colorizer_random"))


def _family(stage: str, help: str, **fields) -> Family:
    return register_family(Family(name=stage, help=help, add_options=partial(add_options, stage=stage), train=train,
                                  checks=checks, default_batch=8, onednn_on_cpu=False, **fields))


RESTORE = _family("restore", "restorer: EfficientNet-B3 U-Net inpainting polygon damage + damage mask",
                  checkpoint=("two_stage", "restore"), graph="revive.export.graph:RestoreGraph",
                  random_checkpoint=partial(random_checkpoint, "restore"),
                  speed_task=partial(speed_task, "restore"), speed_batch=partial(speed_batch, "restore"))
COLORIZE = _family("colorize", "colorizer: EfficientNet-B3 U-Net, gray -> RGB or ab",
                   checkpoint=("two_stage", "colorize"), graph="revive.export.graph:ColorizeGraph",
                   random_checkpoint=partial(random_checkpoint, "colorize"),
                   speed_task=partial(speed_task, "colorize"), speed_batch=partial(speed_batch, "colorize"))
PIPELINE = _family("two-stage", "restorer, then a colorizer on its outputs (OUT/restore, OUT/colorize)",
                   graph="revive.export.graph:PipelineGraph", random_checkpoint=random_pair, bench_name="pipeline")
