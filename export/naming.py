"""One naming rule for every export artifact, so each stage finds the others by name alone.

NAME is the checkpoint's stem (``best.pt`` -> ``best``) or what ``-o`` names:

==================  =====================================================
``NAME.onnx``       FP32 ONNX model (the one every other stage starts from)
``NAME.fp16.onnx``  FP16 ONNX model (export/to_fp16.py)
``NAME.int8.onnx``  INT8 QDQ ONNX model (export/to_int8.py)
``NAME.engine``     TensorRT engine (export/to_trt.py; ``.plan`` accepted)
``NAME.card.json``  the engine's model card, beside it
==================  =====================================================

An ONNX file carries its card inside; only engines need the side file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ONNX_PRECISIONS", "Artifacts", "artifacts", "precision_tag"]

# Card precision -> the tag between NAME and ``.onnx`` (FP32 has none).
ONNX_PRECISIONS = {"fp32": "", "fp16": ".fp16", "int8": ".int8"}
# Every suffix a revive artifact or checkpoint ends with, longest first, so NAME is what is left.
_SUFFIXES = (".card.json", ".fp16.onnx", ".int8.onnx", ".onnx", ".engine", ".plan", ".pt", ".pth")


@dataclass(frozen=True)
class Artifacts:
    """The paths of one model's artifacts: ``folder/NAME`` plus the rule's suffixes."""

    base: Path  # folder / NAME

    @property
    def name(self) -> str:
        return self.base.name

    def onnx(self, precision: str = "fp32") -> Path:
        if precision not in ONNX_PRECISIONS:
            raise ValueError(f"precision {precision!r}: ONNX models are {', '.join(ONNX_PRECISIONS)}")
        return self.base.with_name(self.name + ONNX_PRECISIONS[precision] + ".onnx")

    @property
    def engine(self) -> Path:
        return self.base.with_name(self.name + ".engine")

    @property
    def card(self) -> Path:
        return self.base.with_name(self.name + ".card.json")


def artifacts(path: str | Path) -> Artifacts:
    """The artifacts named after ``path``: a checkpoint, or any artifact of the rule (``best.fp16.onnx`` -> best)."""
    path = Path(path)
    for suffix in _SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return Artifacts(path.with_name(path.name[: -len(suffix)]))
    return Artifacts(path.with_name(path.stem) if path.stem else path)


def precision_tag(path: str | Path) -> str | None:
    """The precision an ONNX file's name says (``x.fp16.onnx`` -> fp16, ``x.onnx`` -> fp32); None if not ONNX."""
    name = Path(path).name
    if not name.endswith(".onnx"):
        return None
    for precision, tag in ONNX_PRECISIONS.items():
        if tag and name.endswith(tag + ".onnx"):
            return precision
    return "fp32"
