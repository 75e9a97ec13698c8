"""revive-serve under load: tritonclient clients at several concurrencies vs runtime-infer files -> files.

perf_analyzer's conventions: after a warm-up window, throughput and latencies are measured in windows of
``window_s`` seconds; a concurrency level is stable once the last three windows' throughputs agree within
``tolerance`` (10 %), and its figures are those three windows together (p50/p95/p99 over every request that
completed in them). A level that never settles reports ``stable: false`` after ``max_windows``.

The server is the real ``revive-serve`` (a subprocess on free loopback ports); each client thread holds
one connection and sends the inputs round robin, one image per request, waiting for each answer
(closed loop: concurrency = requests in flight). The files -> files figure runs the same model on the same
images through runtime-infer's pipeline, before the server starts, so the two never share the cores.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from .sample_inputs import inputs_or_sample

__all__ = ["ServeBenchOptions", "free_ports", "run_serve_bench", "stable_windows"]

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
STARTUP_S = 180.0
REQUEST_TIMEOUT_S = 120.0


class ServeBenchOptions:
    def __init__(self, concurrency: tuple[int, ...] = (1, 4, 16), protocol: str = "grpc", window_s: float = 5.0,
                 max_windows: int = 10, tolerance: float = 0.10, max_batch: int = 16, delay_us: int = 5000,
                 instances: int = 1, batch_size: int = 8, workers: int = 2) -> None:
        self.concurrency, self.protocol, self.window_s = concurrency, protocol, window_s
        self.max_windows, self.tolerance = max_windows, tolerance
        self.max_batch, self.delay_us, self.instances = max_batch, delay_us, instances
        self.batch_size, self.workers = batch_size, workers

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def stable_windows(throughputs: list[float], tolerance: float) -> bool:
    """The last three windows agree: each within ``tolerance`` of their mean."""
    if len(throughputs) < 3:
        return False
    last = throughputs[-3:]
    mean = sum(last) / 3
    return mean > 0 and all(abs(t - mean) <= tolerance * mean for t in last)


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago (the server binds them next)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class _Server:
    """``revive-serve`` in a subprocess; stopped with SIGTERM like a service manager would."""

    def __init__(self, model: Path, opts: ServeBenchOptions, log_path: Path) -> None:
        self.http, self.grpc, self.metrics = free_ports(3)
        argv = [sys.executable, "-m", "revive.runtime.serve.cli", "--engine", str(model), "--host", HOST,
                "--http-port", str(self.http), "--grpc-port", str(self.grpc), "--metrics-port", str(self.metrics),
                "--max-batch", str(opts.max_batch), "--max-queue-delay-us", str(opts.delay_us),
                "--instances", str(opts.instances), "--workers", str(opts.workers)]
        self.log_path = log_path
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        import tritonclient.http as httpclient

        deadline = time.monotonic() + STARTUP_S
        client = httpclient.InferenceServerClient(f"{HOST}:{self.http}")
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"revive-serve exited {self.process.returncode}: see {self.log_path}")
                try:
                    if client.is_model_ready("revive"):
                        return
                except Exception:  # not listening yet
                    pass
                time.sleep(0.5)
        finally:
            client.close()
        raise RuntimeError(f"revive-serve not ready after {STARTUP_S:.0f} s: see {self.log_path}")

    def counters(self) -> dict[str, float]:
        text = urllib.request.urlopen(f"http://{HOST}:{self.metrics}/metrics", timeout=10).read().decode()
        found = {}
        for name in ("nv_inference_count", "nv_inference_exec_count", "nv_inference_request_success"):
            match = re.search(rf'^{name}\{{[^}}]*model="revive"[^}}]*\}} (\S+)$', text, re.MULTILINE)
            found[name] = float(match.group(1)) if match else float("nan")
        return found

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.process.returncode


def _client(protocol: str, port: int):
    if protocol == "grpc":
        import tritonclient.grpc as module
    else:
        import tritonclient.http as module
    if protocol == "grpc":
        return module, module.InferenceServerClient(f"{HOST}:{port}"), {"client_timeout": REQUEST_TIMEOUT_S}
    return module, module.InferenceServerClient(f"{HOST}:{port}", network_timeout=REQUEST_TIMEOUT_S), {}


def _load(server: _Server, images: list[bytes], concurrency: int, opts: ServeBenchOptions) -> dict[str, Any]:
    """Closed-loop clients until the windows are stable (or ``max_windows``); figures of the last three."""
    port = server.grpc if opts.protocol == "grpc" else server.http
    done: list[tuple[float, float]] = []  # (completion time, latency s), appended by every client
    errors: list[str] = []
    stop = threading.Event()

    def client_loop(index: int) -> None:
        module, client, timeout = _client(opts.protocol, port)
        try:
            i = index
            while not stop.is_set():
                tensor = module.InferInput("image", [1, 1], "BYTES")
                tensor.set_data_from_numpy(np.array([[images[i % len(images)]]], dtype=object))
                start = time.perf_counter()
                result = client.infer("revive", [tensor], **timeout)
                end = time.perf_counter()
                error = result.as_numpy("error")[0, 0]
                if error:
                    errors.append(error.decode())
                done.append((end, end - start))
                i += 1
        except Exception as exc:  # a failed request ends this client; the figure says so
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            client.close()

    threads = [threading.Thread(target=client_loop, args=(k,), daemon=True) for k in range(concurrency)]
    for t in threads:
        t.start()
    try:
        time.sleep(opts.window_s)  # warm-up window, not counted
        windows: list[tuple[float, float]] = []
        throughputs: list[float] = []
        while len(windows) < opts.max_windows and not stable_windows(throughputs, opts.tolerance):
            begin = time.perf_counter()
            time.sleep(opts.window_s)
            end = time.perf_counter()
            windows.append((begin, end))
            throughputs.append(sum(begin <= t < end for t, _ in list(done)) / (end - begin))
            log.info("  concurrency %2d window %d: %.2f images/s", concurrency, len(windows), throughputs[-1])
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    begin, end = windows[-3][0] if len(windows) >= 3 else windows[0][0], windows[-1][1]
    latencies = np.array([lat for t, lat in done if begin <= t < end]) * 1e3
    return {"concurrency": concurrency, "stable": stable_windows(throughputs, opts.tolerance),
            "windows": len(windows), "window_images_per_s": [round(x, 3) for x in throughputs],
            "images_per_s": round(float(np.mean(throughputs[-3:])), 3),
            "requests": int(latencies.size), "errors": len(errors), "first_error": errors[0] if errors else None,
            **{f"p{q}_ms": round(float(np.percentile(latencies, q)), 2) if latencies.size else None
               for q in (50, 95, 99)}}


def run_serve_bench(model: Path, folder: Path | None, count: int, image_size: int,
                    opts: ServeBenchOptions) -> dict[str, Any]:
    from revive.runtime.backends import open_backend

    from .files_bench import time_files

    with tempfile.TemporaryDirectory(prefix="revive-bench-serve.") as tmp:
        tmp = Path(tmp)
        folder, source = inputs_or_sample(folder, count, image_size, tmp)
        from revive.runtime.inputs import DEFAULT_EXTS, find_inputs

        images = [src.read_bytes() for src, _ in find_inputs([folder], DEFAULT_EXTS)]
        backend = open_backend(model, concurrency=2)
        try:
            files = time_files(backend, folder, tmp / "out", opts.batch_size, opts.workers, 2)
        finally:
            backend.close()
        log.info("runtime-infer files -> files: %.2f images/s", files["images_per_s"] or 0)
        server = _Server(model, opts, tmp / "revive-serve.log")
        try:
            server.wait_ready()
            levels = []
            for concurrency in opts.concurrency:
                before = server.counters()
                level = _load(server, images, concurrency, opts)
                after = server.counters()
                batches = after["nv_inference_exec_count"] - before["nv_inference_exec_count"]
                level["mean_batch"] = round((after["nv_inference_count"] - before["nv_inference_count"]) / batches,
                                            2) if batches else None
                levels.append(level)
                log.info("concurrency %2d: %.2f images/s, p50 %s ms, p99 %s ms, mean batch %s%s", concurrency,
                         level["images_per_s"], level["p50_ms"], level["p99_ms"], level["mean_batch"],
                         "" if level["stable"] else " (not stable)")
        finally:
            code = server.stop()
            server_log = server.log_path.read_text(errors="replace")[-2000:] if code else ""
    if code:
        raise RuntimeError(f"revive-serve exited {code} on SIGTERM:\n{server_log}")
    return {"settings": {"inputs": source, "images": len(images), **opts.as_dict()},
            "files": {"images": files["images"], "images_per_s": files["images_per_s"], "wall_s": files["wall_s"],
                      "batch_size": opts.batch_size, "workers": opts.workers, "inflight": 2},
            "serve": levels}
