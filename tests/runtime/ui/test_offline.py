"""No web stack at import, and no network attempt beyond loopback while the page serves."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from revive.benchmarks.serve_bench import free_ports

from .conftest import get, needs_ui_extra, post, post_files

needs_ui_extra()
PROBE = Path(__file__).resolve().parents[3] / "benchmarks" / "ui_probe.py"
HEAVY = ("starlette", "uvicorn", "multipart", "gradio", "playwright", "torch")


def test_importing_the_cli_and_the_ui_package_loads_no_web_stack():
    code = ("import sys\n"
            "import revive.runtime.cli, revive.runtime.ui, revive.runtime.ui.cli, revive.runtime.ui.app, "
            "revive.runtime.ui.desk, revive.runtime.ui.views, revive.runtime.ui.uploads, revive.runtime.ui.server\n"
            "revive.runtime.cli.build_parser(); revive.runtime.ui.cli.build_parser()\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_probe_sees_connection_attempts():
    code = (f"import runpy, socket, sys; probe = runpy.run_path({str(PROBE)!r})\n"
            "sys.addaudithook(probe['_hook'])\n"
            "s = socket.socket(); s.settimeout(1)\n"
            f"s.connect_ex(('127.0.0.1', {free_ports(1)[0]}))\n"
            "print(probe['EVENTS'])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "socket.connect" in result.stdout and "127.0.0.1:" in result.stdout


def test_serving_the_page_and_photos_makes_no_outbound_attempt(ui_models, ui_photos, tmp_path):
    [port] = free_ports(1)
    events, stop = tmp_path / "events.json", tmp_path / "stop"
    child = subprocess.Popen([sys.executable, str(PROBE), "revive-ui", str(port), str(events), str(stop),
                              *map(str, ui_models)], stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        for path in ("", "static/app.js", "static/style.css", "api/config"):
            assert get(url + path)[0] == 200
        status, _, body = post(url + "api/batches")
        batch = url + f"api/batches/{json.loads(body)['id']}"
        post_files(batch + "/photos", [("a.png", ui_photos["good"].read_bytes()), ("b.jpg", ui_photos["broken"].read_bytes())])
        assert post_files(url + "api/infer", [("a.png", ui_photos["good"].read_bytes())])[0] == 200
        while time.monotonic() < deadline and json.loads(get(batch)[2])["counts"]["done"] < 1:
            time.sleep(0.05)
        for view in ("before", "result", "mask"):
            assert get(batch + f"/photos/0/preview/{view}")[0] == 200
        assert get(batch + "/zip")[0] == 200
        stop.touch()
        assert child.wait(timeout=60) == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    record = json.loads(events.read_text())
    outside = [e for e in record["events"] if not e[1].startswith(("127.", "localhost", "::1", "/"))]
    assert outside == []
