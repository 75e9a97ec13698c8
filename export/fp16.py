"""FP32 ONNX -> FP16 ONNX, keeping uint8 I/O and the numerically fragile pieces in FP32.

Precision lives in the graph (TensorRT 11 has no weak typing), so this one
conversion serves ONNX Runtime's CUDA provider and TensorRT alike. It uses
onnxconverter-common's ``float16`` converter with two block lists:

- by node: everything the export wrapper does around the networks (the uint8
  casts, normalisation, the Lab->RGB tail, rounding). Those nodes are found by
  the PyTorch module scope the exporter records on each node: a node outside
  the network submodules of the registered families' graphs
  (``network_scopes``: ``net``, ``restorer``, ``colorizer``) stays FP32.
- by op type: the converter's default list (Resize, Range, TopK...: passing a
  list replaces the default, so it is re-added) plus InstanceNormalization,
  which is a documented source of wrong FP16 output.
"""

from __future__ import annotations

import ast
import warnings

import onnx

from revive.export.graph import network_scopes

__all__ = ["FP32_OP_TYPES", "convert_to_fp16", "network_nodes", "node_scopes"]

FP32_OP_TYPES = ("InstanceNormalization",)
_SCOPE_KEY = "pkg.torch.onnx.name_scopes"


def node_scopes(node: onnx.NodeProto) -> list[str]:
    """The PyTorch module scopes the exporter recorded on a node, outermost first ('' for the root)."""
    for prop in node.metadata_props:
        if prop.key == _SCOPE_KEY:
            # A Python-literal list of scope names, outermost first ('' for the root).
            return list(ast.literal_eval(prop.value))
    return []


def network_nodes(model: onnx.ModelProto) -> set[str]:
    """Names of the nodes exported from inside a network submodule."""
    names, networks = set(), network_scopes()
    for node in model.graph.node:
        scopes = [s for s in node_scopes(node) if s]
        if scopes and scopes[0].split(".")[0] in networks:
            names.add(node.name)
    return names


def convert_to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    from onnxconverter_common import float16

    inside = network_nodes(model)
    if not inside:
        raise ValueError("no node of the graph carries a network scope; export it with "
                         "export/to_onnx.py (torch.onnx dynamo exporter) so the converter can "
                         "tell the networks from the FP32 pre/post-processing")
    keep_fp32 = [n.name for n in model.graph.node if n.name not in inside]
    op_block_list = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(FP32_OP_TYPES))
    with warnings.catch_warnings():
        # Weights below FP16's smallest normal are flushed; the converter warns for each one.
        warnings.filterwarnings("ignore", message="the float32 number", category=UserWarning)
        return float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=op_block_list,
                                                node_block_list=keep_fp32)
