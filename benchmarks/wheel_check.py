"""What the carried GPU packages do where they are unpacked: ``python -m revive.benchmarks.wheel_check FP16.onnx``.

Run by ``gpu_wheels --check`` under a Python 3.12 on the CPU machine (PYTHONPATH: the unpacked archives and a
revive shim), and by ``gpu_suite.sh --probe`` on the GPU machine right after the first call, where it also runs
the model on CUDA and compares it with the CPU provider's output. On the CPU it proves what a CPU can: that the
files left in import, that onnxruntime-gpu lists its CUDA provider, runs the FP16 model on the CPU provider,
and what it logs when a CUDA session cannot start; that TensorRT-RTX imports through the runtime's own ``import_tensorrt`` and how far revive's builder gets with it.
Prints one JSON object: check -> what happened (the libraries' own log lines included, as text).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

__all__ = ["main"]


@contextlib.contextmanager
def _native_output() -> Iterator[list[str]]:
    """What native code writes to file descriptors 1 and 2 inside the block, as lines (ONNX Runtime logs to
    stderr, TensorRT to stdout): kept out of the JSON this prints, and reported inside it."""
    lines: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
        try:
            yield lines
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            lines += [line.strip() for line in sink.read().decode(errors="replace").splitlines() if line.strip()]


def _first_error(lines: list[str]) -> str:
    text = next((line for line in lines if "[E" in line or "Error" in line or "error" in line), "")
    return text[-400:]


def check_onnxruntime(onnx: Path) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort

    found: dict[str, Any] = {"onnxruntime": f"{ort.__version__} from {Path(ort.__file__).parent}",
                             "providers listed": ort.get_available_providers()}
    gray = np.random.default_rng(0).integers(0, 256, (2, 1, 32, 32), dtype=np.uint8)
    cpu = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    out = cpu.run(None, {cpu.get_inputs()[0].name: gray})
    found["CPU run of the FP16 model"] = f"ok: outputs {[o.shape for o in out]} {[o.dtype.name for o in out]}"
    with _native_output() as log:
        cuda = ort.InferenceSession(str(onnx), providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    found["CUDA session runs on"] = cuda.get_providers()
    found["CUDA session log"] = _first_error(log) or "nothing logged"
    if "CUDAExecutionProvider" in cuda.get_providers():
        try:
            got = cuda.run(None, {cuda.get_inputs()[0].name: gray})
            worst = max(int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) for a, b in zip(out, got))
            found["CUDA run of the FP16 model"] = f"ok: largest difference to the CPU run {worst} levels of 255"
        except Exception as exc:  # noqa: BLE001 - what the CUDA provider says is the finding
            found["CUDA run of the FP16 model"] = f"failed: {type(exc).__name__}: {str(exc)[-400:]}"
    return found


def check_tensorrt(onnx: Path) -> dict[str, Any]:
    from revive.export.trt_build import Profile
    from revive.export.trt_network import build_engine, load_tensorrt
    from revive.runtime.errors import UserError

    try:
        trt, major = load_tensorrt()
    except UserError as exc:
        return {"tensorrt": f"not importable: {exc}"}
    found: dict[str, Any] = {"tensorrt": f"{trt.__name__} {trt.__version__} (taken as major {major})"}
    if hasattr(trt, "ComputeCapability"):
        found["compute capabilities it names"] = [m for m in trt.ComputeCapability.__members__]
    with _native_output() as log:
        try:
            built = build_engine(trt, major, onnx, input_name="gray", image_size=32, profile=Profile(1, 4, 8),
                                 workspace=1 << 30, opt_level=3)
            found["revive's builder"] = f"built and loaded back an engine of {len(built.plan)} bytes"
        except UserError as exc:
            found["revive's builder"] = f"{type(exc).__name__}: {exc}"
    found["builder log"] = _first_error(log) or "nothing logged"
    return found


def check_smp() -> dict[str, Any]:
    try:
        import torch  # noqa: F401 - segmentation-models-pytorch needs it
    except ImportError:
        return {"segmentation_models_pytorch": "not imported: this Python has no torch (the GPU machine has)"}
    import segmentation_models_pytorch as smp

    return {"segmentation_models_pytorch": smp.__version__}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    onnx = Path(argv[0])
    found = {**check_onnxruntime(onnx), **check_tensorrt(onnx), **check_smp()}
    print(json.dumps(found, indent=1))
    return 0 if "CPU run of the FP16 model" in found else 1


if __name__ == "__main__":
    sys.exit(main())
