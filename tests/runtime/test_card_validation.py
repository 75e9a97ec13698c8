"""Hostile model cards (issue 15, finding 9): every one is refused at load with exit 2 and one line, no traceback."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from revive.runtime.card import CARD_KEY, CardError, ModelCard
from revive.runtime.cli import main

from .helpers import noise


def _edit(card: dict, change: str) -> dict:
    card = json.loads(json.dumps(card))
    if change == "size_zero":
        card["image_size"] = 0
    elif change == "size_negative":
        card["image_size"] = -5
    elif change == "size_string":
        card["image_size"] = "32"
    elif change == "size_huge":
        card["image_size"] = 100000
    elif change == "size_bool":
        card["image_size"] = True
    elif change == "graph_disagrees":  # a self-consistent card for 64 px on a 32 px graph
        card["image_size"] = 64
        for t in card["inputs"] + card["outputs"]:
            t["shape"][2:] = [64, 64]
    elif change == "shape_disagrees":
        card["image_size"] = 64
    elif change == "batch_huge":
        card["batch"] = {"min": 10**9, "opt": 10**9, "max": 10**9}
    elif change == "batch_strings":
        card["batch"] = {"min": "1", "opt": "4", "max": "8"}
    elif change == "batch_not_object":
        card["batch"] = [1, 4, 8]
    elif change == "short_shape":
        card["inputs"][0]["shape"] = ["batch", 1]
    elif change == "channels_string":
        card["inputs"][0]["shape"][1] = "one"
    elif change == "rgb_one_channel":
        card["outputs"][0]["shape"][1] = 1
    elif change == "inputs_not_list":
        card["inputs"] = "gray"
    elif change == "opset_string":
        card["opset"] = "18"
    return card


CHANGES = ["size_zero", "size_negative", "size_string", "size_huge", "size_bool", "graph_disagrees",
           "shape_disagrees", "batch_huge", "batch_strings", "batch_not_object", "short_shape", "channels_string",
           "rgb_one_channel", "inputs_not_list", "opset_string"]


@pytest.fixture(scope="module")
def good_card(tiny_onnx) -> dict:
    import onnx

    proto = onnx.load(str(tiny_onnx["rgb"]))
    return json.loads(next(p.value for p in proto.metadata_props if p.key == CARD_KEY))


@pytest.mark.parametrize("change", [c for c in CHANGES if c != "graph_disagrees"])
def test_card_fields_are_checked_for_type_and_range(good_card, change):
    ModelCard.from_dict(good_card)
    with pytest.raises(CardError):
        ModelCard.from_dict(_edit(good_card, change))


@pytest.mark.parametrize("change", CHANGES)
def test_runtime_infer_refuses_a_hostile_card(change, good_card, tiny_onnx, tmp_path, capsys):
    import onnx

    proto = onnx.load(str(tiny_onnx["rgb"]))
    next(p for p in proto.metadata_props if p.key == CARD_KEY).value = json.dumps(_edit(good_card, change))
    model = tmp_path / "hostile.onnx"
    onnx.save(proto, str(model))
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(noise(20, 30)).save(src / "a.png")
    for dry in ((), ("--dry-run",)):
        code = main(["--engine", str(model), str(src), "-o", str(tmp_path / "out"), "--no-progress", *dry])
        err = capsys.readouterr().err
        if dry and change == "graph_disagrees":  # a dry run reads only the card, not the graph
            continue
        assert code == 2, (change, dry, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "hostile.onnx" in err
    assert not (tmp_path / "out" / "a.png").exists()
