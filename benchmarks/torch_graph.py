"""PyTorch backend for the benchmarks: the export graph on CPU or CUDA, FP32, autocast or compiled.

The graph is built by ``revive.export.to_onnx.graph_from_checkpoint``, the very
function the ONNX exporter and ``to_trt --verify`` use, so PyTorch and the
exported models run the same module for every task the exporter supports; on
top come a device, autocast (fp16/bf16), channels-last and ``torch.compile``.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from revive.export.cards import batch_range, make_card
from revive.runtime.backends.base import Backend, Tensor
from revive.runtime.card import ModelCard

__all__ = ["AMP_DTYPES", "Source", "TorchGraphBackend", "load_graph"]

AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


Source = Path | tuple[Path, Path]  # a checkpoint, or (restorer, colorizer) for the fused pipeline


def load_graph(source: Source) -> tuple[torch.nn.Module, dict]:
    """(export graph in eval mode, card fields) for a checkpoint or a pipeline pair, as the exporter builds it."""
    from revive.export.to_onnx import graph_from_checkpoint, pipeline_graph

    if isinstance(source, tuple):
        return pipeline_graph(*source)
    return graph_from_checkpoint(source)


class TorchGraphBackend(Backend):
    name = "torch"

    def __init__(self, source: Source, device: str = "cpu", amp: str | None = None, compile: bool = False,
                 channels_last: bool = False, max_batch: int = 64) -> None:
        if amp is not None and amp not in AMP_DTYPES:
            raise ValueError(f"amp {amp!r}: choose fp16 or bf16")
        if amp == "fp16" and device == "cpu":
            raise ValueError("fp16 autocast needs CUDA; use bf16 on the CPU")
        self.source, self.max_batch_built = source, max_batch
        self.amp, self.compiled, self.channels_last = amp, compile, channels_last
        super().__init__(source[-1] if isinstance(source, tuple) else source, device=device)

    def _read_card(self) -> ModelCard:
        """The card the exporter would write for this graph (built here, from the checkpoint(s))."""
        self._graph, fields = load_graph(self.source)
        return make_card(**fields, batch=batch_range(self.max_batch_built), precision="fp32", opset=0)

    def _load(self) -> None:
        self.device = torch.device(self.device)
        graph = self._graph.to(self.device)
        if self.channels_last:
            graph = graph.to(memory_format=torch.channels_last)
        self.eager = graph
        self.graph = torch.compile(graph) if self.compiled else graph
        self._roles = [o.role for o in self.card.outputs]

    def _tensors(self) -> dict[str, Tensor]:
        # A PyTorch graph declares no tensors: it is built from the same fields as its card.
        return {spec.name: (spec.dtype, tuple(d if isinstance(d, int) else None for d in spec.shape))
                for spec in [*self.card.inputs, *self.card.outputs]}

    @property
    def precision(self) -> str:
        return self.amp or "fp32"

    @property
    def providers(self) -> list[str]:
        what = [f"torch {torch.__version__}", str(self.device), f"autocast {self.amp}" if self.amp else "fp32"]
        if self.device.type == "cpu":
            what.append(f"{torch.get_num_threads()} threads")
        if self.compiled:
            what.append("torch.compile")
        if self.channels_last:
            what.append("channels_last")
        return [", ".join(what)]

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[self.amp]) if self.amp else nullcontext()

    def _run(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(gray).to(self.device)
        with torch.inference_mode(), self._autocast():
            out = self.graph(x)
        outs = [out] if isinstance(out, torch.Tensor) else list(out)
        return {role: t.cpu().numpy() for role, t in zip(self._roles, outs)}
