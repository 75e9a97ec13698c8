"""Restorer training: inpaint damage in a gray photo and say where the damage was.

Generator loss = hole-weighted L1 + ``mask_weight`` x BCE(damage logit, mask)
+ ``dice_weight`` x soft Dice(damage probability, mask) + ``gan_weight`` x
adversarial. The BCE can weigh damaged pixels ``mask_pos_weight`` times, and
``mask_prior`` starts the mask head at the damage share instead of 50 %
(benchmarks/results/cpu-2core/restorer_experiments.md measures what each does). The L1 is the mean over all pixels of
|reconstruction - clean gray| (both in [-1, 1]), each damaged pixel weighted
``hole_weight`` (default 6, the hole weight of Liu et al.'s partial-convolution
inpainting loss) and every other pixel 1: the network cannot score well by
copying its input. The adversarial term (off by default) is a PatchGAN judging
the reconstruction conditioned on the damaged input (train/adversarial.py).

Validation scores the picture the exported graph returns (``restore_outputs``:
the input where the predicted mask is off, the reconstruction where it is on)
against the clean gray: PSNR, SSIM on the whole image and on the true damaged
region, mask IoU, and the combined score (SSIM terms only: no colour here).
The best checkpoint is the one with the highest ``val_score``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from revive.runtime.errors import UsageError
from revive.runtime import metrics

from . import adversarial
from .damage import DEFAULT_KINDS
from .loop import Precision, TrainTask, unwrap
from .models import create_model
from .models.smp_unet import restore_outputs
from .unet_options import UNetTaskOptions

__all__ = ["RestoreOptions", "RestoreTask", "check_image_size", "net_init", "soft_dice_loss", "ssim_terms"]


@dataclass
class RestoreOptions(UNetTaskOptions):
    hole_weight: float = 6.0
    mask_weight: float = 1.0
    mask_pos_weight: float = 1.0  # BCE weight of a damaged pixel (undamaged pixels weigh 1)
    dice_weight: float = 0.0  # weight of the soft Dice loss on the mask probability
    mask_prior: float | None = None  # start the mask head at this damaged share (None: smp's init, logit ~0)
    damage_kinds: tuple[str, ...] = DEFAULT_KINDS  # train/damage.py
    augment: bool = True  # rotated, mirrored, gamma-shifted training views (train/restore_data.py)


def check_image_size(size: int) -> None:
    if size < 32 or size % 32:
        raise UsageError(f"--image-size {size}: the EfficientNet U-Net halves the image 5 times and needs a "
                         f"multiple of 32; use {max(32, round(size / 32) * 32)}")


def net_init(net: nn.Module) -> str:
    """What the encoder started from ('imagenet', a file, or 'random'), for the checkpoint's config."""
    return getattr(unwrap(net), "encoder_init", "random")


