"""What an input carries besides its pixels, read once and written into each output format that can hold it.

Read (:func:`read_metadata`, on the page being decoded, before EXIF orientation is applied):

- DPI (JFIF, PNG pHYs, TIFF resolution; centimetres converted; 599.9988 from a PNG's pixels-per-metre read as 600);
- the ICC profile (and whether it is a gray one);
- EXIF: IFD0's descriptive tags (description, make, model, software, date, artist, copyright, ...) and the
  EXIF and GPS sub-IFDs, every tag kept; orientation set to 1, because the decoder turns the pixels. A TIFF's
  own structural tags (strips, sizes, compression) are not EXIF and are left behind;
- XMP (orientation in it set to 1 as well), IPTC-NAA (TIFF tag 33723, a JPEG's Photoshop APP13), PNG text.

Written: :func:`pillow_save_args` (PNG, JPEG, WebP through Pillow), :func:`png_chunks` (16-bit RGB PNGs, which
Pillow cannot write: the same chunks Pillow writes for the 8-bit picture), :func:`tiff_tags` and
:func:`add_exif_ifds` (TIFF through tifffile, which writes no EXIF sub-IFD itself), :func:`add_jpeg_iptc`
(Pillow writes no APP13). Colour outputs get an sRGB profile; gray outputs get the input's profile when it is a
gray one (their pixels are the input's own), none otherwise. What each format keeps: README, "Archival
fidelity".
"""

from __future__ import annotations

import io
import logging
import re
import struct
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image

__all__ = ["Metadata", "add_exif_ifds", "add_jpeg_iptc", "png_chunks", "pillow_save_args", "read_metadata",
           "srgb_profile", "srgb_tone", "tiff_tags"]

log = logging.getLogger(__name__)

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
# tifffile refuses to write the sub-IFD pointers; a placeholder one below each (same place in the sorted IFD)
# is written instead and renamed by add_exif_ifds.
_PLACEHOLDER = {EXIF_IFD: EXIF_IFD - 1, GPS_IFD: GPS_IFD - 1}
ORIENTATION = 0x0112
# IFD0 tags that describe the picture (TIFF 6 and EXIF share them); everything else in a TIFF's IFD0 is structure.
DESCRIPTIVE = (269, 270, 271, 272, 285, 305, 306, 315, 316, 33432)
_XMP_ORIENTATION = re.compile(rb'(tiff:Orientation(?:="|>))[1-8]')


@dataclass
class Metadata:
    """One picture's metadata (plain data: travels to Ray workers and back)."""

    dpi: tuple[float, float] | None = None
    icc: bytes | None = None
    icc_gray: bool = False  # the profile describes gray pixels (a gray output may carry it)
    ifd0: dict[int, str] = field(default_factory=dict)  # descriptive IFD0 tags
    exif_ifd: dict[int, object] = field(default_factory=dict)
    gps_ifd: dict[int, object] = field(default_factory=dict)
    xmp: bytes | None = None
    iptc: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)  # PNG text chunks

    def exif(self) -> Image.Exif | None:
        """The EXIF block for JPEG, PNG and WebP (orientation 1), or None when there is nothing to say."""
        if not (self.ifd0 or self.exif_ifd or self.gps_ifd):
            return None
        exif = Image.Exif()
        for tag, value in self.ifd0.items():
            exif[tag] = value
        exif[ORIENTATION] = 1
        for tag, values in ((EXIF_IFD, self.exif_ifd), (GPS_IFD, self.gps_ifd)):
            if values:
                exif.get_ifd(tag).update(values)
        return exif

    def output_icc(self, colour: bool) -> bytes | None:
        return srgb_profile() if colour else (self.icc if self.icc_gray else None)


