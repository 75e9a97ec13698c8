"""Engine-only speed: throughput and latency per backend and batch size, with memory and TFLOP/s.

For each backend and batch size: ``warmup`` untimed calls, then ``repeats`` timed
calls of ``backend.run`` on the same uint8 batch (photo-like synthetic gray, host
to host: copies to and from the device are part of every backend's figure).
Timing is CUDA events around each call on a GPU machine, ``time.perf_counter``
on the CPU. Latency percentiles are over the timed calls; throughput
(``images_per_s``) is the batch over the median latency, robust to the odd
stalled call on a shared machine; ``images_per_s_overall`` is
``batch x calls / total time`` beside it. ``--max-seconds`` caps the timed calls of one
measurement (at least 3 are always made), which keeps CPU sweeps bounded.

``--interleave`` opens every backend at once and, per batch size, takes turns: one
timed call of each backend per round (the starting backend rotates), so load that
comes and goes on a shared machine falls on all of them alike and their ratios
hold; peak memory is then not measured (the processes' high-water mark mixes them).

Peak memory: on a GPU, ``torch.cuda.max_memory_allocated`` for PyTorch backends
and the growth of device memory in use (``torch.cuda.mem_get_info``) for ONNX
Runtime and TensorRT, which allocate outside PyTorch; on the CPU the process's
resident-set high-water mark (VmHWM, reset before each measurement through
``/proc/self/clear_refs``; ``ru_maxrss`` where that is not possible, which never
goes down).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backends import BACKENDS, Models, for_each_backend, open_or_skip
from .flops import tflops

__all__ = ["SpeedOptions", "latency_stats", "measure", "run_speed", "run_speed_interleaved"]

log = logging.getLogger(__name__)


@dataclass
class SpeedOptions:
    batches: tuple[int, ...] = (1, 8, 32, 64)
    backends: tuple[str, ...] = ("torch-fp32", "ort-cpu")
    warmup: int = 3
    repeats: int = 20
    max_seconds: float = 30.0
    interleave: bool = False


def latency_stats(times_s: list[float], batch: int) -> dict[str, float]:
    t = np.asarray(times_s) * 1000.0
    total = float(np.sum(times_s))
    return {"calls": len(times_s), "latency_ms_p50": float(np.percentile(t, 50)),
            "latency_ms_p95": float(np.percentile(t, 95)), "latency_ms_p99": float(np.percentile(t, 99)),
            "latency_ms_mean": float(t.mean()), "latency_ms_min": float(t.min()),
            "images_per_s": batch / (float(np.median(t)) / 1000), "images_per_s_overall": batch * len(times_s) / total}


class _Memory:
    """Peak memory of one measurement (see the module docstring for what is measured where)."""

    def __init__(self, cuda: bool, torch_backend: bool) -> None:
        self.cuda, self.torch_backend = cuda, torch_backend
        self.kind = ""
        if cuda:
            import torch

            torch.cuda.synchronize()
            if torch_backend:
                torch.cuda.reset_peak_memory_stats()
                self.kind = "torch.cuda.max_memory_allocated"
            else:
                free, total = torch.cuda.mem_get_info()
                self.base = total - free
                self.kind = "device memory in use after the runs minus before (cudaMemGetInfo)"
        else:
            self.kind = "process RSS high-water (VmHWM)" if _reset_hwm() else "process ru_maxrss (never reset)"

    def peak_mb(self) -> float | None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            if self.torch_backend:
                return torch.cuda.max_memory_allocated() / 2**20
            free, total = torch.cuda.mem_get_info()
            return max(0.0, (total - free - self.base) / 2**20)
        return _rss_hwm_mb()


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_hwm_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Timer:
    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.name = "cuda-events" if cuda else "wall-clock (perf_counter)"

    def time(self, fn) -> float:
        if self.cuda:
            import torch

            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0


def measure(backend: Any, batch: int, opts: SpeedOptions, cuda: bool, torch_backend: bool) -> dict[str, Any]:
    """Latency/throughput/memory of ``backend.run`` on one batch size."""
    from revive.export.trt_verify import synthetic_batch

    gray = synthetic_batch(batch, backend.image_size, seed=batch)
    timer = _Timer(cuda)
    memory = _Memory(cuda, torch_backend)
    for _ in range(opts.warmup):
        backend.run(gray)
    times: list[float] = []
    deadline = time.perf_counter() + opts.max_seconds
    while len(times) < opts.repeats and (len(times) < 3 or time.perf_counter() < deadline):
        times.append(timer.time(lambda: backend.run(gray)))
    result = {"batch": batch, **latency_stats(times, batch), "timer": timer.name,
              "peak_memory_mb": memory.peak_mb(), "memory_kind": memory.kind}
    return result


def run_speed(models: Models, opts: SpeedOptions, flops_per_image: int | None) -> dict[str, Any]:
    """Every requested backend over every batch size: ``{"backends": {name: ...}}``."""
    cuda = models.cuda
    out: dict[str, Any] = {}
    for name, backend, precision in for_each_backend(opts.backends, models, out, after_close=_release):
        entry: dict[str, Any] = {"status": "ok", "precision": precision, "providers": backend.providers,
                                 "model": backend.path.name, "results": []}
        on_gpu = BACKENDS[name].device == "cuda" or (BACKENDS[name].device == "auto" and cuda)
        try:
            for batch in opts.batches:
                r = measure(backend, batch, opts, cuda=on_gpu, torch_backend=name.startswith("torch"))
                r["achieved_tflops"] = tflops(flops_per_image, r["images_per_s"])
                entry["results"].append(r)
                log.info("%-18s batch %3d: %8.2f images/s, p50 %8.2f ms, p99 %8.2f ms", name, batch,
                         r["images_per_s"], r["latency_ms_p50"], r["latency_ms_p99"])
        except Exception as exc:  # noqa: BLE001 - e.g. torch.compile without a compiler: report, go on
            log.warning("%s failed: %s", name, exc)
            entry = {"status": "skipped", "reason": f"failed while running: {type(exc).__name__}: "
                                                     f"{str(exc).splitlines()[0] if str(exc) else ''}",
                     "results": entry["results"]}
        out[name] = entry
    return {"backends": out}


def run_speed_interleaved(models: Models, opts: SpeedOptions, flops_per_image: int | None) -> dict[str, Any]:
    """``run_speed``'s result, the backends timed in turns (module docstring); CPU backends only."""
    from revive.export.trt_verify import synthetic_batch

    out: dict[str, Any] = {}
    opened: dict[str, Any] = {}
    try:
        for name in opts.backends:
            found = open_or_skip(name, models, out)
            if found is None:
                continue
            backend, precision = found
            opened[name] = backend
            out[name] = {"status": "ok", "precision": precision, "providers": backend.providers,
                         "model": backend.path.name, "results": []}
        names = list(opened)
        for batch in opts.batches:
            gray = {name: synthetic_batch(batch, opened[name].image_size, seed=batch) for name in names}
            for _ in range(opts.warmup):
                for name in names:
                    opened[name].run(gray[name])
            times: dict[str, list[float]] = {name: [] for name in names}
            deadline = time.perf_counter() + opts.max_seconds * max(1, len(names))
            rounds = 0
            while rounds < opts.repeats and (rounds < 3 or time.perf_counter() < deadline):
                for k in range(len(names)):
                    name = names[(rounds + k) % len(names)]
                    t0 = time.perf_counter()
                    opened[name].run(gray[name])
                    times[name].append(time.perf_counter() - t0)
                rounds += 1
            for name in names:
                r = {"batch": batch, **latency_stats(times[name], batch), "timer": "wall-clock (perf_counter)",
                     "peak_memory_mb": None, "memory_kind": "not measured (--interleave)"}
                r["achieved_tflops"] = tflops(flops_per_image, r["images_per_s"])
                out[name]["results"].append(r)
                log.info("%-18s batch %3d: %8.2f images/s, p50 %8.2f ms (interleaved, %d rounds)", name, batch,
                         r["images_per_s"], r["latency_ms_p50"], rounds)
    finally:
        for backend in opened.values():
            backend.close()
    return {"backends": out, "interleaved": True}


