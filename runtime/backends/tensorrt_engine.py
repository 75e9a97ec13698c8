"""TensorRT backend: a serialized engine (``.engine``/``.plan``) and the card beside it.

The engine is deserialized once; each of ``slots`` execution slots owns an
execution context, a CUDA stream, pinned host buffers and device buffers sized
for the profile's maximum batch, with every tensor bound by name. ``_run`` takes
a free slot, so as many batches as there are slots run at once from different
threads. Every TensorRT call that reports failure by its return value and every
CUDA call is checked.

``tensorrt`` is imported lazily; TensorRT-RTX is accepted in its place (the
calls used here are the same): ``tensorrt_rtx`` (the ``tensorrt-rtx-cu13`` package)
or ``tensorrt_rtx_bindings``, the module the ``tensorrt-rtx-cu13-bindings`` wheel
installs on its own. CUDA memory goes through ``cuda_memory`` (cuda-python or pycuda).
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..card import ModelCard
from .base import Backend, BackendError, Tensor
from .cuda_memory import CudaMemory, open_cuda_memory

__all__ = ["DEFAULT_SLOTS", "TENSORRT_MODULES", "TensorRTBackend", "import_tensorrt", "is_rtx", "product"]

log = logging.getLogger(__name__)
DEFAULT_SLOTS = 2
TENSORRT_HINT = ("pip install tensorrt (TensorRT >= 10.12 Python bindings; needs an NVIDIA GPU and CUDA), "
                 "or tensorrt-rtx-cu13; without TensorRT run the FP16 ONNX model instead "
                 "(runtime-infer --engine NAME.fp16.onnx ...)")
# In order of preference: TensorRT, then TensorRT-RTX as its meta package names it, then its bindings wheel alone.
TENSORRT_MODULES = ("tensorrt", "tensorrt_rtx", "tensorrt_rtx_bindings")


def import_tensorrt() -> Any:
    """The first of ``TENSORRT_MODULES`` that imports; BackendError naming the package when none does."""
    import importlib

    for name in TENSORRT_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise BackendError(f"TensorRT is not installed: {TENSORRT_HINT}")


def is_rtx(trt: Any) -> bool:
    """Whether ``trt`` is TensorRT-RTX (versions from 1.0, strongly typed only, no timing cache)."""
    return trt.__name__.split(".")[0].startswith("tensorrt_rtx")


def product(trt: Any) -> str:
    """``TensorRT 10.13.0`` or ``TensorRT-RTX 1.7.1.116``: what a message should call this module."""
    return f"{'TensorRT-RTX' if is_rtx(trt) else 'TensorRT'} {trt.__version__}"


def rebuild_hint(path: Path, card: ModelCard) -> str:
    source = card.build.get("source") or card.build.get("onnx") or "CKPT|ONNX"
    return f"rebuild it here: python export/to_trt.py {source} -o {path} --force"


def _builder(card: ModelCard) -> str:
    """``TensorRT-RTX 1.7.1.116`` when the card says an RTX module built the engine, else empty."""
    module, version = card.build.get("tensorrt_module", ""), card.build.get("tensorrt_version", "")
    return f"TensorRT-RTX {version}" if str(module).startswith("tensorrt_rtx") and version else ""


class _Slot:
    """One execution context + stream + buffers; used by one thread at a time."""

    def __init__(self, engine: Any, memory: CudaMemory, tensors: dict[str, tuple[np.dtype, tuple[int, ...]]],
                 input_name: str, max_batch: int) -> None:
        self.memory = memory
        self.input_name = input_name
        self.host: dict[str, np.ndarray] = {}
        self.device: dict[str, int] = {}
        self._tokens: list[tuple[str, Any]] = []
        self.context = engine.create_execution_context()
        if self.context is None:
            raise BackendError("TensorRT could not create an execution context (out of GPU memory?)")
        self.stream, stream_token = memory.stream_create()
        self._tokens.append(("stream", stream_token))
        self._stream_token = stream_token
        for name, (dtype, sample_shape) in tensors.items():
            nbytes = max_batch * int(np.prod(sample_shape)) * dtype.itemsize
            host, host_token = memory.host_empty(nbytes)
            self._tokens.append(("host", host_token))
            ptr, device_token = memory.device_alloc(nbytes)
            self._tokens.append(("device", device_token))
            self.host[name] = host.view(dtype)
            self.device[name] = ptr
            if not self.context.set_tensor_address(name, ptr):
                raise BackendError(f"TensorRT refused the device address for tensor {name!r}")
        self.shapes = {name: shape for name, (_, shape) in tensors.items()}

    def run(self, gray: np.ndarray, outputs: list[tuple[str, str]]) -> dict[str, np.ndarray]:
        n = gray.shape[0]
        memory, ctx = self.memory, self.context
        staged = self.host[self.input_name][:gray.size]
        staged[:] = gray.reshape(-1)
        if not ctx.set_input_shape(self.input_name, tuple(gray.shape)):
            raise BackendError(f"TensorRT rejected input shape {tuple(gray.shape)} for {self.input_name!r}")
        views = {}
        for name, _ in outputs:
            expected = (n, *self.shapes[name])
            got = tuple(ctx.get_tensor_shape(name))
            if got != expected:
                raise BackendError(f"TensorRT output {name!r} has shape {got}, expected {expected}")
            views[name] = self.host[name][:int(np.prod(expected))]
        memory.copy_htod(self.device[self.input_name], staged, self._stream_token)
        if not ctx.execute_async_v3(self.stream):
            raise BackendError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        for name, view in views.items():
            memory.copy_dtoh(view, self.device[name], self._stream_token)
        memory.synchronize(self._stream_token)
        # Copy out of the pinned buffers: the next batch on this slot overwrites them.
        return {role: views[name].reshape(n, *self.shapes[name]).copy() for name, role in outputs}

    def close(self) -> None:
        self.context = None
        for kind, token in reversed(self._tokens):
            {"stream": self.memory.stream_destroy, "host": self.memory.free_host,
             "device": self.memory.free_device}[kind](token)
        self._tokens.clear()


class TensorRTBackend(Backend):
    name = "tensorrt"
    suffixes = (".engine", ".plan")

    def __init__(self, path, *, device: str = "auto", concurrency: int = 1) -> None:
        """One execution slot per batch in flight (``concurrency``), at least ``DEFAULT_SLOTS``."""
        self._slots: list[_Slot] = []
        self._engine: Any = None
        self._runtime: Any = None
        self._free: queue.Queue[_Slot] = queue.Queue()
        self._lock = threading.Lock()
        super().__init__(path, device=device, concurrency=concurrency)
        if device == "cpu":
            raise BackendError(f"{self.path.name}: a TensorRT engine runs on a GPU; --device cpu needs the ONNX model")

    def _load(self) -> None:
        trt = self._trt = import_tensorrt()
        self._memory = open_cuda_memory()
        path, card = self.path, self.card
        with self._memory.activate():
            self._logger = trt.Logger(trt.Logger.WARNING)
            self._runtime = trt.Runtime(self._logger)
            engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if engine is None:
                raise BackendError(self._mismatch_message(path, card))
            self._engine = engine
            self._check_profile()
            tensors = {spec.name: (np.dtype(trt.nptype(engine.get_tensor_dtype(spec.name))),
                                   tuple(int(d) for d in spec.shape[1:]))
                       for spec in [*card.inputs, *card.outputs]}
            try:
                for _ in range(max(DEFAULT_SLOTS, self.concurrency)):
                    slot = _Slot(engine, self._memory, tensors, card.input.name, card.batch["max"])
                    self._slots.append(slot)
                    self._free.put(slot)
            except BaseException:
                self._close()
                raise
        self._outputs = [(o.name, o.role) for o in card.outputs]
        log.info("%s: %s on %s, %d slots, batch %d..%d", path.name, product(trt),
                 self._memory.device_info(), len(self._slots), card.batch["min"], card.batch["max"])

    def _mismatch_message(self, path: Path, card: ModelCard) -> str:
        built = card.build.get("tensorrt_version", "an unknown version")
        built_gpu = card.build.get("gpu_name", "an unknown GPU")
        built_cc = card.build.get("compute_capability", "?")
        here = self._memory.device_info()
        here_trt = product(self._trt)
        return (f"{path}: {here_trt} could not deserialize the engine (see its log above). "
                f"It was built by {_builder(card) or 'TensorRT ' + built} for {built_gpu} (compute capability "
                f"{built_cc}); this is {here_trt} on {here}. Engines are tied to one TensorRT version and one "
                f"compute capability: {rebuild_hint(path, card)}")

    def _names(self) -> list[str]:
        return [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]

    def _check_profile(self) -> None:
        """One input, the card's, whose optimisation profile covers the card's batch range."""
        trt, engine, card, path = self._trt, self._engine, self.card, self.path
        inputs = [n for n in self._names() if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if inputs != [card.input.name]:
            raise BackendError(f"{path.name}: engine inputs {inputs}, the card says [{card.input.name!r}]")
        low, _, high = (tuple(s) for s in engine.get_tensor_profile_shape(card.input.name, 0))
        if low[0] > card.batch["min"] or high[0] < card.batch["max"]:
            raise BackendError(f"{path.name}: the engine's profile covers batch {low[0]}..{high[0]}, the card says "
                               f"{card.batch['min']}..{card.batch['max']}; {rebuild_hint(path, card)}")

    def _tensors(self) -> dict[str, Tensor]:
        trt, engine = self._trt, self._engine
        return {name: (np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name,
                       tuple(None if int(d) < 0 else int(d) for d in engine.get_tensor_shape(name)))
                for name in self._names()}

    @property
    def providers(self) -> list[str]:
        return [product(self._trt)]

    def _run(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        slot = self._free.get()
        try:
            with self._memory.activate():
                return slot.run(gray, self._outputs)
        finally:
            self._free.put(slot)

    def _close(self) -> None:
        with self._lock:
            slots, self._slots = self._slots, []
            if not slots and self._engine is None:
                return
            with self._memory.activate():
                for slot in slots:
                    slot.close()
                self._engine = None
                self._runtime = None
