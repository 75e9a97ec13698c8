"""The one interface every inference backend implements.

The base class owns the public surface, in this order: check the model path,
read its card, ``_load()`` the model, hold the model's tensors to the card; then
``run`` validates a batch and fits it to the built batch range (slices of the
maximum, padding up to the minimum), and ``close`` releases it. A backend fills
in only ``_load``, ``_tensors``, ``_run`` and ``_close``, and registers
itself with ``revive.runtime.backends.register`` under a name and the file
suffixes it opens. Batching and I/O code never knows which backend it drives,
so it is tested on CPU through ONNX Runtime and holds for TensorRT.

``run`` is safe to call from several threads at once: that is how the
pipeline keeps more than one batch in flight.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..card import CardError, ModelCard, read_card
from ..errors import UserError

__all__ = ["Backend", "BackendError", "Tensor", "check_model_path", "check_tensors"]

Tensor = tuple[str, tuple[int | None, ...]]  # (dtype name, shape; None where dynamic)


class BackendError(UserError, RuntimeError):
    """A model could not be loaded or run: a user-facing problem, reported without a traceback."""


def check_model_path(path: str | Path) -> Path:
    """``path`` as a Path when it names a model file (``builtin:NAME``: the bundled one); BackendError
    saying what it is otherwise."""
    from ..models import resolve_model

    path = resolve_model(path)
    if path.is_dir():
        raise BackendError(f"{path}: is a folder, not a model file")
    if not path.exists():
        raise BackendError(f"{path}: no such model file")
    if not path.is_file():
        raise BackendError(f"{path}: not a regular file")
    return path


class Backend(ABC):
    name: ClassVar[str] = "backend"
    suffixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: str | Path, *, device: str = "auto", concurrency: int = 1) -> None:
        """``device``: auto, cpu or cuda; ``concurrency``: how many threads will call ``run`` at once."""
        self.path = check_model_path(path)
        self.device = device
        self.concurrency = max(1, concurrency)
        self.card = self._read_card()
        self._load()
        try:
            check_tensors(self.path, self.card, self._tensors())
        except BaseException:
            self._close()
            raise

    def _read_card(self) -> ModelCard:
        try:
            return read_card(self.path)
        except CardError as exc:
            raise BackendError(str(exc)) from None

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
    def _load(self) -> None:
        """Load ``self.path`` (``self.card`` is already read); raise BackendError when it cannot run here."""

    @abstractmethod
    def _tensors(self) -> dict[str, Tensor]:
        """The loaded model's I/O tensors by name: (dtype name as ``numpy.dtype(...).name``, shape with
        ``None`` for a dynamic dimension)."""

    @abstractmethod
    def _run(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch within the card's batch range; return outputs by role."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        pass


def check_tensors(path: str | Path, card: ModelCard, found: dict[str, Tensor]) -> None:
    """Hold a model's I/O tensors to its card: names, dtypes and every static dimension.

    Raises BackendError listing every mismatch: a model whose tensors differ from its
    card would be fed or read wrongly.
    """
    problems = []
    for spec in [*card.inputs, *card.outputs]:
        if spec.name not in found:
            problems.append(f"tensor {spec.name!r} ({spec.role}) is missing")
            continue
        dtype, shape = found[spec.name]
        if dtype != spec.dtype:
            problems.append(f"tensor {spec.name!r} is {dtype}, the card says {spec.dtype}")
        expected = [d if isinstance(d, int) else None for d in spec.shape]
        if len(shape) != len(expected) or any(g is not None and e is not None and g != e
                                              for g, e in zip(shape, expected)):
            problems.append(f"tensor {spec.name!r} is {_dims(shape)} in the model, {_dims(expected)} in the card")
    named = {spec.name for spec in [*card.inputs, *card.outputs]}
    extra = sorted(set(found) - named)
    if extra:
        problems.append(f"tensors not in the card: {', '.join(extra)}")
    if problems:
        raise BackendError(f"{Path(path).name}: the model does not match its card: {'; '.join(problems)}; "
                           "re-export it so model and card agree")


def _dims(shape) -> str:
    return " x ".join("N" if d is None else str(d) for d in shape)
