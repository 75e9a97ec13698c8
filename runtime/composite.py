"""Native-resolution output: the model's chroma, upsampled, on the input's own luminance.

The models see an S x S view of the photo; the user wants the photo back at its own
size and sharpness. Colour carries little detail, luminance carries nearly all of it,
so the model's RGB output is turned into Pillow's YCbCr, its Cb and Cr planes are
upsampled (bicubic) to the input's size, and merged with the input's full-size Y.

Why the output's luminance *is* the input's: Pillow's ``convert("L")`` is BT.601
luma (``L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16``), and the Y of Pillow's
YCbCr is the same BT.601 luma, so merging the input's gray as Y and converting back
to RGB gives a picture whose ``convert("L")`` is the input's gray, up to integer
rounding (+-1). The one place this fails is gamut clipping: a saturated chroma on a
very bright or very dark pixel asks for R, G or B outside 0..255, and clipping
changes the luma. Those pixels (found by comparing luma, usually none or a few) get
their chroma scaled down just enough to stay in gamut, which keeps their luma.
Everything else runs in Pillow's C code.

For restore models the composite is soft, the same rule the exported graphs use
(``restored = input + w * (reconstruction - input)``, ``w = mask_weight(p)``: 0 for a
damage probability ``p`` at or below ``SOFT_LOW``, 1 at or above ``SOFT_HIGH``, linear
between). A hard switch at p = 0.5 turns a small numeric difference (FP16, INT8) into a
whole-pixel flip and leaves a hard edge around every repair; the ramp does neither.

- The restorer ran at the input's own size (tiles): its ``restored`` already is the
  composite; it is taken where ``w > 0`` and the input's gray is kept exactly elsewhere
  (the tile blend's rounding never touches an undamaged pixel).
- It ran on a smaller view (``--tile off``, ``--max-side``): the restored gray and the mask
  are upsampled and blended, ``native + w(mask) * (restored - native)``.

At 16 bits (a deep input, composite16.py) the same rule keeps the scan's own 16 bits wherever the model
changed nothing.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops

__all__ = ["SOFT_HIGH", "SOFT_LOW", "apply_restore", "chroma_on_luma", "colorize_native", "fix_gamut", "mask_weight"]

# The soft composite's ramp on the damage probability (the graphs' twin: revive.train's restore_outputs).
SOFT_LOW, SOFT_HIGH = 0.35, 0.65
_BAND = 256  # rows per gamut-fixing band
_UP = Image.Resampling.BICUBIC
_LOW_U8 = int(SOFT_LOW * 255)  # mask values at or below this have weight 0
# Pillow's YCbCr -> RGB (ITU-R BT.601, full range): R, G, B = Y + a*Cb' + b*Cr'.
_CHROMA_TO_RGB = np.array([[0.0, 1.402], [-0.344136, -0.714136], [1.772, 0.0]], dtype=np.float32)


def mask_weight(mask: np.ndarray) -> np.ndarray:
    """uint8 damage mask (probability x 255) -> float32 blend weight in [0, 1] (the ramp above)."""
    p = np.asarray(mask, np.float32) / 255.0
    return np.clip((p - SOFT_LOW) / (SOFT_HIGH - SOFT_LOW), 0.0, 1.0)


def apply_restore(native: Image.Image, restored: np.ndarray, mask: np.ndarray) -> Image.Image:
    """Lay the restored gray on ``native`` with the soft composite (module docstring).

    ``restored`` and ``mask`` are uint8 H x W at any size: the model's S x S view, a tiled working copy
    (both upsampled to ``native``'s size first), or ``native``'s own size (used as they are).
    """
    size = native.size
    if mask.shape == (size[1], size[0]):
        touched = mask > _LOW_U8  # w > 0
        if not touched.any():
            return native
        out = np.array(native)
        out[touched] = restored[touched]
        return Image.fromarray(out, "L")
    mask_up = np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.BILINEAR))
    weight = mask_weight(mask_up)
    if not weight.any():
        return native
    restored_up = np.asarray(Image.fromarray(restored).resize(size, _UP), np.float32)
    base = np.asarray(native, np.float32)
    return Image.fromarray(np.clip(np.rint(base + weight * (restored_up - base)), 0, 255).astype(np.uint8), "L")


def colorize_native(luma: Image.Image, rgb_small: np.ndarray) -> Image.Image:
    """``luma`` (mode "L", any size) + model RGB (S x S x 3 uint8) -> RGB at ``luma``'s size."""
    _, cb, cr = Image.fromarray(rgb_small, "RGB").convert("YCbCr").split()
    return chroma_on_luma(luma, cb, cr)


def chroma_on_luma(luma: Image.Image, cb: Image.Image, cr: Image.Image) -> Image.Image:
    """``luma`` + chroma planes (mode "L", Pillow's YCbCr Cb and Cr, any size) -> RGB at ``luma``'s size.

    The chroma is upsampled and laid on the luminance as :func:`colorize_native` does; films call this with
    their temporally smoothed chroma (temporal.py).
    """
    size = luma.size
    ycc = Image.merge("YCbCr", (luma, cb.resize(size, _UP), cr.resize(size, _UP)))
    out = ycc.convert("RGB")
    drift = ImageChops.difference(out.convert("L"), luma)  # uint8 |luma drift|, in C: no 24-Mpx int16 copies
    if drift.getextrema()[1] <= 1:
        return out
    rgb = np.array(out)
    for top in range(0, size[1], _BAND):  # in bands: a random colorizer can push most of a scan out of gamut
        box = (0, top, size[0], min(top + _BAND, size[1]))
        bad = np.asarray(drift.crop(box)) > 1
        if bad.any():
            rgb[top:box[3]][bad] = fix_gamut(np.asarray(ycc.crop(box))[bad])
    return Image.fromarray(rgb, "RGB")


def fix_gamut(ycc: np.ndarray) -> np.ndarray:
    """K x 3 uint8 YCbCr -> K x 3 uint8 RGB with chroma scaled into gamut, luma kept."""
    y = ycc[:, 0:1].astype(np.float32)
    delta = (ycc[:, 1:3].astype(np.float32) - 128.0) @ _CHROMA_TO_RGB.T  # K x 3 offsets from Y
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(delta > 0, (255.0 - y) / delta, np.where(delta < 0, -y / delta, np.inf))
    scale = np.clip(room.min(axis=1, keepdims=True), 0.0, 1.0)
    return np.clip(np.rint(y + scale * delta), 0, 255).astype(np.uint8)
