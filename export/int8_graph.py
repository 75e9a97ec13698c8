"""Graph facts and exact rewrites that decide how well, and how fast, a QDQ INT8 model runs on ONNX Runtime.

Each function reads or rewrites an exported revive graph without changing what it
computes; ``export/int8.py`` calls them around onnxruntime's quantizer:

- ``pool_means``: ``ReduceMean`` over both spatial axes (what the exporter makes of
  ``adaptive_avg_pool2d(x, 1)``, the squeeze of EfficientNet's squeeze-and-excitation
  blocks) becomes ``GlobalAveragePool``, the same mean. ONNX Runtime has a quantized
  GlobalAveragePool and no quantized ReduceMean: each of the 52 ReduceMeans of the
  two-stage pipeline otherwise dequantized a whole activation to float.
- ``pooled_convs``: convolutions whose output is 1 x 1 (the excitation's two 1 x 1
  convolutions). They cost nothing, and quantized they lose their weights: the
  int32 bias scale is input scale x weight scale, the pooled input's scale is tiny,
  and the quantizer widens the weight scale by up to 10^6 to fit the bias.
- ``network_tails``: the last convolution of each network and the network nodes
  after it. Its output, quantized per tensor, carries channels of different meaning
  (the restorer's reconstruction and its damage logit share one range: the
  reconstruction lost most of its 256 levels), and it has a few output channels:
  cheap to keep FP32. (The first convolution, which reads the normalised input, was
  tried in FP32 too: 13 % of the INT8 pipeline's time for 0.0001 of SSIM.)
- ``shapes_from_quantized``: after quantization, a ``Shape`` that reads a
  DequantizeLinear's float output reads its uint8 input instead (the same shape).
  The exporter sizes every nearest-neighbour up-sampling from ``Shape`` of its
  input, which otherwise kept a float copy (and an NHWC -> NCHW transpose) of each
  decoder activation alive just to read its shape.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["network_tails", "pool_means", "pooled_convs", "shapes_from_quantized"]


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def pool_means(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy with every 4-D ``ReduceMean`` over axes (2, 3), keepdims, made a ``GlobalAveragePool``; and how many."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    consts, ranks = _constants(out), _ranks(out)
    nodes, count = [], 0
    for node in out.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = consts.get(node.input[1])
        if (node.op_type == "ReduceMean" and axes is not None and ranks.get(node.input[0]) == 4
                and attrs.get("keepdims", 1) == 1 and not attrs.get("noop_with_empty_axes", 0)
                and sorted(int(a) % 4 for a in np.ravel(axes)) == [2, 3]):
            pool = helper.make_node("GlobalAveragePool", [node.input[0]], list(node.output), name=f"{node.name}/pool")
            pool.metadata_props.extend(node.metadata_props)
            nodes.append(pool)
            count += 1
        else:
            nodes.append(node)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    return out, count


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    return {name: len(shape) for name, shape in _shapes(model).items()}


def _values(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inferred = onnx.shape_inference.infer_shapes(model)
    return [v for v in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output)
            if v.type.HasField("tensor_type")]


def _shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    return {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
            for v in _values(model) if v.type.tensor_type.HasField("shape")}





def pooled_convs(model: onnx.ModelProto) -> set[str]:
    """Names of the Conv nodes whose output is N x C x 1 x 1."""
    shapes = _shapes(model)
    return {n.name for n in model.graph.node
            if n.op_type == "Conv" and (s := shapes.get(n.output[0])) and len(s) == 4 and s[2:] == [1, 1]}


def network_tails(model: onnx.ModelProto, inside: set[str]) -> tuple[set[str], int]:
    """The last convolution of each network and the network nodes after it; and how many convolutions.

    A last convolution is one from which a path leaves the networks (or the graph) through no other Conv;
    the nodes on that path (the restorer's channel split and tanh) come with it, since quantizing their
    input would quantize the convolution's output all the same.
    """
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in model.graph.output}
    found: set[str] = set()
    convs = 0
    for conv in model.graph.node:
        if conv.op_type != "Conv" or conv.name not in inside:
            continue
        path, leaves = set(), False
        todo, seen = list(conv.output), set()
        while todo:
            tensor = todo.pop()
            if tensor in seen:
                continue
            seen.add(tensor)
            leaves |= tensor in graph_outputs
            for node in consumers.get(tensor, []):
                if node.name not in inside:
                    leaves = True
                elif node.op_type != "Conv":
                    path.add(node.name)
                    todo.extend(node.output)
        if leaves:
            found |= {conv.name} | path
            convs += 1
    return found, convs


def shapes_from_quantized(model: onnx.ModelProto) -> int:
    """Point every ``Shape`` that reads a DequantizeLinear's output at its quantized input, in place; how many."""
    producers = {out: node for node in model.graph.node for out in node.output}
    count = 0
    for node in model.graph.node:
        source = producers.get(node.input[0]) if node.op_type == "Shape" else None
        if source is not None and source.op_type == "DequantizeLinear":
            node.input[0] = source.input[0]
            count += 1
    return count