def ratios(report: dict[str, Any]) -> list[list[Any]]:
    """Rows of (batch, backend, images/s over the first backend's): the figure an interleaved run is for."""
    entries = [(name, e) for name, e in report["backends"].items() if e["status"] == "ok" and e["results"]]
    if len(entries) < 2:
        return []
    base_name, base = entries[0]
    by_batch = {r["batch"]: r["images_per_s"] for r in base["results"]}
    rows = []
    for name, entry in entries[1:]:
        for r in entry["results"]:
            if r["batch"] in by_batch:
                rows.append([r["batch"], f"{name} ÷ {base_name}", r["images_per_s"] / by_batch[r["batch"]]])
    return rows


def _release(name: str) -> None:
    if name.startswith("torch"):
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def speed_markdown(report: dict[str, Any]) -> str:
    from .report import fmt, machine_line, markdown_table

    rows, skipped = [], []
    for name, entry in report["backends"].items():
        if entry["status"] != "ok":
            skipped.append(f"- `{name}`: skipped — {entry['reason']}")
            continue
        for r in entry["results"]:
            rows.append([name, entry["precision"], r["batch"], fmt(r["images_per_s"]), fmt(r["latency_ms_p50"]),
                         fmt(r["latency_ms_p95"]), fmt(r["latency_ms_p99"]), fmt(r["achieved_tflops"], 3),
                         fmt(r["peak_memory_mb"], 0), r["calls"]])
    model = report["model"]
    text = [f"# Inference speed: {model['architecture']} ({model['task']}, {model['image_size']}×{model['image_size']})",
            "", machine_line(report["machine"]), "",
            f"FLOPs per image: {fmt(model['gflops_per_image'])} GFLOP (FlopCounterMode). "
            f"Timer: {report['timer']}. Command: `{report['command']}`", "",
            markdown_table(["backend", "precision", "batch", "images/s", "p50 ms", "p95 ms", "p99 ms", "TFLOP/s",
                            "peak MB", "calls"], rows)]
    if report.get("interleaved"):
        text += ["Interleaved: the backends took turns, one timed call each per round, so the ratios below come "
                 "from the same moments of the machine's load.", "",
                 markdown_table(["batch", "ratio", "images/s ÷"], [[b, n, fmt(v)] for b, n, v in ratios(report)])]
    if skipped:
        text += ["Skipped:", "", *skipped, ""]
    return "\n".join(text)


def speed_plot(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, entry in report["backends"].items():
        if entry["status"] != "ok" or not entry["results"]:
            continue
        xs = [r["batch"] for r in entry["results"]]
        ys = [r["images_per_s"] for r in entry["results"]]
        ax.plot(xs, ys, marker="o", label=f"{name} ({entry['precision']})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("images/s")
    model = report["model"]
    ax.set_title(f"{model['architecture']} {model['image_size']}px on {report['machine']['slug']}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
