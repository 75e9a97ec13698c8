"""pix2pix training: the D step, then the G step, as in the paper (the steps of train/adversarial.py).

D learns to tell (gray, real colour) from (gray, generated colour) patch by
patch with BCE-with-logits; G learns to fool D plus lambda * L1 to the truth
(lambda = 100). Adam 2e-4, betas (0.5, 0.999).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from revive.runtime.errors import UsageError
from revive.runtime import metrics

from . import adversarial
from .encoding import CHANNELS, decode_output
from .loop import Precision, TrainTask, unwrap
from .models import create_model

__all__ = ["Pix2PixOptions", "Pix2PixTask", "num_downs_for"]


@dataclass
class Pix2PixOptions:
    color_space: str = "rgb"
    image_size: int = 256
    ngf: int = 64
    ndf: int = 64
    lambda_l1: float = 100.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    extra: dict[str, Any] = field(default_factory=dict)


def num_downs_for(image_size: int) -> int:
    """8 halvings for 256 (the paper's unet_256), 7 for 128: the bottleneck is 1x1."""
    n = int(round(np.log2(image_size))) if image_size >= 32 else 0
    if 2**n != image_size or n < 5:
        raise UsageError(f"--image-size {image_size}: the pix2pix U-Net needs a power of two >= 32 "
                         "(256 as in the paper, 128 for quick runs)")
    return n


class Pix2PixTask(TrainTask):
    def __init__(self, opts: Pix2PixOptions) -> None:
        in_ch, out_ch = CHANNELS[opts.color_space]
        self.opts = opts
        self.model_kwargs = {"in_channels": in_ch, "out_channels": out_ch,
                             "num_downs": num_downs_for(opts.image_size), "ngf": opts.ngf}
        generator = create_model("pix2pix_unet", **self.model_kwargs)
        discriminator = create_model("patchgan", in_channels=in_ch + out_ch, ndf=opts.ndf)
        betas = (opts.beta1, opts.beta2)
        super().__init__(
            nets={"generator": generator, "discriminator": discriminator},
            optimizers={"generator": torch.optim.Adam(generator.parameters(), lr=opts.lr, betas=betas),
                        "discriminator": torch.optim.Adam(discriminator.parameters(), lr=opts.lr, betas=betas)},
        )

    def train_step(self, batch: dict[str, torch.Tensor], precision: Precision) -> dict[str, torch.Tensor]:
        G, D = self.nets["generator"], self.nets["discriminator"]
        x, y = batch["input"], batch["target"]
        with precision.autocast():
            fake = G(x)
        # D step: real pairs towards 1, generated pairs towards 0; then G step: fool the frozen D
        # and stay close to the truth (lambda x L1).

        def l1_terms() -> dict[str, torch.Tensor]:
            l1 = (fake.float() - y).abs().mean()
            return {"loss": self.opts.lambda_l1 * l1, "loss_g_l1": l1}

        terms = adversarial.d_then_g_step(self.optimizers["generator"], precision, l1_terms, D,
                                          self.optimizers["discriminator"], x, y, fake, gan_weight=1.0)
        return {k: terms[k] for k in ("loss_d", "loss_g_gan", "loss_g_l1")}

    def eval_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        G = unwrap(self.nets["generator"])
        out = G(batch["input"]).float()
        l1 = (out - batch["target"]).abs().mean(dim=(1, 2, 3))
        out, grays = out.cpu().numpy(), batch["gray"].cpu().numpy()
        truths = batch["color"].cpu().numpy().transpose(0, 2, 3, 1)
        sums = {"loss_l1": float(l1.sum()), "psnr": 0.0, "ssim": 0.0, "psnr_gray": 0.0, "count": float(len(out))}
        for o, g, t in zip(out, grays, truths):
            pred = decode_output(o, g[0], self.opts.color_space)
            sums["psnr"] += min(metrics.psnr(t, pred), 100.0)
            sums["ssim"] += metrics.ssim(t, pred)
            # The baseline a colorizer must beat: the gray input itself, as RGB.
            sums["psnr_gray"] += min(metrics.psnr(t, np.repeat(g[0][..., None], 3, axis=-1)), 100.0)
        return sums

    def config(self) -> dict[str, Any]:
        return {"task": "colorize", "family": "pix2pix", "architecture": "pix2pix_unet",
                "model_kwargs": dict(self.model_kwargs), "color_space": self.opts.color_space,
                "image_size": self.opts.image_size,
                "discriminator": {"architecture": "patchgan",
                                  "in_channels": sum(CHANNELS[self.opts.color_space]), "ndf": self.opts.ndf},
                "loss": {"gan": "bce_with_logits", "lambda_l1": self.opts.lambda_l1},
                "optimizer": {"name": "adam", "lr": self.opts.lr, "betas": [self.opts.beta1, self.opts.beta2]}}
