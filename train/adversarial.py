"""The adversarial steps every family shares: a conditional PatchGAN, as in pix2pix.

``d_step`` trains the discriminator on (condition, real) vs (condition, fake)
pairs with BCE-with-logits; ``g_loss`` is the generator's "fool D" term, with D
frozen and called unwrapped (so DistributedDataParallel expects no gradient for
it); ``generator_step`` is one generator update with it. pix2pix always trains
with it (weight 1, plus lambda x L1); the two-stage tasks weight ``g_loss`` by
``--gan-restore`` / ``--gan-color``, and at weight 0 build no discriminator at all.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .loop import Precision, unwrap
from .models import create_model

__all__ = ["build_discriminator", "d_step", "d_then_g_step", "g_loss", "generator_step"]

_BCE = nn.BCEWithLogitsLoss()


def build_discriminator(in_channels: int, ndf: int, lr: float, betas: tuple[float, float]
                        ) -> tuple[nn.Module, torch.optim.Optimizer]:
    net = create_model("patchgan", in_channels=in_channels, ndf=ndf)
    return net, torch.optim.Adam(net.parameters(), lr=lr, betas=betas)


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    return _BCE(logits.float(), torch.ones_like(logits.float()) if real else torch.zeros_like(logits.float()))


def d_step(D: nn.Module, opt: torch.optim.Optimizer, cond: torch.Tensor, real: torch.Tensor, fake: torch.Tensor,
           precision: Precision) -> torch.Tensor:
    for p in unwrap(D).parameters():
        p.requires_grad_(True)
    opt.zero_grad(set_to_none=True)
    with precision.autocast():
        loss = 0.5 * (_bce(D(torch.cat([cond, fake.detach()], 1)), False) + _bce(D(torch.cat([cond, real], 1)), True))
    precision.backward(loss)
    precision.step(opt)
    for p in unwrap(D).parameters():
        p.requires_grad_(False)
    return loss.detach()


def g_loss(D: nn.Module, cond: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return _bce(unwrap(D)(torch.cat([cond, fake], 1)), True)


def generator_step(opt: torch.optim.Optimizer, precision: Precision,
                   losses: Callable[[], dict[str, torch.Tensor]], D: nn.Module | None, cond: torch.Tensor,
                   fake: torch.Tensor, gan_weight: float) -> dict[str, torch.Tensor]:
    """One generator update: the task's losses (``"loss"`` is their total), plus ``gan_weight`` x
    ``g_loss`` when a discriminator is given. Returns every term detached."""
    opt.zero_grad(set_to_none=True)
    with precision.autocast():
        terms = losses()
        total = terms["loss"]
        if D is not None:
            terms["loss_g_gan"] = g_loss(D, cond, fake)
            total = total + gan_weight * terms["loss_g_gan"]
    precision.backward(total)
    precision.step(opt)
    return {k: v.detach() for k, v in terms.items()}


def d_then_g_step(opt: torch.optim.Optimizer, precision: Precision, losses: Callable[[], dict[str, torch.Tensor]],
                  D: nn.Module | None, opt_d: torch.optim.Optimizer | None, cond: torch.Tensor, real: torch.Tensor,
                  fake: torch.Tensor, gan_weight: float) -> dict[str, torch.Tensor]:
    """A family's whole update, as in the paper: the D step (``loss_d``) when there is a discriminator,
    then ``generator_step``. Returns every term detached."""
    result = {"loss_d": d_step(D, opt_d, cond, real, fake, precision)} if D is not None else {}
    return {**result, **generator_step(opt, precision, losses, D, cond, fake, gan_weight)}
