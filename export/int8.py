"""FP32 ONNX -> QDQ INT8 ONNX with onnxruntime.quantization's static quantization.

- Only the networks are quantized: nodes the exporter recorded outside the
  ``net``/``restorer``/``colorizer`` submodules (uint8 casts, normalisation,
  the Lab->RGB tail, the restore composite, rounding) stay FP32, found the way
  the FP16 converter finds them (``revive.export.fp16.network_nodes``).
- Weights: int8, per output channel. Activations: uint8 with a zero point by
  default (ONNX Runtime's CPU provider runs u8 x s8 convolutions on VNNI/AMX;
  int8 activations measured 0.7x ORT FP32 here), or symmetric int8 with zero
  point 0, the only form TensorRT's explicit quantization accepts.
- Before quantizing, each stride-2 4x4 ConvTranspose becomes four 2x2 Convs and
  a DepthToSpace (``revive.export.subpixel``): the CPU provider has no
  quantized ConvTranspose, and that rewrite is exact.
- Ranges: MinMax over calibration batches of real uint8 images, fed through the
  whole graph exactly as the runtime feeds it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from revive.export.fp16 import network_nodes
from revive.export.subpixel import rewrite_transposed_convs

__all__ = ["QuantizeReport", "quantize_int8"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuantizeReport:
    """What the quantizer did, for the card's ``build`` record."""

    activations: str
    transposed_convs_rewritten: int
    calibration_batches: int
    quantized_nodes: int
    fp32_nodes: int

    def as_dict(self) -> dict:
        return {"format": "QDQ", "weights": "int8 per-channel", "activations": self.activations,
                "calibration_method": "MinMax", "calibration_batches": self.calibration_batches,
                "transposed_convs_rewritten": self.transposed_convs_rewritten,
                "quantized_nodes": self.quantized_nodes, "fp32_nodes": self.fp32_nodes}


class _Batches:
    """onnxruntime's CalibrationDataReader protocol over an iterable of uint8 batches."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray]) -> None:
        self._input, self._it, self.count = input_name, iter(batches), 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        if batch is None:
            return None
        self.count += 1
        return {self._input: np.ascontiguousarray(batch, dtype=np.uint8)}

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        while (item := self.get_next()) is not None:
            yield item


class _NoPreprocessHint(logging.Filter):
    """quantize_static asks on the root logger for its pre-processing pass; the exporter's graph has no use for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


def quantize_int8(model: onnx.ModelProto, input_name: str, batches: Iterable[np.ndarray], *,
                  symmetric: bool = False) -> tuple[onnx.ModelProto, QuantizeReport]:
    """A QDQ INT8 copy of an FP32 revive graph, calibrated on ``batches`` (uint8 N x 1 x S x S)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    rewritten, count = rewrite_transposed_convs(model)
    inside = network_nodes(rewritten)
    if not inside:
        raise ValueError("no node of the graph carries a network scope; export it with export/to_onnx.py so "
                         "the quantizer can tell the networks from the FP32 pre/post-processing")
    keep_fp32 = [n.name for n in rewritten.graph.node if n.name not in inside]
    reader = _Batches(input_name, batches)
    hint = _NoPreprocessHint()
    logging.getLogger().addFilter(hint)
    try:
        with tempfile.TemporaryDirectory(prefix="revive-int8-") as tmp:
            out = Path(tmp) / "int8.onnx"
            quantize_static(rewritten, out, reader, quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                            weight_type=QuantType.QInt8, nodes_to_exclude=keep_fp32,
                            calibrate_method=CalibrationMethod.MinMax,
                            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True})
            quantized = onnx.load(str(out))
    finally:
        logging.getLogger().removeFilter(hint)
    if reader.count == 0:
        raise ValueError("no calibration batch was given")
    n_q = sum(1 for n in quantized.graph.node if n.op_type == "QuantizeLinear")
    report = QuantizeReport(activations="int8 symmetric" if symmetric else "uint8", transposed_convs_rewritten=count,
                            calibration_batches=reader.count, quantized_nodes=n_q, fp32_nodes=len(keep_fp32))
    log.info("INT8: %d ConvTranspose rewritten, %d QuantizeLinear nodes, %d wrapper nodes kept FP32, "
             "%d calibration batches", count, n_q, len(keep_fp32), reader.count)
    return quantized, report
