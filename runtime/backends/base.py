"""The one interface every inference backend implements.

The base class owns the public surface (loading the card, validating a batch,
splitting it to the built batch range, closing); a backend fills in only
``_run`` and ``_close``. Batching and I/O code never knows which backend it
drives, so it is tested on CPU through ONNX Runtime and holds for TensorRT.

``run`` is safe to call from several threads at once: that is how the
pipeline keeps more than one batch in flight.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..card import ModelCard

__all__ = ["Backend", "BackendError"]


class BackendError(RuntimeError):
    """A model could not be loaded or run: a user-facing problem, reported without a traceback."""


class Backend(ABC):
    name: str = "backend"

    def __init__(self, path: str | Path, card: ModelCard) -> None:
        self.path = Path(path)
        self.card = card

    @property
    def image_size(self) -> int:
        return self.card.image_size

    @property
    def max_batch(self) -> int:
        return self.card.batch["max"]

    @property
    def providers(self) -> list[str]:
        """What actually executes the model (for logs and benchmark records)."""
        return [self.name]

    def run(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 N x 1 x S x S -> {output role: uint8 array}; any N >= 1.

        Batches larger than the model's maximum are run in slices of the maximum.
        """
        s = self.image_size
        if gray.dtype != np.uint8 or gray.ndim != 4 or gray.shape[1:] != (1, s, s):
            raise ValueError(f"{self.path.name}: expected a uint8 batch N x 1 x {s} x {s}, "
                             f"got {gray.dtype} {tuple(gray.shape)}")
        n = gray.shape[0]
        if n == 0:
            raise ValueError("empty batch")
        if n <= self.max_batch:
            return self._run(np.ascontiguousarray(gray))
        parts = [self._run(np.ascontiguousarray(gray[i:i + self.max_batch])) for i in range(0, n, self.max_batch)]
        return {role: np.concatenate([p[role] for p in parts]) for role in parts[0]}

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def _run(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch within the card's batch range; return outputs by role."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        pass
