"""ONNX Runtime backend: CUDA provider (with IOBinding) when present, CPU otherwise."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..card import CardError, card_from_onnx_metadata
from .base import Backend, BackendError, check_tensors

__all__ = ["OrtBackend"]

log = logging.getLogger(__name__)


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class OrtBackend(Backend):
    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0, concurrency: int = 1) -> None:
        """``threads`` = intra-op threads per run (0: on the CPU, the cores shared out among the
        ``concurrency`` runs the caller keeps in flight, so concurrent batches do not fight over cores).
        """
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendError("onnxruntime is not installed: pip install onnxruntime "
                               "(or onnxruntime-gpu for the CUDA provider, never both)") from None
        self._ort = ort
        available = ort.get_available_providers()
        if device not in ("auto", "cpu", "cuda"):
            raise BackendError(f"unknown device {device!r}: use auto, cpu or cuda")
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise BackendError("--device cuda: this onnxruntime has no CUDAExecutionProvider "
                               f"(available: {', '.join(available)}); install onnxruntime-gpu")
        use_cuda = device != "cpu" and "CUDAExecutionProvider" in available
        providers: list = ["CPUExecutionProvider"]
        if use_cuda:
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"}))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not use_cuda and not threads:
            threads = max(1, _cpu_count() // max(1, concurrency))
        if threads:
            options.intra_op_num_threads = threads
        path = Path(path)
        if not path.is_file():
            raise BackendError(f"{path}: no such model file")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own, unrelated exception types
            raise BackendError(f"{path}: ONNX Runtime could not load the model: {exc}") from None
        try:
            card = card_from_onnx_metadata(self.session.get_modelmeta().custom_metadata_map, path)
        except CardError as exc:
            raise BackendError(str(exc)) from None
        super().__init__(path, card)
        tensors = [*self.session.get_inputs(), *self.session.get_outputs()]
        check_tensors(path, card, {t.name: t.type.removeprefix("tensor(").rstrip(")") for t in tensors})
        self._cuda = "CUDAExecutionProvider" in self.session.get_providers()
        if use_cuda and not self._cuda:
            log.warning("%s: CUDA provider requested but the session fell back to CPU", path.name)
        self._input = card.input.name
        self._outputs = [(o.name, o.role) for o in card.outputs]
        log.info("%s: ONNX Runtime on %s", path.name, ", ".join(self.session.get_providers()))

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def _run(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        names = [name for name, _ in self._outputs]
        if self._cuda:
            # IOBinding: the input goes to the GPU once, outputs come back once, no extra staging.
            io = self.session.io_binding()
            io.bind_ortvalue_input(self._input, self._ort.OrtValue.ortvalue_from_numpy(gray, "cuda", 0))
            for name in names:
                io.bind_output(name, "cuda")
            self.session.run_with_iobinding(io)
            results = io.copy_outputs_to_cpu()
        else:
            results = self.session.run(names, {self._input: gray})
        return {role: value for (_, role), value in zip(self._outputs, results)}
