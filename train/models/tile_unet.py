"""A small U-Net made for the bundled models: cheap enough per pixel to restore scans tile by tile on a CPU.

The EfficientNet U-Nets of the two-stage family cost hundreds of thousands of multiply-adds per pixel;
restoring a 10-Mpx scan at its own resolution in seconds on two cores leaves a few thousand. So the
full-resolution levels are thin (they only need to see 1-4 px scratches and dust), the width grows as the
resolution falls, and the deepest level (1/8 or 1/16 of the tile) carries the context a fill of a 4-8 px
fold needs. Down-sampling is a strided 3x3 convolution, up-sampling a 1x1 convolution to four times the
narrower width folded into place by ``pixel_shuffle`` (DepthToSpace in ONNX: no Resize op, which ONNX
Runtime's CPU provider runs slowly), added to the skip connection, then a 3x3 convolution. BatchNorm after
every convolution (folded into it at export). No padding tricks: every size that is a multiple of
``2 ** (levels - 1)`` works.

- restorer: damaged gray (gray/127.5 - 1) -> the reconstructed gray in [-1, 1] (tanh) and a damage logit,
  the two channels ``restore_outputs`` (train/models/smp_unet.py) turns into the exported picture;
  with ``morph_window`` W > 0 the network also sees the picture's white and black top-hats over a W x W
  square (the picture less its grayscale opening, its closing less the picture): a scratch or a speck
  narrower than W stands out there whatever the picture around it, the cue classical dust removal
  thresholds, and the opening and closing are a first fill. Max-pooling makes them inside the graph
  (separable, ~4 W comparisons per pixel), so the runtime needs nothing new;
- colorizer: gray or L -> ``out_channels`` in [-1, 1] (tanh), as the two-stage colorizer.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._registry import register_model

__all__ = ["TILE_WIDTHS", "TileUNet", "macs_per_pixel", "tile_unet_colorizer", "tile_unet_restorer"]

TILE_WIDTHS = (16, 24, 48, 96)  # channels at full, 1/2, 1/4, 1/8 resolution


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Up(nn.Module):
    """Coarse features -> the finer level's width at twice the resolution (1x1 conv + pixel shuffle)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, 4 * cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.proj(x), 2)


class TileUNet(nn.Module):
    """Encoder of ``len(widths)`` levels (two 3x3 convolutions each; the deepest adds dilated ones for
    context), decoder of one 3x3 convolution per level on (upsampled + skip), a 3x3 head."""

    def __init__(self, in_channels: int, out_channels: int, mask_channel: bool,
                 widths: tuple[int, ...] = TILE_WIDTHS, context_blocks: int = 2, morph_window: int = 0) -> None:
        super().__init__()
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"widths {widths}: give at least two positive widths")
        if morph_window and (morph_window < 3 or morph_window % 2 == 0):
            raise ValueError(f"morph_window {morph_window}: 0 (off) or an odd size of at least 3")
        self.in_channels, self.out_channels, self.mask_channel = in_channels, out_channels, mask_channel
        self.widths, self.morph_window = tuple(widths), morph_window
        self.down = nn.ModuleList()
        previous = in_channels * (3 if morph_window else 1)
        for level, width in enumerate(widths):
            first = _conv(previous, width, stride=1 if level == 0 else 2)
            self.down.append(nn.Sequential(first, _conv(width, width)))
            previous = width
        self.context = nn.Sequential(*(_conv(widths[-1], widths[-1], dilation=2 ** (i + 1))
                                       for i in range(context_blocks)))
        self.up = nn.ModuleList(_Up(widths[i + 1], widths[i]) for i in reversed(range(len(widths) - 1)))
        self.fuse = nn.ModuleList(_conv(widths[i], widths[i]) for i in reversed(range(len(widths) - 1)))
        self.head = nn.Conv2d(widths[0], out_channels + int(mask_channel), 3, padding=1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    @property
    def min_size(self) -> int:
        return 2 ** (len(self.widths) - 1)

    def init_mask_bias(self, prior: float) -> None:
        """Start the mask logit at the damage share (see SmpUnet.init_mask_bias)."""
        if not self.mask_channel or not 0.0 < prior < 1.0:
            raise ValueError(f"mask prior {prior}: needs a mask channel and 0 < prior < 1")
        with torch.no_grad():
            self.head.bias[self.out_channels] = math.log(prior / (1.0 - prior))

    def _max(self, x: torch.Tensor) -> torch.Tensor:
        """Grayscale dilation over the W x W square, separably (max-pooling pads with -inf: borders are fine)."""
        w = self.morph_window
        x = F.max_pool2d(x, (1, w), stride=1, padding=(0, w // 2))
        return F.max_pool2d(x, (w, 1), stride=1, padding=(w // 2, 0))

    def top_hats(self, x: torch.Tensor) -> torch.Tensor:
        """(x - opening(x), closing(x) - x): bright and dark marks narrower than the window."""
        opening = self._max(-self._max(-x))
        closing = -self._max(-self._max(x))
        return torch.cat([x - opening, closing - x], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.morph_window:
            x = torch.cat([x, self.top_hats(x)], 1)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.context(x)
        for up, fuse, skip in zip(self.up, self.fuse, reversed(skips[:-1])):
            x = fuse(up(x) + skip)
        y = self.head(x)
        image = torch.tanh(y[:, :self.out_channels])
        return torch.cat([image, y[:, self.out_channels:]], 1) if self.mask_channel else image


def macs_per_pixel(net: nn.Module, size: int = 128) -> float:
    """Multiply-adds per input pixel of the convolutions (counted with forward hooks on one input)."""
    total = 0

    def count(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        k = module.weight[0].numel()  # cin / groups * kh * kw
        total += int(output.numel()) * k

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, getattr(net, "in_channels", 1), size, size))
    finally:
        for hook in hooks:
            hook.remove()
    return total / (size * size)


@register_model
def tile_unet_restorer(widths: list[int] | tuple[int, ...] = TILE_WIDTHS, context_blocks: int = 2,
                       morph_window: int = 0) -> TileUNet:
    return TileUNet(1, 1, True, tuple(widths), context_blocks, morph_window)


@register_model
def tile_unet_colorizer(out_channels: int = 2, widths: list[int] | tuple[int, ...] = TILE_WIDTHS,
                        context_blocks: int = 2, in_channels: int = 1) -> TileUNet:
    return TileUNet(in_channels, out_channels, False, tuple(widths), context_blocks)
