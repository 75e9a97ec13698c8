"""Inference backends behind one interface; ``open_backend`` picks one from the file suffix."""

from __future__ import annotations

from pathlib import Path

from .base import Backend, BackendError

__all__ = ["ENGINE_SUFFIXES", "Backend", "BackendError", "open_backend"]

ENGINE_SUFFIXES = (".engine", ".plan")


def open_backend(path: str | Path, device: str = "auto", concurrency: int = 1) -> Backend:
    """``.onnx`` -> ONNX Runtime; ``.engine``/``.plan`` -> TensorRT.

    ``concurrency``: how many threads will call ``run`` at once (the batches kept in flight).
    """
    path = Path(path)
    if not path.exists():
        raise BackendError(f"{path}: no such model file")
    if path.suffix == ".onnx":
        from .ort import OrtBackend

        return OrtBackend(path, device=device, concurrency=concurrency)
    if path.suffix in ENGINE_SUFFIXES:
        from .tensorrt_engine import TensorRTBackend

        return TensorRTBackend(path, slots=max(2, concurrency))
    raise BackendError(f"{path}: unknown model type {path.suffix!r}; expected .onnx, .engine or .plan")
