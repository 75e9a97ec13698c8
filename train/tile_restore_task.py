"""Training the bundled restorer on scan tiles: a fill scored where the damage is, a mask scored as a region.

What ships is ``restore_outputs``' composite: the input where the mask is off, the reconstruction where it is
on. So the reconstruction only matters on (and just around) the damage, and there it is everything: the
L1 of the reconstruction is averaged over the damaged pixels, dilated by ``HOLE_DILATION`` px (the mask's own
edge blends there), not over the tile, where a few per cent of damaged pixels would weigh almost nothing.
An edge term (L1 of the horizontal and vertical differences, on the same pixels) asks the fill to continue
the picture's edges through a scratch instead of smearing them. ``keep_weight`` x the L1 over the whole tile
keeps the reconstruction equal to the input elsewhere, so a mask edge a pixel too wide costs nothing.

The mask: BCE with damaged pixels weighted ``mask_pos_weight`` plus soft Dice (train/restore_task.py), which
scores the damaged region whatever its share of the tile.

A false detection costs what filling it changes: nothing on a flat wall, a whole highlight on a saucer's rim
or a spoon (the bundled restorer's misses on the scan-like set were such thin bright curves and specks, far
from any damage). ``fill_cost_weight`` > 0 adds that cost to the mask loss: on pixels neither damaged nor
next to damage, ``softplus(logit)`` (the BCE of calling them clean) weighted by how far the pixel is from
the mean of its ``fill_cost_window`` neighbourhood (in units of ``_COST_UNIT`` levels, at most
``_COST_CAP``), which is about what a fill from the surroundings would change. The recipe offers it as an
optional second stage (train/builtin.py), off for the bundled restorer: README "Bundled models" says why.

Validation scores the exported composite (``restore_outputs``) against the target, on the figures the
benchmark reports (``revive-bench restore-quality``): mask IoU, the mean absolute error on the damaged region
and the mean change of the undamaged pixels; ``val_score`` = -(damaged MAE + 10 x undamaged change) picks
``best.pt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .loop import Precision, TrainTask, unwrap
from .models import create_model
from .models.smp_unet import restore_outputs
from .models.tile_unet import TILE_WIDTHS
from .restore_task import soft_dice_loss

__all__ = ["HOLE_DILATION", "TileRestoreOptions", "TileRestoreTask"]

HOLE_DILATION = 1  # px around the true damage that the fill loss also scores
_COST_UNIT = 32.0  # levels: a false detection this far from its surroundings weighs 1
_COST_CAP = 4.0


@dataclass
class TileRestoreOptions:
    tile: int = 128
    widths: tuple[int, ...] = TILE_WIDTHS
    context_blocks: int = 2
    morph_window: int = 15  # top-hat window of the network's extra inputs (train/models/tile_unet.py)
    lr: float = 2e-3
    keep_weight: float = 0.1
    edge_weight: float = 0.5
    mask_weight: float = 1.0
    mask_pos_weight: float = 2.0
    dice_weight: float = 1.0
    mask_prior: float = 0.03
    fill_cost_weight: float = 0.0  # 0: off (docstring)
    fill_cost_window: int = 7


def _dilate(mask: torch.Tensor, px: int) -> torch.Tensor:
    return F.max_pool2d(mask, 2 * px + 1, stride=1, padding=px) if px else mask


def _masked_mean(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (x * weight).sum() / weight.sum().clamp_min(1.0)


class TileRestoreTask(TrainTask):
    def __init__(self, opts: TileRestoreOptions) -> None:
        self.opts = opts
        self.model_kwargs = {"widths": list(opts.widths), "context_blocks": opts.context_blocks,
                             "morph_window": opts.morph_window}
        net = create_model("tile_unet_restorer", **self.model_kwargs)
        net.init_mask_bias(opts.mask_prior)
        super().__init__(nets={"restorer": net}, primary="restorer", best_metric="val_score",
                         optimizers={"restorer": torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=1e-4)})
        self.bce = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(float(opts.mask_pos_weight)))

    def losses(self, out: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        truth = batch["gray"].float() / 127.5 - 1.0
        mask = batch["mask"]
        recon, logit = out[:, :1].float(), out[:, 1:2].float()
        hole = _dilate(mask, HOLE_DILATION)
        error = (recon - truth).abs()
        fill = _masked_mean(error, hole)
        dx = ((recon[..., :, 1:] - recon[..., :, :-1]) - (truth[..., :, 1:] - truth[..., :, :-1])).abs()
        dy = ((recon[..., 1:, :] - recon[..., :-1, :]) - (truth[..., 1:, :] - truth[..., :-1, :])).abs()
        edge = _masked_mean(dx, hole[..., :, 1:]) + _masked_mean(dy, hole[..., 1:, :])
        bce = self.bce(logit, mask)
        dice = soft_dice_loss(torch.sigmoid(logit), mask)
        o = self.opts
        total = fill + o.edge_weight * edge + o.keep_weight * error.mean() + o.mask_weight * bce + o.dice_weight * dice
        losses = {"loss": total, "loss_fill": fill, "loss_edge": edge, "loss_mask": bce, "loss_dice": dice}
        if o.fill_cost_weight > 0:
            losses["loss_fill_cost"] = self._fill_cost(logit, batch["input"].float(), mask)
            losses["loss"] = total + o.fill_cost_weight * losses["loss_fill_cost"]
        return losses

    def _fill_cost(self, logit: torch.Tensor, picture: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over clean pixels (not damaged, not beside damage) of softplus(logit) x what a fill would change."""
        k = self.opts.fill_cost_window
        around = F.avg_pool2d(picture, k, stride=1, padding=k // 2, count_include_pad=False)
        cost = ((picture - around).abs() * (127.5 / _COST_UNIT)).clamp(max=_COST_CAP)  # picture is in -1..1
        clean = 1.0 - _dilate(mask, 1)
        return _masked_mean(F.softplus(logit) * cost, clean)

    def primary_input(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["input"]

    def train_step(self, batch: dict[str, torch.Tensor], precision: Precision) -> dict[str, torch.Tensor]:
        net, opt = self.nets["restorer"], self.optimizers["restorer"]
        with precision.autocast():
            out = net(batch["input"])
        losses = self.losses(out, batch)
        opt.zero_grad(set_to_none=True)
        precision.backward(losses["loss"])
        precision.step(opt)
        return {k: v.detach() for k, v in losses.items()}

    @torch.no_grad()
    def eval_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        out = unwrap(self.nets["restorer"])(batch["input"]).float()
        damaged = batch["damaged"].float()
        restored, mask_u8 = restore_outputs(out, damaged)
        truth, mask = batch["gray"].float(), batch["mask"] > 0.5
        changed = restored != damaged
        n = len(out)
        sums = {"count": float(n), "mask_iou": 0.0, "mae_damaged": 0.0, "mae_damaged_input": 0.0,
                "change_undamaged": 0.0, "score": 0.0, "loss": float(self.losses(out, batch)["loss"]) * n}
        for i in range(n):
            m, c = mask[i], changed[i]
            union = (m | c).sum()
            iou = float((m & c).sum() / union) if union else 1.0
            mae = float((restored[i] - truth[i]).abs()[m].mean()) if m.any() else 0.0
            mae_in = float((damaged[i] - truth[i]).abs()[m].mean()) if m.any() else 0.0
            change = float((restored[i] - damaged[i]).abs()[~m].mean()) if (~m).any() else 0.0
            sums["mask_iou"] += iou
            sums["mae_damaged"] += mae
            sums["mae_damaged_input"] += mae_in
            sums["change_undamaged"] += change
            sums["score"] += -(mae + 10.0 * change)
        return sums

    def config(self) -> dict[str, Any]:
        o = self.opts
        return {"task": "restore", "family": "two_stage", "architecture": "tile_unet_restorer",
                "model_kwargs": dict(self.model_kwargs), "color_space": "rgb",  # no colour: card field only
                "image_size": o.tile, "encoder_init": "random",
                "loss": {"fill_l1_on_damage_dilated_px": HOLE_DILATION, "edge_weight": o.edge_weight,
                         "keep_weight": o.keep_weight, "mask_weight": o.mask_weight,
                         "mask_pos_weight": o.mask_pos_weight, "dice_weight": o.dice_weight,
                         "mask_prior": o.mask_prior, "fill_cost_weight": o.fill_cost_weight,
                         "fill_cost_window": o.fill_cost_window},
                "optimizer": {"name": "adamw", "lr": o.lr, "weight_decay": 1e-4}}
