"""Decoding any picture a user may hold into 8-bit gray, and encoding results.

Every Pillow mode is brought to 8-bit gray ("L") the same way training sees it:

- ``L`` as is; ``LA``/``PA`` drop alpha (transparent pixels keep their gray); ``1`` is 0/255.
- ``RGB``, ``RGBA``, ``P``, ``CMYK``, ``YCbCr``, ... go through RGB, then Pillow's BT.601
  "L" conversion (``revive.runtime.color.rgb_to_gray`` computes the same numbers), so a
  colour photo is accepted and treated as the gray photo it would print as.
- 16-bit (``I;16*``) is scaled by its type's range, ``round(v * 255 / 65535)``, never
  clipped (Pillow's own ``convert("L")`` clips at 255, which turns most 16-bit scans white).
- ``I`` (32-bit integer) holds 8-bit data, 16-bit data (16-bit PNG/TIFF on older Pillow)
  or anything: values within 0..255 are taken as 8-bit, within 0..65535 scaled as 16-bit,
  anything else stretched from its minimum to its maximum.
- ``F`` (float TIFF): values within [0, 1] are taken as intensities (x 255), within
  [0, 255] as 8-bit levels, anything else stretched from minimum to maximum; NaN becomes 0.

EXIF orientation is applied first, so the output has the size a viewer shows.
Animated images (GIF, APNG, WebP) contribute their first frame.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from .errors import UserError, describe

__all__ = ["DEFAULT_MAX_PIXELS", "DecodeError", "Decoded", "decode_gray", "encode", "peek_pixels",
           "set_max_pixels", "to_gray"]

# Pillow's own default guard is ~89 Mpx; a 100 Mpx scan is still a photo, more is suspicious.
DEFAULT_MAX_PIXELS = 150_000_000
_RESAMPLE = Image.Resampling.BICUBIC


class DecodeError(UserError, ValueError):
    """A file that cannot be used as an input: the message is the reason shown to the user."""


@dataclass
class Decoded:
    """One decoded input: the model's S x S view and, in native mode, the full-size gray."""

    small: np.ndarray | None  # uint8 S x S, or None when no whole view was asked for (tiles)
    native: Image.Image | None  # mode "L" at the (EXIF-rotated) input size, or None in model-size mode
    size: tuple[int, int]  # (width, height) after EXIF rotation


def set_max_pixels(max_pixels: int | None) -> None:
    """Pillow's decompression-bomb limit (process-wide); ``None`` or 0 lifts it."""
    Image.MAX_IMAGE_PIXELS = max_pixels or None


def decode_gray(path: Path | bytes, image_size: int | None, *, keep_native: bool = True,
                max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Read ``path`` (a file, or an encoded file's bytes as a server receives them) as 8-bit gray at its
    own size and at the model's ``image_size`` (None: no S x S view).

    Raises :class:`DecodeError` with a one-line reason for anything unusable.
    """
    in_memory = isinstance(path, (bytes, bytearray, memoryview))
    try:
        with (io.BytesIO(path) if in_memory else _open_regular(path)) as handle, Image.open(handle) as im:
            w, h = im.size
            if max_pixels and w * h > max_pixels:
                raise DecodeError(f"{w}x{h} = {w * h} pixels is over --max-pixels {max_pixels} "
                                  "(possible decompression bomb)")
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
            gray = to_gray(ImageOps.exif_transpose(im))
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow refuses before the size check above can run (over twice its limit, which is --max-pixels).
        raise DecodeError(f"over --max-pixels {max_pixels or Image.MAX_IMAGE_PIXELS} (possible decompression "
                          "bomb; raise --max-pixels, or 0 for no limit)") from None
    except Image.UnidentifiedImageError:
        size = len(path) if in_memory else path.stat().st_size if path.exists() else 0
        raise DecodeError("empty file" if size == 0 else "not an image Pillow can read") from None
    except FileNotFoundError:
        raise DecodeError("file disappeared") from None
    except PermissionError:
        raise DecodeError("permission denied") from None
    except Exception as exc:  # corrupt files make decoders raise OSError, SyntaxError, EOFError, MemoryError...
        raise DecodeError(f"cannot decode: {describe(exc)}") from None
    if gray.width == 0 or gray.height == 0:
        raise DecodeError(f"image has no pixels ({gray.width}x{gray.height})")
    small = None if image_size is None else np.asarray(gray.resize((image_size, image_size), _RESAMPLE,
                                                                   reducing_gap=3.0))
    return Decoded(small, gray if keep_native else None, gray.size)


def peek_pixels(path: Path) -> int:
    """Width x height from the file's header without decoding it; 0 when the header cannot be read."""
    try:
        with _open_regular(path) as handle, Image.open(handle) as im:
            return im.width * im.height
    except Exception:  # noqa: BLE001 - decode_gray reports the reason; this is only a size estimate
        return 0


def _open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading without ever blocking: a FIFO or a device is refused, not read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens at once instead of waiting
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise DecodeError("not a regular file (a FIFO, device or socket)"
                              if not stat.S_ISDIR(mode) else "a folder, not a file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def to_gray(im: Image.Image) -> Image.Image:
    """Any Pillow image -> mode "L" (rules in the module docstring)."""
    mode = im.mode
    if mode == "L":
        return im
    if mode in ("LA", "La", "PA", "1"):
        return im.convert("L") if mode != "PA" else im.convert("RGB").convert("L")
    if mode.startswith("I;16"):
        a = np.asarray(im).astype(np.float32)
        return _from_float(a * (255.0 / 65535.0))
    if mode == "I":
        a = np.asarray(im).astype(np.float64)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo >= 0 and hi <= 255:
            return _from_float(a)
        if lo >= 0 and hi <= 65535:
            return _from_float(a * (255.0 / 65535.0))
        return _stretch(a)
    if mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo >= 0 and hi <= 1:
            return _from_float(a * 255.0)
        if lo >= 0 and hi <= 255:
            return _from_float(a)
        return _stretch(a)
    return im.convert("RGB").convert("L")


def _from_float(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")


def _stretch(a: np.ndarray) -> Image.Image:
    lo, hi = float(a.min()), float(a.max())
    return _from_float((a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a))


def encode(im: Image.Image, fmt: str, quality: int = 95) -> bytes:
    """PNG (lossless, fast zlib level) or JPEG bytes."""
    buffer = io.BytesIO()
    if fmt == "png":
        im.save(buffer, "PNG", compress_level=3)
    elif fmt == "jpg":
        im.save(buffer, "JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    return buffer.getvalue()
