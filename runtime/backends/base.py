"""The one interface every inference backend implements.

The base class owns the public surface (loading the card, validating a batch,
fitting it to the built batch range: slices of the maximum, padding up to the
minimum; checking the model's tensors against its card; closing); a backend
fills in only ``_run`` and ``_close``. Batching and I/O code never knows which backend it
drives, so it is tested on CPU through ONNX Runtime and holds for TensorRT.

``run`` is safe to call from several threads at once: that is how the
pipeline keeps more than one batch in flight.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..card import ModelCard

__all__ = ["Backend", "BackendError", "check_tensors"]


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
    def min_batch(self) -> int:
        return self.card.batch["min"]

    @property
    def providers(self) -> list[str]:
        """What actually executes the model (for logs and benchmark records)."""
        return [self.name]

    def run(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 N x 1 x S x S -> {output role: uint8 array}; any N >= 1.

        Batches larger than the model's maximum are run in slices of the maximum;
        batches smaller than its minimum (an engine built with ``--min-batch`` > 1)
        are padded with black images whose outputs are dropped.
        """
        s = self.image_size
        if gray.dtype != np.uint8 or gray.ndim != 4 or gray.shape[1:] != (1, s, s):
            raise ValueError(f"{self.path.name}: expected a uint8 batch N x 1 x {s} x {s}, "
                             f"got {gray.dtype} {tuple(gray.shape)}")
        n = gray.shape[0]
        if n == 0:
            raise ValueError("empty batch")
        if n <= self.max_batch:
            return self._run_fitted(gray)
        parts = [self._run_fitted(gray[i:i + self.max_batch]) for i in range(0, n, self.max_batch)]
        return {role: np.concatenate([p[role] for p in parts]) for role in parts[0]}

    def _run_fitted(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        n = gray.shape[0]
        if n >= self.min_batch:
            return self._run(np.ascontiguousarray(gray))
        padded = np.zeros((self.min_batch, *gray.shape[1:]), np.uint8)
        padded[:n] = gray
        return {role: value[:n] for role, value in self._run(padded).items()}

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


def check_tensors(path: str | Path, card: ModelCard, found: dict[str, str]) -> None:
    """Hold a model's I/O tensors (name -> dtype name, as ``numpy.dtype(...).name``) to its card.

    Raises BackendError listing every mismatch: a model whose tensors differ from its
    card would be fed or read wrongly.
    """
    problems = []
    for spec in [*card.inputs, *card.outputs]:
        if spec.name not in found:
            problems.append(f"tensor {spec.name!r} ({spec.role}) is missing")
        elif found[spec.name] != spec.dtype:
            problems.append(f"tensor {spec.name!r} is {found[spec.name]}, the card says {spec.dtype}")
    named = {spec.name for spec in [*card.inputs, *card.outputs]}
    extra = sorted(set(found) - named)
    if extra:
        problems.append(f"tensors not in the card: {', '.join(extra)}")
    if problems:
        raise BackendError(f"{Path(path).name}: the model does not match its card: {'; '.join(problems)}; "
                           "re-export it so model and card agree")
