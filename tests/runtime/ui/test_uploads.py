"""Uploads onto disk: names from someone else's machine, zips that climb out or unpack to too much."""

from __future__ import annotations

import io
import zipfile

import pytest

from revive.runtime.ui.uploads import UploadError, UploadTooLarge, safe_name, save_upload


@pytest.mark.parametrize("name, expected", [
    ("photo.jpg", "photo.jpg"),
    ("C:\\Users\\me\\scan 01.tif", "scan 01.tif"),
    ("../../etc/passwd", "passwd"),
    (".hidden.png", "hidden.png"),
    ("a\x00b:c*?.png", "a_b_c__.png"),
    ("", "photo"),
    ("..", "photo"),
    ("x" * 300 + ".png", "x" * 196 + ".png"),
])
def test_safe_name_keeps_one_harmless_component(name, expected):
    assert safe_name(name) == expected


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    buffer.seek(0)
    return buffer


def test_a_photo_is_saved_as_it_came(tmp_path):
    [upload] = save_upload("../me/scan.png", io.BytesIO(b"pixels"), tmp_path, 0)
    assert upload.name == "scan.png" and upload.path.read_bytes() == b"pixels"
    assert upload.path.is_relative_to(tmp_path)


def test_a_zip_unpacks_its_photos_only_each_in_its_own_folder(tmp_path):
    data = zipped({"box/a.png": b"1", "box/sub/a.png": b"2", "readme.txt": b"x", "../up.png": b"3",
                   "/abs.png": b"4", "__MACOSX/box/._a.png": b"5", "box/.thumb.jpg": b"6", "C:/win.png": b"7",
                   "BOX/B.TIF": b"8"})
    uploads = save_upload("family.zip", data, tmp_path, 0)
    assert [(u.name, u.path.read_bytes()) for u in uploads] == [("box/a.png", b"1"), ("box/sub/a.png", b"2"),
                                                               ("abs.png", b"4"), ("BOX/B.TIF", b"8")]
    assert len({u.path.parent for u in uploads}) == 4
    assert all(u.path.resolve().is_relative_to(tmp_path.resolve()) for u in uploads)


def test_a_zip_is_known_by_its_bytes_whatever_its_name(tmp_path):
    uploads = save_upload("download", zipped({"a.jpg": b"1"}), tmp_path, 0)
    assert [u.name for u in uploads] == ["a.jpg"]
    [kept] = save_upload("a.zip", zipped({"a.jpg": b"1"}), tmp_path / "raw", 0, unzip=False)
    assert kept.name == "a.zip" and zipfile.is_zipfile(kept.path)


def test_limits_bound_the_upload_and_the_unpacked_zip(tmp_path):
    with pytest.raises(UploadTooLarge, match="scan.png: larger than the upload limit of 0.0 MB"):
        save_upload("scan.png", io.BytesIO(b"x" * 11), tmp_path, 10)
    bomb = zipped({"a.png": b"\0" * 5000, "b.png": b"\0" * 5000}, zipfile.ZIP_DEFLATED)
    assert len(bomb.getvalue()) < 1000
    with pytest.raises(UploadTooLarge, match="unpack to 0.0 MB, over the upload limit"):
        save_upload("bomb.zip", bomb, tmp_path, 9000)


@pytest.mark.parametrize("members, match", [(None, "not a readable zip"), ({"a.txt": b"1"}, "no photos inside")])
def test_a_zip_refused_whole_says_why(tmp_path, members, match):
    data = io.BytesIO(b"PK\x03\x04 broken") if members is None else zipped(members)
    with pytest.raises(UploadError, match=match):
        save_upload("box.zip", data, tmp_path, 0)


def test_a_member_that_cannot_be_read_fails_alone(tmp_path):
    raw = bytearray(zipped({"a.png": b"good" * 100, "b.png": b"bad!" * 100}).getvalue())
    at = raw.index(b"bad!")
    raw[at:at + 4] = b"BAD?"  # the stored bytes no longer match the member's CRC
    uploads = save_upload("box.zip", io.BytesIO(bytes(raw)), tmp_path, 0)
    assert [u.error for u in uploads][0] == ""
    assert uploads[1].name == "b.png" and "cannot unpack from box.zip" in uploads[1].error
    assert not uploads[1].path.exists()
