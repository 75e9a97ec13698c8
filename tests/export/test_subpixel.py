"""The ConvTranspose rewrite (four 2x2 Convs + DepthToSpace) equals the original in FP32."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from revive.export.subpixel import rewrite_transposed_convs


def _deconv_model(c_in: int, c_out: int, bias: bool, **attrs) -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    weight = numpy_helper.from_array(rng.standard_normal((c_in, c_out, 4, 4)).astype(np.float32), "w")
    inits = [weight]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(c_out).astype(np.float32), "b"))
        inputs.append("b")
    node = helper.make_node("ConvTranspose", inputs, ["y"], name="up", kernel_shape=[4, 4],
                            **{"strides": [2, 2], "pads": [1, 1, 1, 1], **attrs})
    entry = node.metadata_props.add()
    entry.key, entry.value = "pkg.torch.onnx.name_scopes", "['', 'net']"
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", c_in, 5, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", c_out, 10, 14])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("bias", [True, False])
def test_rewrite_equals_the_transposed_convolution(bias):
    model = _deconv_model(3, 4, bias)
    rewritten, count = rewrite_transposed_convs(model)
    assert count == 1
    ops = [n.op_type for n in rewritten.graph.node]
    assert ops == ["Conv"] * 4 + ["Concat", "DepthToSpace"]
    assert {t.name for t in rewritten.graph.initializer} == {f"up.phase{a}{b}.weight" for a in (0, 1)
                                                             for b in (0, 1)} | ({"b"} if bias else set())
    onnx.checker.check_model(rewritten, full_check=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(np.float32)
    want, got = _run(model, x), _run(rewritten, x)
    assert want.shape == got.shape == (2, 4, 10, 14)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # The original is untouched and the new nodes keep its module scope (the FP32 block lists use it).
    assert [n.op_type for n in model.graph.node] == ["ConvTranspose"]
    assert all(n.metadata_props[0].value == "['', 'net']" for n in rewritten.graph.node)


def test_other_transposed_convolutions_are_left_alone():
    model = _deconv_model(2, 2, True, strides=[2, 2], pads=[0, 0, 0, 0])
    rewritten, count = rewrite_transposed_convs(model)
    assert count == 0 and [n.op_type for n in rewritten.graph.node] == ["ConvTranspose"]
