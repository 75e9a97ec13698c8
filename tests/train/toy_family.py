"""A throwaway model family, registered the way a new family is: this one module and its
``register_family`` line. The tests import it with the registries patched (tests/train/test_families.py).

``toy``: a two-convolution colorizer (gray -> RGB), trained with L1 on the built-in data
and exported through the colour graph every ``colorize`` checkpoint uses.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import nn

from revive.runtime import metrics
from revive.train.checkpoint import save_checkpoint
from revive.train.data import discover, split_items
from revive.train.datasets import ColorizeDataset
from revive.train.encoding import decode_output
from revive.train.families import Family, register_family
from revive.train.loop import Precision, TrainTask, fit, unwrap
from revive.train.models import create_model, register_model

__all__ = ["FAMILY", "ToyColorizer", "ToyTask"]


class ToyColorizer(nn.Module):
    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(width, 3, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register_model
def toy_colorizer(in_channels: int = 1, width: int = 4) -> ToyColorizer:
    return ToyColorizer(in_channels, width)


class ToyTask(TrainTask):
    def __init__(self, image_size: int, width: int, lr: float) -> None:
        self.image_size = image_size
        self.model_kwargs = {"in_channels": 1, "width": width}
        net = create_model("toy_colorizer", **self.model_kwargs)
        super().__init__(nets={"colorizer": net}, optimizers={"colorizer": torch.optim.Adam(net.parameters(), lr=lr)},
                         primary="colorizer")

    def train_step(self, batch: dict[str, torch.Tensor], precision: Precision) -> dict[str, torch.Tensor]:
        opt = self.optimizers["colorizer"]
        opt.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = (self.nets["colorizer"](batch["input"][:, :1]).float() - batch["target"]).abs().mean()
        precision.backward(loss)
        precision.step(opt)
        return {"loss_l1": loss.detach()}

    def eval_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        out = unwrap(self.nets["colorizer"])(batch["input"][:, :1]).float().cpu().numpy()
        grays, truths = batch["gray"].cpu().numpy(), batch["color"].cpu().numpy().transpose(0, 2, 3, 1)
        psnr = sum(min(metrics.psnr(t, decode_output(o, g[0], "rgb")), 100.0) for o, g, t in zip(out, grays, truths))
        return {"psnr": float(psnr), "count": float(len(out))}

    def config(self) -> dict[str, Any]:
        return {"task": "colorize", "family": "toy", "architecture": "toy_colorizer",
                "model_kwargs": dict(self.model_kwargs), "color_space": "rgb", "image_size": self.image_size}


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image-size", type=int, default=32, help="square training size")
    p.add_argument("--width", type=int, default=4, help="hidden channels")
    p.add_argument("--lr", type=float, default=1e-2)


def train(args: argparse.Namespace, loop, world) -> str:
    train_items, val_items = split_items(discover(args.data), args.val_fraction, args.seed)
    torch.manual_seed(args.seed)
    task = ToyTask(args.image_size, args.width, args.lr)
    row = fit(task, ColorizeDataset(train_items, args.image_size, "rgb", train=True, seed=args.seed),
              ColorizeDataset(val_items, args.image_size, "rgb", train=False, seed=args.seed), loop, world)
    return f"toy run in {loop.out_dir}, val PSNR {row.get('val_psnr', float('nan')):.2f}"


def random_checkpoint(workdir: Path, image_size: int = 32, small: bool = False) -> Path:
    torch.manual_seed(0)
    task = ToyTask(image_size, 4, 1e-2)
    path = workdir / f"toy_random_{image_size}.pt"
    save_checkpoint(path, task.nets["colorizer"], {**task.config(), "train": {}, "metrics": {}})
    return path


def speed_batch(n: int, size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"input": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
            "target": torch.rand(n, 3, size, size, generator=g) * 2 - 1}


FAMILY = register_family(Family(
    name="toy", help="a throwaway two-convolution colorizer", add_options=add_options, train=train,
    checkpoint=("toy", "colorize"), graph="revive.export.graph:ColorizeGraph", random_checkpoint=random_checkpoint,
    speed_task=lambda size, options: ToyTask(size, 4, 1e-2), speed_batch=speed_batch))
