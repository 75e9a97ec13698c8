"""revive-serve end to end: a real Triton (PyTriton's) on free loopback ports, tritonclient over HTTP and gRPC.

One server for the module (starting Triton takes seconds). Every loop is bounded in count and time.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revive.benchmarks.serve_bench import free_ports

from .conftest import pixels

pytest.importorskip("pytriton", reason="the serve extra (pip install 'revive[serve]') is not installed")
grpcclient = pytest.importorskip("tritonclient.grpc")
httpclient = pytest.importorskip("tritonclient.http")

HOST = "127.0.0.1"
STARTUP_S = 120
CLIENT_TIMEOUT_S = 60.0
THREADS, ROUNDS = 8, 3  # 8 threads x 3 rounds x 5 images = 120 requests


class Server:
    def __init__(self, process: subprocess.Popen, log: Path, http: int, grpc: int, metrics: int) -> None:
        self.process, self.log = process, log
        self.http, self.grpc, self.metrics = f"{HOST}:{http}", f"{HOST}:{grpc}", f"http://{HOST}:{metrics}/metrics"

    def infer(self, data: bytes, protocol: str = "http", **parameters) -> dict[str, bytes]:
        module = httpclient if protocol == "http" else grpcclient
        url = self.http if protocol == "http" else self.grpc
        client = (module.InferenceServerClient(url, network_timeout=CLIENT_TIMEOUT_S) if protocol == "http"
                  else module.InferenceServerClient(url))
        try:
            tensor = module.InferInput("image", [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[data]], dtype=object))
            kwargs = {"client_timeout": CLIENT_TIMEOUT_S} if protocol == "grpc" else {}
            result = client.infer("revive", [tensor], parameters=parameters or None, **kwargs)
            return {name: result.as_numpy(name)[0, 0] for name in ("image", "restored", "error")}
        finally:
            client.close()


@pytest.fixture(scope="module")
def server(serve_models, tmp_path_factory):
    http, grpc, metrics = free_ports(3)
    log = tmp_path_factory.mktemp("server") / "revive-serve.log"
    argv = [sys.executable, "-m", "revive.runtime.serve.cli", "--host", HOST, "--http-port", str(http),
            "--grpc-port", str(grpc), "--metrics-port", str(metrics), "--max-batch", "8",
            "--max-queue-delay-us", "20000", "--max-pixels", "1000000", "--workers", "2", "--exit-timeout", "5",
            "--format", "png"]
    for model in serve_models:
        argv += ["--engine", str(model)]
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}  # revive-serve must fix it itself
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    srv = Server(process, log, http, grpc, metrics)
    deadline = time.monotonic() + STARTUP_S
    client = httpclient.InferenceServerClient(srv.http)
    try:
        while True:
            assert process.poll() is None, f"revive-serve exited {process.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not ready after {STARTUP_S} s:\n{log.read_text()[-3000:]}"
            try:
                if client.is_model_ready("revive"):
                    break
            except Exception:  # not listening yet
                pass
            time.sleep(0.5)
    finally:
        client.close()
    yield srv
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def test_concurrent_http_and_grpc_match_runtime_infer_and_batch(server, serve_inputs):
    names = list(serve_inputs)

    def client(index: int) -> list[tuple[str, dict]]:
        protocol = "http" if index % 2 == 0 else "grpc"
        return [(name, server.infer(serve_inputs[name]["bytes"], protocol))
                for _ in range(ROUNDS) for name in names]

    with ThreadPoolExecutor(THREADS) as pool:
        answers = [a for part in pool.map(client, range(THREADS)) for a in part]
    assert len(answers) == THREADS * ROUNDS * len(names) >= 100
    for name, out in answers:
        assert out["error"] == b"", (name, out["error"])
        np.testing.assert_array_equal(pixels(out["image"]), serve_inputs[name]["image"], err_msg=name)
        np.testing.assert_array_equal(pixels(out["restored"]), serve_inputs[name]["restored"], err_msg=name)
    # Triton counts inferences (images) and executions (batches): more of the first means batches > 1 formed.
    text = urllib.request.urlopen(server.metrics, timeout=10).read().decode()
    count = _metric(text, "nv_inference_count")
    executions = _metric(text, "nv_inference_exec_count")
    assert count >= len(answers)
    assert executions < count, f"{count} images in {executions} batches: the dynamic batcher formed no batch > 1"


def _metric(text: str, name: str) -> float:
    match = re.search(rf'^{name}\{{[^}}]*model="revive"[^}}]*\}} (\S+)$', text, re.MULTILINE)
    assert match, f"{name} for model revive not in the metrics"
    return float(match.group(1))


def bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (2000, 2000)).save(buf, "PNG")  # 4 Mpx in a few kB; the server allows 1 Mpx
    return buf.getvalue()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("bad, reason", [(b"\x00garbage\xff" * 10, "not an image"), (b"", "empty"),
                                         (None, "decompression bomb")])
def test_bad_request_gets_its_reason_and_the_next_is_served(server, serve_inputs, protocol, bad, reason):
    out = server.infer(bomb() if bad is None else bad, protocol)
    assert reason in out["error"].decode() and out["image"] == b""
    name, item = next(iter(serve_inputs.items()))
    good = server.infer(item["bytes"], protocol)
    assert good["error"] == b""
    np.testing.assert_array_equal(pixels(good["image"]), item["image"], err_msg=name)


def test_jpeg_by_request_parameter(server, serve_inputs):
    item = next(iter(serve_inputs.values()))
    out = server.infer(item["bytes"], "http", format="jpg")
    assert out["image"][:2] == b"\xff\xd8"
    assert pixels(out["image"]).shape == item["image"].shape
    # JPEG is lossy: close to runtime-infer's PNG, not equal.
    diff = np.abs(pixels(out["image"]).astype(int) - item["image"].astype(int))
    assert diff.mean() < 8


def test_fidelity_over_the_wire(server, tmp_path):
    """Bytes in, bytes out through Triton: a 3-page 16-bit TIFF comes back as a 3-page 16-bit TIFF at its DPI,
    the archival JPEG as a JPEG with its date, profile and orientation applied."""
    import tifffile

    from ..test_fidelity import DATE, archival_jpeg, exif_of, write_pages

    write_pages(tmp_path / "album.tif", 3)
    archival_jpeg(tmp_path / "scan.jpg")
    album = server.infer((tmp_path / "album.tif").read_bytes(), "grpc", format="auto")
    assert album["error"] == b""
    for part in ("image", "restored"):
        with tifffile.TiffFile(io.BytesIO(album[part])) as tif:
            assert len(tif.pages) == 3 and all(p.dtype == np.uint16 for p in tif.pages), part
            assert tif.pages[2].tags["XResolution"].value == (600, 1)
    scan = server.infer((tmp_path / "scan.jpg").read_bytes(), "http", format="auto")
    with Image.open(io.BytesIO(scan["image"])) as im:
        assert im.format == "JPEG" and im.size == (40, 64) and exif_of(im)[1][0x9003] == DATE
        assert "icc_profile" in im.info and im.info["dpi"] == (300, 300)


def test_sigterm_stops_cleanly(server):
    # Last in the module: it stops the module's server.
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=60)
    log = server.log.read_text()
    assert code == 0, log[-3000:]
    assert "stopped" in log
    with pytest.raises(Exception):
        urllib.request.urlopen(server.metrics, timeout=5)
