"""The pix2pix family: the paper's U-Net generator and 70x70 PatchGAN, trained as a colorizer.

Checkpoints are ``colorize`` models (family ``pix2pix``), exported through the
colour graph; ``rgb`` mode feeds the gray replicated to three channels.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from ._registry import Family, register_family

__all__ = ["FAMILY"]


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=["rgb", "lab"], default="rgb",
                   help="rgb: gray x3 -> RGB; lab: L -> ab")
    p.add_argument("--image-size", type=int, default=256, help="square training size (a power of two)")
    p.add_argument("--ngf", type=int, default=64, help="generator base filters")
    p.add_argument("--ndf", type=int, default=64, help="discriminator base filters")
    p.add_argument("--lambda-l1", type=float, default=100.0)
    p.add_argument("--lr", type=float, default=2e-4)


def checks(args: argparse.Namespace) -> list[tuple[bool, str]]:
    return [(1 <= args.ngf <= 1024, f"--ngf {args.ngf}: must be within 1..1024"),
            (math.isfinite(args.lambda_l1) and args.lambda_l1 >= 0, "--lambda-l1 must be 0 or more")]


def train(args: argparse.Namespace, loop, world) -> str:
    import torch

    from ..data import discover, split_items
    from ..datasets import ColorizeDataset
    from ..loop import fit
    from ..pix2pix_task import Pix2PixOptions, Pix2PixTask

    train_items, val_items = split_items(discover(args.data), args.val_fraction, args.seed)
    torch.manual_seed(args.seed)  # the same initial weights for the same seed
    task = Pix2PixTask(Pix2PixOptions(color_space=args.mode, image_size=args.image_size, ngf=args.ngf,
                                      ndf=args.ndf, lambda_l1=args.lambda_l1, lr=args.lr))
    train_set = ColorizeDataset(train_items, args.image_size, args.mode, train=True, seed=args.seed)
    val_set = ColorizeDataset(val_items, args.image_size, args.mode, train=False, seed=args.seed)
    row = fit(task, train_set, val_set, loop, world)
    return (f"checkpoints in {loop.out_dir} (best.pt by validation PSNR, last.pt); last epoch "
            f"{ {k: round(v, 4) for k, v in row.items() if isinstance(v, float)} }")


def speed_task(image_size: int, options: dict[str, Any]):
    from ..pix2pix_task import Pix2PixOptions, Pix2PixTask

    return Pix2PixTask(Pix2PixOptions(image_size=image_size, ngf=options.get("ngf") or 64))


def speed_batch(n: int, size: int, seed: int = 0) -> dict[str, Any]:
    """What ``Pix2PixTask.train_step`` reads (rgb mode): the gray x3 and a colour target in [-1, 1]."""
    import torch

    g = torch.Generator().manual_seed(seed)
    gray = torch.randint(0, 256, (n, 1, size, size), generator=g, dtype=torch.uint8)
    color = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    return {"input": (gray.float() / 127.5 - 1).expand(-1, 3, -1, -1).contiguous(), "target": color}


def random_checkpoint(workdir: Path, image_size: int = 256, small: bool = False) -> Path:
    """The paper's unet_256 (54M parameters) in ``rgb`` mode with random weights; ``small``: ngf 8."""
    import torch

    from ..checkpoint import save_checkpoint
    from ..models import create_model
    from ..pix2pix_task import num_downs_for

    torch.manual_seed(0)
    kwargs = {"in_channels": 3, "out_channels": 3}
    if small:
        kwargs.update(num_downs=num_downs_for(image_size), ngf=8)
    net = create_model("pix2pix_unet", **kwargs)
    config = {"task": "colorize", "family": "pix2pix", "architecture": "pix2pix_unet", "model_kwargs": kwargs,
              "color_space": "rgb", "image_size": image_size, "train": {}, "metrics": {}}
    path = workdir / f"pix2pix_unet_random_{image_size}{'_small' if small else ''}.pt"
    save_checkpoint(path, net, config)
    return path


FAMILY = register_family(Family(
    name="pix2pix", help="pix2pix colorizer (U-Net generator + PatchGAN)", add_options=add_options, train=train,
    checks=checks, checkpoint=("pix2pix", "colorize"), graph="revive.export.graph:ColorizeGraph",
    random_checkpoint=random_checkpoint, speed_task=speed_task, speed_batch=speed_batch))
