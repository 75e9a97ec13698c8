"""Colorizer training (the second stage): gray -> RGB or ab, EfficientNet-B3 U-Net.

The colorizer sees one channel: gray/127.5 - 1 in ``rgb`` mode, L/50 - 1 in
``lab`` mode (the encodings of train/encoding.py, without the 3-channel
replication the pix2pix RGB model takes). Loss = L1 to the encoded truth
+ ``gan_weight`` x a PatchGAN term judging the colours conditioned on the input.

Its input is either the clean gray (``colorize_input="clean"``) or what a
trained, frozen restorer makes of the damaged gray (``"restored"``: exactly the
picture the exported restore graph hands the colorizer, rounded to 0..255, so
the colorizer learns on what it will see). With a restorer, validation always
runs the whole pipeline (damaged -> restorer -> colorizer), whatever the
training input: that is the score of what ships. Metrics against the colour
truth: PSNR, SSIM (whole and true damaged region), HSV histogram similarity
and the combined score (revive.runtime.metrics); best checkpoint by ``val_score``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from revive.runtime.errors import UsageError
from revive.runtime import metrics
from revive.runtime.color import L_SCALE

from . import adversarial
from .color_torch import gray_to_lightness
from .encoding import CHANNELS, decode_output
from .loop import Precision, TrainTask, unwrap
from .models import create_model
from .models.smp_unet import restore_outputs
from .restore_task import check_image_size, net_init, ssim_terms
from .unet_options import UNetTaskOptions

__all__ = ["ColorizeOptions", "ColorizeTask", "encode_gray"]

def encode_gray(gray255: torch.Tensor, color_space: str) -> torch.Tensor:
    """Float gray 0..255 -> the colorizer's one-channel input (torch twin of ``encode_input(...)[:1]``)."""
    if color_space == "rgb":
        return gray255 / 127.5 - 1.0
    return gray_to_lightness(gray255 / 255.0) / L_SCALE - 1.0


@dataclass
class ColorizeOptions(UNetTaskOptions):
    color_space: str = "rgb"
    colorize_input: str = "clean"  # clean | restored (needs a restorer)
    restorer_info: dict[str, Any] = field(default_factory=dict)  # provenance for the config


class ColorizeTask(TrainTask):
    def __init__(self, opts: ColorizeOptions, restorer: nn.Module | None = None) -> None:
        check_image_size(opts.image_size)
        if opts.colorize_input not in ("clean", "restored"):
            raise UsageError(f"--colorize-input {opts.colorize_input!r}: choose clean or restored")
        if opts.colorize_input == "restored" and restorer is None:
            raise UsageError("--colorize-input restored needs a restorer checkpoint (--restorer CKPT)")
        self.opts = opts
        out_ch = CHANNELS[opts.color_space][1]
        self.model_kwargs = {"out_channels": out_ch, "encoder": opts.encoder,
                             "decoder_channels": list(opts.decoder_channels), "encoder_weights": None,
                             "in_channels": 1}
        net = create_model("smp_unet_colorizer", **{**self.model_kwargs, "encoder_weights": opts.encoder_weights})
        nets = {"colorizer": net}
        optimizers = {"colorizer": torch.optim.Adam(net.parameters(), lr=opts.lr, betas=opts.betas)}
        if opts.gan_weight > 0:
            nets["discriminator"], optimizers["discriminator"] = adversarial.build_discriminator(
                1 + out_ch, opts.ndf, opts.lr, opts.betas)
        super().__init__(nets=nets, optimizers=optimizers, primary="colorizer", best_metric="val_score")
        self.restorer = restorer.eval().requires_grad_(False) if restorer is not None else None

    @torch.no_grad()
    def restored_gray(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The frozen restorer's picture (float 0..255 integers), as the export graph computes it."""
        self.restorer.to(self.device)
        return restore_outputs(self.restorer(batch["input"]).float(), batch["damaged"].float())[0]

    @torch.no_grad()
    def primary_input(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.opts.colorize_input == "restored":
            return encode_gray(self.restored_gray(batch), self.opts.color_space)
        return batch["clean_input"]

    def train_step(self, batch: dict[str, torch.Tensor], precision: Precision) -> dict[str, torch.Tensor]:
        C, opt = self.nets["colorizer"], self.optimizers["colorizer"]
        x, y = self.primary_input(batch), batch["target"]
        with precision.autocast():
            fake = C(x)
        return adversarial.d_then_g_step(opt, precision, lambda: {"loss": (fake.float() - y).abs().mean()},
                                         self.nets.get("discriminator"), self.optimizers.get("discriminator"),
                                         x, y, fake, self.opts.gan_weight)

    @torch.no_grad()
    def eval_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        if self.restorer is not None:
            gray255 = self.restored_gray(batch)
            x = encode_gray(gray255, self.opts.color_space)
            grays = gray255.to(torch.uint8).cpu().numpy()[:, 0]
        else:
            x, grays = batch["clean_input"], batch["gray"].cpu().numpy()[:, 0]
        out = unwrap(self.nets["colorizer"])(x).float()
        l1 = (out - batch["target"]).abs().mean(dim=(1, 2, 3))
        truths = batch["color"].cpu().numpy().transpose(0, 2, 3, 1)
        masks = batch["mask"].cpu().numpy()[:, 0] > 0.5
        sums = {"loss": float(l1.sum()), "psnr": 0.0, "ssim": 0.0, "ssim_damaged": 0.0, "color": 0.0,
                "score": 0.0, "count": float(len(out))}
        for o, g, truth, mask in zip(out.cpu().numpy(), grays, truths, masks):
            pred = decode_output(o, g, self.opts.color_space)
            whole, region = ssim_terms(truth, pred, mask)
            colour = metrics.hsv_histogram_similarity(truth, pred)
            sums["psnr"] += min(metrics.psnr(truth, pred), 100.0)
            sums["ssim"] += whole
            sums["ssim_damaged"] += region
            sums["color"] += colour
            sums["score"] += metrics.restoration_score(whole, region, colour, self.opts.score_weights)
        return sums

    def config(self) -> dict[str, Any]:
        return {"task": "colorize", "family": "two_stage", "architecture": "smp_unet_colorizer",
                "model_kwargs": dict(self.model_kwargs), "color_space": self.opts.color_space,
                "image_size": self.opts.image_size, "encoder_init": net_init(self.nets["colorizer"]),
                "input_encoding": "1 channel: gray/127.5-1 (rgb) or L/50-1 (lab)",
                "colorize_input": self.opts.colorize_input, "restorer": dict(self.opts.restorer_info),
                "discriminator": {"architecture": "patchgan", "in_channels": 1 + self.model_kwargs["out_channels"],
                                  "ndf": self.opts.ndf} if self.opts.gan_weight > 0 else None,
                "loss": {"l1": 1.0, "gan_weight": self.opts.gan_weight},
                "score_weights": asdict(self.opts.score_weights),
                "optimizer": {"name": "adam", "lr": self.opts.lr, "betas": list(self.opts.betas)}}
