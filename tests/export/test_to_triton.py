"""export/to_triton.py: a model repository whose configs parse with tritonclient's schema and match the cards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from revive.runtime.card import ModelCard, read_card

pytest.importorskip("tritonclient.grpc", reason="the serve extra (pip install 'revive[serve]') is not installed")

from revive.export.to_triton import main, parse_config  # noqa: E402

from tests.runtime.helpers import make_restore_onnx  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "export" / "to_triton.py"


@pytest.fixture(scope="module")
def restore_model(tmp_path_factory) -> Path:
    return make_restore_onnx(tmp_path_factory.mktemp("restore") / "restore.onnx")


def load(repo: Path, name: str):
    return parse_config((repo / name / "config.pbtxt").read_text())


def test_restore_colorize_repository(tmp_path, restore_model, tiny_onnx):
    from tritonclient.grpc import model_config_pb2 as pb

    colorize = tiny_onnx["lab"]
    repo = tmp_path / "repo"
    # Run by path, like the other export scripts.
    done = subprocess.run([sys.executable, str(SCRIPT), str(restore_model), str(colorize), "-o", str(repo),
                           "--instances", "2", "--max-queue-delay-us", "500"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    cards = {"restore": read_card(restore_model), "colorize": read_card(colorize)}
    for name, card in cards.items():
        config = load(repo, name)
        assert config.name == name and config.platform == "onnxruntime_onnx"
        assert config.max_batch_size == card.batch["max"]
        assert [(t.name, list(t.dims), t.data_type) for t in config.input] == \
            [(card.input.name, [1, card.image_size, card.image_size], pb.TYPE_UINT8)]
        assert [(t.name, list(t.dims)) for t in config.output] == [(o.name, [int(d) for d in o.shape[1:]])
                                                                   for o in card.outputs]
        assert list(config.dynamic_batching.preferred_batch_size) == sorted({card.batch["opt"], card.batch["max"]})
        assert config.dynamic_batching.max_queue_delay_microseconds == 500
        assert config.instance_group[0].count == 2
        assert (repo / name / "1" / "model.onnx").read_bytes() == (restore_model if name == "restore"
                                                                   else colorize).read_bytes()
        assert ModelCard.from_json((repo / name / "1" / "model.card.json").read_text()) == card
    ensemble = load(repo, "restore_colorize")
    assert ensemble.platform == "ensemble" and (repo / "restore_colorize" / "1").is_dir()
    first, second = ensemble.ensemble_scheduling.step
    assert first.model_name == "restore" and second.model_name == "colorize"
    # The step maps use the cards' tensor names: restorer in, its 'restored' into the colorizer's input.
    assert dict(first.input_map) == {cards["restore"].input.name: "gray"}
    assert dict(first.output_map) == {cards["restore"].output("restored").name: "restored",
                                      cards["restore"].output("mask").name: "mask"}
    assert dict(second.input_map) == {cards["colorize"].input.name: "restored"}
    assert dict(second.output_map) == {cards["colorize"].output("rgb").name: "rgb"}
    assert {t.name for t in ensemble.output} == {"restored", "mask", "rgb"}


def test_engine_gets_the_tensorrt_platform_and_gpu_instances(tmp_path, tiny_onnx):
    from tritonclient.grpc import model_config_pb2 as pb

    engine = tmp_path / "colorize.plan"
    engine.write_bytes(b"not really an engine: the repository only copies it")
    card = read_card(tiny_onnx["rgb"])
    (tmp_path / "colorize.card.json").write_text(card.to_json())
    assert main([str(engine), "-o", str(tmp_path / "repo"), "--max-batch", "4"]) == 0
    config = load(tmp_path / "repo", "colorize")
    assert config.platform == "tensorrt_plan" and config.max_batch_size == 4
    assert config.instance_group[0].kind == pb.ModelInstanceGroup.KIND_GPU
    assert (tmp_path / "repo" / "colorize" / "1" / "model.plan").is_file()
    assert json.loads((tmp_path / "repo" / "colorize" / "1" / "model.card.json").read_text())["task"] == "colorize"


def test_user_errors(tmp_path, tiny_onnx, capsys):
    repo = tmp_path / "repo"
    assert main([str(tiny_onnx["lab"]), str(tiny_onnx["rgb"]), "-o", str(repo)]) == 2
    assert "both be named 'colorize'" in capsys.readouterr().err
    assert main([str(tiny_onnx["lab"]), "-o", str(repo)]) == 0
    assert main([str(tiny_onnx["lab"]), "-o", str(repo)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main([str(tiny_onnx["lab"]), "-o", str(repo), "--force", "--names", "lab"]) == 0
    assert load(repo, "lab").name == "lab"
    assert main([str(tmp_path / "missing.onnx"), "-o", str(repo)]) == 2
    with pytest.raises(Exception):
        parse_config('name: "x"\nno_such_field: 1\n')
