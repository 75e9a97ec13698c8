"""Inference backends behind one interface, chosen by name or by the model file's suffix.

Adding one (OpenVINO, say) is one file: subclass ``Backend`` with ``name`` and
``suffixes``, fill in ``_load``, ``_tensors``, ``_run`` and ``_close``, and add a
``register(...)`` line below (the module is imported only when chosen, so its
dependencies stay optional).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .base import Backend, BackendError, check_model_path

__all__ = ["Backend", "BackendError", "backend_class", "backend_names", "check_model_path", "open_backend", "register",
           "suffixes"]

# name -> (module, class, suffixes); filled by register().
_REGISTRY: dict[str, tuple[str, str, tuple[str, ...]]] = {}


def register(name: str, module: str, cls: str, suffixes: tuple[str, ...]) -> None:
    """Make ``module.cls`` (a Backend subclass) available as ``--backend name`` and for ``suffixes``."""
    _REGISTRY[name] = (module, cls, tuple(s.lower() for s in suffixes))


register("onnxruntime", "revive.runtime.backends.ort", "OrtBackend", (".onnx",))
register("tensorrt", "revive.runtime.backends.tensorrt_engine", "TensorRTBackend", (".engine", ".plan"))


def backend_names() -> list[str]:
    return list(_REGISTRY)


def suffixes() -> tuple[str, ...]:
    """Every model-file suffix some backend opens."""
    return tuple(s for _, _, found in _REGISTRY.values() for s in found)


def backend_class(path: str | Path, backend: str = "auto") -> type[Backend]:
    """The class ``backend`` names, or (``auto``) the one that opens ``path``'s suffix."""
    if backend == "auto":
        suffix = Path(path).suffix.lower()
        name = next((n for n, (_, _, found) in _REGISTRY.items() if suffix in found), None)
        if name is None:
            raise BackendError(f"{path}: unknown model type {Path(path).suffix!r}; expected "
                               f"{', '.join(suffixes())}")
    elif backend in _REGISTRY:
        name = backend
    else:
        raise BackendError(f"unknown backend {backend!r}: choose auto, {', '.join(_REGISTRY)}")
    module, cls, _ = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def open_backend(path: str | Path, device: str = "auto", concurrency: int = 1, backend: str = "auto") -> Backend:
    """Load ``path`` with ``backend`` (auto: by suffix, ``.onnx`` -> ONNX Runtime, ``.engine``/``.plan`` ->
    TensorRT). ``concurrency``: how many threads will call ``run`` at once (the batches kept in flight).
    """
    path = check_model_path(path)
    return backend_class(path, backend)(path, device=device, concurrency=concurrency)
