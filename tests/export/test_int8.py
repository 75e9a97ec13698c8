"""INT8 QDQ export: calibrated on images, ConvTranspose rewritten, wrapper in FP32, runs on ORT's CPU provider."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from PIL import Image

from revive.export.fp16 import network_nodes, node_scopes
from revive.export.to_int8 import main as to_int8_main
from revive.export.to_onnx import main as to_onnx_main
from revive.runtime.backends.ort import OrtBackend

UINT8 = onnx.TensorProto.UINT8


@pytest.fixture(scope="module")
def int8_export(tiny_checkpoints, tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8")
    ckpt = folder / "tiny.pt"
    ckpt.write_bytes(tiny_checkpoints["rgb"].read_bytes())
    assert to_onnx_main([str(ckpt), "--int8", "--calibration-images", "16", "--max-batch", "8"]) == 0
    return folder / "tiny.onnx", folder / "tiny.int8.onnx"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _sample_gray(n: int = 8, size: int = 32) -> np.ndarray:
    from revive.train.data import discover, load_item

    items = discover("sample")
    return np.stack([load_item(items[i], size, None)[0] for i in range(5, 5 + 13 * n, 13)])[:, None]


def test_int8_model_is_qdq_with_uint8_io_and_an_int8_card(int8_export):
    fp32_path, int8_path = int8_export
    model = onnx.load(str(int8_path))
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    assert "ConvTranspose" not in ops and ops.count("DepthToSpace") == 5  # num_downs=5: five up-sampling steps
    assert ops.count("QuantizeLinear") > 10 and "DequantizeLinear" in ops
    for value in [*model.graph.input, *model.graph.output]:
        assert value.type.tensor_type.elem_type == UINT8, value.name
    backend = OrtBackend(int8_path, device="cpu")
    try:
        card = backend.card
    finally:
        backend.close()
    assert card.precision == "int8"
    q = card.build["quantization"]
    assert q["format"] == "QDQ" and q["activations"] == "uint8" and q["transposed_convs_rewritten"] == 5
    assert q["calibration"] == "sample" and q["calibration_images"] == 16


def test_wrapper_nodes_stay_fp32(int8_export):
    fp32_path, int8_path = int8_export
    fp32, int8 = onnx.load(str(fp32_path)), onnx.load(str(int8_path))
    wrapper = {n.name: n.op_type for n in fp32.graph.node if n.name not in network_nodes(fp32)}
    assert {"Cast", "Round", "Clip"} <= set(wrapper.values())
    int8_ops = {n.name: n.op_type for n in int8.graph.node}
    assert all(int8_ops.get(name) == op for name, op in wrapper.items())  # all there, none replaced
    # Every convolution of the network (the rewritten phases too) reads int8 weights through a DequantizeLinear, but
    # those whose output is 1 x 1 (int8_graph.pooled_convs): at 32 px with 5 halvings, the innermost down-sampling
    # conv and the first up-sampling step's four phases.
    producers = {out: n for n in int8.graph.node for out in n.output}
    convs = [n for n in int8.graph.node if n.op_type == "Conv"]
    assert len(convs) == 5 + 4 * 5  # 5 down-sampling convs, 5 up-sampling steps of 4 phases
    fp32 = [c.name for c in convs if c.input[1] not in producers]
    for conv in convs:
        if conv.name not in fp32:
            assert producers[conv.input[1]].op_type == "DequantizeLinear", conv.name
    assert len(fp32) == 5 and all("inner.inner.inner.inner" in str(node_scopes(c)) for c in convs if c.name in fp32)


def test_int8_output_stays_close_to_fp32(int8_export):
    fp32_path, int8_path = int8_export
    gray = _sample_gray()
    outputs = []
    for path in (fp32_path, int8_path):
        backend = OrtBackend(path, device="cpu")
        try:
            outputs.append(backend.run(gray)["rgb"])
        finally:
            backend.close()
    assert outputs[0].dtype == outputs[1].dtype == np.uint8
    assert not np.array_equal(outputs[0], outputs[1])  # it really is a different (quantized) model ...
    assert _psnr(outputs[0], outputs[1]) > 40.0  # ... that stays close to FP32 (65 dB when written)


def test_stage_on_an_onnx_file_with_a_calibration_folder(int8_export, tmp_path, caplog):
    fp32_path, _ = int8_export
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, gray in enumerate(_sample_gray(4, 64)[:, 0]):
        Image.fromarray(gray).save(photos / f"p{i}.png")
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "m.int8.onnx"
    assert to_int8_main([str(fp32_path), "-o", str(out), "--calibration", str(photos),
                         "--calibration-method", "percentile"]) == 0
    backend = OrtBackend(out, device="cpu")
    try:
        q = backend.card.build["quantization"]
    finally:
        backend.close()
    assert q["calibration"] == str(photos) and q["calibration_images"] == 4
    assert q["calibration_method"] == "percentile"
    assert "broken.jpg" in caplog.text


@pytest.mark.parametrize("args, words", [
    (["--calibration", "{empty}"], "no readable image"),
    (["--calibration", "{missing}"], "not a folder of images"),
    (["--calibration-images", "0"], "at least 1"),
    (["-o", "{tmp}/m.fp16.onnx"], "NAME.int8.onnx"),
])
def test_user_errors_are_one_line(int8_export, tmp_path, capsys, args, words):
    (tmp_path / "empty").mkdir()
    args = [a.format(empty=tmp_path / "empty", missing=tmp_path / "nope", tmp=tmp_path) for a in args]
    assert to_int8_main([str(int8_export[0]), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_an_int8_model_is_not_a_stage_input(int8_export, capsys):
    assert to_int8_main([str(int8_export[1]), "-o", str(int8_export[1].with_name("again.int8.onnx"))]) == 2
    assert "precision int8" in capsys.readouterr().err
