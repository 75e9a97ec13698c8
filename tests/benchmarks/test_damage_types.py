"""revive-bench damage-types: each kind of damage alone, and what the restorer leaves of it."""

import json

import numpy as np

from revive.benchmarks.damage_types import KIND_COUNTS, _film_pictures, _scan_pictures, run_damage_types


def test_each_scan_picture_carries_one_kind_alone():
    pictures = _scan_pictures((2,))
    assert sorted({p["kind"] for p in pictures}) == sorted(KIND_COUNTS)
    pixels = dict.fromkeys(KIND_COUNTS, 0)
    for p in pictures:
        (kind, mask), = p["masks"].items()
        assert kind == p["kind"]
        moved = np.abs(p["damaged"].astype(int) - p["truth"]) > 12
        assert np.array_equal(mask, moved)  # nothing but this kind moved a pixel
        pixels[kind] += int(mask.sum())
    assert all(pixels.values()), pixels


def test_film_frames_split_dust_from_the_persistent_scratch():
    pictures = _film_pictures(((160, 120),))
    assert len(pictures) == 5
    for p in pictures:
        scratch, dust = p["masks"]["film scratch 160x120"], p["masks"]["film dust 160x120"]
        assert not (scratch & dust).any()
        assert np.flatnonzero(scratch.any(0)).tolist() == [160 // 3, 160 // 3 + 1]


def test_the_bundled_restorer_takes_most_of_each_kind_away(tmp_path):
    data = run_damage_types("builtin:restore", "classical", "cpu", scales=(2,), film_sizes=((320, 240),))
    json.dumps(data)  # plain data
    assert set(data["kinds"]) == {*KIND_COUNTS, "film dust 320x240", "film scratch 320x240"}
    for kind, k in data["kinds"].items():
        assert k["pixels"] > 0, kind
        assert k["found_share"] > 0.5, (kind, k)
        assert k["mae_output"] < 0.5 * k["mae_input"], (kind, k)


def test_damage_types_command_writes_its_results(tmp_path, capsys):
    from revive.benchmarks.cli import main

    assert main(["damage-types", "--engine", "missing.onnx", "--out", str(tmp_path)]) == 2
    assert "missing.onnx: no such file" in capsys.readouterr().err
