"""ONNX Runtime backend: CUDA provider (with IOBinding) when present, CPU otherwise."""

from __future__ import annotations

import logging

import numpy as np

from ..system import cpu_count
from .base import Backend, BackendError, Tensor

__all__ = ["OrtBackend"]

log = logging.getLogger(__name__)


class OrtBackend(Backend):
    name = "onnxruntime"
    suffixes = (".onnx",)

    def __init__(self, path, *, device: str = "auto", concurrency: int = 1, threads: int = 0) -> None:
        """``threads`` = intra-op threads per run (0: on the CPU, the cores shared out among the
        ``concurrency`` runs the caller keeps in flight, so concurrent batches do not fight over cores).
        """
        self.threads = threads
        super().__init__(path, device=device, concurrency=concurrency)

    def _load(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendError("onnxruntime is not installed: pip install onnxruntime "
                               "(or onnxruntime-gpu for the CUDA provider, never both)") from None
        self._ort = ort
        available = ort.get_available_providers()
        if self.device not in ("auto", "cpu", "cuda"):
            raise BackendError(f"unknown device {self.device!r}: use auto, cpu or cuda")
        if self.device == "cuda" and "CUDAExecutionProvider" not in available:
            raise BackendError("--device cuda: this onnxruntime has no CUDAExecutionProvider "
                               f"(available: {', '.join(available)}); install onnxruntime-gpu")
        use_cuda = self.device != "cpu" and "CUDAExecutionProvider" in available
        providers: list = ["CPUExecutionProvider"]
        if use_cuda:
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"}))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = self.threads
        if not use_cuda and not threads:
            threads = max(1, cpu_count() // self.concurrency)
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own, unrelated exception types
            raise BackendError(f"{self.path}: ONNX Runtime could not load the model: {exc}") from None
        self._cuda = "CUDAExecutionProvider" in self.session.get_providers()
        if use_cuda and not self._cuda:
            # onnxruntime-gpu lists the CUDA provider even where its libraries cannot load, then runs on the
            # CPU after logging why (seen with 1.31.1: "libcublasLt.so.13: cannot open shared object file").
            why = ("ONNX Runtime could not start its CUDA provider (its log above says why; usually the CUDA 13 "
                   "and cuDNN 9 libraries are not on the loader path: LD_LIBRARY_PATH, or pip's nvidia-* "
                   "packages)")
            if self.device == "cuda":
                raise BackendError(f"{self.path.name}: --device cuda: {why}")
            log.warning("%s: %s; running on the CPU", self.path.name, why)
        if self._cuda and self.device == "cuda":
            # No silent rerun on the CPU (with a print) when a CUDA kernel fails mid-run: --device cuda means it.
            self.session.disable_fallback()
        self._input = self.card.input.name
        self._outputs = [(o.name, o.role) for o in self.card.outputs]
        log.info("%s: ONNX Runtime on %s", self.path.name, ", ".join(self.session.get_providers()))

    def _tensors(self) -> dict[str, Tensor]:
        tensors = [*self.session.get_inputs(), *self.session.get_outputs()]
        return {t.name: (t.type.removeprefix("tensor(").rstrip(")"),
                         tuple(d if isinstance(d, int) else None for d in t.shape)) for t in tensors}

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
