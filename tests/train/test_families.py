"""The model-family registry: revive-train, the exporter and the benchmarks list families from it; one
module adds a family; every registered family gets forward, save/load and export tests for free."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from revive.runtime import cli as runtime_cli
from revive.runtime.card import read_card
from revive.train import cli
from revive.train.checkpoint import best_or_last, load_checkpoint, save_checkpoint
from revive.train.families import UnknownFamilyError, get_family, list_families

SIZE = 64  # a size every built-in family takes (pix2pix: a power of two; the U-Nets: a multiple of 32)
ROLE_CHANNELS = {"rgb": 3, "restored": 1, "mask": 1}


@pytest.fixture
def toy_family(monkeypatch):
    """tests/train/toy_family.py imported into copies of the family and model registries (undone after the test)."""
    from revive.train.families import _registry as families
    from revive.train.models import _registry as models

    monkeypatch.setattr(families, "_FAMILIES", dict(families._FAMILIES))
    monkeypatch.setattr(models, "_MODELS", dict(models._MODELS))
    monkeypatch.delitem(sys.modules, "toy_family", raising=False)
    yield importlib.import_module("toy_family").FAMILY
    sys.modules.pop("toy_family", None)


def test_the_built_in_families_are_listed_in_cli_order():
    assert list_families()[:4] == ["pix2pix", "restore", "colorize", "two-stage"]
    assert get_family("pipeline") is get_family("two-stage")  # revive-bench --model's name for it


def test_an_unknown_family_is_a_usage_error_listing_the_known_ones(capsys):
    with pytest.raises(UnknownFamilyError, match="unknown model family 'unet9000'; choose one of: pix2pix, restore"):
        get_family("unet9000")
    assert cli.main(["unet9000"]) == 2
    assert "invalid choice: 'unet9000'" in capsys.readouterr().err


def test_export_finds_a_checkpoints_family_by_its_config(tiny_checkpoints, tmp_path):
    from revive.export.to_onnx import graph_from_checkpoint
    from revive.train.checkpoint import CheckpointError
    from revive.train.families import family_of_checkpoint

    assert family_of_checkpoint({"family": "two_stage", "task": "colorize"}).name == "colorize"
    assert family_of_checkpoint({"task": "colorize"}).name == "pix2pix"  # configs from before "family"
    assert family_of_checkpoint({"family": "two_stage", "task": "segment"}) is None
    payload = load_checkpoint(tiny_checkpoints["rgb"])
    payload["config"]["task"] = "segment"
    torch.save(payload, tmp_path / "segment.pt")
    with pytest.raises(CheckpointError, match=r"task 'segment' has no exporter \(known: colorize, restore\)"):
        graph_from_checkpoint(tmp_path / "segment.pt")


def test_a_family_registered_in_one_module_trains_exports_and_runs(toy_family, tmp_path):
    from revive.benchmarks.random_models import random_model_names
    from revive.export import to_onnx

    assert "toy" in list_families() and "toy" in random_model_names()
    run = tmp_path / "run"
    assert cli.main(["toy", "--data", "sample", "--epochs", "1", "--max-steps", "2", "--batch-size", "4",
                     "--workers", "0", "--out", str(run)]) == 0
    ckpt = best_or_last(run)
    assert load_checkpoint(ckpt)["config"]["family"] == "toy"
    onnx_path = tmp_path / "toy.onnx"
    assert to_onnx.main([str(ckpt), "-o", str(onnx_path), "--max-batch", "4"]) == 0
    card = read_card(onnx_path)
    assert (card.task, card.architecture, card.image_size) == ("colorize", "toy_colorizer", 32)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48), dtype=np.uint8)).save(src / "a.png")
    assert runtime_cli.main(["--engine", str(onnx_path), str(src), "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    with Image.open(tmp_path / "out" / "a.png") as out:
        assert out.size == (48, 40) and out.mode == "RGB"


def test_the_throwaway_family_leaves_the_registries_as_they_were():
    from revive.train.models import list_models

    assert "toy" not in list_families() and "toy_colorizer" not in list_models()


# --- every registered family, for free ---------------------------------------------------------------------

def _graph(made):
    from revive.export.to_onnx import graph_from_checkpoint, pipeline_graph

    return pipeline_graph(*made) if isinstance(made, tuple) else graph_from_checkpoint(made)


def _gray(n=2):
    return torch.from_numpy(np.random.default_rng(1).integers(0, 256, (n, 1, SIZE, SIZE), dtype=np.uint8))


@pytest.fixture(scope="module")
def family_checkpoints(tmp_path_factory):
    """Each family's small random-weight checkpoint (or restore/colorize pair), made once."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # as revive-train on the CPU: much faster U-Net steps
    folder = tmp_path_factory.mktemp("families")
    made = {name: get_family(name).random_checkpoint(folder, SIZE, True)
            for name in list_families() if get_family(name).random_checkpoint}
    yield made
    torch.backends.mkldnn.enabled = before


@pytest.mark.parametrize("family", list_families())
def test_forward_gives_one_uint8_picture_per_output_role(family, family_checkpoints):
    graph, fields = _graph(family_checkpoints[family])
    with torch.no_grad():
        outputs = graph(_gray())
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert len(outputs) == len(fields["output_roles"])
    for role, out in zip(fields["output_roles"], outputs):
        assert out.dtype == torch.uint8 and tuple(out.shape) == (2, ROLE_CHANNELS[role], SIZE, SIZE), role


@pytest.mark.parametrize("family", list_families())
def test_checkpoints_load_weights_only_and_save_again_unchanged(family, family_checkpoints, tmp_path):
    from revive.train.checkpoint import build_model

    made = family_checkpoints[family]
    again = []
    for path in made if isinstance(made, tuple) else (made,):
        payload = torch.load(path, weights_only=True)  # raises on anything but plain data
        net = build_model(payload["config"], payload["model"], path)
        again.append(tmp_path / path.name)
        save_checkpoint(again[-1], net, payload["config"])
    a, _ = _graph(made)
    b, _ = _graph(tuple(again) if isinstance(made, tuple) else again[0])
    with torch.no_grad():
        for x, y in zip(*(out if isinstance(out, tuple) else (out,) for out in (a(_gray()), b(_gray())))):
            assert torch.equal(x, y)


@pytest.mark.parametrize("family", list_families())
def test_export_to_onnx_matches_the_torch_graph(family, family_checkpoints, tmp_path):
    from revive.export.to_onnx import export_checkpoint, export_pipeline

    made, out = family_checkpoints[family], tmp_path / f"{family}.onnx"
    if isinstance(made, tuple):
        export_pipeline(*made, out, max_batch=2)
    else:
        export_checkpoint(made, out, max_batch=2)
    graph, fields = _graph(made)
    card = read_card(out)
    assert card.task == fields["task"] and [o.role for o in card.outputs] == fields["output_roles"]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {card.input.name: _gray().numpy()})
    with torch.no_grad():
        want = graph(_gray())
    for role, g, w in zip(fields["output_roles"], got, want if isinstance(want, tuple) else (want,)):
        assert np.abs(g.astype(int) - w.numpy().astype(int)).max() <= 1, role