def read_metadata(im: Image.Image) -> Metadata:
    """``im``'s metadata (the current page of a multi-page file), with orientation reset to 1."""
    info = im.info
    exif = im.getexif()
    turned = exif.get(ORIENTATION, 1) in (5, 6, 7, 8)
    meta = Metadata(dpi=_dpi(info.get("dpi"), turned))
    icc = info.get("icc_profile")
    if icc:
        meta.icc, meta.icc_gray = bytes(icc), _is_gray_profile(bytes(icc))
    meta.ifd0 = {t: v for t in DESCRIPTIVE if isinstance(v := exif.get(t), str) and v.strip("\0 ")}
    for tag, target in ((EXIF_IFD, meta.exif_ifd), (GPS_IFD, meta.gps_ifd)):
        try:
            target.update(_plain(exif.get_ifd(tag)))
        except Exception as exc:  # noqa: BLE001 - a broken sub-IFD loses its tags, not the picture
            log.info("EXIF sub-IFD %#x unreadable (%s); its tags are not carried", tag, exc)
    tags = getattr(im, "tag_v2", None)
    xmp = info.get("xmp") or (tags.get(700) if tags is not None else None)
    if xmp:
        meta.xmp = _XMP_ORIENTATION.sub(rb"\g<1>1", bytes(xmp) if not isinstance(xmp, str) else xmp.encode())
    iptc = tags.get(33723) if tags is not None else (info.get("photoshop") or {}).get(0x0404)
    if iptc:
        meta.iptc = bytes(iptc) if not isinstance(iptc, (tuple, list)) else struct.pack(f"{len(iptc)}B", *iptc)
    if im.format == "PNG":
        meta.text = {k: str(v) for k, v in getattr(im, "text", {}).items()
                     if k != "XML:com.adobe.xmp" and not k.startswith("Raw profile type")}
    return meta


def _dpi(dpi, turned: bool) -> tuple[float, float] | None:
    if not dpi or len(dpi) != 2:
        return None
    try:
        x, y = (round(float(v)) if abs(float(v) - round(float(v))) < 0.01 else round(float(v), 3) for v in dpi)
    except (TypeError, ValueError):
        return None
    if x <= 0 or y <= 0:
        return None
    return (y, x) if turned else (x, y)


def _plain(values: dict) -> dict:
    """A sub-IFD's tags as Pillow reads them, minus nested IFD offsets Pillow cannot rewrite as they are."""
    out = {}
    for tag, value in values.items():
        if isinstance(value, dict):
            out[tag] = _plain(value)
        elif tag != 0xA005:  # the interoperability IFD's bare offset (kept when Pillow read it as a dict)
            out[tag] = value
    return out


def _is_gray_profile(icc: bytes) -> bool:
    return len(icc) >= 20 and icc[16:20] == b"GRAY"


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """LittleCMS's sRGB profile (through Pillow's ImageCms), the one colour outputs carry.

    LittleCMS stamps a profile with the time it was made (and an MD5 of that): a fixed date and an ID of
    zeros ("not computed", as the ICC spec allows) make every process write the same bytes, so a file is
    the same file however it travelled (one process, Ray, revive-serve)."""
    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[24:36] = struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
    data[84:100] = bytes(16)
    return bytes(data)


