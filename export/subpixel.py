"""Stride-2 transposed convolutions -> four 2x2 convolutions + DepthToSpace: the same numbers, quantizable.

ONNX Runtime's CPU provider has no quantized ConvTranspose (no
QLinearConvTranspose), so a QDQ model keeps every pix2pix up-sampling step in
FP32: half of the U-Net's decoder. Each output pixel of a ``ConvTranspose``
with a 4x4 kernel, stride 2 and padding 1 sees a 2x2 window of the input, and
which kernel taps it uses depends only on the parity of its row and column.
So output row ``2i + a`` and column ``2j + b`` come from an ordinary 2x2
convolution of the input (its taps picked from the 4x4 kernel, padded on the
side the window reaches past), one convolution per phase ``(a, b)``; the four
phase images concatenated on channels and put back in place by
``DepthToSpace`` (DCR, block 2) are the transposed convolution's output. The
multiply-adds are the same count as the original's.

Taps (rows; columns alike): phase 0 reads input rows ``i - 1, i`` with kernel
rows ``3, 1``; phase 1 reads rows ``i, i + 1`` with kernel rows ``2, 0``.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["rewrite_transposed_convs"]

log = logging.getLogger(__name__)

# Kernel taps of each phase, in the order the 2x2 window reads the input.
_TAPS = {0: (3, 1), 1: (2, 0)}
# (pad before, pad after) of each phase's 2x2 window along one axis.
_PADS = {0: (1, 0), 1: (0, 1)}


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _rewritable(node: onnx.NodeProto, weights: dict[str, np.ndarray]) -> bool:
    attrs = _attrs(node)
    weight = weights.get(node.input[1])
    return (weight is not None and weight.ndim == 4 and weight.shape[2:] == (4, 4)
            and list(attrs.get("strides", [1, 1])) == [2, 2]
            and list(attrs.get("pads", [0, 0, 0, 0])) == [1, 1, 1, 1]
            and list(attrs.get("dilations", [1, 1])) == [1, 1]
            and list(attrs.get("output_padding", [0, 0])) == [0, 0]
            and attrs.get("group", 1) == 1
            and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
            and "output_shape" not in attrs
            and (len(node.input) < 3 or not node.input[2] or node.input[2] in weights))


def phase_kernels(weight: np.ndarray) -> list[tuple[tuple[int, int], np.ndarray]]:
    """ConvTranspose weight (C_in, C_out, 4, 4) -> [((a, b), Conv weight (C_out, C_in, 2, 2))] in DCR order."""
    out = []
    for a in (0, 1):
        for b in (0, 1):
            taps = weight[:, :, list(_TAPS[a]), :][:, :, :, list(_TAPS[b])]
            out.append(((a, b), np.ascontiguousarray(taps.transpose(1, 0, 2, 3))))
    return out


def rewrite_transposed_convs(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of ``model`` with every stride-2, 4x4, pad-1 ConvTranspose rewritten; and how many were.

    Other ConvTranspose nodes are left as they are (logged). The new nodes keep
    the original node's metadata (the exporter's module scopes), so the FP32
    block lists of the FP16 and INT8 stages see them where the original was.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    weights = {t.name: t for t in graph.initializer}
    arrays = {name: numpy_helper.to_array(t) for name, t in weights.items()
              if any(n.op_type == "ConvTranspose" and name in n.input[1:] for n in graph.node)}
    nodes, count, used = [], 0, set()
    for node in graph.node:
        if node.op_type != "ConvTranspose" or not _rewritable(node, arrays):
            if node.op_type == "ConvTranspose":
                log.info("ConvTranspose %s is not a 4x4 stride-2 pad-1 one: left as is", node.name)
            nodes.append(node)
            continue
        count += 1
        used.update(node.input[1:])
        name = node.name or f"convtranspose_{count}"
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        phases = []
        for (a, b), kernel in phase_kernels(arrays[node.input[1]]):
            w_name = f"{name}.phase{a}{b}.weight"
            graph.initializer.append(numpy_helper.from_array(kernel.astype(arrays[node.input[1]].dtype), w_name))
            phase_out = f"{name}.phase{a}{b}"
            conv = helper.make_node("Conv", [node.input[0], w_name] + ([bias] if bias else []), [phase_out],
                                    name=f"{name}/phase{a}{b}", kernel_shape=[2, 2], strides=[1, 1],
                                    pads=[_PADS[a][0], _PADS[b][0], _PADS[a][1], _PADS[b][1]])
            phases.append(conv)
        concat = helper.make_node("Concat", [c.output[0] for c in phases], [f"{name}.phases"],
                                  name=f"{name}/phases", axis=1)
        shuffle = helper.make_node("DepthToSpace", [concat.output[0]], list(node.output), name=f"{name}/shuffle",
                                   blocksize=2, mode="DCR")
        for new in (*phases, concat, shuffle):
            new.metadata_props.extend(node.metadata_props)
            nodes.append(new)
    del graph.node[:]
    graph.node.extend(nodes)
    still_used = {i for n in graph.node for i in n.input}
    for name in used - still_used:
        graph.initializer.remove(weights[name])
    return out, count
