"""INT8 for restore-family graphs: which convolutions stay FP32 and why, --int8-keep, the exact rewrites, parity."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from revive.export.fp16 import network_nodes, node_scopes
from revive.export.int8_graph import pool_means, upsamples_in_uint8
from revive.export.to_int8 import main as to_int8_main
from revive.export.to_onnx import main as to_onnx_main
from revive.runtime.backends.ort import OrtBackend
from revive.runtime.composite import mask_weight

from tiny_unets import SIZE

pytestmark = pytest.mark.usefixtures("no_onednn")


@pytest.fixture(scope="module")
def quantized(two_stage_onnx, two_stage_checkpoints, tmp_path_factory):
    """The tiny pipeline quantized by the stage, and again by to_onnx --int8 --int8-keep restorer."""
    folder = tmp_path_factory.mktemp("int8_two_stage")
    plain = folder / "pipeline.int8.onnx"
    assert to_int8_main([str(two_stage_onnx["pipeline"]), "-o", str(plain), "--calibration-images", "32"]) == 0
    ck = two_stage_checkpoints
    assert to_onnx_main(["--pipeline", str(ck["restore"]), str(ck["colorize"]), "-o", str(folder / "kept.onnx"),
                         "--int8", "--int8-keep", "restorer", "--calibration-images", "32", "--max-batch", "4"]) == 0
    return {"fp32": two_stage_onnx["pipeline"], "int8": plain, "kept": folder / "kept.int8.onnx"}


def _conv_weights(model: onnx.ModelProto) -> dict[str, str]:
    """Conv node name -> 'int8' (its weight comes through a DequantizeLinear) or 'fp32'."""
    producers = {out: n for n in model.graph.node for out in n.output}
    return {n.name: "int8" if n.input[1] in producers and producers[n.input[1]].op_type == "DequantizeLinear"
            else "fp32" for n in model.graph.node if n.op_type == "Conv"}


def _in(node: onnx.NodeProto, word: str) -> bool:
    return any(word in s for s in node_scopes(node))


def _card(path):
    backend = OrtBackend(path, device="cpu")
    try:
        return backend.card
    finally:
        backend.close()


def test_last_and_pooled_convolutions_stay_fp32_and_the_rest_is_int8(quantized):
    model = onnx.load(str(quantized["int8"]))
    onnx.checker.check_model(model, full_check=True)
    kinds = _conv_weights(model)
    convs = {n.name: n for n in model.graph.node if n.op_type == "Conv"}
    heads = {name for name, n in convs.items() if _in(n, "segmentation_head")}
    restorer_head = {name for name in heads if _in(convs[name], "restorer")}
    excitation = {name for name, n in convs.items() if _in(n, "_se_")}
    assert len(heads) == 2 and len(excitation) > 10  # one head per network; two 1 x 1 convs per MBConv block
    # The restorer's head (reconstruction and damage logit in one tensor) stays FP32; the colorizer's is INT8.
    assert {name for name, k in kinds.items() if k == "fp32"} == restorer_head | excitation
    assert sum(k == "int8" for k in kinds.values()) > 100
    q = _card(quantized["int8"]).build["quantization"]
    ops = [n.op_type for n in model.graph.node]
    assert q["fp32_last_convs"] == 1 and q["fp32_pooled_convs"] == len(excitation) and q["kept_fp32"] == []
    # The restorer's channel split and tanh after its head stay FP32: no QuantizeLinear reads the head's output.
    readers = [n.op_type for h in restorer_head for n in model.graph.node if convs[h].output[0] in n.input]
    assert readers and "QuantizeLinear" not in readers
    # The decoders' nearest-neighbour up-samplings run as uint8 copies: no Resize is left.
    assert "Resize" not in ops and q["upsamples_in_uint8"] == 10  # five decoder blocks per network
    assert "ReduceMean" not in ops and ops.count("GlobalAveragePool") == q["means_pooled"] == len(excitation) // 2
    # ... and the Shape reads that sized them (each kept a float copy of an activation alive) went with them.
    assert "Shape" not in ops and "Shape" in [n.op_type for n in onnx.load(str(quantized["fp32"])).graph.node]


def test_int8_keep_restorer_leaves_the_whole_restorer_fp32(quantized):
    model = onnx.load(str(quantized["kept"]))
    kinds = _conv_weights(model)
    convs = {n.name: n for n in model.graph.node if n.op_type == "Conv"}
    restorer = {name for name, n in convs.items() if _in(n, "restorer")}
    assert restorer and all(kinds[name] == "fp32" for name in restorer)
    colorizer_int8 = [name for name, n in convs.items() if _in(n, "colorizer") and kinds[name] == "int8"]
    assert len(colorizer_int8) > 20
    card = _card(quantized["kept"])
    assert card.precision == "int8" and card.build["quantization"]["kept_fp32"] == ["restorer"]


def _damaged_sample(n: int = 8) -> np.ndarray:
    from revive.train.damage import damage, validation_rng
    from revive.train.data import discover, load_item

    items = discover("sample")
    picks = [items[i] for i in range(3, 3 + 11 * n, 11)]
    return np.stack([damage(load_item(it, SIZE, None)[0], validation_rng(1, it.key))[0] for it in picks])[:, None]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# PSNR against FP32 each variant must reach. The tiny restorer's mask head is scaled 40x (tests/tiny_unets.py), so
# its damage logit amplifies the 8-bit error of its slim (8-channel) decoder: 37.5 dB restored and 31.7 dB mask when
# written (the full-size pipeline: 53.6 and 55.9 dB, revive-bench parity). With the restorer kept FP32 its outputs
# are FP32's.
FLOORS = {"int8": {"rgb": 40.0, "restored": 35.0, "mask": 30.0}, "kept": {"rgb": 40.0, "restored": 60.0, "mask": 60.0}}


@pytest.mark.parametrize("variant", ["int8", "kept"])
def test_int8_pipeline_stays_close_to_fp32_and_keeps_the_input_where_the_weight_is_zero(quantized, variant):
    x = _damaged_sample()
    outs = {}
    for name in ("fp32", variant):
        backend = OrtBackend(quantized[name], device="cpu")
        try:
            outs[name] = backend.run(x)
        finally:
            backend.close()
    ref, got = outs["fp32"], outs[variant]
    assert not np.array_equal(ref["rgb"], got["rgb"])  # a quantized model ...
    psnr = {role: _psnr(ref[role], got[role]) for role in ("rgb", "restored", "mask")}
    assert all(psnr[role] > floor for role, floor in FLOORS[variant].items()), psnr  # ... close to FP32
    # The composite stays FP32 and exact: the input, untouched, wherever the INT8 model's own mask weighs 0.
    off = mask_weight(got["mask"]) == 0
    assert off.any() and np.array_equal(got["restored"][off], x[off])


def test_an_unknown_module_is_a_one_line_error_naming_the_networks(two_stage_onnx, tmp_path, capsys):
    out = tmp_path / "m.int8.onnx"
    assert to_int8_main([str(two_stage_onnx["pipeline"]), "-o", str(out), "--keep", "decoder",
                         "--calibration-images", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "decoder" in err and "colorizer, restorer" in err and not out.exists()


def _mean_graph(axes: list[int]) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 5, 7])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    axes_init = numpy_helper.from_array(np.array(axes, np.int64), "axes")
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean", keepdims=1)
    graph = helper.make_graph([node], "g", [x], [y], [axes_init])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize("axes, pooled", [([2, 3], True), ([-1, -2], True), ([1], False), ([3], False)])
def test_pool_means_turns_spatial_means_into_the_same_global_pool(axes, pooled):
    model = _mean_graph(axes)
    rewritten, count = pool_means(model)
    assert count == int(pooled)
    assert [n.op_type for n in rewritten.graph.node] == ["GlobalAveragePool" if pooled else "ReduceMean"]
    assert [n.op_type for n in model.graph.node] == ["ReduceMean"]  # the input model is left as it is
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 7)).astype(np.float32)
    run = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
           for m in (model, rewritten)]
    np.testing.assert_allclose(run[0], run[1], rtol=1e-6, atol=1e-7)


def test_network_nodes_of_the_quantized_graph_still_carry_their_scopes(quantized):
    """The FP32 wrapper is found in the INT8 model as in the FP32 one (the quantizer copies node metadata)."""
    fp32, int8 = onnx.load(str(quantized["fp32"])), onnx.load(str(quantized["int8"]))
    wrapper = {n.name for n in fp32.graph.node if n.name not in network_nodes(fp32)}
    assert wrapper <= {n.name for n in int8.graph.node}


def _upsample_graph(q_scale: float) -> onnx.ModelProto:
    """uint8 N x 3 x 4 x 5 -> DequantizeLinear -> nearest 2x Resize -> QuantizeLinear (scale ``q_scale``)."""
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, ["n", 3, 4, 5])
    y = helper.make_tensor_value_info("y", TensorProto.UINT8, None)
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
             numpy_helper.from_array(np.array(7, np.uint8), "z"),
             numpy_helper.from_array(np.array(q_scale, np.float32), "s2"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xf"], name="dq"),
             helper.make_node("Resize", ["xf", "", "scales"], ["up"], name="up", mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
             helper.make_node("QuantizeLinear", ["up", "s2", "z"], ["y"], name="q")]
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize("q_scale, rewritten", [(0.05, True), (0.1, False)])
def test_upsamples_in_uint8_give_the_same_bytes(q_scale, rewritten):
    model = _upsample_graph(q_scale)
    before = model.SerializeToString()
    assert upsamples_in_uint8(model) == int(rewritten)  # a requantizing Resize (another scale) is left alone
    assert ("Resize" in [n.op_type for n in model.graph.node]) != rewritten
    x = np.random.default_rng(1).integers(0, 256, (2, 3, 4, 5), dtype=np.uint8)
    run = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
           for m in (before, model.SerializeToString())]
    assert run[0].shape == (2, 3, 8, 10) and np.array_equal(run[0], run[1])
