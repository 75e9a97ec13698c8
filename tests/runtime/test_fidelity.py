"""Archival fidelity (issue 21), end to end through runtime-infer on files the tests make: 16 bits kept, DPI,
ICC, EXIF, XMP and IPTC carried, orientation applied and reset, every page of a multi-page TIFF, name rules."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, IptcImagePlugin

from revive.runtime.cli import main
from revive.runtime.composite import SOFT_LOW

from .helpers import smooth

DATE = "1952:07:14 10:30:00"


def run(*args) -> int:
    return main([*map(str, args), "--no-progress"])


def ramp16(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A 16-bit gray with thousands of levels (a smooth scan plus fine grain that 8 bits cannot hold)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rng = np.random.default_rng(seed)
    base = 32768 + 24000 * np.sin(x / w * 5 + seed) * np.cos(y / h * 3)
    return np.clip(base + rng.normal(0, 60, (h, w)), 0, 65535).astype(np.uint16)


def read16(path: Path, page: int = 0) -> np.ndarray:
    """Every sample of a PNG or TIFF at its stored depth (Pillow reads 16-bit RGB at 8 bits)."""
    if path.suffix.lower() in (".tif", ".tiff"):
        return tifffile.imread(path, key=page)
    import png

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    return np.vstack([np.asarray(r, np.uint16 if info["bitdepth"] > 8 else np.uint8) for r in rows]) \
        .reshape(height, width, info["planes"]).squeeze()


def luma601(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def exif_of(im: Image.Image) -> tuple[dict, dict]:
    exif = im.getexif()
    return dict(exif), dict(exif.get_ifd(0x8769))


def archival_jpeg(path: Path) -> np.ndarray:
    """A gray JPEG at 300 dpi with an sRGB profile, EXIF orientation 6, a date, a scanner and XMP; returns the
    stored (unturned) pixels."""
    gray = np.asarray(Image.fromarray(smooth(40, 64)).convert("L"))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "ScanCo"
    exif[0x0132] = DATE
    exif.get_ifd(0x8769)[0x9003] = DATE
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"><tiff:Orientation>6' \
          b'</tiff:Orientation><dc:title xmlns:dc="http://purl.org/dc/elements/1.1/">Grandma</dc:title></x:xmpmeta>'
    Image.fromarray(gray).save(path, quality=98, dpi=(300, 300), exif=exif, xmp=xmp,
                               icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    return gray


# -- depth -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_in_gives_16_bit_colour_out_on_the_scans_own_luminance(tmp_path, tiny_onnx, suffix):
    deep = ramp16(48, 80)
    src = tmp_path / f"scan{suffix}"
    if suffix == ".png":
        Image.fromarray(deep).save(src)  # Pillow writes I;16 as a 16-bit gray PNG
    else:
        tifffile.imwrite(src, deep, photometric="minisblack", resolution=(600, 600), resolutionunit="INCH")
    assert run("--engine", tiny_onnx["rgb"], src, "-o", tmp_path / "out") == 0
    out = read16(tmp_path / "out" / src.name)
    assert out.dtype == np.uint16 and out.shape == (48, 80, 3)
    y = luma601(out)
    assert len(np.unique(np.rint(y))) > 256
    assert np.abs(y - deep).max() / 257 <= 1
    assert np.abs(y - deep).max() <= 1  # in fact within one 16-bit level


def test_8_bit_in_stays_8_bit_and_depth_16_widens_it(tmp_path, tiny_onnx):
    Image.fromarray(smooth(30, 40)).convert("L").save(tmp_path / "a.png")
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "a.png", "-o", tmp_path / "out") == 0
    assert read16(tmp_path / "out" / "a.png").dtype == np.uint8
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "a.png", "-o", tmp_path / "wide", "--depth", "16") == 0
    assert read16(tmp_path / "wide" / "a.png").dtype == np.uint16
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "a.png", "-o", tmp_path / "j", "--depth", "16",
               "--format", "jpg") == 2  # JPEG holds 8 bits: refused before any work


def test_restored_gray_keeps_the_scans_16_bits_outside_the_repairs(tmp_path, restore_onnx, tiny_onnx):
    deep = ramp16(64, 96, seed=1)
    tifffile.imwrite(tmp_path / "scan.tif", deep, photometric="minisblack")
    # --tile off: the fake restorer's mask is the left half of the whole picture.
    assert run("--fill", "model", "--engine", restore_onnx, "--engine", tiny_onnx["rgb"], tmp_path / "scan.tif", "-o",
               tmp_path / "out", "--save-restored", "--tile", "off") == 0
    restored = read16(tmp_path / "out" / "scan.restored.tif")
    assert restored.dtype == np.uint16
    # The mask, upsampled from the model's 32 px, is 0 right of the middle (plus the bilinear ramp's width).
    right = slice(56, None)
    assert np.array_equal(restored[:, right], deep[:, right])
    left = slice(0, 40)
    inverted = 65535 - deep[:, left].astype(np.int64)
    assert np.abs(restored[:, left].astype(np.int64) - inverted).mean() / 257 < 4
    colour = read16(tmp_path / "out" / "scan.tif")
    assert np.abs(luma601(colour) - restored).max() <= 1


def test_same_size_restore_moves_16_bits_by_the_models_change_only(tmp_path):
    from revive.runtime.composite16 import apply_restore16

    deep = ramp16(8, 8)
    native8 = ((deep.astype(np.uint32) + 128) // 257).astype(np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[:, :4] = 255
    restored = native8.copy()
    restored[:, :2] = 7  # the model repaired two columns and left the other two of the mask alone
    out = apply_restore16(deep, native8, restored, mask)
    assert np.array_equal(out[:, 2:], deep[:, 2:])  # untouched, and touched-but-unchanged, keep 16 bits
    expected = deep[:, :2].astype(np.int64) + 257 * (7 - native8[:, :2].astype(np.int64))
    assert np.array_equal(out[:, :2], np.clip(expected, 0, 65535))
    assert int(SOFT_LOW * 255) == 89  # the contract's threshold this relies on


def test_float_tiff_is_read_at_16_bits(tmp_path, tiny_onnx):
    values = np.linspace(0, 1, 30 * 50, dtype=np.float32).reshape(30, 50)
    tifffile.imwrite(tmp_path / "f.tif", values, photometric="minisblack")
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "f.tif", "-o", tmp_path / "out") == 0
    out = read16(tmp_path / "out" / "f.tif")
    assert out.dtype == np.uint16
    assert np.abs(luma601(out) - values * 65535).max() <= 1.5


# -- metadata ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jpg", "png", "tiff", "webp"])
def test_dpi_icc_exif_and_orientation_survive_every_format(tmp_path, tiny_onnx, fmt):
    stored = archival_jpeg(tmp_path / "scan.jpg")
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "scan.jpg", "-o", tmp_path / "out", "--format", fmt) == 0
    out = next(p for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    with Image.open(out) as im:
        assert im.size == (40, 64)  # orientation 6 applied: stored 64 x 40
        ifd0, sub = exif_of(im)
        assert ifd0.get(0x0112, 1) == 1 and ifd0[0x010F] == "ScanCo" and ifd0[0x0132] == DATE
        assert sub[0x9003] == DATE
        icc = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(icc)
        if fmt != "webp":  # WebP has no resolution field
            assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)
        xmp = im.info.get("xmp") or (im.tag_v2.get(700) if fmt == "tiff" else None)
        assert xmp and b"Grandma" in bytes(xmp) and b"<tiff:Orientation>1<" in bytes(xmp)
        turned = np.asarray(im.convert("L"), np.int16)
    assert np.abs(turned - np.rot90(stored, -1)).mean() < 3


def test_1200_dpi_png_and_png_text_are_kept(tmp_path, tiny_onnx):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Description", "Front of the print")
    info.add_itxt("Comment", "Großmutter, 1952")
    Image.fromarray(smooth(20, 30)).convert("L").save(tmp_path / "hi.png", dpi=(1200, 1200), pnginfo=info)
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "hi.png", "-o", tmp_path / "out", "--format", "tiff") == 0
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "hi.png", "-o", tmp_path / "out") == 0
    with Image.open(tmp_path / "out" / "hi.tif") as im:
        assert im.info["dpi"] == (1200, 1200)
    with Image.open(tmp_path / "out" / "hi.png") as im:
        assert tuple(round(v) for v in im.info["dpi"]) == (1200, 1200)
        assert im.text["Description"] == "Front of the print" and im.text["Comment"] == "Großmutter, 1952"


def test_16_bit_png_carries_the_same_metadata_as_8_bit(tmp_path, tiny_onnx):
    exif = Image.Exif()
    exif[0x0132] = DATE
    Image.fromarray(ramp16(20, 30)).save(tmp_path / "deep.png", dpi=(600, 600), exif=exif)
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "deep.png", "-o", tmp_path / "out") == 0
    assert read16(tmp_path / "out" / "deep.png").dtype == np.uint16
    with Image.open(tmp_path / "out" / "deep.png") as im:
        assert tuple(round(v) for v in im.info["dpi"]) == (600, 600)
        assert exif_of(im)[0][0x0132] == DATE and "icc_profile" in im.info


def test_tiff_iptc_and_exif_subifd_are_kept(tmp_path, tiny_onnx):
    iptc = b"\x1c\x02\x00\x00\x02\x00\x04\x1c\x02\x78\x00\x0bFamily trip"  # record version + caption
    extratags = [(33723, 7, len(iptc), iptc, True), (271, 2, 0, "ScanCo", True)]
    tifffile.imwrite(tmp_path / "scan.tif", ramp16(24, 32), photometric="minisblack", extratags=extratags)
    for fmt in ("tiff", "jpg"):
        assert run("--engine", tiny_onnx["rgb"], tmp_path / "scan.tif", "-o", tmp_path / fmt, "--format", fmt) == 0
        out = next(p for p in (tmp_path / fmt).iterdir() if not p.name.startswith("."))
        with Image.open(out) as im:
            assert IptcImagePlugin.getiptcinfo(im)[(2, 120)] == b"Family trip"
            assert exif_of(im)[0][0x010F] == "ScanCo"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = DATE
    Image.fromarray(smooth(20, 30)).save(tmp_path / "dated.jpg", exif=exif)
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "dated.jpg", "-o", tmp_path / "t", "--format", "tiff") == 0
    with tifffile.TiffFile(tmp_path / "t" / "dated.tif") as tif:
        assert tif.pages[0].tags["ExifTag"].value["DateTimeOriginal"] == DATE
    with Image.open(tmp_path / "t" / "dated.tif") as im:
        assert exif_of(im)[1][0x9003] == DATE


def test_keep_mtime(tmp_path, tiny_onnx):
    Image.fromarray(smooth(20, 30)).save(tmp_path / "old.png")
    os.utime(tmp_path / "old.png", (1_000_000_000, 1_000_000_000))
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "old.png", "-o", tmp_path / "out", "--keep-mtime") == 0
    assert os.stat(tmp_path / "out" / "old.png").st_mtime == 1_000_000_000
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "old.png", "-o", tmp_path / "now") == 0
    assert os.stat(tmp_path / "now" / "old.png").st_mtime > 1_000_000_000


# -- pages and names ---------------------------------------------------------------------------------------


def write_pages(path: Path, count: int, sizes=None) -> list[np.ndarray]:
    pages = [ramp16(*(sizes[i] if sizes else (30 + 4 * i, 40)), seed=i) for i in range(count)]
    with tifffile.TiffWriter(path) as tif:
        for i, page in enumerate(pages):
            tif.write(page, photometric="minisblack", resolution=(600, 600), resolutionunit="INCH",
                      extratags=[(285, 2, 0, f"side {i + 1}", True)])
    return pages


@pytest.mark.parametrize("count", [2, 3])
def test_every_page_of_a_multi_page_tiff_comes_back(tmp_path, restore_onnx, tiny_onnx, count):
    pages = write_pages(tmp_path / "album.tif", count)
    summary = tmp_path / "s.json"
    assert run("--engine", restore_onnx, "--engine", tiny_onnx["rgb"], tmp_path / "album.tif", "-o",
               tmp_path / "out", "--save-restored", "--summary", summary) == 0
    for name in ("album.tif", "album.restored.tif"):
        with tifffile.TiffFile(tmp_path / "out" / name) as tif:
            assert len(tif.pages) == count, name
            for i, page in enumerate(tif.pages):
                assert page.shape[:2] == pages[i].shape and page.dtype == np.uint16
                assert page.tags["PageName"].value == f"side {i + 1}"
    report = json.loads(summary.read_text())
    assert report["counts"]["written"] == count and report["files"][0]["status"] == "written"
    assert [p["status"] for p in report["files"][0]["pages"]] == ["written"] * count


def test_pages_to_another_format_are_files_of_their_own(tmp_path, tiny_onnx):
    pages = write_pages(tmp_path / "album.tif", 3)
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "album.tif", "-o", tmp_path / "out", "--format", "png") == 0
    for i, page in enumerate(pages):
        out = read16(tmp_path / "out" / f"album.p{i + 1}.png")
        assert out.shape[:2] == page.shape and np.abs(luma601(out) - page).max() <= 1


def test_a_failed_page_is_named_and_the_others_are_written(tmp_path, tiny_onnx):
    write_pages(tmp_path / "album.tif", 3, sizes=[(20, 20), (300, 300), (20, 24)])  # page 2 over --max-pixels
    summary = tmp_path / "s.json"
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "album.tif", "-o", tmp_path / "out",
               "--max-pixels", 50_000, "--summary", summary) == 1
    with tifffile.TiffFile(tmp_path / "out" / "album.tif") as tif:
        assert [p.shape for p in tif.pages] == [(20, 20, 3), (20, 24, 3)]
    report = json.loads(summary.read_text())
    entry = report["files"][0]
    assert entry["status"] == "failed" and entry["reason"].startswith("page 2: ")
    assert [p["status"] for p in entry["pages"]] == ["written", "failed", "written"]
    assert report["counts"] == {"written": 2, "skipped": 0, "failed": 1, "pending": 0}
    # A rerun sees the file as done: the one page that cannot be read is reported again only with --overwrite.


def test_tif_and_png_of_one_name_both_get_outputs(tmp_path, tiny_onnx):
    Image.fromarray(smooth(20, 30)).save(tmp_path / "photo.png")
    tifffile.imwrite(tmp_path / "photo.tif", ramp16(20, 30), photometric="minisblack")
    out = tmp_path / "out"
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "photo.png", tmp_path / "photo.tif", "-o", out) == 0
    assert {p.name for p in out.iterdir()} >= {"photo.png", "photo.tif"}  # auto: each keeps its container
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "photo.png", tmp_path / "photo.tif", "-o", out / "png",
               "--format", "png") == 0
    assert {p.name for p in (out / "png").iterdir() if not p.name.startswith(".")} == {"photo.png.png",
                                                                                       "photo.tif.png"}


# -- colour profiles ---------------------------------------------------------------------------------------


def icc_profile(space: bytes, gamma: float) -> bytes:
    """A minimal ICC v2 display profile: GRAY with one curve, or RGB with sRGB's primaries and ``gamma``
    curves (1.0: linear light, which no sRGB viewer shows as it is)."""
    import struct

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    text = b"revive test profile\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249))]
    if space == b"GRAY":
        tags.append((b"kTRC", curve))
    else:
        tags += [(b"rXYZ", xyz(0.4361, 0.2225, 0.0139)), (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
                 (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntr" + space.ljust(4)
              + b"XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + xyz(0.9642, 1.0, 0.8249)[8:]
              + b"\0" * 4 + b"\0" * 16 + b"\0" * 28)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def test_a_colour_profile_is_honoured_when_decoding(tmp_path, tiny_onnx):
    """An RGB scan in linear light: the model and the output see what a colour-managed viewer shows."""
    from revive.runtime.images import decode_gray

    level = np.full((24, 32, 3), 64, np.uint8)  # 25 % of linear light: about 137 in sRGB
    profile = icc_profile(b"RGB", 1.0)
    Image.fromarray(level).save(tmp_path / "linear.png", icc_profile=profile)
    Image.fromarray(level).save(tmp_path / "plain.png")
    assert np.asarray(decode_gray(tmp_path / "plain.png", None).native).mean() == 64
    seen = np.asarray(decode_gray(tmp_path / "linear.png", None).native).astype(float)
    assert abs(seen.mean() - 137) <= 2
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "linear.png", "-o", tmp_path / "out") == 0
    with Image.open(tmp_path / "out" / "linear.png") as im:
        assert abs(np.asarray(im.convert("L"), float).mean() - 137) <= 2
        assert "sRGB" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"])))


def test_the_restored_gray_keeps_the_inputs_gray_profile(tmp_path, restore_onnx, tiny_onnx):
    profile = icc_profile(b"GRAY", 1.8)
    ImageCms.ImageCmsProfile(io.BytesIO(profile))  # LittleCMS reads it
    deep = ramp16(32, 48)
    tifffile.imwrite(tmp_path / "scan.tif", deep, photometric="minisblack",
                     extratags=[(34675, 7, len(profile), profile, True)])
    assert run("--engine", restore_onnx, "--engine", tiny_onnx["rgb"], tmp_path / "scan.tif", "-o",
               tmp_path / "out", "--save-restored") == 0
    with Image.open(tmp_path / "out" / "scan.restored.tif") as im:
        assert im.info["icc_profile"] == profile
    with Image.open(tmp_path / "out" / "scan.tif") as im:
        assert im.info["icc_profile"] != profile and im.info["icc_profile"][16:20] == b"RGB "


def test_a_gray_profiles_tone_reaches_the_colour_output(tmp_path, tiny_onnx):
    """A gray scan in linear light (gamma 1.0 profile): the restored gray would keep its pixels; the sRGB
    colour output shows the levels a colour-managed viewer shows for them."""
    profile = icc_profile(b"GRAY", 1.0)
    for name, depth in (("eight.tif", np.uint8), ("deep.tif", np.uint16)):
        scale = 1 if depth is np.uint8 else 257
        tifffile.imwrite(tmp_path / name, np.full((20, 30), 64 * scale, depth), photometric="minisblack",
                         extratags=[(34675, 7, len(profile), profile, True)])
        assert run("--engine", tiny_onnx["rgb"], tmp_path / name, "-o", tmp_path / "out") == 0
        y = luma601(read16(tmp_path / "out" / name)) / scale
        assert abs(y.mean() - 137) <= 1.5, name  # 25 % linear light is sRGB level 137


def test_a_thumbnail_ifd_is_left_out_and_said_so(tmp_path, tiny_onnx, caplog):
    with tifffile.TiffWriter(tmp_path / "scan.tif") as tif:
        tif.write(ramp16(40, 60), photometric="minisblack")
        tif.write(ramp16(10, 15), photometric="minisblack", subfiletype=1)  # the scanner's preview
        tif.write(ramp16(40, 60, seed=2), photometric="minisblack")
    summary = tmp_path / "s.json"
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "scan.tif", "-o", tmp_path / "out", "--summary", summary) == 0
    with tifffile.TiffFile(tmp_path / "out" / "scan.tif") as tif:
        assert [p.shape for p in tif.pages] == [(40, 60, 3), (40, 60, 3)]
    entry = json.loads(summary.read_text())["files"][0]
    assert len(entry["pages"]) == 2 and "IFD 2" in entry["notes"][0] and "thumbnail" in entry["notes"][0]
    assert any("IFD 2" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_16_bit_colour_tiff_is_read_at_full_depth(tmp_path, tiny_onnx, planar):
    rgb = np.stack([ramp16(24, 36, seed=s) for s in range(3)], -1)
    stored = rgb if planar == "contig" else np.moveaxis(rgb, -1, 0)
    tifffile.imwrite(tmp_path / "colour.tif", stored, photometric="rgb", planarconfig=planar)
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "colour.tif", "-o", tmp_path / "out") == 0
    wide = rgb.astype(np.uint32)
    y = (wide[..., 0] * 19595 + wide[..., 1] * 38470 + wide[..., 2] * 7471 + 0x8000) >> 16
    out = read16(tmp_path / "out" / "colour.tif")
    assert out.dtype == np.uint16 and np.abs(luma601(out) - y).max() <= 1


def test_lzw_needs_its_extra_or_writes_lzw(tmp_path, tiny_onnx, capsys):
    import importlib.util

    Image.fromarray(smooth(20, 30)).save(tmp_path / "a.png")
    code = run("--engine", tiny_onnx["rgb"], tmp_path / "a.png", "-o", tmp_path / "out", "--format", "tiff",
               "--compression", "lzw")
    if importlib.util.find_spec("imagecodecs") is None:
        assert code == 2 and "revive[lzw]" in capsys.readouterr().err and not (tmp_path / "out").exists()
    else:
        assert code == 0
        with tifffile.TiffFile(tmp_path / "out" / "a.tif") as tif:
            assert tif.pages[0].compression == tifffile.COMPRESSION.LZW
