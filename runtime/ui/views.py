"""What the page shows of a finished photo, and the files it offers: previews, the damage mask, a zip of all.

Downloads are the files ``runtime-infer`` wrote, untouched. Previews are separate, smaller copies a
browser can show quickly whatever the original's format (a TIFF scan, a 16-bit PNG): at most
``PREVIEW_SIDE`` px on the longer side. The "before" preview is the gray the models were given (the
runtime's own decoding: EXIF rotation, 16-bit scaling), so the slider compares like with like.

The damage mask shows where restoration changed the photo: white where the restored gray differs from
the input's gray, black where the input was kept. That is the model's mask as the runtime's composite
applied it (a pixel the model marked but repaired to its own value shows black), made from the two files
the run already has, without a second model run.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..files import write_atomic
from ..images import decode_gray, to_gray
from .desk import Batch, Photo

__all__ = ["PREVIEW_SIDE", "download", "mask_file", "preview", "results_zip"]

PREVIEW_SIDE = 1600
_MASK_TAG = ".mask.png"


def _restored_file(photo: Photo) -> Path:
    """The restored gray: NAME.restored.EXT beside a colorized result, or the result of a restorer alone."""
    return photo.restored if photo.restored is not None else photo.output


def mask_file(photo: Photo, max_pixels: int | None) -> Path:
    """NAME.mask.png (white: changed by restoration), made once and kept beside the photo's outputs."""
    path = photo.folder / "views" / (photo.output.stem + _MASK_TAG)
    if not path.exists():
        before = np.asarray(decode_gray(photo.source, None, max_pixels=max_pixels).native)
        after = np.asarray(decode_gray(_restored_file(photo), None, max_pixels=max_pixels).native)
        changed = np.where(before != after, 255, 0).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(changed, "L").save(buffer, "PNG", compress_level=6)
        write_atomic(path, buffer.getvalue())
    return path


def download(photo: Photo, view: str, max_pixels: int | None) -> Path:
    """The file behind a view's download link (native size): the result, the restored gray or the mask."""
    if view == "result":
        return photo.output
    if view == "restored":
        return _restored_file(photo)
    if view == "mask":
        return mask_file(photo, max_pixels)
    raise ValueError(f"unknown view {view!r}")


def preview(photo: Photo, view: str, max_pixels: int | None) -> Path:
    """A browser-sized copy of ``view`` (``before`` or one of the download views): JPEG, PNG for the mask."""
    ext = ".png" if view == "mask" else ".jpg"
    path = photo.folder / "views" / f"preview-{view}{ext}"
    if path.exists():
        return path
    if view == "before":
        im = decode_gray(photo.source, None, max_pixels=max_pixels).native
    else:
        with Image.open(download(photo, view, max_pixels)) as opened:
            im = opened.copy() if opened.mode in ("L", "RGB") else _displayable(opened)
    im.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    buffer = io.BytesIO()
    if ext == ".png":
        im.save(buffer, "PNG", compress_level=6)
    else:
        im.save(buffer, "JPEG", quality=90)
    write_atomic(path, buffer.getvalue())
    return path


def _displayable(im: Image.Image) -> Image.Image:
    """8-bit L or RGB for a browser: deep gray scaled as the runtime scales it, anything else through RGB."""
    if im.mode.startswith("I") or im.mode == "F":
        return to_gray(im)
    return im.convert("RGB")


def results_zip(batch: Batch, photos: list[Photo]) -> Path:
    """Every finished photo's result (and restored gray) in one zip, named as the user named the photos."""
    path = batch.folder / "revive-results.zip"
    used: set[str] = set()
    fd, tmp = tempfile.mkstemp(prefix=".revive-results.", suffix=".part", dir=batch.folder)
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
            for photo in photos:
                folder = os.path.dirname(photo.name)
                for file in (photo.output, photo.restored):
                    if file is not None:
                        archive.write(file, _unique(os.path.join(folder, file.name), used))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _unique(name: str, used: set[str]) -> str:
    """``name``, or ``stem (2).ext`` ... when two photos of a batch share a name."""
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{stem} ({n}){ext}"
    used.add(candidate)
    return candidate
