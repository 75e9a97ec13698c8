"""revive-serve's user errors: one line, exit 2, before any server starts."""

from __future__ import annotations

import os

import pytest

from revive.runtime.serve.cli import main
from revive.runtime.serve.server import use_own_libpython


@pytest.mark.parametrize("extra, message", [
    (["--http-port", "8000", "--grpc-port", "8000"], "must differ"),
    (["--http-port", "70000"], "within 1..65535"),
    (["--max-batch", "0"], "--max-batch must be at least 1"),
    (["--quality", "0"], "--quality must be within 1..100"),
    (["--tile", "3"], "at least 8 px"),
    (["--tile", "64", "--overlap", "40"], "more than half"),
])
def test_bad_flags(tiny_onnx, capsys, extra, message):
    assert main(["--engine", str(tiny_onnx["lab"]), *extra]) == 2
    assert message in capsys.readouterr().err


def test_missing_model(tmp_path, capsys):
    assert main(["--engine", str(tmp_path / "nope.onnx")]) == 2
    err = capsys.readouterr().err
    assert "no such model file" in err and "Traceback" not in err


def test_own_libpython_first(monkeypatch):
    import sysconfig
    from pathlib import Path

    libdir = sysconfig.get_config_var("LIBDIR")
    if not (Path(libdir) / sysconfig.get_config_var("LDLIBRARY")).exists():
        pytest.skip("this interpreter has no shared libpython")
    env = {"LD_LIBRARY_PATH": f"/opt/x{os.pathsep}{libdir}"}
    use_own_libpython(env)
    assert env["LD_LIBRARY_PATH"].split(os.pathsep) == [libdir, "/opt/x"]


def test_port_in_use(tiny_onnx, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        others = [p for p in (port - 1, port - 2, port + 1) if 1 <= p <= 65535][:2]
        assert main(["--engine", str(tiny_onnx["lab"]), "--http-port", str(port), "--grpc-port", str(others[0]),
                     "--metrics-port", str(others[1])]) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port} (--http-port) cannot be used" in err and "Traceback" not in err


def test_serve_modules_import_neither_torch_nor_triton_until_serving():
    import subprocess
    import sys

    code = ("import sys\n"
            "import revive.runtime.serve.cli, revive.runtime.serve.server, revive.runtime.serve.service\n"
            "revive.runtime.serve.cli.build_parser()\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'pytriton', 'tritonclient'}))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
