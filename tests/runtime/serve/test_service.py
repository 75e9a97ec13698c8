"""ImageService without a server: the batch a Triton dynamic batcher would hand over."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from revive.runtime.backends import open_backend
from revive.runtime.serve.service import ImageService, ServiceConfig

from .conftest import pixels


@pytest.fixture(scope="module")
def service(serve_models):
    backends = [open_backend(m) for m in serve_models]
    svc = ImageService(backends, ServiceConfig(max_pixels=1_000_000, fmt="png"))
    yield svc
    svc.close()
    for b in backends:
        b.close()


def bomb() -> bytes:
    """A 2000 x 2000 PNG of a few kilobytes: four times the service's 1 Mpx limit."""
    buf = io.BytesIO()
    Image.new("L", (2000, 2000)).save(buf, "PNG")
    return buf.getvalue()


def test_mixed_batch_serves_the_good_and_names_the_bad(service, serve_inputs):
    names = list(serve_inputs)
    bad = {"garbage": b"\x89PNG but not really", "empty": b"", "bomb": bomb()}
    batch = [serve_inputs[names[0]]["bytes"], bad["garbage"], serve_inputs[names[1]]["bytes"], bad["empty"],
             bad["bomb"], *[serve_inputs[n]["bytes"] for n in names[2:]]]
    results = service.process(batch)
    assert len(results) == len(batch)
    assert "not an image" in results[1].error
    assert "empty" in results[3].error
    assert "over --max-pixels" in results[4].error and "decompression bomb" in results[4].error
    for r in (results[1], results[3], results[4]):
        assert r.image == b"" and r.restored == b""
    good = [results[0], results[2], *results[5:]]
    for name, r in zip(names, good):
        assert r.error == ""
        np.testing.assert_array_equal(pixels(r.image), serve_inputs[name]["image"], err_msg=name)
        np.testing.assert_array_equal(pixels(r.restored), serve_inputs[name]["restored"], err_msg=name)


def test_format_per_image(service, serve_inputs):
    data = next(iter(serve_inputs.values()))["bytes"]
    jpg, png, unknown = service.process([data, data, data], ["jpg", "png", "gif"])
    assert jpg.image[:2] == b"\xff\xd8" and png.image[:8] == b"\x89PNG\r\n\x1a\n"
    assert "unknown output format 'gif'" in unknown.error


def test_fidelity_as_runtime_infer(serve_models, tmp_path):
    """Bytes in, bytes out: the upload's container, its 16 bits, DPI, ICC and EXIF; a multi-page upload comes
    back as one multi-page TIFF; the same bytes runtime-infer writes for the same file."""
    import tifffile

    from revive.runtime.cli import main

    from ..test_fidelity import DATE, archival_jpeg, exif_of, ramp16, read16, write_pages

    folder = tmp_path / "in"
    folder.mkdir()
    archival_jpeg(folder / "scan.jpg")
    write_pages(folder / "album.tif", 3)
    Image.fromarray(ramp16(30, 40)).save(folder / "deep.png", dpi=(1200, 1200))
    argv = [str(folder), "-o", str(tmp_path / "out"), "--save-restored", "--no-progress"]
    assert main(argv + [a for m in serve_models for a in ("--engine", str(m))]) == 0
    backends = [open_backend(m) for m in serve_models]
    svc = ImageService(backends, ServiceConfig())
    try:
        names = ["scan.jpg", "album.tif", "deep.png"]
        results = svc.process([(folder / n).read_bytes() for n in names])
        png_asked = svc.process([(folder / "album.tif").read_bytes()], ["png"])[0]
    finally:
        svc.close()
        for b in backends:
            b.close()
    for name, r in zip(names, results):
        assert r.error == "", name
        out = tmp_path / "out" / name
        assert r.image == out.read_bytes(), name  # the very file runtime-infer writes
        assert r.restored == out.with_name(out.stem + ".restored" + out.suffix).read_bytes(), name
    with Image.open(io.BytesIO(results[0].image)) as im:
        assert im.format == "JPEG" and im.info["dpi"] == (300, 300) and exif_of(im)[1][0x9003] == DATE
        assert "icc_profile" in im.info and im.size == (40, 64)
    with tifffile.TiffFile(io.BytesIO(results[1].image)) as tif:
        assert len(tif.pages) == 3 and tif.pages[0].dtype == np.uint16
    assert png_asked.image == results[1].image  # pages need a TIFF, whatever was asked
    (tmp_path / "deep-served.png").write_bytes(results[2].image)
    assert read16(tmp_path / "deep-served.png").dtype == np.uint16
