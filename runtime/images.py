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
Animated images (GIF, APNG, WebP) contribute their first frame; a multi-page TIFF is read page by page
(``page``), each page a picture of its own.

Depth: the models see 8 bits. With ``depth`` ``auto`` (a deep input: 16-bit gray or colour, 32-bit integer
beyond 8-bit levels, float) or ``16``, :class:`Decoded` also holds the picture's gray at 16 bits (``deep``;
an 8-bit input x 257 for ``16``), on which the output is composited (composite.py). 16-bit colour TIFFs and
PNGs, which Pillow reads at 8 bits, are read at full depth through tifffile and pypng. The 8-bit gray is the
16-bit one rounded, ``(v + 128) // 257``, the rule above.

Colour profiles: a colour input with an ICC profile other than sRGB is converted to sRGB (LittleCMS, through
Pillow's ImageCms) before it becomes gray, so the model sees what a viewer shows; a gray input keeps its own
pixels, and its gray profile goes on with them (metadata.py; its tone curve reaches the colour output in
render.py).
"""

from __future__ import annotations

import io
import logging
import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from .errors import UserError, describe
from .metadata import Metadata, read_metadata

__all__ = ["DEFAULT_MAX_PIXELS", "DecodeError", "Decoded", "decode_gray", "open_regular", "peek_pixels",
           "set_max_pixels", "tiff_pages", "to_gray"]

log = logging.getLogger(__name__)

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
    deep: np.ndarray | None = None  # uint16 H x W: the gray at 16 bits when the output is (native mode only)
    meta: Metadata | None = None  # what the input carries (DPI, ICC, EXIF, ...), for the outputs


def set_max_pixels(max_pixels: int | None) -> None:
    """Pillow's decompression-bomb limit (process-wide); ``None`` or 0 lifts it."""
    Image.MAX_IMAGE_PIXELS = max_pixels or None


def decode_gray(path: Path | bytes, image_size: int | None, *, keep_native: bool = True,
                max_pixels: int | None = DEFAULT_MAX_PIXELS, page: int = 0, depth: str = "8") -> Decoded:
    """Read ``path`` (a file, or an encoded file's bytes as a server receives them) as 8-bit gray at its
    own size and at the model's ``image_size`` (None: no S x S view); page ``page`` of a multi-page file.

    ``depth``: ``8`` (no 16-bit gray), ``auto`` (16-bit gray for deep inputs) or ``16`` (always).
    Raises :class:`DecodeError` with a one-line reason for anything unusable.
    """
    in_memory = isinstance(path, (bytes, bytearray, memoryview))
    try:
        with (io.BytesIO(path) if in_memory else open_regular(path)) as handle, Image.open(handle) as im:
            w, h = im.size
            if max_pixels and w * h > max_pixels:
                raise DecodeError(f"{w}x{h} = {w * h} pixels is over --max-pixels {max_pixels} "
                                  "(possible decompression bomb)")
            frames = getattr(im, "n_frames", 1)
            if page >= frames:
                raise DecodeError(f"has no page {page + 1} (it has {frames})")
            if frames > 1:
                im.seek(page)
                w, h = im.size
                if max_pixels and w * h > max_pixels:
                    raise DecodeError(f"{w}x{h} = {w * h} pixels is over --max-pixels {max_pixels} "
                                      "(possible decompression bomb)")
            meta = read_metadata(im)
            read_wide = _deep_colour(im) if keep_native and depth != "8" else None
            wide = None
            if read_wide is not None:
                wide = _orient(_samples_16(read_wide(handle, page)[..., :3]), im.getexif().get(0x0112, 1))
            im.load()
            gray, deep = _gray_and_deep(ImageOps.exif_transpose(im), wide, depth if keep_native else "8", meta)
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
    return Decoded(small, gray if keep_native else None, gray.size, deep, meta)


def peek_pixels(path: Path, page: int = 0) -> int:
    """Width x height of page ``page`` from the file's header without decoding it; 0 when it cannot be read."""
    try:
        with open_regular(path) as handle, Image.open(handle) as im:
            if page:
                im.seek(page)
            return im.width * im.height
    except Exception:  # noqa: BLE001 - decode_gray reports the reason; this is only a size estimate
        return 0


def tiff_pages(path: Path | bytes) -> tuple[list[int], list[int]]:
    """(the pages of a TIFF, its reduced-resolution thumbnails): IFD indexes, thumbnails being those whose
    NewSubfileType says "reduced-resolution version of another page" (what scanners and cameras add as a
    preview). ``([0], [])`` when the file cannot be read (decoding then reports why)."""
    pages, thumbnails = [], []
    try:
        with (io.BytesIO(path) if isinstance(path, bytes) else open_regular(path)) as handle, \
                Image.open(handle) as im:
            for index in range(max(1, getattr(im, "n_frames", 1))):
                im.seek(index)
                (thumbnails if int(im.tag_v2.get(254, 0)) & 1 else pages).append(index)
    except Exception:  # noqa: BLE001
        return [0], []
    if not pages:  # only "thumbnails": they are the pictures there are
        return thumbnails, []
    return pages, thumbnails


def open_regular(path: Path) -> BinaryIO:
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


def _deep_colour(im: Image.Image):
    """A reader of the page's 16-bit colour samples when Pillow would read them at 8 bits, else None."""
    if im.mode not in ("RGB", "RGBA") or not im.tile:
        return None
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        if max(bits if isinstance(bits, tuple) else (bits,)) <= 8:
            return None

        def read(handle, page):
            import tifffile

            handle.seek(0)
            with tifffile.TiffFile(handle, name="input.tif", _multifile=False) as tif:
                stored = tif.pages[page]
                samples = stored.asarray()
                # separate planes (PlanarConfiguration 2) come as S x Y x X: samples last, as Pillow has them
                return np.moveaxis(samples, 0, -1) if stored.axes.startswith("S") else samples
        return read
    if im.format == "PNG" and ";16" in str(im.tile[0].args):
        def read(handle, page):
            import png

            handle.seek(0)
            width, height, rows, info = png.Reader(file=handle).asDirect()
            planes = info["planes"]
            return np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(height, width, planes)
        return read
    return None


def _samples_16(a: np.ndarray) -> np.ndarray:
    """Colour samples of any depth at 16 bits: 16-bit as stored; float and wider integers by the rules of
    :func:`to_gray` (floats within [0, 1] as intensities, within [0, 255] as levels, else stretched)."""
    if a.dtype == np.uint16:
        return a
    f = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(f.min()), float(f.max())) if f.size else (0.0, 0.0)
    if a.dtype.kind == "f" and lo >= 0 and hi <= 1:
        f = f * 65535.0
    elif lo >= 0 and hi <= 255 and a.dtype.itemsize == 1:
        f = f * 257.0
    elif not (lo >= 0 and hi <= 65535) or a.dtype.kind == "f":
        f = (f - lo) * (65535.0 / (hi - lo)) if hi > lo else np.zeros_like(f)
    return np.clip(np.rint(f), 0, 65535).astype(np.uint16)


