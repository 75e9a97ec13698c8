"""``to_trt --verify``: the engine against ONNX Runtime (same FP16 ONNX) and PyTorch FP32.

Runs the same synthetic grayscale batches (smooth shapes plus grain, seeded)
at batch 1, the profile's opt and its max through every runner, and compares
the uint8 outputs by PSNR. The engine fails below ``threshold`` dB against any
reference. ONNX Runtime FP16 against PyTorch is reported too, so a loss can be
told apart: conversion to FP16 or TensorRT itself (NVIDIA/TensorRT#4813).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from revive.runtime.card import ModelCard
from revive.runtime.metrics import psnr

__all__ = ["DEFAULT_THRESHOLD_DB", "Comparison", "compare", "report", "synthetic_batch", "torch_runner"]

log = logging.getLogger(__name__)
DEFAULT_THRESHOLD_DB = 45.0
Runner = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Comparison:
    batch: int
    role: str
    candidate: str
    reference: str
    psnr_db: float
    gate: bool  # counts towards pass/fail

    def passed(self, threshold: float) -> bool:
        return not self.gate or self.psnr_db >= threshold


def synthetic_batch(n: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 N x 1 x S x S photo-like grayscale: a blurred random field, gradients, grain."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 1, 5, 5))
    # Bilinear upsampling of the coarse field by separable interpolation.
    grid = np.linspace(0, 4, size)
    lo = np.minimum(grid.astype(int), 3)
    t = grid - lo
    rows = coarse[:, :, lo, :] * (1 - t)[None, None, :, None] + coarse[:, :, lo + 1, :] * t[None, None, :, None]
    field = rows[..., lo] * (1 - t) + rows[..., lo + 1] * t
    grain = rng.normal(0, 6, field.shape)
    return np.clip(field + grain, 0, 255).round().astype(np.uint8)


def torch_runner(graph: "object", card: ModelCard) -> Runner:
    """A PyTorch export graph (FP32, CPU) as a runner returning uint8 outputs by role."""
    import torch

    roles = [o.role for o in card.outputs]

    def run(gray: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = graph(torch.from_numpy(gray))
        out = out if isinstance(out, (tuple, list)) else (out,)
        return {role: value.numpy() for role, value in zip(roles, out)}

    return run


def compare(engine: Runner, references: dict[str, Runner], batches: list[int], size: int,
            extra: dict[str, tuple[str, str]] | None = None) -> list[Comparison]:
    """PSNR of ``engine`` against every reference, per batch size and output role.

    ``extra`` names further (candidate, reference) pairs among ``references`` that
    are reported but do not gate (e.g. ONNX Runtime FP16 against PyTorch FP32).
    """
    results = []
    for i, n in enumerate(sorted(set(batches))):
        gray = synthetic_batch(n, size, seed=i)
        outputs = {"tensorrt": engine(gray), **{name: run(gray) for name, run in references.items()}}
        pairs = [("tensorrt", name, True) for name in references]
        pairs += [(a, b, False) for a, b in (extra or {}).values()]
        for candidate, reference, gate in pairs:
            for role, value in outputs[candidate].items():
                results.append(Comparison(n, role, candidate, reference,
                                          psnr(outputs[reference][role], value), gate))
    return results


def report(results: list[Comparison], threshold: float) -> bool:
    """Log a table; True when every gating comparison passes."""
    ok = True
    for r in results:
        passed = r.passed(threshold)
        ok &= passed
        verdict = "ok" if passed else f"FAIL (< {threshold:g} dB)"
        verdict = verdict if r.gate else "(info)"
        log.info("batch %3d  %-9s %-18s vs %-18s %7.2f dB  %s", r.batch, r.role, r.candidate, r.reference,
                 r.psnr_db, verdict)
    return ok
