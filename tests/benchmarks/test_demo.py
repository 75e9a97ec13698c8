"""`make demo`'s whole path on a one-epoch budget: train, export, runtime-infer, report."""

import json

from revive.benchmarks import demo


def test_demo_writes_a_report_with_scores_for_every_held_out_photo(tmp_path):
    assert demo.main(["--out", str(tmp_path), "--epochs", "1", "--two-stage-steps", "1"]) == 0
    result = json.loads((tmp_path / "demo.json").read_text())
    photos = demo.held_out_photos(0)
    assert [r["image"] for r in result["pix2pix"]] == photos
    assert [r["image"] for r in result["two_stage"]] == photos
    for row in result["pix2pix"]:
        assert 5 < row["psnr"] < 60 and 0 < row["ssim"] <= 1
    for row in result["two_stage"]:
        assert 0 < row["damaged_share"] < 0.5 and -1 <= row["color_similarity"] <= 1
        assert 0 <= row["mask_iou"] <= 1 and row["psnr_damaged_input"] < 30
    verdict = result["two_stage_verdict"]
    assert verdict["passed"] == (verdict["mask_iou"] >= 0.5 and verdict["psnr_damaged_output"]
                                 > verdict["psnr_damaged_input"] and verdict["ssim_damaged_output"]
                                 > verdict["ssim_damaged_input"])
    assert result["timings_s"]["training_cpu"] > 0
    for name in ("report.html", "contact_sheet.png", "contact_sheet_two_stage.png", "colorize.onnx",
                 "two_stage/restore.onnx", "two_stage/colorize.onnx", "pix2pix/curves.png"):
        assert (tmp_path / name).is_file(), name
    page = (tmp_path / "report.html").read_text()
    assert "contact_sheet_two_stage.png" in page and photos[0] in page
