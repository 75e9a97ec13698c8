"""The graphs revive exports: uint8 gray in, uint8 pictures out, all per-pixel work inside.

A wrapper holds the trained network(s) as submodules named ``net`` (or
``restorer``/``colorizer``) and does normalisation, channel replication, the
Lab->RGB tail and rounding in its own ``forward``. The FP16 converter relies on
that split: only nodes exported from inside a network submodule are turned to
FP16; the wrapper's own arithmetic stays FP32 (export/fp16.py).

The colour maths here is the PyTorch twin of ``revive.runtime.color``; the
tests hold the two together.
"""

from __future__ import annotations

import torch
from torch import nn

from revive.runtime.color import AB_SCALE, L_SCALE, RGB_FROM_XYZ, WHITE_D65

__all__ = ["ColorizeGraph", "NETWORK_SCOPES", "gray_to_lightness", "lab_to_rgb", "to_uint8"]

# Submodule names whose nodes make up the networks proper (converted to FP16).
NETWORK_SCOPES = ("net", "restorer", "colorizer")

_EPS = 0.008856
_KAPPA = 7.787


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c > 0.04045, ((c.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, c / 12.92)


def _linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c > 0.0031308, 1.055 * c.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * c)


def gray_to_lightness(gray01: torch.Tensor) -> torch.Tensor:
    """Gray in [0, 1] -> CIE L in [0, 100] (``revive.runtime.color.gray_to_lightness``)."""
    y = _srgb_to_linear(gray01)
    f = torch.where(y > _EPS, y.clamp(min=_EPS) ** (1 / 3), _KAPPA * y + 16 / 116)
    return 116.0 * f - 16.0


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W Lab -> RGB in [0, 1] (``revive.runtime.color.lab_to_rgb``)."""
    fy = (lab[:, 0:1] + 16.0) / 116.0
    fx = fy + lab[:, 1:2] / 500.0
    fz = (fy - lab[:, 2:3] / 200.0).clamp(min=0.0)
    f = torch.cat([fx, fy, fz], 1)
    xyz = torch.where(f > 6 / 29, f**3, (f - 16 / 116) / _KAPPA)
    white = torch.tensor(WHITE_D65, dtype=lab.dtype).view(1, 3, 1, 1)
    xyz = xyz * white
    m = torch.tensor(RGB_FROM_XYZ, dtype=lab.dtype)
    # A 3x3 colour matrix as broadcast multiply-adds: exports to plain Mul/Add on every backend.
    rgb = torch.cat([sum(m[i, j] * xyz[:, j:j + 1] for j in range(3)) for i in range(3)], 1)
    return _linear_to_srgb(rgb).clamp(0.0, 1.0)


def to_uint8(x255: torch.Tensor) -> torch.Tensor:
    """Values on a 0..255 scale -> uint8, rounded half to even and clipped."""
    return torch.round(x255).clamp(0.0, 255.0).to(torch.uint8)


class ColorizeGraph(nn.Module):
    """uint8 gray N x 1 x S x S -> uint8 RGB N x 3 x S x S around a colorization network.

    ``rgb`` networks see gray/127.5 - 1 replicated to 3 channels and return RGB in
    [-1, 1]; ``lab`` networks see L/50 - 1 and return ab/110.
    """

    def __init__(self, net: nn.Module, color_space: str) -> None:
        super().__init__()
        if color_space not in ("rgb", "lab"):
            raise ValueError(f"color_space must be 'rgb' or 'lab', not {color_space!r}")
        self.net = net
        self.color_space = color_space

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        g = gray.float()
        if self.color_space == "rgb":
            x = (g / 127.5 - 1.0).expand(-1, 3, -1, -1)
            return to_uint8((self.net(x).float() + 1.0) * 127.5)
        lightness = gray_to_lightness(g / 255.0)
        ab = self.net(lightness / L_SCALE - 1.0).float() * AB_SCALE
        return to_uint8(lab_to_rgb(torch.cat([lightness, ab], 1)) * 255.0)