def soft_dice_loss(prob: torch.Tensor, mask: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per image, averaged: counts the damaged pixels found, whatever their share.

    BCE sums over pixels, so with damage on a few per cent of them "nothing is
    damaged" is a cheap minimum; Dice scores overlap with the damaged region
    itself (Milletari et al., V-Net, 2016). ``smooth`` keeps an undamaged image
    finite (it then asks for an empty prediction).
    """
    dims = (1, 2, 3)
    overlap = (prob * mask).sum(dims)
    return (1.0 - (2.0 * overlap + smooth) / (prob.sum(dims) + mask.sum(dims) + smooth)).mean()


def ssim_terms(truth: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Whole-image and damaged-region SSIM; an undamaged image scores its region SSIM as the whole."""
    whole = metrics.ssim(truth, pred)
    region = metrics.masked_ssim(truth, pred, mask) if mask.any() else whole
    return whole, region


class RestoreTask(TrainTask):
    def __init__(self, opts: RestoreOptions) -> None:
        check_image_size(opts.image_size)
        self.opts = opts
        self.model_kwargs = {"encoder": opts.encoder, "decoder_channels": list(opts.decoder_channels),
                             "encoder_weights": None}
        net = create_model("smp_unet_restorer", **{**self.model_kwargs, "encoder_weights": opts.encoder_weights})
        if opts.mask_prior is not None:
            net.init_mask_bias(opts.mask_prior)
        nets = {"restorer": net}
        optimizers = {"restorer": torch.optim.Adam(net.parameters(), lr=opts.lr, betas=opts.betas)}
        if opts.gan_weight > 0:
            nets["discriminator"], optimizers["discriminator"] = adversarial.build_discriminator(
                2, opts.ndf, opts.lr, opts.betas)
        super().__init__(nets=nets, optimizers=optimizers, primary="restorer", best_metric="val_score")
        self.bce = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(float(opts.mask_pos_weight)))

    def _losses(self, out: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        truth = batch["gray"].float() / 127.5 - 1.0
        mask = batch["mask"]
        weight = 1.0 + (self.opts.hole_weight - 1.0) * mask
        l1 = ((out[:, :1].float() - truth).abs() * weight).mean()
        logit = out[:, 1:2].float()
        bce = self.bce(logit, mask)
        losses = {"loss_l1": l1, "loss_mask": bce}
        total = l1 + self.opts.mask_weight * bce
        if self.opts.dice_weight > 0:
            losses["loss_dice"] = soft_dice_loss(torch.sigmoid(logit), mask)
            total = total + self.opts.dice_weight * losses["loss_dice"]
        return {**losses, "loss": total}

    def primary_input(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["input"]

    def train_step(self, batch: dict[str, torch.Tensor], precision: Precision) -> dict[str, torch.Tensor]:
        R, opt = self.nets["restorer"], self.optimizers["restorer"]
        x = batch["input"]
        with precision.autocast():
            out = R(x)
        truth = batch["gray"].float() / 127.5 - 1.0
        return adversarial.d_then_g_step(opt, precision, lambda: self._losses(out, batch),
                                         self.nets.get("discriminator"), self.optimizers.get("discriminator"),
                                         x, truth, out[:, :1], self.opts.gan_weight)

    @torch.no_grad()
    def eval_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        out = unwrap(self.nets["restorer"])(batch["input"]).float()
        losses = self._losses(out, batch)
        n = len(out)
        restored, mask_pred = restore_outputs(out, batch["damaged"].float())
        restored = restored.to(torch.uint8).cpu().numpy()[:, 0]
        mask_pred = mask_pred.cpu().numpy()[:, 0] >= 128
        truths, masks = batch["gray"].cpu().numpy()[:, 0], batch["mask"].cpu().numpy()[:, 0] > 0.5
        sums = {"loss": float(losses["loss"]) * n, "loss_l1": float(losses["loss_l1"]) * n, "psnr": 0.0,
                "ssim": 0.0, "ssim_damaged": 0.0, "mask_iou": 0.0, "score": 0.0, "count": float(n)}
        for truth, pred, mask, guess in zip(truths, restored, masks, mask_pred):
            whole, region = ssim_terms(truth, pred, mask)
            union = (mask | guess).sum()
            sums["psnr"] += min(metrics.psnr(truth, pred), 100.0)
            sums["ssim"] += whole
            sums["ssim_damaged"] += region
            sums["mask_iou"] += float((mask & guess).sum() / union) if union else 1.0
            sums["score"] += metrics.restoration_score(whole, region, math.nan, self.opts.score_weights)
        return sums

    def config(self) -> dict[str, Any]:
        return {"task": "restore", "family": "two_stage", "architecture": "smp_unet_restorer",
                "model_kwargs": dict(self.model_kwargs), "color_space": "rgb",  # no colour: card field only
                "image_size": self.opts.image_size, "encoder_init": net_init(self.nets["restorer"]),
                "discriminator": {"architecture": "patchgan", "in_channels": 2, "ndf": self.opts.ndf}
                if self.opts.gan_weight > 0 else None,
                "loss": {"hole_weight": self.opts.hole_weight, "mask_weight": self.opts.mask_weight,
                         "mask_pos_weight": self.opts.mask_pos_weight, "dice_weight": self.opts.dice_weight,
                         "mask_prior": self.opts.mask_prior, "gan_weight": self.opts.gan_weight},
                "damage": list(self.opts.damage_kinds), "augment": self.opts.augment,
                "score_weights": asdict(self.opts.score_weights),
                "optimizer": {"name": "adam", "lr": self.opts.lr, "betas": list(self.opts.betas)}}
