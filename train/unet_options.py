"""The options the two-stage U-Net tasks (restore, colorize) share: network, optimiser, adversarial term, score.

One base so a field both tasks read (and revive-train sets from one flag) is
declared once; each task's options add only what is its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from revive.runtime import metrics

from .models.smp_unet import DEFAULT_DECODER, DEFAULT_ENCODER

__all__ = ["UNetTaskOptions"]


@dataclass
class UNetTaskOptions:
    image_size: int = 256
    encoder: str = DEFAULT_ENCODER
    encoder_weights: str | None = "imagenet"
    decoder_channels: tuple[int, ...] = DEFAULT_DECODER
    gan_weight: float = 0.0  # weight of the adversarial term (0: no discriminator)
    ndf: int = 64  # discriminator width
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    score_weights: metrics.ScoreWeights = field(default_factory=metrics.ScoreWeights)
