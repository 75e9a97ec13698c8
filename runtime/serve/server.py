"""Triton through PyTriton: bind :class:`ImageService` as model ``revive``, start, serve until told to stop.

The model's interface (the batch dimension is Triton's, shapes below are per request element):

- input ``image``: BYTES [1], one encoded image file (any format runtime-infer reads);
- output ``image``: BYTES [1], the encoded result (the upload's own container, or the request's ``format``
  parameter: auto, png, jpg, tiff, webp; a multi-page TIFF upload: one multi-page TIFF); ``restored``:
  BYTES [1], the restored gray, for models that restore;
  ``error``: BYTES [1], empty when the image was served, else the one-line reason.

Why an ``error`` output instead of a failed request: PyTriton answers a whole dynamic batch at once and
can only fail all of it, so an exception for one bad upload would fail the good images batched with it.
Requests Triton itself refuses (no ``image`` input, wrong type, a full queue) get Triton's own errors.

PyTriton runs Triton's Python-backend stub, which loads ``libpython3.X.so`` through the dynamic linker.
An interpreter built elsewhere (pyenv, conda) would then run against the system's library of the same
minor version, and the stub fails with ``'_thread.RLock' object has no attribute '_recursion_count'``.
:func:`use_own_libpython` puts this interpreter's own library directory first for the child processes.
"""

from __future__ import annotations

import logging
import os
import socket
import sysconfig
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import Backend
from ..errors import UserError
from .service import ImageService, ServiceConfig

__all__ = ["MODEL_NAME", "ServeConfig", "ServeError", "Server", "check_ports", "missing_packages", "serve",
           "use_own_libpython"]

log = logging.getLogger(__name__)
MODEL_NAME = "revive"


class ServeError(UserError, RuntimeError):
    """The server could not start (a port in use, Triton failing): the message is the reason shown to the user."""


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    max_batch: int = 8  # images per batch the dynamic batcher may form
    max_queue_delay_us: int = 2000  # how long the batcher may hold a request to grow a batch
    max_queue: int = 256  # requests waiting beyond this are refused by Triton (0: no limit)
    instances: int = 1  # model instances: batches run at once
    exit_timeout_s: int = 10  # on stop, how long in-flight requests may take
    service: ServiceConfig = field(default_factory=ServiceConfig)


def missing_packages() -> list[str]:
    """The serve extra's packages that are not installed (``pip install 'revive[serve]'``)."""
    import importlib.util

    return [name for name, module in (("nvidia-pytriton", "pytriton"), ("tritonclient", "tritonclient"))
            if importlib.util.find_spec(module) is None]


def check_ports(host: str, ports: dict[str, int]) -> None:
    """Refuse ports another process listens on (Triton would fail later with a less helpful message)."""
    for flag, port in ports.items():
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise ServeError(f"{host}:{port} (--{flag}) cannot be used: {exc.strerror or exc}") from None


def use_own_libpython(environ: Any = os.environ) -> None:
    """Put this interpreter's ``LIBDIR`` first on ``LD_LIBRARY_PATH`` (read by the processes Triton starts)."""
    libdir = sysconfig.get_config_var("LIBDIR")
    library = sysconfig.get_config_var("LDLIBRARY")
    if not libdir or not library or not (Path(libdir) / library).exists():
        return  # a static interpreter: the stub can only use the system's library
    parts = [p for p in environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p and p != libdir]
    environ["LD_LIBRARY_PATH"] = os.pathsep.join([libdir, *parts])


