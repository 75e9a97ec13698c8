"""FP32 ONNX -> QDQ INT8 ONNX with onnxruntime.quantization's static quantization.

- Only the networks are quantized: nodes the exporter recorded outside the
  ``net``/``restorer``/``colorizer`` submodules (uint8 casts, normalisation,
  the Lab->RGB tail, the restore composite, rounding) stay FP32, found the way
  the FP16 converter finds them (``revive.export.fp16.network_nodes``).
- Also FP32, by rule (``revive.export.int8_graph`` says why each one): the last
  convolution of a network whose output is split by channel (the restorer's), with
  the nodes between it and the wrapper, and convolutions with a 1 x 1 output
  (squeeze-and-excitation); and by choice, ``keep``: whole networks (``restorer``)
  or any module inside one (``restorer.unet.decoder``), by the module path the
  exporter recorded.
- Weights: int8, per output channel. Activations: uint8 with a zero point by
  default (ONNX Runtime's CPU provider runs u8 x s8 convolutions on VNNI/AMX;
  int8 activations measured 0.7x ORT FP32 here), or symmetric int8 with zero
  point 0, the only form TensorRT's explicit quantization accepts.
- Before quantizing, each stride-2 4x4 ConvTranspose becomes four 2x2 Convs and
  a DepthToSpace (``revive.export.subpixel``): the CPU provider has no
  quantized ConvTranspose, and that rewrite is exact; spatial means become
  GlobalAveragePool (``int8_graph.pool_means``, exact). After it, nearest 2x
  up-samplings become copies of the uint8 tensor (``int8_graph.upsamples_in_uint8``, exact).
- Ranges: MinMax over calibration batches of real uint8 images, fed through the
  whole graph exactly as the runtime feeds it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from revive.export.fp16 import network_nodes, node_scopes
from revive.export.int8_graph import network_tails, pool_means, pooled_convs, upsamples_in_uint8
from revive.export.subpixel import rewrite_transposed_convs

__all__ = ["CALIBRATION_METHODS", "QuantizeReport", "kept_scopes", "quantize_int8"]

log = logging.getLogger(__name__)
# How activation ranges are read off the calibration batches (onnxruntime's CalibrationMethod names).
CALIBRATION_METHODS = {"minmax": "MinMax", "percentile": "Percentile"}


@dataclass(frozen=True)
class QuantizeReport:
    """What the quantizer did, for the card's ``build`` record."""

    activations: str
    transposed_convs_rewritten: int
    calibration_batches: int
    quantized_nodes: int
    fp32_nodes: int
    kept_fp32: tuple[str, ...] = ()  # the ``keep`` modules
    fp32_last_convs: int = 0
    fp32_pooled_convs: int = 0
    means_pooled: int = 0
    upsamples_in_uint8: int = 0
    calibration_method: str = "minmax"

    def as_dict(self) -> dict:
        return {"format": "QDQ", "weights": "int8 per-channel", "activations": self.activations,
                "calibration_method": self.calibration_method, "calibration_batches": self.calibration_batches,
                "transposed_convs_rewritten": self.transposed_convs_rewritten, "means_pooled": self.means_pooled,
                "upsamples_in_uint8": self.upsamples_in_uint8,
                "quantized_nodes": self.quantized_nodes, "fp32_nodes": self.fp32_nodes,
                "kept_fp32": list(self.kept_fp32), "fp32_last_convs": self.fp32_last_convs,
                "fp32_pooled_convs": self.fp32_pooled_convs}


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


