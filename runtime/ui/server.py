"""Listening: a socket bound here (so a port in use is one clear line, and port 0 picks a free one), uvicorn on it.

Loopback by default. Any other address puts the page, and every photo uploaded to it, within reach of the
network, so :func:`check_host` accepts one only when the user said so (``--public``).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import socket
import threading
import time

from ..errors import UserError

__all__ = ["PACKAGES", "UiError", "UiServer", "bind", "check_host", "is_loopback", "missing_packages"]

# distribution -> module, for the error that names what to install
PACKAGES = {"starlette": "starlette", "uvicorn": "uvicorn", "python-multipart": "multipart"}
STARTUP_S = 30.0


class UiError(UserError, RuntimeError):
    """The page cannot be served as asked (a port in use, a public address without --public)."""


def missing_packages() -> list[str]:
    """The ``[ui]`` extra's packages that are not installed."""
    return [name for name, module in PACKAGES.items() if not _importable(module)]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: a module blocked in sys.modules (set to None)
        return False


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, public: bool) -> None:
    if not is_loopback(host) and not public:
        raise UiError(f"--host {host} is not a loopback address: anyone who can reach this machine could use the "
                      "page and see its photos; add --public to allow that")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UiError(f"{host}:{port} (--port) cannot be used: {exc.strerror or exc}") from None
    return sock


class UiServer:
    """uvicorn serving ``app`` on a bound socket: ``run()`` in the foreground (Ctrl-C, SIGTERM stop it), or
    ``start()`` / ``stop()`` from another thread (tests, the benchmark)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 7860) -> None:
        import uvicorn

        self.socket = bind(host, port)
        self.host, self.port = host, self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def run(self) -> None:
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self.socket.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="revive-ui-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise UiError(f"{self.url}: the web server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_S)
