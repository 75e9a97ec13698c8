"""``revive-train builtin``: both bundled models from one command, a rerun reuses what was trained, and
``--resume`` continues the stage the checkpoint belongs to (a tiny recipe: the real one takes ~70 min)."""

from __future__ import annotations

import logging

import onnx

from revive.runtime.card import read_onnx_card
from revive.train.cli import main

TINY = ["builtin", "--restore-steps", "20", "--precision-steps", "10", "--colorize-epochs", "2", "--no-baseline"]


def test_builtin_trains_exports_and_cards_both_models_and_a_rerun_reuses_them(tmp_path, caplog):
    out = tmp_path / "builtin"
    assert main([*TINY, "--out", str(out)]) == 0
    for stage in ("restore", "colorize"):
        made = read_onnx_card(onnx.load(str(out / f"{stage}.onnx"))).provenance
        assert made["recipe"]["restore_steps"] == 20 and made["wall_s"] > 0 and made["commit"]
        assert made["figures"] and "resumed_from" not in made
    restore_made = read_onnx_card(onnx.load(str(out / "restore.onnx"))).provenance
    assert restore_made["steps"] == 30 and restore_made["figures"]["fill"] in ("model", "classical")
    assert {n: s["steps"] for n, s in restore_made["stages"].items()} == {"restore": 20, "precision": 10}
    # the card's command is the one that makes this recipe again: the flags that differ from the defaults
    assert restore_made["command"] == (f"revive-train builtin --out {out} --restore-steps 20 --precision-steps 10 "
                                       "--colorize-epochs 2")
    stamps = {s: (out / s / "stage.json").stat().st_mtime_ns for s in ("restore", "precision", "colorize")}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="revive"):
        assert main([*TINY, "--out", str(out), "--overwrite"]) == 0
    assert sum("trained earlier with this recipe" in r.getMessage() for r in caplog.records) == 3
    assert {s: (out / s / "stage.json").stat().st_mtime_ns for s in stamps} == stamps


def test_a_longer_second_stage_retrains_it_alone(tmp_path, caplog):
    out = tmp_path / "builtin"
    assert main([*TINY, "--out", str(out)]) == 0
    first = (out / "restore" / "stage.json").stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="revive"):
        assert main([*TINY, "--precision-steps", "12", "--out", str(out), "--overwrite"]) == 0
    assert (out / "restore" / "stage.json").stat().st_mtime_ns == first
    assert read_onnx_card(onnx.load(str(out / "restore.onnx"))).provenance["stages"]["precision"]["steps"] == 12


def test_builtin_resume_refuses_a_checkpoint_of_another_run(tmp_path, capsys):
    stray = tmp_path / "elsewhere" / "last.pt"
    stray.parent.mkdir()
    stray.write_bytes(b"")
    assert main([*TINY, "--out", str(tmp_path / "builtin"), "--resume", str(stray)]) == 2
    assert f"{stray}: not a stage checkpoint of" in capsys.readouterr().err
