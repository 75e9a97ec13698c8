"""The page's fixtures: stand-in models, a scratched photo and a broken one, and a real server on loopback."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from revive.benchmarks.stand_in_models import make_scratch_restore, make_sepia_colorize

NO_UI_EXTRA = "the ui extra (pip install 'revive[ui]') is not installed"


def needs_ui_extra() -> None:
    """Skip the calling module when the web stack is missing (a plain ``pip install revive``)."""
    for module in ("starlette", "uvicorn", "multipart"):
        pytest.importorskip(module, reason=NO_UI_EXTRA)


def scratched_photo(path: Path, size: tuple[int, int] = (300, 220)) -> Path:
    """A gray photo (scikit-image's cameraman when it is installed) with two white scratches."""
    try:
        from skimage import data

        im = Image.fromarray(data.camera()).resize(size, Image.Resampling.LANCZOS)
    except ImportError:
        y, x = np.mgrid[0:size[1], 0:size[0]]
        im = Image.fromarray((127 + 100 * np.sin(x / 23.0) * np.cos(y / 17.0)).astype(np.uint8), "L")
    draw = ImageDraw.Draw(im)
    w, h = size
    draw.line([(w * 0.05, h * 0.1), (w * 0.95, h * 0.8)], fill=252, width=3)
    draw.line([(w * 0.2, h * 0.95), (w * 0.8, h * 0.05)], fill=250, width=2)
    im.save(path)
    return path


def broken_photo(path: Path) -> Path:
    """A file named like a JPEG that holds a JPEG's first bytes and nothing more."""
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20)
    return path


@pytest.fixture(scope="package")
def ui_models(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("ui_models")
    return [make_scratch_restore(folder / "restore.onnx"), make_sepia_colorize(folder / "colorize.onnx")]


@pytest.fixture(scope="package")
def ui_photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ui_photos")
    return {"good": scratched_photo(folder / "scratched.png", (480, 360)), "broken": broken_photo(folder / "broken.jpg"),
            "second": scratched_photo(folder / "second.jpg", (180, 240))}


@pytest.fixture(scope="package")
def cli_outputs(ui_models, ui_photos, tmp_path_factory) -> Path:
    """What runtime-infer writes for the good photos: the bytes every download must equal."""
    from revive.runtime.cli import main

    out = tmp_path_factory.mktemp("ui_cli_out")
    argv = [str(ui_photos["good"]), str(ui_photos["second"]), "-o", str(out), "--save-restored", "--no-progress"]
    for model in ui_models:
        argv += ["--engine", str(model)]
    assert main(argv) == 0
    return out


class Running:
    """A real revive-ui application on a free loopback port, in this process."""

    def __init__(self, models: list[Path], root: Path, max_upload_bytes: int = 50_000_000, **options) -> None:
        from revive.runtime.backends import open_backend
        from revive.runtime.infer import InferOptions
        from revive.runtime.ui.app import build_app
        from revive.runtime.ui.desk import Desk
        from revive.runtime.ui.server import UiServer

        self.backends = [open_backend(m) for m in models]
        self.desk = Desk(self.backends, InferOptions(**{"workers": 2, **options}), root,
                         max_upload_bytes=max_upload_bytes)
        self.server = UiServer(build_app(self.desk), "127.0.0.1", 0)
        self.server.start()
        self.url = self.server.url

    def close(self) -> None:
        self.server.stop()
        self.desk.close()
        for backend in self.backends:
            backend.close()


@pytest.fixture(scope="package")
def ui_server(ui_models, tmp_path_factory):
    running = Running(ui_models, tmp_path_factory.mktemp("ui_work"))
    yield running
    running.close()


def post_files(url: str, files: list[tuple[str, bytes]], field: str = "image", timeout: float = 60.0):
    """multipart/form-data POST with the standard library's client; (status, headers, body)."""
    import urllib.error
    import urllib.request
    import uuid

    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, data in files:
        body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n".encode())
        body.write(data + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(url, data=body.getvalue(), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def get(url: str, timeout: float = 60.0):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def post(url: str, timeout: float = 60.0):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()
