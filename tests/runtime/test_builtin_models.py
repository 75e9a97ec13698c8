"""The bundled models: inside the package, small, carded with how they were made, and what runtime-infer runs
when no --engine is given."""

import json

import numpy as np
import pytest
from PIL import Image

from revive.runtime import models
from revive.runtime.card import read_card
from revive.runtime.cli import main as runtime_infer


def test_both_bundled_models_are_package_data_within_25_mb():
    paths = models.default_models()
    assert [read_card(p).task for p in paths] == ["restore", "colorize"]
    assert sum(p.stat().st_size for p in paths) <= 25 * 2**20
    assert models.resolve_model("builtin:restore") == paths[0]


def test_cards_record_recipe_commit_time_and_figures():
    for name in models.builtin_names():
        made = read_card(models.builtin_path(name)).provenance
        assert made["command"].startswith("revive-train builtin") and made["commit"]
        assert made["steps"] > 0 and made["wall_s"] > 0 and made["cpu_s"] > 0 and made["recipe"]["seed"] == 0
        assert made["held_out"] == ["coffee", "immunohistochemistry"]
    restore = read_card(models.builtin_path("restore")).provenance["figures"]
    for method in ("revive", "classical", "revive_mask_telea"):
        assert 0 <= restore[method]["mask_iou"] <= 1
    assert restore["mae_vs_classical"] == pytest.approx(
        restore["revive"]["mae_damaged_output"] / restore["classical"]["mae_damaged_output"], abs=1e-3)
    colour = read_card(models.builtin_path("colorize")).provenance["figures"]
    assert colour["psnr"] > colour["psnr_gray"] and colour["color_similarity"] > colour["color_similarity_gray"]


def test_runtime_infer_without_engine_restores_then_colorizes(tmp_path, capsys):
    yy, xx = np.mgrid[0:150, 0:210]
    gray = (80 + xx // 3 + yy // 4).astype(np.uint8)
    gray[60:63, 10:200] = 255  # a bright scratch, 3 px wide
    (tmp_path / "in").mkdir()
    Image.fromarray(gray).save(tmp_path / "in" / "scan.png")
    code = runtime_infer([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--save-restored", "--no-progress",
                          "--summary", str(tmp_path / "run.json")])
    assert code == 0
    out = Image.open(tmp_path / "out" / "scan.png")
    restored = np.asarray(Image.open(tmp_path / "out" / "scan.restored.png"))
    assert out.mode == "RGB" and out.size == (210, 150)
    assert np.abs(restored[60:63, 20:190].astype(int) - 255).mean() > 50  # the scratch was replaced
    report = json.loads((tmp_path / "run.json").read_text())
    assert [m["task"] for m in report["models"]] == ["restore", "colorize"]


def test_list_models_shows_card_facts_and_figures(capsys):
    assert runtime_infer(["--list-models"]) == 0
    text = capsys.readouterr().out
    for needle in ("builtin:restore", "builtin:colorize", "tile_unet_restorer", "classical", "Mpx/s", "PSNR",
                   "revive-train builtin", "stages: restore 24000 steps, 2982.5 s; precision 6000 steps"):
        assert needle in text, needle


def test_a_missing_bundled_file_is_one_line_naming_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(models, "_HERE", tmp_path)
    (tmp_path / "x.png").write_bytes(b"")
    assert runtime_infer([str(tmp_path / "x.png"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "builtin:restore" in err and "--engine" in err
    assert runtime_infer([]) == 2 and "--list-models" in capsys.readouterr().err
