"""The model card refuses what the runtime cannot honour, and says what is wrong."""

import pytest

from revive.runtime.card import CardError, ModelCard, TensorSpec, card_path_for_engine, read_card


def card(**changes):
    base = dict(task="colorize", architecture="pix2pix_unet", color_space="lab", image_size=32,
                inputs=[TensorSpec("gray", "gray", "uint8", ["batch", 1, 32, 32])],
                outputs=[TensorSpec("rgb", "rgb", "uint8", ["batch", 3, 32, 32])],
                batch={"min": 1, "opt": 4, "max": 8}, precision="fp32", opset=18)
    base.update(changes)
    return ModelCard(**base)


def test_round_trip_through_json():
    c = card()
    assert ModelCard.from_json(c.to_json()) == c


@pytest.mark.parametrize("changes, words", [
    ({"task": "denoise"}, "task 'denoise'"),
    ({"color_space": "hsv"}, "color_space"),
    ({"precision": "int4"}, "precision"),
    ({"batch": {"min": 4, "opt": 2, "max": 8}}, "batch range"),
    ({"task": "pipeline"}, "'restored' and 'mask'"),
    ({"version": 9}, "card version 9"),
])
def test_bad_cards_say_why(changes, words):
    with pytest.raises(CardError, match=words):
        card(**changes)


def test_missing_fields_are_named():
    with pytest.raises(CardError, match="lacks .*precision"):
        ModelCard.from_dict({k: v for k, v in card().to_dict().items() if k != "precision"})


def test_engine_without_card_is_refused(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\0")
    assert card_path_for_engine(engine) == tmp_path / "model.card.json"
    with pytest.raises(CardError, match="no model card"):
        read_card(engine)


def test_onnx_without_card_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.UINT8, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [1])])
    path = tmp_path / "bare.onnx"
    onnx.save(helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18)]), path)
    with pytest.raises(CardError, match="no 'revive.card' metadata"):
        read_card(path)
