"""Encoding finished pictures: PNG, JPEG, WebP and TIFF (multi-page), at 8 or 16 bits, with their metadata.

Writers, chosen for what each can hold (measured: README, "Archival fidelity"):

- Pillow: 8-bit gray and RGB in every format, 16-bit gray PNG.
- pypng (pure Python, a base dependency): 16-bit RGB PNG, which Pillow cannot write. Rows go out unfiltered
  through zlib, the fastest of the writers measured; the metadata chunks are the ones Pillow writes for the
  same picture (metadata.png_chunks), so 8-bit and 16-bit PNGs carry the same things.
- tifffile (pure Python, a base dependency): every TIFF, pages appended one by one (:class:`TiffPages`),
  16 bits where the picture has them, Deflate (zlib level 3, as PNG) with the horizontal predictor by default
  (the predictor halves a 16-bit scan's file; level 3 is 1.6x faster than 6 for 2 % more), LZW (``--compression
  lzw``: tifffile encodes LZW through imagecodecs, ``pip install 'revive[lzw]'``) or none.

JPEG and WebP hold 8 bits: a 16-bit picture given to them is rounded, ``(v + 128) // 257``. Pictures are Pillow
images (8-bit ``L``/``RGB``) or uint16 arrays (H x W gray, H x W x 3 RGB). pypng and tifffile are imported
only when a 16-bit PNG or a TIFF is written.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image

from .errors import UserError
from .metadata import Metadata, add_exif_ifds, add_jpeg_iptc, pillow_save_args, png_chunks, tiff_tags

__all__ = ["COMPRESSIONS", "EncodeOptions", "TiffPages", "check_compression", "encode", "is_colour"]

log = logging.getLogger(__name__)
COMPRESSIONS = ("deflate", "lzw", "none")
_TIFFFILE_COMPRESSION = {"deflate": "adobe_deflate", "lzw": "lzw", "none": None}
_BIGTIFF_BYTES = 3_500_000_000  # raw bytes past which a TIFF is written as BigTIFF (classic TIFF stops at 4 GiB)


@dataclass(frozen=True)
class EncodeOptions:
    quality: int = 95  # JPEG and WebP (100: lossless WebP)
    compression: str = "deflate"  # TIFF: deflate, lzw or none


def check_compression(compression: str) -> None:
    """Refuse, before any work, a TIFF compression this install cannot write."""
    if compression not in COMPRESSIONS:
        raise UserError(f"--compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}")
    if compression == "lzw":
        import importlib.util

        if importlib.util.find_spec("imagecodecs") is None:
            raise UserError("--compression lzw: tifffile writes LZW through imagecodecs: pip install "
                            "'revive[lzw]' (or use --compression deflate, the default)")


def is_colour(picture) -> bool:
    return picture.mode == "RGB" if isinstance(picture, Image.Image) else picture.ndim == 3


def encode(picture, fmt: str, meta: Metadata | None = None, options: EncodeOptions = EncodeOptions()) -> bytes:
    """One picture as the bytes of a ``fmt`` file (png, jpg, webp, tiff) carrying ``meta``."""
    colour = is_colour(picture)
    if fmt == "tiff":
        buffer = io.BytesIO()
        pages = TiffPages(buffer, options)
        pages.add(picture, meta)
        pages.close()
        return buffer.getvalue()
    deep = isinstance(picture, np.ndarray)
    if deep and (fmt != "png" or colour):
        if fmt == "png":
            return _png16_rgb(picture, meta)
        picture = Image.fromarray(((picture.astype(np.uint32) + 128) // 257).astype(np.uint8))
    elif deep:
        picture = Image.fromarray(picture)  # 16-bit gray: Pillow's I;16 PNG
    args = pillow_save_args(meta, fmt, colour)
    buffer = io.BytesIO()
    if fmt == "png":
        picture.save(buffer, "PNG", compress_level=3, **args)
    elif fmt == "jpg":
        picture.save(buffer, "JPEG", quality=options.quality, subsampling=0 if options.quality >= 90 else 2, **args)
        return add_jpeg_iptc(buffer.getvalue(), meta.iptc if meta is not None else None)
    elif fmt == "webp":
        quality = {"lossless": True} if options.quality == 100 else {"quality": options.quality}
        picture.save(buffer, "WEBP", method=4, **quality, **args)
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    return buffer.getvalue()


def _png16_rgb(rgb: np.ndarray, meta: Metadata | None) -> bytes:
    import png

    h, w, _ = rgb.shape
    buffer = io.BytesIO()
    png.Writer(w, h, greyscale=False, bitdepth=16, compression=3).write(buffer, rgb.reshape(h, w * 3))
    chunks = list(png.Reader(bytes=buffer.getvalue()).chunks())
    out = io.BytesIO()
    png.write_chunks(out, [chunks[0], *png_chunks(meta, colour=True), *chunks[1:]])
    return out.getvalue()


class TiffPages:
    """A TIFF written page by page into ``handle`` (a file or a BytesIO); ``close`` finishes it.

    Each page keeps its own depth, DPI, profile and tags; EXIF and GPS sub-IFDs are appended at ``close``.
    """

    def __init__(self, handle: BinaryIO, options: EncodeOptions = EncodeOptions(), pages: int = 1) -> None:
        self.handle, self.options, self.pages = handle, options, pages
        self._writer = None
        self._metas: list[Metadata | None] = []

    def add(self, picture, meta: Metadata | None) -> None:
        import tifffile

        colour = is_colour(picture)
        array = np.asarray(picture)
        if self._writer is None:
            self._bigtiff = array.nbytes * self.pages > _BIGTIFF_BYTES
            self._writer = tifffile.TiffWriter(self.handle, bigtiff=self._bigtiff)
        compression = _TIFFFILE_COMPRESSION[self.options.compression]
        dpi = meta.dpi if meta is not None else None
        description = meta.ifd0.get(270) if meta is not None else None
        tags = tiff_tags(meta, colour, sub_ifds=not self._bigtiff)
        self._writer.write(array, photometric="rgb" if colour else "minisblack", compression=compression,
                           compressionargs={"level": 3} if compression == "adobe_deflate" else None,
                           predictor=compression is not None, resolution=dpi,
                           resolutionunit="INCH" if dpi else None, description=description, metadata=None,
                           software=False, extratags=tags, contiguous=False)
        self._metas.append(meta)

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        if self._bigtiff and any(m is not None and (m.exif_ifd or m.gps_ifd) for m in self._metas):
            log.warning("EXIF sub-IFDs are not written into a BigTIFF (over 4 GiB); IFD0's tags are")
            return
        add_exif_ifds(self.handle, self._metas)
