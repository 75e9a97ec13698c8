"""The PyTorch twin of ``revive.runtime.color``: the colour maths that must run on tensors.

Training (the colorizer fed by a frozen restorer) and the exported graphs use
these; the tests hold them to the numpy originals.
"""

from __future__ import annotations

import torch

from revive.runtime.color import RGB_FROM_XYZ, WHITE_D65

__all__ = ["gray_to_lightness", "lab_to_rgb"]

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
