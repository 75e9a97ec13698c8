"""Where benchmark results go and how they are written: JSON, a markdown table, a PNG plot.

Every subcommand writes ``<out>/<name>.json`` and ``<out>/<name>.md`` (and the speed
sweep ``<out>/speed.png``), ``<out>`` defaulting to ``benchmarks/results/<machine>/``
with ``<machine>`` a slug of the GPU's name (``nvidia-h100-80gb-hbm3``) or
``cpu-<N>core``. JSON holds no NaN or infinity: ``json_safe`` turns them into
``null`` (a PSNR of identical outputs is ``null`` with ``"identical": true`` beside it,
written by the caller).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import platform
import re
from pathlib import Path
from typing import Any, Callable

from revive.runtime.system import cpu_count

__all__ = ["RESULTS_ROOT", "fmt", "json_safe", "machine_info", "machine_slug", "markdown_table", "results_dir",
           "machine_line", "write_json", "write_results", "write_text"]

log = logging.getLogger(__name__)

RESULTS_ROOT = Path(__file__).resolve().parent / "results"


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def machine_slug(gpu_name: str | None = None) -> str:
    """``nvidia-h100-80gb-hbm3`` from the GPU name, else ``cpu-<cores>core``."""
    gpu_name = gpu_name if gpu_name is not None else _gpu_name()
    if gpu_name:
        return re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-")
    cores = cpu_count()
    return f"cpu-{cores}core"


def results_dir(out: str | Path | None) -> Path:
    path = Path(out) if out else RESULTS_ROOT / machine_slug()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:  # noqa: BLE001 - a missing or broken optional package is just "absent"
        return None
    return getattr(mod, "__version__", "unknown")


def machine_info() -> dict[str, Any]:
    """Machine, accelerator, library versions, date and the load average when measured."""
    import torch

    cores = cpu_count()
    info: dict[str, Any] = {
        "slug": machine_slug(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": platform.processor() or platform.machine(),
        "cpu_cores": cores,
        "torch_threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": _version("onnxruntime"),
        "tensorrt": _version("tensorrt"),
        "tensorrt_rtx": _version("tensorrt_rtx") or _version("tensorrt_rtx_bindings"),
        "gpu": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                       "compute_capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda,
                       "cudnn": torch.backends.cudnn.version(),
                       "tf32": {"cudnn_conv": torch.backends.cudnn.allow_tf32,
                                "matmul": torch.backends.cuda.matmul.allow_tf32}}
    try:
        import onnxruntime

        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        info["onnxruntime_providers"] = []
    return info


def json_safe(value: Any) -> Any:
    """NaN and +-inf -> None, recursively (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_results(benchmark: str, command: str, body: dict[str, Any], markdown: Callable[[dict[str, Any]], str], *,
                  out: str | Path | None = None, tag: str = "",
                  plot: Callable[[dict[str, Any], Path], Any] | None = None) -> dict[str, Any]:
    """Every benchmark's results, written one way: ``<out>/<benchmark>[-<tag>].json`` (the body with the
    benchmark's name, the command that ran it and the machine), ``.md`` (``markdown(data)``) and, given
    ``plot(data, path)``, ``.png``. Returns the data written."""
    data = {"benchmark": benchmark, "command": command, **body, "machine": machine_info()}
    folder = results_dir(out)
    stem = f"{benchmark}-{tag}" if tag else benchmark
    write_json(folder / f"{stem}.json", data)
    write_text(folder / f"{stem}.md", markdown(data))
    if plot is not None:
        plot(data, folder / f"{stem}.png")
    log.info("wrote %s/%s.{json,md%s}", folder, stem, ",png" if plot is not None else "")
    return data


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf"
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def machine_line(info: dict[str, Any]) -> str:
    gpu = info.get("gpu")
    where = f"{gpu['name']} (CUDA {gpu['cuda']})" if gpu else f"CPU only, {info['cpu_cores']} cores"
    trt = f", TensorRT {info['tensorrt']}" if info.get("tensorrt") else ""
    trt += f", TensorRT-RTX {info['tensorrt_rtx']}" if info.get("tensorrt_rtx") else ""
    return (f"{info['date']} on {info['slug']}: {where}; torch {info['torch']}, onnxruntime {info['onnxruntime']}"
            f"{trt}; load average {', '.join(str(x) for x in info['load_average'])}")
