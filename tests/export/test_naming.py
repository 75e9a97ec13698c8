"""One naming rule: NAME.onnx FP32, NAME.fp16.onnx, NAME.int8.onnx, NAME.engine + NAME.card.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from revive.export.formats import StageError, export_formats, markdown_table
from revive.export.naming import artifacts, precision_tag
from revive.export.to_onnx import output_artifacts
from revive.export.trt_build import output_paths
from revive.runtime.card import card_path_for_engine


@pytest.mark.parametrize("source", ["runs/best.pt", "runs/best.onnx", "runs/best.fp16.onnx", "runs/best.int8.onnx",
                                    "runs/best.engine", "runs/best.plan", "runs/best.card.json"])
def test_every_artifact_names_the_same_family(source):
    names = artifacts(source)
    assert names.base == Path("runs/best")
    assert (names.onnx(), names.onnx("fp16"), names.onnx("int8"), names.engine, names.card) == tuple(
        Path("runs") / n for n in ("best.onnx", "best.fp16.onnx", "best.int8.onnx", "best.engine", "best.card.json"))


def test_the_runtime_finds_the_engine_card_the_rule_names():
    assert card_path_for_engine(artifacts("m.pt").engine) == artifacts("m.pt").card


def test_precision_tags():
    assert [precision_tag(p) for p in ("a.onnx", "a.fp16.onnx", "a.int8.onnx", "a.engine")] == \
        ["fp32", "fp16", "int8", None]
    with pytest.raises(ValueError, match="fp32, fp16, int8"):
        artifacts("a.pt").onnx("bf16")


def test_to_onnx_output_names_the_fp32_model():
    assert output_artifacts("out/colorize.onnx", fp16=True).onnx("fp16") == Path("out/colorize.fp16.onnx")
    assert output_artifacts("out/colorize.fp16.onnx", fp16=True).onnx() == Path("out/colorize.onnx")
    with pytest.raises(StageError, match="name of the fp16 model"):
        output_artifacts("colorize.fp16.onnx")
    with pytest.raises(StageError, match="NAME.onnx"):
        output_artifacts("colorize.bin")


def test_to_trt_uses_the_same_rule(tmp_path):
    assert output_paths(None, tmp_path / "m.int8.onnx") == (tmp_path / "m.engine", tmp_path / "m.onnx",
                                                           tmp_path / "m.fp16.onnx")


def test_the_format_table_lists_every_stage():
    formats = export_formats()
    assert ["onnx", "fp16", "int8", "tensorrt"] == [k for k in formats if k != "triton"]
    names = artifacts("NAME.pt")
    assert [f.path(names).name for f in formats.values()][:4] == ["NAME.onnx", "NAME.fp16.onnx", "NAME.int8.onnx",
                                                                 "NAME.engine"]
    table = markdown_table()
    assert table.count("\n") == len(formats) + 1 and "`NAME.int8.onnx`" in table
