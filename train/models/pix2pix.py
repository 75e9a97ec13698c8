"""pix2pix: the U-Net generator and the PatchGAN discriminator.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks"
(CVPR 2017). Built to match the official implementation's ``unet_256`` and
``basic`` (70x70, n_layers=3) networks layer for layer, so parameter counts
agree (54,413,955 for RGB->RGB; 2,768,705 for a 6-channel discriminator):
4x4 stride-2 convolutions, BatchNorm with convolution bias off, LeakyReLU 0.2
on the way down, ReLU on the way up, dropout 0.5 in the three innermost
512-channel decoder blocks, tanh at the end, weights drawn from N(0, 0.02).

One behaviour of the official code is kept on purpose: its in-place LeakyReLU
at the top of every inner block also rewrites the tensor that the skip
connection concatenates, so the skip carries the activated features. Here that
is written out explicitly instead of relying on in-place aliasing.
"""

from __future__ import annotations

import torch
from torch import nn

from ._registry import register_model

__all__ = ["PatchDiscriminator", "UnetGenerator", "init_normal", "patchgan", "pix2pix_unet"]


class UnetBlock(nn.Module):
    """One level of the U-Net: down, the inner levels, up, and the skip around them."""

    def __init__(self, outer_nc: int, inner_nc: int, in_nc: int | None = None, inner: nn.Module | None = None,
                 outermost: bool = False, dropout: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        in_nc = outer_nc if in_nc is None else in_nc
        innermost = inner is None
        self.act = nn.Identity() if outermost else nn.LeakyReLU(0.2)
        down: list[nn.Module] = [nn.Conv2d(in_nc, inner_nc, 4, 2, 1, bias=False)]
        if not (outermost or innermost):
            down.append(nn.BatchNorm2d(inner_nc))
        up_in = inner_nc if innermost else inner_nc * 2
        up: list[nn.Module] = [nn.ReLU()]
        if outermost:
            up += [nn.ConvTranspose2d(up_in, outer_nc, 4, 2, 1), nn.Tanh()]
        else:
            up += [nn.ConvTranspose2d(up_in, outer_nc, 4, 2, 1, bias=False), nn.BatchNorm2d(outer_nc)]
            if dropout:
                up.append(nn.Dropout(0.5))
        self.down = nn.Sequential(*down)
        self.inner = inner if inner is not None else nn.Identity()
        self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        y = self.up(self.inner(self.down(x)))
        return y if self.outermost else torch.cat([x, y], 1)


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` halvings: 8 for 256x256 (``unet_256``), 7 for 128x128."""

    def __init__(self, in_channels: int, out_channels: int, num_downs: int = 8, ngf: int = 64,
                 dropout: bool = True) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs={num_downs}: the pix2pix U-Net needs at least 5 down-samplings")
        self.num_downs = num_downs
        block = UnetBlock(ngf * 8, ngf * 8)
        for _ in range(num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, inner=block, dropout=dropout)
        block = UnetBlock(ngf * 4, ngf * 8, inner=block)
        block = UnetBlock(ngf * 2, ngf * 4, inner=block)
        block = UnetBlock(ngf, ngf * 2, inner=block)
        self.model = UnetBlock(out_channels, ngf, in_nc=in_channels, inner=block, outermost=True)

    @property
    def min_size(self) -> int:
        return 2**self.num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.min_size
        if x.shape[-1] % s or x.shape[-2] % s:
            raise ValueError(f"input {x.shape[-2]}x{x.shape[-1]}: this U-Net ({self.num_downs} down-samplings) "
                             f"needs sides that are multiples of {s}; resize or pad to {s}")
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: classifies overlapping patches (70x70 receptive field for n_layers=3) as real or fake."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=False),
                       nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_normal(module: nn.Module, std: float = 0.02) -> nn.Module:
    """The pix2pix initialisation: conv weights N(0, std), norm weights N(1, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module


@register_model
def pix2pix_unet(in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 dropout: bool = True) -> UnetGenerator:
    return init_normal(UnetGenerator(in_channels, out_channels, num_downs, ngf, dropout))


@register_model
def patchgan(in_channels: int = 6, ndf: int = 64, n_layers: int = 3) -> PatchDiscriminator:
    return init_normal(PatchDiscriminator(in_channels, ndf, n_layers))
