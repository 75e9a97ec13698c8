"""Colour conversions and the normalisations models are trained with.

One implementation, used by the data loaders, the metrics, the runtime and the
tests (the exported graphs carry a PyTorch twin, checked against this one).
CIE Lab uses the D65 white point and the 2-degree observer, as scikit-image
does, so ``rgb_to_lab`` agrees with ``skimage.color.rgb2lab``.

Gray is ITU-R BT.601 luma computed with Pillow's integer weights, so a photo
converted here and one converted by ``Image.convert("L")`` are identical, and
that luma is exactly the Y of Pillow's YCbCr (used for native-resolution
compositing).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AB_SCALE",
    "L_SCALE",
    "RGB_FROM_XYZ",
    "XYZ_FROM_RGB",
    "WHITE_D65",
    "gray_to_lightness",
    "lab_to_rgb",
    "linear_to_srgb",
    "rgb_to_gray",
    "rgb_to_lab",
    "srgb_to_linear",
]

XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423],
     [0.212671, 0.715160, 0.072169],
     [0.019334, 0.119193, 0.950227]]
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
# Lab models see L/50 - 1 and predict ab/110, both in [-1, 1].
L_SCALE = 50.0
AB_SCALE = 110.0
_EPS = 0.008856  # (6/29)**3
_KAPPA = 7.787  # (29/6)**2 / 3


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> uint8 HxW with Pillow's BT.601 weights and rounding."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    y = rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000
    return (y >> 16).astype(np.uint8)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    return np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    return np.where(c > 0.0031308, 1.055 * np.power(np.maximum(c, 0.0031308), 1 / 2.4) - 0.055, 12.92 * c)


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPS, np.cbrt(t), _KAPPA * t + 16.0 / 116.0)


def _f_inv(t: np.ndarray) -> np.ndarray:
    return np.where(t > 6.0 / 29.0, t**3, (t - 16.0 / 116.0) / _KAPPA)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB (uint8, or float in [0, 1]) HxWx3 -> Lab float64 (L in [0, 100])."""
    rgb = np.asarray(rgb)
    rgb = rgb / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float64)
    xyz = srgb_to_linear(rgb) @ XYZ_FROM_RGB.T / WHITE_D65
    fx, fy, fz = (_f(xyz[..., i]) for i in range(3))
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab HxWx3 -> RGB float64 in [0, 1] (out-of-gamut colours clipped)."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = np.maximum(fy - lab[..., 2] / 200.0, 0.0)
    xyz = np.stack([_f_inv(fx), _f_inv(fy), _f_inv(fz)], axis=-1) * WHITE_D65
    return np.clip(linear_to_srgb(xyz @ RGB_FROM_XYZ.T), 0.0, 1.0)


def gray_to_lightness(gray: np.ndarray) -> np.ndarray:
    """uint8 gray -> CIE L of that neutral sRGB gray (what a Lab model sees as input)."""
    y = srgb_to_linear(np.asarray(gray, dtype=np.float64) / 255.0)
    return 116.0 * _f(y) - 16.0
