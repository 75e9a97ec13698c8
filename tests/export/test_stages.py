"""The FP16 stage on its own (main(argv)) and inside to_onnx (in memory), and to_onnx's naming of its files."""

from __future__ import annotations

import onnx
import pytest

from revive.export import to_onnx
from revive.export.to_fp16 import main as to_fp16_main
from revive.runtime.backends.ort import OrtBackend


def _precision(path) -> str:
    backend = OrtBackend(path, device="cpu")
    try:
        return backend.card.precision
    finally:
        backend.close()


def test_fp16_stage_writes_name_fp16_onnx(tiny_onnx, tmp_path):
    source = tmp_path / "m.onnx"
    source.write_bytes(tiny_onnx["rgb"].read_bytes())
    assert to_fp16_main([str(source)]) == 0
    assert _precision(tmp_path / "m.fp16.onnx") == "fp16" and _precision(source) == "fp32"


@pytest.mark.parametrize("args, words", [
    (["{fp16}"], "precision fp16"),
    (["{missing}"], "no such file"),
    (["{fp32}", "-o", "{fp32}"], "NAME.fp16.onnx"),
    (["{garbage}"], "not a readable ONNX model"),
])
def test_fp16_stage_user_errors(tiny_onnx, tmp_path, capsys, args, words):
    garbage = tmp_path / "g.onnx"
    garbage.write_bytes(b"\x00junk")
    paths = {"fp16": tiny_onnx["lab_fp16"], "fp32": tiny_onnx["lab"], "missing": tmp_path / "nope.onnx",
             "garbage": garbage}
    assert to_fp16_main([a.format(**paths) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_to_onnx_fp16_names_by_the_rule_and_converts_in_memory(tiny_checkpoints, tmp_path, monkeypatch):
    def no_reload(*args, **kwargs):
        raise AssertionError("the FP16 stage reloaded a file; it should convert the model in memory")

    monkeypatch.setattr(onnx, "load", no_reload)
    monkeypatch.setattr(onnx, "load_model", no_reload)
    card = to_onnx.export_checkpoint(tiny_checkpoints["lab"], tmp_path / "colorize.onnx", fp16=True, max_batch=4)
    monkeypatch.undo()
    assert card.precision == "fp32"
    assert _precision(tmp_path / "colorize.onnx") == "fp32"
    assert _precision(tmp_path / "colorize.fp16.onnx") == "fp16"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colorize.fp16.onnx", "colorize.onnx"]


def test_to_onnx_refuses_a_variant_name_for_the_fp32_model(tiny_checkpoints, tmp_path, capsys):
    assert to_onnx.main([str(tiny_checkpoints["lab"]), "-o", str(tmp_path / "c.fp16.onnx")]) == 2
    assert "give the FP32 name NAME.onnx" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
