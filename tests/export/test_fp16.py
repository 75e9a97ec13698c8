"""FP32 -> FP16 ONNX: a valid model, uint8 I/O, fragile nodes in FP32, parity on ONNX Runtime CPU."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from revive.export.cards import make_card
from revive.export.fp16 import convert_to_fp16, network_nodes
from revive.export.graph import to_uint8
from revive.export.to_onnx import export_graph

FLOAT, HALF, UINT8 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.UINT8


def _types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    types.update({t.name: t.data_type for t in graph.initializer})
    return types


def _run(path, gray):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: gray})


def _gray(n=3, size=32):
    from revive.export.trt_verify import synthetic_batch

    return synthetic_batch(n, size, seed=1)


def test_fp16_model_is_valid_with_uint8_io(tiny_onnx):
    model = onnx.load(str(tiny_onnx["lab_fp16"]))
    onnx.checker.check_model(model, full_check=True)
    for value in [*model.graph.input, *model.graph.output]:
        assert value.type.tensor_type.elem_type == UINT8, value.name
    assert any(t.data_type == HALF for t in model.graph.initializer)  # the network's weights


def test_wrapper_nodes_stay_fp32(tiny_onnx):
    fp32 = onnx.load(str(tiny_onnx["lab"]))
    half = onnx.load(str(tiny_onnx["lab_fp16"]))
    types = _types(half)
    outside = [n for n in half.graph.node if n.name in {m.name for m in fp32.graph.node} - network_nodes(fp32)]
    ops = {n.op_type for n in outside}
    assert {"Pow", "Where", "Cast"} <= ops  # the Lab tail and the uint8 casts are there ...
    for node in outside:  # ... and none of them computes in FP16
        for name in node.output:
            assert types.get(name) != HALF, f"{node.op_type} {node.name} outputs float16"
    casts = [n for n in outside if n.op_type == "Cast"]
    first = next(n for n in casts if n.input[0] == half.graph.input[0].name)
    assert types[first.output[0]] == FLOAT
    last = next(n for n in casts if n.output[0] == half.graph.output[0].name)
    assert types[last.input[0]] == FLOAT


@pytest.mark.parametrize("color_space", ["lab", "rgb"])
def test_fp16_matches_fp32_on_cpu_within_one_level(tiny_onnx, tiny_checkpoints, tmp_path, color_space):
    from revive.export.to_fp16 import write_fp16

    half_path = tiny_onnx["lab_fp16"] if color_space == "lab" else tmp_path / "rgb.fp16.onnx"
    if color_space == "rgb":
        card = write_fp16(tiny_onnx["rgb"], half_path)
        assert card.precision == "fp16"
    gray = _gray()
    (a,), (b,) = _run(tiny_onnx[color_space], gray), _run(half_path, gray)
    assert a.dtype == b.dtype == np.uint8 and a.shape == b.shape == (3, 3, 32, 32)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


class _InstanceNormGraph(nn.Module):
    """A network with InstanceNorm2d inside the ``net`` scope, wrapped like ColorizeGraph."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.InstanceNorm2d(8, affine=True), nn.ReLU(),
                                 nn.Conv2d(8, 3, 3, padding=1), nn.Tanh())

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        return to_uint8((self.net(gray.float() / 127.5 - 1.0).float() + 1.0) * 127.5)


def test_instance_normalization_stays_fp32(tmp_path):
    torch.manual_seed(0)
    graph = _InstanceNormGraph().eval()
    with torch.no_grad():  # non-trivial affine parameters
        graph.net[1].weight.uniform_(0.5, 1.5)
        graph.net[1].bias.uniform_(-0.2, 0.2)
    card = make_card(task="colorize", architecture="toy", color_space="rgb", image_size=16, output_roles=["rgb"],
                     batch={"min": 1, "opt": 2, "max": 4}, precision="fp32", opset=18, checkpoint_sha256="")
    export_graph(graph, card, tmp_path / "in.onnx")
    fp32 = onnx.load(str(tmp_path / "in.onnx"))
    norms = [n for n in fp32.graph.node if n.op_type == "InstanceNormalization"]
    assert norms and all(n.name in network_nodes(fp32) for n in norms)  # inside the network scope
    half = convert_to_fp16(fp32)
    onnx.checker.check_model(half, full_check=True)
    types = _types(half)
    assert any(types.get(n.output[0]) == HALF for n in half.graph.node if n.op_type == "Conv")
    for node in (n for n in half.graph.node if n.op_type == "InstanceNormalization"):
        assert all(types[name] == FLOAT for name in [*node.input, *node.output]), node.name
    onnx.save(half, str(tmp_path / "in.fp16.onnx"))
    gray = _gray(2, 16)
    (a,), (b,) = _run(tmp_path / "in.onnx", gray), _run(tmp_path / "in.fp16.onnx", gray)
    with torch.no_grad():
        ref = graph(torch.from_numpy(gray)).numpy()
    assert np.abs(a.astype(int) - ref.astype(int)).max() <= 1
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_converter_refuses_a_graph_without_network_scopes(tiny_onnx):
    model = onnx.load(str(tiny_onnx["lab"]))
    for node in model.graph.node:
        del node.metadata_props[:]
    with pytest.raises(ValueError, match="network scope"):
        convert_to_fp16(model)
