"""The plain parts of the TensorRT build: profiles, workspace, versions, cache key, card, read-back."""

from __future__ import annotations

import json

import pytest

from revive.export.trt_build import BuildError, ParserIssue, Profile, TensorRTMissing, built_precision, cache_key, \
    cached_engine_matches, check_version, engine_card, format_parser_errors, layer_dtypes_from_inspector, \
    output_paths, parse_workspace, validate_opt_level, validate_profile
from revive.export.cards import make_card
from revive.runtime.card import ModelCard, card_path_for_engine, write_card_json


def test_profile_accepts_ordered_batches():
    assert validate_profile(1, 32, 64) == Profile(1, 32, 64)
    assert validate_profile(4, 4, 4).shapes(32) == ((4, 1, 32, 32),) * 3


@pytest.mark.parametrize("args, needle", [((0, 1, 2), "start at 1"), ((1, 8, 4), "min <= opt <= max"),
                                          ((4, 2, 8), "min <= opt <= max")])
def test_profile_rejects_bad_orders(args, needle):
    with pytest.raises(BuildError, match=needle):
        validate_profile(*args)


def test_profile_cannot_exceed_the_exported_batch():
    with pytest.raises(BuildError, match="exported for batches up to 8"):
        validate_profile(1, 4, 16, limit=8)


@pytest.mark.parametrize("text, expected", [("1073741824", 1 << 30), ("4GiB", 4 << 30), ("512MiB", 512 << 20),
                                            ("8G", 8 << 30), ("1.5GiB", 3 << 29), ("2GB", 2_000_000_000),
                                            (" 64 KiB ", 64 << 10), (4096, 4096)])
def test_workspace_sizes(text, expected):
    assert parse_workspace(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "4XB", "-1", "0", "4 Gibibytes"])
def test_workspace_rejects_nonsense(text):
    with pytest.raises(BuildError, match="--workspace"):
        parse_workspace(text)


def test_opt_level_range():
    assert validate_opt_level(0) == 0 and validate_opt_level(5) == 5
    with pytest.raises(BuildError, match="0..5"):
        validate_opt_level(6)


@pytest.mark.parametrize("version, major", [("10.12.0.36", 10), ("10.16.1", 10), ("11.1.0", 11), ("12.0.0", 12)])
def test_supported_versions(version, major):
    assert check_version(version) == major


@pytest.mark.parametrize("version", ["10.11.0", "8.6.1", "9.0"])
def test_old_versions_are_refused_with_the_fix(version):
    with pytest.raises(TensorRTMissing, match=r">= 10\.12.*pip install -U tensorrt"):
        check_version(version)


KEY_FACTS = dict(onnx_sha256="ab" * 32, tensorrt_version="10.13.0", compute_capability="8.9",
                 profile=Profile(1, 32, 64), opt_level=3, workspace=4 << 30, input_name="gray")


def test_cache_key_is_stable_and_hex():
    key = cache_key(**KEY_FACTS)
    assert key == cache_key(**KEY_FACTS) and len(key) == 64 and int(key, 16) >= 0


@pytest.mark.parametrize("change", [{"onnx_sha256": "cd" * 32}, {"tensorrt_version": "11.1.0"},
                                    {"compute_capability": "9.0"}, {"profile": Profile(1, 16, 64)},
                                    {"opt_level": 5}, {"workspace": 1 << 30}])
def test_cache_key_changes_with_every_fact(change):
    assert cache_key(**{**KEY_FACTS, **change}) != cache_key(**KEY_FACTS)


def _onnx_card(precision: str = "fp16") -> ModelCard:
    return make_card(task="colorize", architecture="pix2pix_unet", color_space="lab", image_size=32,
                     output_roles=["rgb"], batch={"min": 1, "opt": 8, "max": 8}, precision=precision, opset=18,
                     checkpoint_sha256="ef" * 32)


def test_engine_card_records_the_build():
    build = {"tensorrt_version": "11.1.0", "gpu_name": "NVIDIA H100", "compute_capability": "9.0",
             "onnx_sha256": "ab" * 32, "profile": {"min": 2, "opt": 4, "max": 8}, "precision_built": "fp16",
             "cache_key": "k"}
    card = engine_card(_onnx_card(), profile=Profile(2, 4, 8), precision="fp16", build=build)
    assert card.batch == {"min": 2, "opt": 4, "max": 8}
    assert card.precision == "fp16"
    assert card.producer["tensorrt"] == "11.1.0" and "torch" in card.producer
    assert card.build["backend"] == "tensorrt" and card.build["compute_capability"] == "9.0"
    assert card.inputs == _onnx_card().inputs and card.outputs == _onnx_card().outputs
    assert ModelCard.from_json(card.to_json()) == card


def test_cached_engine_matches_only_its_key(tmp_path):
    engine = tmp_path / "m.engine"
    assert not cached_engine_matches(engine, "k")
    engine.write_bytes(b"plan")
    assert not cached_engine_matches(engine, "k")  # no card
    card = engine_card(_onnx_card(), profile=Profile(1, 8, 8), precision="fp16", build={"cache_key": "k"})
    write_card_json(card, card_path_for_engine(engine))
    assert cached_engine_matches(engine, "k")
    assert not cached_engine_matches(engine, "other")
    card_path_for_engine(engine).write_text("{not json")
    assert not cached_engine_matches(engine, "k")


def test_parser_errors_name_node_and_operator():
    text = format_parser_errors("m.fp16.onnx", [ParserIssue("node_Pow_12", "Pow", "unsupported type"),
                                                ParserIssue("", "", "bad graph")])
    assert "m.fp16.onnx" in text and "2 error(s)" in text
    assert "node 'node_Pow_12' (Pow): unsupported type" in text
    assert "(no node) (unknown operator): bad graph" in text


def test_layer_precisions_from_the_inspector():
    info = json.dumps({"Layers": [
        {"Name": "a", "Outputs": [{"Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}]},
        {"Name": "b", "Outputs": [{"Format/Datatype": "Row major linear FP32"}]},
        {"Name": "c", "Outputs": [{"Format/Datatype": "Row major linear UInt8 format"}]},
        "layer names only"]})
    counts = layer_dtypes_from_inspector(info)
    assert counts == {"half": 1, "float": 1, "uint8": 1}
    assert built_precision(counts) == "fp16"
    assert built_precision(layer_dtypes_from_inspector(json.dumps({"Layers": ["x"]}))) == "fp32"
    assert layer_dtypes_from_inspector("not json") == {}


def test_output_paths(tmp_path):
    assert output_paths(None, tmp_path / "m.pt") == (tmp_path / "m.engine", tmp_path / "m.onnx",
                                                     tmp_path / "m.fp16.onnx")
    assert output_paths(None, tmp_path / "m.fp16.onnx")[0] == tmp_path / "m.engine"
    assert output_paths(str(tmp_path / "out" / "x.plan"), "m.pt")[2] == tmp_path / "out" / "x.fp16.onnx"
    with pytest.raises(BuildError, match=r"\.engine or \.plan"):
        output_paths("x.onnx", "m.pt")
