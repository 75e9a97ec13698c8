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
    svc = ImageService(backends, ServiceConfig(max_pixels=1_000_000))
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
