"""A PyTorch-eager Backend, for benchmarks only: the export graph run by torch, no ONNX.

It wraps ``revive.export.graph.ColorizeGraph`` (the very module that is exported)
around a checkpoint's network, so the runtime pipeline can drive PyTorch eager and
ONNX Runtime with the same inputs, batches and host work. The runtime never
imports this (or torch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from revive.export.cards import make_card
from revive.export.graph import ColorizeGraph
from revive.runtime.backends.base import Backend
from revive.train.checkpoint import build_model, file_sha256, load_checkpoint

__all__ = ["TorchBackend"]


class TorchBackend(Backend):
    name = "torch-eager"

    def __init__(self, checkpoint: str | Path, max_batch: int = 64, threads: int = 0) -> None:
        payload = load_checkpoint(checkpoint)
        config = payload["config"]
        net = build_model(config, payload["model"]).eval()
        self.graph = ColorizeGraph(net, config["color_space"]).eval()
        if threads:
            torch.set_num_threads(threads)
        card = make_card(task="colorize", architecture=config["architecture"], color_space=config["color_space"],
                         image_size=int(config["image_size"]), output_roles=["rgb"],
                         batch={"min": 1, "opt": min(32, max_batch), "max": max_batch}, precision="fp32",
                         opset=0, checkpoint_sha256=file_sha256(checkpoint))
        super().__init__(checkpoint, card)

    @property
    def providers(self) -> list[str]:
        return [f"torch {torch.__version__} eager, {torch.get_num_threads()} threads"]

    def _run(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return {"rgb": self.graph(torch.from_numpy(gray)).numpy()}
