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
  and the quantizer widened weight scales by factors of 10 to 10^6 to fit the bias
  (the quantizer's own log, quantizing the random-weight pipeline).
- ``network_tails``: the last convolution of a network whose output is split by
  channel, and the network nodes after it. Quantized per tensor, that output carries
  channels of different meaning in one range (the restorer's reconstruction and its
  damage logit: the reconstruction lost most of its 256 levels). A network whose
  output channels mean the same (RGB, ab) keeps its last convolution INT8: FP32 there
  cost 5 % of the pipeline's time for 0.3 dB of rgb. (The first convolution, which
  reads the normalised input, was tried in FP32 too: 13 % of the time for 0.0001 of SSIM.)
- ``upsamples_in_uint8``: after quantization, each nearest-neighbour 2x up-sampling
  between a DequantizeLinear and a QuantizeLinear of the same scale and zero point
  (the U-Net decoder's) becomes copies of the uint8 tensor in channels-last order:
  every pixel's channel vector twice side by side, then every row twice (two
  Concats and two Reshapes between a pair of Transposes that cancel against the
  ones ONNX Runtime puts around its NHWC quantized kernels). The same bytes:
  dequantizing, replicating and quantizing again with the same parameters gives
  each value back. ONNX Runtime's Resize on uint8 NHWC copies element by element
  on one thread: 16 % of the INT8 pipeline's time on 2 cores, against 3 % for the
  copies. The size computation that fed each Resize (``Shape`` of its input, which
  kept a float copy of the activation alive just to read its shape) goes with it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["network_tails", "pool_means", "pooled_convs", "upsamples_in_uint8"]


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
    """The last convolution of each network whose output is split by channel, and the network nodes after it;
    and how many convolutions.

    A last convolution is one from which a path leaves the networks (or the graph) through no other Conv;
    it counts when that path splits its channels (Split or Slice: the restorer's reconstruction and damage
    logit). The nodes on the path (the split, the tanh) come with it, since quantizing their input would
    quantize the convolution's output all the same.
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
        ops = {n.op_type for n in model.graph.node if n.name in path}
        if leaves and ops & {"Split", "Slice"}:
            found |= {conv.name} | path
            convs += 1
    return found, convs


def _same_quantization(model: onnx.ModelProto, a: onnx.NodeProto, b: onnx.NodeProto) -> bool:
    """Whether a DequantizeLinear and a QuantizeLinear use the same scale and zero point."""
    consts = _constants(model)
    if len(a.input) != 3 or len(b.input) != 3:
        return False
    return all(x == y or (x in consts and y in consts and np.array_equal(consts[x], consts[y]))
               for x, y in zip(a.input[1:], b.input[1:]))


def _nearest_2x(node: onnx.NodeProto, shapes: dict[str, list[int | None]]) -> list[int] | None:
    """(C, H, W) of the input of a Resize that replicates each pixel 2 x 2 (NCHW), else None."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    text = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
    if (text.get("mode") != "nearest" or text.get("coordinate_transformation_mode", "half_pixel") != "asymmetric"
            or text.get("nearest_mode", "round_prefer_floor") != "floor"):
        return None
    src, dst = shapes.get(node.input[0]), shapes.get(node.output[0])
    if not src or not dst or len(src) != 4 or len(dst) != 4 or None in src[1:] or None in dst[1:]:
        return None
    c, h, w = src[1:]
    return [c, h, w] if dst[1:] == [c, 2 * h, 2 * w] else None


def upsamples_in_uint8(model: onnx.ModelProto) -> int:
    """Rewrite, in place, every DequantizeLinear -> nearest 2x Resize -> QuantizeLinear (same scale and zero
    point) into channels-last copies of the uint8 tensor (module docstring); how many."""
    shapes = _shapes_with_data(model)
    producers = {out: n for n in model.graph.node for out in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    gone: set[int] = set()
    added: dict[int, list[onnx.NodeProto]] = {}
    count = 0
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        dq, qs = producers.get(node.input[0]), consumers.get(node.output[0], [])
        chw = _nearest_2x(node, shapes)
        if (chw is None or dq is None or dq.op_type != "DequantizeLinear" or len(qs) != 1
                or qs[0].op_type != "QuantizeLinear" or not _same_quantization(model, dq, qs[0])):
            continue
        c, h, w = chw
        name, q = node.name or f"upsample_{count}", qs[0]
        shape_wide, shape_out = f"{name}/rows.shape", f"{name}/out.shape"
        model.graph.initializer.extend([numpy_helper.from_array(np.array([0, h, 1, 2 * w * c], np.int64), shape_wide),
                                        numpy_helper.from_array(np.array([0, 2 * h, 2 * w, c], np.int64), shape_out)])
        t = [f"{name}/{k}" for k in ("nhwc", "pixels", "rows", "both", "up")]
        new = [helper.make_node("Transpose", [dq.input[0]], [t[0]], name=t[0], perm=[0, 2, 3, 1]),
               helper.make_node("Concat", [t[0], t[0]], [t[1]], name=t[1], axis=3),
               helper.make_node("Reshape", [t[1], shape_wide], [t[2]], name=t[2]),
               helper.make_node("Concat", [t[2], t[2]], [t[3]], name=t[3], axis=2),
               helper.make_node("Reshape", [t[3], shape_out], [t[4]], name=t[4]),
               helper.make_node("Transpose", [t[4]], list(q.output), name=f"{name}/nchw", perm=[0, 3, 1, 2])]
        for n in new:
            n.metadata_props.extend(node.metadata_props)
        added[id(node)] = new
        gone |= {id(node), id(q)} | ({id(dq)} if len(consumers.get(dq.output[0], [])) == 1 else set())
        count += 1
    nodes = []
    for node in model.graph.node:
        nodes.extend(added.get(id(node), []))
        if id(node) not in gone:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    _drop_dead_nodes(model)
    return count


def _shapes_with_data(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Shapes, with sizes computed in the graph (Shape -> Gather -> Concat) propagated."""
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    return {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
            for v in (*inferred.graph.value_info, *inferred.graph.output)
            if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")}


def _drop_dead_nodes(model: onnx.ModelProto) -> None:
    """Remove nodes none of whose outputs is read (the up-samplings' size computations), and unread initializers."""
    outputs = {o.name for o in model.graph.output}
    while True:
        read = {i for n in model.graph.node for i in n.input} | outputs
        dead = [n for n in model.graph.node if not any(o in read for o in n.output)]
        if not dead:
            break
        for n in dead:
            model.graph.node.remove(n)
    read = {i for n in model.graph.node for i in n.input}
    for t in [t for t in model.graph.initializer if t.name not in read]:
        model.graph.initializer.remove(t)