@lru_cache(maxsize=16)
def srgb_tone(icc: bytes) -> np.ndarray | None:
    """A gray profile's tone curve into sRGB: uint8 level -> the sRGB level a colour-managed viewer shows
    (256 entries, LittleCMS on a ramp), or None when the profile is sRGB's own within a level or unreadable.

    The restored gray keeps the scan's pixels and its profile; a colour output is sRGB, so its luminance is
    the scan's put through this curve (interpolated at 16 bits)."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(source, ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile())),
                                            "L", "RGB")
        ramp = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(1, 256), "L")
        curve = np.asarray(ImageCms.applyTransform(ramp, transform))[0, :, 1]
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.info("gray profile unreadable (%s); gray levels taken as sRGB", exc)
        return None
    if np.abs(curve.astype(np.int16) - np.arange(256)).max() <= 1:
        return None
    return curve


# -- writing ---------------------------------------------------------------------------------------------


def pillow_save_args(meta: Metadata | None, fmt: str, colour: bool) -> dict:
    """Keyword arguments for ``Image.save`` in ``fmt`` (png, jpg, webp) carrying what that format holds."""
    if meta is None:
        return {"icc_profile": srgb_profile()} if colour else {}
    args: dict = {}
    icc = meta.output_icc(colour)
    if icc:
        args["icc_profile"] = icc
    if meta.dpi and fmt in ("png", "jpg"):
        args["dpi"] = meta.dpi
    exif = meta.exif()
    if exif is not None:
        args["exif"] = exif.tobytes()
    if fmt in ("jpg", "webp") and meta.xmp:
        args["xmp"] = meta.xmp
    if fmt == "png" and (meta.text or meta.xmp):
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in meta.text.items():
            if value.isascii():
                info.add_text(key, value)
            else:
                info.add_itxt(key, value)
        if meta.xmp:
            info.add_itxt("XML:com.adobe.xmp", meta.xmp.decode("utf-8", "replace"))
        args["pnginfo"] = info
    return args


def png_chunks(meta: Metadata | None, colour: bool) -> list[tuple[bytes, bytes]]:
    """The ancillary chunks Pillow writes for this metadata (iCCP, pHYs, eXIf, tEXt, iTXt), to go after IHDR."""
    buffer = io.BytesIO()
    Image.new("RGB" if colour else "L", (1, 1)).save(buffer, "PNG", **pillow_save_args(meta, "png", colour))
    data, at, chunks = buffer.getvalue(), 8, []
    while at < len(data):
        (length,), kind = struct.unpack(">I", data[at:at + 4]), data[at + 4:at + 8]
        if kind not in (b"IHDR", b"IDAT", b"IEND"):
            chunks.append((kind, data[at + 8:at + 8 + length]))
        at += 12 + length
    return chunks


def tiff_tags(meta: Metadata | None, colour: bool, sub_ifds: bool = True) -> list[tuple]:
    """tifffile ``extratags`` (code, dtype, count, value, writeonce): ICC, XMP, IPTC, IFD0's descriptive tags,
    and placeholders for the EXIF and GPS sub-IFD pointers that :func:`add_exif_ifds` fills in."""
    icc = meta.output_icc(colour) if meta is not None else srgb_profile() if colour else None
    tags: list[tuple] = []
    if icc:
        tags.append((34675, 7, len(icc), icc, True))
    if meta is None:
        return tags
    for code, value in meta.ifd0.items():
        if code != 270:  # tifffile writes the description itself (tiff_description)
            tags.append((code, 2, 0, value, True))
    if meta.xmp:
        tags.append((700, 1, len(meta.xmp), meta.xmp, True))
    if meta.iptc:
        tags.append((33723, 7, len(meta.iptc), meta.iptc, True))
    for code, values in ((EXIF_IFD, meta.exif_ifd), (GPS_IFD, meta.gps_ifd)):
        if values and sub_ifds:
            tags.append((_PLACEHOLDER[code], 4, 1, 0, True))
    return tags


def add_exif_ifds(handle, metas: list[Metadata | None]) -> None:
    """Append each page's EXIF and GPS sub-IFDs to the TIFF in ``handle`` (written by tifffile with
    :func:`tiff_tags`' placeholders) and point the placeholders at them."""
    import tifffile
    from PIL.TiffImagePlugin import ImageFileDirectory_v2

    wanted = [(i, code, values) for i, m in enumerate(metas) if m is not None
              for code, values in ((EXIF_IFD, m.exif_ifd), (GPS_IFD, m.gps_ifd)) if values]
    if not wanted:
        return
    handle.seek(0)
    tif = tifffile.TiffFile(handle)  # not closed: that would close the caller's handle
    order = tif.byteorder
    spots = {}
    for i, code, _ in wanted:
        tag = tif.pages[i].tags[_PLACEHOLDER[code]]
        spots[(i, code)] = tag.offset, tag.valueoffset
    prefix = b"II" if order == "<" else b"MM"
    for i, code, values in wanted:
        end = handle.seek(0, io.SEEK_END)
        if end % 2:
            handle.write(b"\0")
            end += 1
        ifd = ImageFileDirectory_v2(prefix + (b"\x2a\x00" if order == "<" else b"\x00\x2a") + b"\0" * 4, group=code)
        for tag, value in values.items():
            ifd[tag] = value
        handle.write(ifd.tobytes(end))
        entry, value = spots[(i, code)]
        handle.seek(entry)
        handle.write(struct.pack(order + "H", code))
        handle.seek(value)
        handle.write(struct.pack(order + "I", end))
    handle.seek(0, io.SEEK_END)


def add_jpeg_iptc(jpeg: bytes, iptc: bytes | None) -> bytes:
    """``jpeg`` with an APP13 Photoshop segment holding ``iptc`` after its APP0/APP1/APP2 segments."""
    if not iptc:
        return jpeg
    block = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(iptc)) + iptc
    if len(iptc) % 2:
        block += b"\0"
    body = b"Photoshop 3.0\0" + block
    if len(body) + 2 > 0xFFFF:
        log.info("IPTC block of %d bytes does not fit a JPEG segment; not carried", len(iptc))
        return jpeg
    at = 2
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF and 0xE0 <= jpeg[at + 1] <= 0xEF:
        at += 2 + struct.unpack(">H", jpeg[at + 2:at + 4])[0]
    return jpeg[:at] + b"\xff\xed" + struct.pack(">H", len(body) + 2) + body + jpeg[at:]