class _QuantizerChatter(logging.Filter):
    """quantize_static logs on the root logger: a hint at its pre-processing pass (the exporter's graph has no
    use for it) and a line per bias it copies (one initializer the exporter shared between two networks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "pre-processing" not in message and not message.startswith("Created a copy of bias input")


def _modules(node: onnx.NodeProto) -> list[str]:
    """The module paths a node was exported from, outermost first (the scope list's last entry is the op)."""
    return [s for s in node_scopes(node)[1:-1] if s]


def kept_scopes(model: onnx.ModelProto, keep: Collection[str]) -> set[str]:
    """Names of the nodes inside the modules ``keep`` names (a network, ``restorer``, or a module path in one,
    ``restorer.unet.decoder``); ValueError naming the networks for a name that matches no node."""
    names: set[str] = set()
    for module in keep:
        found = {n.name for n in model.graph.node
                 if any(s == module or s.startswith(module + ".") for s in _modules(n))}
        if not found:
            networks = sorted({m[0] for n in model.graph.node if (m := _modules(n))})
            raise ValueError(f"keep {module!r}: no module of this graph has that path (its networks: "
                             f"{', '.join(networks) or 'none'}; a module inside one reads like "
                             f"{networks[0] if networks else 'restorer'}.unet.decoder)")
        names |= found
    return names


def quantize_int8(model: onnx.ModelProto, input_name: str, batches: Iterable[np.ndarray], *,
                  symmetric: bool = False, keep: Collection[str] = (),
                  method: str = "minmax") -> tuple[onnx.ModelProto, QuantizeReport]:
    """A QDQ INT8 copy of an FP32 revive graph, calibrated on ``batches`` (uint8 N x 1 x S x S) by ``method``
    (``CALIBRATION_METHODS``); the modules named in ``keep`` stay FP32 (``kept_scopes``)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method {method!r}: choose {', '.join(CALIBRATION_METHODS)}")

    rewritten, count = rewrite_transposed_convs(model)
    rewritten, pooled_means = pool_means(rewritten)
    inside = network_nodes(rewritten)
    if not inside:
        raise ValueError("no node of the graph carries a network scope; export it with export/to_onnx.py so "
                         "the quantizer can tell the networks from the FP32 pre/post-processing")
    (tails, last_convs), pooled = network_tails(rewritten, inside), pooled_convs(rewritten)
    fp32 = (kept_scopes(rewritten, keep) | tails | pooled) & inside
    keep_fp32 = [n.name for n in rewritten.graph.node if n.name not in inside or n.name in fp32]
    reader = _Batches(input_name, batches)
    chatter = _QuantizerChatter()
    logging.getLogger().addFilter(chatter)
    try:
        with tempfile.TemporaryDirectory(prefix="revive-int8-") as tmp:
            out = Path(tmp) / "int8.onnx"
            quantize_static(rewritten, out, reader, quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                            weight_type=QuantType.QInt8, nodes_to_exclude=keep_fp32,
                            calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[method]),
                            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True})
            quantized = onnx.load(str(out))
    finally:
        logging.getLogger().removeFilter(chatter)
    if reader.count == 0:
        raise ValueError("no calibration batch was given")
    upsamples = upsamples_in_uint8(quantized)
    n_q = sum(1 for n in quantized.graph.node if n.op_type == "QuantizeLinear")
    report = QuantizeReport(activations="int8 symmetric" if symmetric else "uint8", transposed_convs_rewritten=count,
                            calibration_batches=reader.count, quantized_nodes=n_q, fp32_nodes=len(keep_fp32),
                            kept_fp32=tuple(keep), fp32_last_convs=last_convs,
                            fp32_pooled_convs=len(pooled & inside), means_pooled=pooled_means,
                            upsamples_in_uint8=upsamples, calibration_method=method)
    log.info("INT8: %d ConvTranspose rewritten, %d means pooled, %d up-samplings in uint8, %d QuantizeLinear nodes, "
             "%d nodes kept FP32 (%d last and %d pooled convolutions%s), %d calibration batches", count, pooled_means,
             upsamples, n_q,
             len(keep_fp32), report.fp32_last_convs, report.fp32_pooled_convs,
             f", modules {', '.join(keep)}" if keep else "", reader.count)
    return quantized, report
