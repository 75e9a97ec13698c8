"""revive-ui's command line: refusals in-process (one line, exit 2), and a real run in a child process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from revive.runtime.ui.cli import main

from .conftest import get, needs_ui_extra, post_files

needs_ui_extra()
STARTUP_S = 60


def engines(models) -> list[str]:
    return [arg for m in models for arg in ("--engine", str(m))]


def test_without_engine_and_without_bundled_models_it_names_the_flag(monkeypatch, tmp_path, capsys):
    import revive.runtime.models as models

    monkeypatch.setattr(models, "_HERE", tmp_path)  # an installation whose bundled files are missing
    assert main(["--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("revive-ui: builtin:restore:") and "--engine" in err and "\n" not in err


@pytest.mark.parametrize("argv, match", [
    (["--host", "0.0.0.0"], "--host 0.0.0.0 is not a loopback address.*add --public"),
    (["--host", "192.0.2.7"], "add --public"),
    (["--quality", "0"], "--quality must be within 1..100"),
    (["--max-upload-mb", "-1"], "--max-upload-mb must be 0"),
    (["--port", "70000"], "--port must be within 0..65535"),
    (["--tile", "64", "--overlap", "40"], "overlap"),
    (["--engine", "a.onnx"] * 3, "give one --engine, or two"),
    (["--engine", "missing.onnx"], "missing.onnx"),
])
def test_refusals_are_one_line_and_exit_2(ui_models, capsys, argv, match):
    extra = [] if "--engine" in argv else engines(ui_models)
    assert main([*argv, *extra, "--port", "0"] if "--port" not in argv else [*argv, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert re.search(match, err) and "\n" not in err and "Traceback" not in err, err


def test_a_port_in_use_is_one_line(ui_models, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main([*engines(ui_models), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"revive-ui: 127.0.0.1:{port} (--port) cannot be used:") and "\n" not in err


def test_a_missing_web_stack_names_the_extra(ui_models):
    code = ("import sys; sys.modules['uvicorn'] = None\n"
            "from revive.runtime.ui.cli import main\n"
            f"sys.exit(main({[*engines(ui_models), '--port', '0']!r}))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=STARTUP_S)
    assert result.returncode == 2
    assert result.stderr.strip() == "revive-ui: uvicorn not installed: pip install 'revive[ui]'"


def test_serves_until_sigterm_and_removes_its_work_folder(ui_models, ui_photos, cli_outputs, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    child = subprocess.Popen([sys.executable, "-m", "revive.runtime.ui.cli", *engines(ui_models), "--port", "0"],
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        url, deadline, seen = None, time.monotonic() + STARTUP_S, []
        while url is None and time.monotonic() < deadline:
            line = child.stderr.readline()
            if not line and child.poll() is not None:
                break
            seen.append(line)
            found = re.search(r"open (http://127\.0\.0\.1:\d+/) in a browser", line)
            url = found.group(1) if found else None
        assert url, "".join(seen)
        status, _, body = get(url + "api/config")
        assert status == 200 and json.loads(body)["route"] == ["restore", "colorize"]
        photo = ui_photos["good"]
        status, _, body = post_files(url + "api/infer", [(photo.name, photo.read_bytes())])
        assert status == 200 and body == (cli_outputs / "scratched.png").read_bytes()
        assert len(list(scratch.glob("revive-ui-*"))) == 1  # its work folder
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=STARTUP_S) == 0
        assert not list(scratch.glob("revive-ui-*"))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
