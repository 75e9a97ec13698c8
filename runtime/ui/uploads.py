"""Uploads onto disk: one photo, or every photo inside a zip, each under a name that is safe to write.

The page and ``POST /api/infer`` hand over what a browser sent: a file name chosen by someone else's machine
and bytes of any size. Nothing here trusts either: a name keeps only its last path part (a zip member keeps
its folders, minus anything that climbs out: ``..``, absolute paths, drive letters), and sizes are checked
against the one limit the user set (``--max-upload-mb``), for a zip once its contents are unpacked too (a
small zip can unpack to terabytes). Whether the bytes are a picture is not decided here: the runtime's own
decoder says so when the photo runs, with the same reason ``runtime-infer`` would give.
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import UserError
from ..inputs import DEFAULT_EXTS

__all__ = ["Upload", "UploadError", "UploadTooLarge", "safe_name", "save_upload"]

_CHUNK = 1 << 20
_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]")
_MAX_NAME = 200  # characters kept of one name (file systems allow 255 bytes)


class UploadError(UserError, ValueError):
    """An upload that cannot be taken at all (a broken zip, a zip without photos)."""


class UploadTooLarge(UploadError):
    """An upload, or a zip's unpacked photos, over ``--max-upload-mb``."""


@dataclass(frozen=True)
class Upload:
    """One photo on disk: ``name`` as the user knows it (a zip member keeps its folders), ``path`` its copy."""

    name: str
    path: Path
    error: str = ""  # set when this one photo could not be unpacked (the others of its zip go on)


def safe_name(name: str, fallback: str = "photo") -> str:
    """One path component a file system accepts, close to what the user called the file."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = _UNSAFE.sub("_", base).strip().lstrip(".")
    if len(base) > _MAX_NAME:
        stem, ext = os.path.splitext(base)
        base = stem[:_MAX_NAME - len(ext)] + ext
    return base or fallback


def _member_parts(name: str) -> list[str]:
    """A zip member's folders and name, or [] for one that must not be unpacked (climbs out, hidden)."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "/")]
    if not parts or any(p == ".." or p.startswith(".") or p == "__MACOSX" for p in parts):
        return []
    if re.match(r"^[A-Za-z]:", parts[0]):
        return []
    return [safe_name(p) for p in parts]


def save_upload(name: str, data: BinaryIO, folder: Path, max_bytes: int, *, unzip: bool = True) -> list[Upload]:
    """Write one uploaded file under ``folder``: itself, or (``unzip``) each photo of a zip in its own sub-folder.

    ``max_bytes`` bounds the upload and a zip's unpacked photos (0: no limit). Raises UploadError for
    an upload refused whole; a zip member that cannot be read comes back with ``error`` set.
    """
    if unzip and _is_zip(name, data):
        return _unzip(name, data, folder, max_bytes)
    target = folder / "0" / safe_name(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        _copy(data, out, max_bytes, name)
    return [Upload(safe_name(name), target)]


def _is_zip(name: str, data: BinaryIO) -> bool:
    if name.lower().endswith(".zip"):
        return True
    start = data.tell()
    head = data.read(4)
    data.seek(start)
    return head == b"PK\x03\x04"


def _copy(source: BinaryIO, out: BinaryIO, max_bytes: int, name: str) -> None:
    written = 0
    while chunk := source.read(_CHUNK):
        written += len(chunk)
        if max_bytes and written > max_bytes:
            raise UploadTooLarge(f"{name}: larger than the upload limit of {_mb(max_bytes)} (--max-upload-mb)")
        out.write(chunk)


def _unzip(name: str, data: BinaryIO, folder: Path, max_bytes: int) -> list[Upload]:
    try:
        archive = zipfile.ZipFile(data)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UploadError(f"{name}: not a readable zip file ({exc})") from None
    with archive:
        members = [(m, parts) for m in archive.infolist() if not m.is_dir()
                   if (parts := _member_parts(m.filename)) and os.path.splitext(parts[-1])[1].lower() in DEFAULT_EXTS]
        if not members:
            raise UploadError(f"{name}: no photos inside (looked for {' '.join(DEFAULT_EXTS)})")
        total = sum(m.file_size for m, _ in members)
        if max_bytes and total > max_bytes:
            raise UploadTooLarge(f"{name}: its photos unpack to {_mb(total)}, over the upload limit of "
                              f"{_mb(max_bytes)} (--max-upload-mb)")
        uploads = []
        for index, (member, parts) in enumerate(members):
            target = folder / str(index) / parts[-1]
            target.parent.mkdir(parents=True, exist_ok=True)
            shown = "/".join(parts)
            try:
                with archive.open(member) as source, open(target, "wb") as out:
                    _copy(source, out, max_bytes, shown)
                uploads.append(Upload(shown, target))
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, UploadError) as exc:
                shutil.rmtree(target.parent, ignore_errors=True)
                uploads.append(Upload(shown, target, error=f"cannot unpack from {name}: {exc}"))
        return uploads


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