class _TritonModel:
    """The PyTriton inference callable: Triton's requests <-> :meth:`ImageService.process`."""

    def __init__(self, service: ImageService) -> None:
        self.service = service

    def __call__(self, requests: list) -> list[dict[str, np.ndarray]]:
        images, formats, counts = [], [], []
        for request in requests:
            elements = np.asarray(request["image"]).reshape(-1)
            fmt = str((request.parameters or {}).get("format", self.service.config.fmt)).lower()
            fmt = "jpg" if fmt == "jpeg" else fmt
            images += [bytes(e) for e in elements]
            formats += [fmt] * len(elements)
            counts.append(len(elements))
        results = self.service.process(images, formats)
        responses, at = [], 0
        for count in counts:
            part = results[at:at + count]
            at += count
            out = {"image": _bytes_column([r.image for r in part]),
                   "error": _bytes_column([r.error.encode() for r in part])}
            if self.service.restores:
                out["restored"] = _bytes_column([r.restored for r in part])
            responses.append(out)
        return responses


def _bytes_column(values: list[bytes]) -> np.ndarray:
    column = np.empty((len(values), 1), dtype=object)
    column[:, 0] = values
    return column


class Server:
    """Triton with model ``revive`` bound; ``start`` returns once the model is ready, ``stop`` shuts down."""

    def __init__(self, backends: list[Backend], config: ServeConfig) -> None:
        self.config = config
        self.service = ImageService(backends, config.service)
        self._triton = None

    def start(self) -> None:
        from pytriton.model_config import DynamicBatcher, ModelConfig, QueuePolicy, Tensor
        from pytriton.triton import Triton, TritonConfig

        cfg = self.config
        check_ports(cfg.host, {"http-port": cfg.http_port, "grpc-port": cfg.grpc_port,
                               "metrics-port": cfg.metrics_port})
        use_own_libpython()
        outputs = [Tensor(name="image", dtype=bytes, shape=(1,)), Tensor(name="error", dtype=bytes, shape=(1,))]
        if self.service.restores:
            outputs.append(Tensor(name="restored", dtype=bytes, shape=(1,)))
        queue = QueuePolicy(max_queue_size=cfg.max_queue) if cfg.max_queue else None
        batcher = DynamicBatcher(max_queue_delay_microseconds=cfg.max_queue_delay_us, default_queue_policy=queue)
        triton_config = TritonConfig(http_address=cfg.host, http_port=cfg.http_port, grpc_address=cfg.host,
                                     grpc_port=cfg.grpc_port, metrics_address=cfg.host, metrics_port=cfg.metrics_port,
                                     exit_timeout_secs=cfg.exit_timeout_s, log_verbose=0)
        self._triton = Triton(config=triton_config)
        try:
            self._triton.bind(model_name=MODEL_NAME,
                              infer_func=[_TritonModel(self.service) for _ in range(cfg.instances)],
                              inputs=[Tensor(name="image", dtype=bytes, shape=(1,))], outputs=outputs,
                              config=ModelConfig(max_batch_size=cfg.max_batch, batcher=batcher))
            self._triton.run()
        except Exception as exc:
            self._stop_quietly()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServeError(f"Triton did not start ({reason}); its log is above") from None
        except BaseException:
            self._stop_quietly()
            raise
        log.info("serving model %r: http://%s:%d, grpc %s:%d, metrics http://%s:%d/metrics", MODEL_NAME,
                 cfg.host, cfg.http_port, cfg.host, cfg.grpc_port, cfg.host, cfg.metrics_port)

    def alive(self) -> bool:
        return self._triton is not None and self._triton.is_alive()

    def stop(self) -> None:
        if self._triton is not None:
            self._triton.stop()
            self._triton = None
        self.service.close()

    def _stop_quietly(self) -> None:
        try:
            self.stop()
        except Exception:  # a half-started Triton refuses some clean-up calls; the start error is what matters
            log.debug("clean-up after a failed start", exc_info=True)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(backends: list[Backend], config: ServeConfig, stop: threading.Event) -> bool:
    """Serve until ``stop`` is set (SIGTERM, Ctrl-C) or Triton dies; True when stopped on request."""
    with Server(backends, config) as server:
        while not stop.wait(1.0):
            if not server.alive():
                log.error("Triton stopped on its own; see its log above")
                return False
        return True
