"""The soft composite and the native-resolution colour at 16 bits: a deep scan keeps its 16 bits.

The models see and return 8 bits. What a 16-bit output keeps of the scan:

- restore at the input's own size (tiles): where the composite took the restorer's gray (``mask > int(0.35 *
  255)``, composite.py) the output moves by the change the model made, ``native16 + 257 * (restored8 -
  native8)``; everywhere else it *is* ``native16``, bit for bit. A pixel the model left at its level keeps its
  16-bit value even inside a repair's mask.
- restore on a smaller view: ``native16 + w * (257 * restored_up - native16)``, ``w = mask_weight(mask_up)``.
- colour: the model's chroma (Cb, Cr of its RGB, upsampled) on the 16-bit luminance, BT.601 as in
  composite.py. Computed in floating point, so R, G, B round back to the luminance within 1/65535; pixels whose
  chroma would leave the RGB range get it scaled down just enough, which keeps their luminance (the 8-bit
  ``fix_gamut`` rule). Done in bands of rows: a 24-Mpx scan never needs a full-size float copy.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .composite import _CHROMA_TO_RGB, _LOW_U8, mask_weight

__all__ = ["apply_restore16", "colorize_native16"]

_BAND = 256
_UP = Image.Resampling.BICUBIC


def apply_restore16(native16: np.ndarray, native8: np.ndarray, restored: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint16 H x W: the 16-bit twin of :func:`~revive.runtime.composite.apply_restore`.

    ``native8`` is the gray the model saw (``native16`` rounded to 8 bits); ``restored`` and ``mask`` are uint8
    at ``native16``'s size (tiles) or any other (a smaller view, upsampled here).
    """
    h, w = native16.shape
    if mask.shape == (h, w):
        touched = mask > _LOW_U8
        if not touched.any():
            return native16
        out = native16.copy()
        change = restored[touched].astype(np.int32) - np.asarray(native8)[touched].astype(np.int32)
        out[touched] = np.clip(native16[touched].astype(np.int32) + 257 * change, 0, 65535).astype(np.uint16)
        return out
    weight = mask_weight(np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.BILINEAR)))
    if not weight.any():
        return native16
    restored_up = np.asarray(Image.fromarray(restored).resize((w, h), _UP), np.float32) * 257.0
    base = native16.astype(np.float32)
    return np.clip(np.rint(base + weight * (restored_up - base)), 0, 65535).astype(np.uint16)


def colorize_native16(luma16: np.ndarray, rgb_small: np.ndarray) -> np.ndarray:
    """uint16 luminance (H x W) + the model's RGB (S x S x 3 uint8) -> uint16 RGB H x W x 3."""
    h, w = luma16.shape
    _, cb, cr = Image.fromarray(rgb_small, "RGB").convert("YCbCr").split()
    chroma = [np.asarray(p.convert("F").resize((w, h), _UP), np.float32) for p in (cb, cr)]
    out = np.empty((h, w, 3), np.uint16)
    (_, cr_r), (cb_g, cr_g), (cb_b, _) = _CHROMA_TO_RGB * 257.0
    for top in range(0, h, _BAND):
        rows = slice(top, min(top + _BAND, h))
        y = luma16[rows].astype(np.float32)
        cb, cr = chroma[0][rows] - 128.0, chroma[1][rows] - 128.0
        delta = np.stack([cr_r * cr, cb_g * cb + cr_g * cr, cb_b * cb], -1)  # offsets from Y, 16-bit units
        rgb = y[..., None] + delta
        bad = ((rgb < 0) | (rgb > 65535)).any(-1)
        if bad.any():  # chroma scaled into gamut, luma kept (composite.fix_gamut at 16 bits)
            yb, db = y[bad][:, None], delta[bad]
            with np.errstate(divide="ignore", invalid="ignore"):
                room = np.where(db > 0, (65535.0 - yb) / db, np.where(db < 0, -yb / db, np.inf))
            rgb[bad] = yb + np.clip(room.min(axis=1, keepdims=True), 0.0, 1.0) * db
        np.rint(rgb, out=rgb)
        np.clip(rgb, 0, 65535, out=rgb)
        out[rows] = rgb
    return out
