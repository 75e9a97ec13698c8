"""`make demo`'s whole path on a one-epoch budget: train, export, runtime-infer, then the bundled models."""

import json

from revive.benchmarks import demo


def test_demo_writes_a_report_with_scores_for_every_held_out_photo(tmp_path):
    assert demo.main(["--out", str(tmp_path), "--epochs", "1"]) == 0
    result = json.loads((tmp_path / "demo.json").read_text())
    photos = demo.held_out_photos(0)
    assert [r["image"] for r in result["pix2pix"]] == photos
    assert [r["image"] for r in result["bundled"]] == photos
    for row in result["pix2pix"]:
        assert 5 < row["psnr"] < 60 and 0 < row["ssim"] <= 1
    for row in result["bundled"]:
        assert 0 < row["damaged_share"] < 0.2 and -1 <= row["color_similarity"] <= 1
        assert 0 <= row["mask_iou"] <= 1 and row["mae_damaged_output"] < row["mae_damaged_input"]
        assert row["size"] in ("1200x800", "1024x1024")  # enlarged 2x like a scan
    verdict = result["bundled_verdict"]
    assert verdict["passed"] == (verdict["mask_iou"] >= 0.75 and verdict["change_undamaged"] <= 0.1 and (
        "mae_damaged_classical" not in verdict or verdict["mae_damaged_output"] <= 0.8 * verdict["mae_damaged_classical"]))
    assert result["timings_s"]["training_cpu"] > 0 and result["timings_s"]["total"] > 0
    for name in ("report.html", "contact_sheet.png", "contact_sheet_bundled.png", "colorize.onnx",
                 "pix2pix/curves.png", "bundled/outputs/coffee.restored.png"):
        assert (tmp_path / name).is_file(), name
    page = (tmp_path / "report.html").read_text()
    assert "contact_sheet_bundled.png" in page and "builtin:restore" in page and photos[0] in page