def _gray_and_deep(im: Image.Image, wide: np.ndarray | None, depth: str,
                   meta: Metadata) -> tuple[Image.Image, np.ndarray | None]:
    """(8-bit gray, 16-bit gray or None) of an EXIF-turned image; ``depth`` as :func:`decode_gray`'s."""
    if wide is not None:  # 16-bit colour, full depth: BT.601 with Pillow's integer weights, at 16 bits
        rgb = wide.astype(np.uint32)
        deep = ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint16)
        return _eight(deep), deep
    if depth != "8" and _is_deep(im):
        deep = _to_16(im)
        return _eight(deep), deep
    if im.mode not in ("L", "LA", "La", "1", "I;16", "I;16L", "I;16B", "I;16N", "I", "F") and meta.icc \
            and not meta.icc_gray:
        im = _to_srgb(im, meta.icc)
    gray = to_gray(im)
    if depth == "16":
        return gray, np.asarray(gray, np.uint16) * np.uint16(257)
    return gray, None


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """``a`` (the page as stored, H x W x C) turned as ``ImageOps.exif_transpose`` turns an image."""
    turns = {2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1], 4: lambda x: x[::-1],
             5: lambda x: x.swapaxes(0, 1), 6: lambda x: np.rot90(x, -1), 7: lambda x: x.swapaxes(0, 1)[::-1, ::-1],
             8: lambda x: np.rot90(x, 1)}
    return np.ascontiguousarray(turns[orientation](a)) if orientation in turns else a


def _is_deep(im: Image.Image) -> bool:
    if im.mode.startswith("I;16") or im.mode == "F":
        return True
    if im.mode == "I":
        lo, hi = im.getextrema()
        return hi > 255 or lo < 0
    return False


def _to_16(im: Image.Image) -> np.ndarray:
    """A deep gray image at 16 bits: the 8-bit rules of :func:`to_gray` with 65535 for 255."""
    if im.mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)
    a = np.asarray(im, dtype=np.float64)
    if im.mode == "F":
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo >= 0 and hi <= (1 if im.mode == "F" else 65535):
        scaled = a * 65535.0 if im.mode == "F" else a
    elif im.mode == "F" and lo >= 0 and hi <= 255:
        scaled = a * 257.0
    else:
        scaled = (a - lo) * (65535.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return np.clip(np.rint(scaled), 0, 65535).astype(np.uint16)


def _eight(deep: np.ndarray) -> Image.Image:
    return Image.fromarray(((deep.astype(np.uint32) + 128) // 257).astype(np.uint8), "L")


def _to_srgb(im: Image.Image, icc: bytes) -> Image.Image:
    """A colour image in its own profile -> sRGB RGB (LittleCMS); unchanged when the profile is sRGB already."""
    from PIL import ImageCms

    transform = _srgb_transform(icc, im.mode)
    if transform is None:
        return im
    try:
        return ImageCms.applyTransform(im if im.mode in ("RGB", "CMYK") else im.convert("RGB"), transform)
    except (ImageCms.PyCMSError, ValueError) as exc:
        log.info("colour profile not applied (%s)", exc)
        return im


@lru_cache(maxsize=16)
def _srgb_transform(icc: bytes, mode: str):
    from PIL import ImageCms

    from .metadata import srgb_profile

    src_mode = "CMYK" if mode == "CMYK" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(source, ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile())),
                                            src_mode, "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.info("colour profile unreadable (%s); pixels taken as sRGB", exc)
        return None
    if src_mode == "RGB":  # an sRGB profile (most JPEGs) changes nothing: skip the full-size transform
        probe = Image.fromarray(np.array(np.meshgrid(*[np.linspace(0, 255, 6)] * 3)).reshape(3, -1).T
                                .astype(np.uint8).reshape(1, -1, 3), "RGB")
        moved = np.abs(np.asarray(ImageCms.applyTransform(probe, transform), np.int16) - np.asarray(probe, np.int16))
        if moved.max() <= 1:
            return None
    return transform
