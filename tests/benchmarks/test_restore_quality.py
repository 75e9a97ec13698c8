"""revive-bench restore-quality: per-image and mean restore figures from folders of damaged inputs and truths."""

import json

import numpy as np
import pytest
from PIL import Image

from revive.benchmarks import restore_quality
from revive.benchmarks.cli import main as bench
from revive.runtime import metrics
from revive.train.csv_data import MASK_THRESHOLD

pytestmark = pytest.mark.usefixtures("no_onednn")


def test_threshold_is_the_csv_pair_rule():
    assert restore_quality.MASK_THRESHOLD == MASK_THRESHOLD


def test_score_pair_on_a_known_repair():
    truth = np.tile(np.arange(64, dtype=np.uint8) * 3, (64, 1))
    damaged = truth.copy()
    damaged[10:20, 10:30] = 255  # the damage
    damaged[40, 40] = truth[40, 40] + 5  # below the threshold: not damage
    output = damaged.copy()
    output[10:20, 10:20] = truth[10:20, 10:20]  # half repaired exactly
    row = restore_quality.score_pair(damaged, output, truth)
    assert row["damaged_share"] == pytest.approx(200 / 64 ** 2)
    assert row["mask_iou"] == pytest.approx(0.5)  # 100 changed pixels, all inside the 200 damaged
    assert row["psnr_damaged_output"] > row["psnr_damaged_input"]
    assert row["ssim_damaged_output"] > row["ssim_damaged_input"]
    mask = np.zeros_like(truth, bool)
    mask[10:20, 10:30] = True
    assert row["psnr_damaged_input"] == pytest.approx(metrics.masked_psnr(truth, damaged, mask))
    assert np.isnan(metrics.masked_psnr(truth, damaged, np.zeros_like(mask)))
    assert metrics.masked_psnr(truth, truth, mask) == float("inf")


def test_restore_quality_command_writes_json_and_markdown(two_stage_onnx, tmp_path):
    rng = np.random.default_rng(0)
    inputs, truth = tmp_path / "in", tmp_path / "truth"
    (inputs / "sub").mkdir(parents=True)
    truth.mkdir()
    (truth / "sub").mkdir()
    for name in ("a", "sub/b"):
        clean = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
        Image.fromarray(clean).save(truth / f"{name}.jpg" if name == "a" else truth / f"{name}.png")
        gray = np.asarray(Image.fromarray(clean).convert("L")).copy()
        gray[5:15, 5:25] = 0
        Image.fromarray(gray).save(inputs / f"{name}.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(inputs / "orphan.png")  # no truth: listed, not fatal
    out = tmp_path / "results"
    code = bench(["restore-quality", "--inputs", str(inputs), "--truth", str(truth), "--engine",
                  str(two_stage_onnx["restore"]), "--out", str(out), "--tag", "t", "--device", "cpu"])
    assert code == 1  # one image could not be scored
    data = json.loads((out / "restore_quality-t.json").read_text())
    assert sorted(r["image"] for r in data["images"]) == ["a", "sub/b"]
    assert [f["image"] for f in data["failed"]] == ["orphan"] and "no truth" in data["failed"][0]["reason"]
    for row in data["images"]:
        assert 0 < row["damaged_share"] < 0.5 and 0 <= row["mask_iou"] <= 1
        assert row["psnr_damaged_input"] < 20 and -1 <= row["ssim_damaged_output"] <= 1
    assert data["images_scored"] == 2 and 0 <= data["mean"]["mask_iou"] <= 1
    text = (out / "restore_quality-t.md").read_text()
    assert "mask IoU" in text and "orphan" in text


def test_restore_quality_user_errors(tmp_path, capsys):
    code = bench(["restore-quality", "--inputs", str(tmp_path / "nope"), "--truth", str(tmp_path),
                  "--engine", str(tmp_path / "missing.onnx"), "--out", str(tmp_path)])
    assert code == 2 and "missing.onnx" in capsys.readouterr().err


def test_damaged_error_and_undamaged_change_on_a_known_repair():
    truth = np.full((40, 40), 100, np.uint8)
    damaged = truth.copy()
    damaged[10:12, :] = 250  # an 80-px scratch, 150 levels off
    output = damaged.copy()
    output[10:12, :20] = 110  # half refilled 10 levels off, half left
    output[30, 30] = 104  # an undamaged pixel moved by 4
    row = restore_quality.score_pair(damaged, output, truth)
    assert row["mae_damaged_input"] == pytest.approx(150.0)
    assert row["mae_damaged_output"] == pytest.approx((40 * 10 + 40 * 150) / 80)
    assert row["change_undamaged"] == pytest.approx(4 / (40 * 40 - 80))


def test_classical_baseline_finds_and_fills_a_thin_scratch():
    from revive.benchmarks.classical import classical_restore, median_difference_mask

    yy, xx = np.mgrid[0:96, 0:96]
    truth = (60 + xx + yy // 2).astype(np.uint8)  # a smooth ramp
    damaged = truth.copy()
    damaged[40:42, 5:90] = 255
    mask = median_difference_mask(damaged)
    assert mask[40:42, 10:85].all() and mask.mean() < 0.05
    row = restore_quality.score_pair(damaged, classical_restore(damaged), truth)
    assert row["mae_damaged_output"] < 0.1 * row["mae_damaged_input"] and row["mask_iou"] > 0.3


def test_scan_set_is_the_same_on_every_run(tmp_path):
    from revive.benchmarks.scan_set import build_scan_set

    a = build_scan_set(tmp_path / "a", photos=("coffee",), scales=(1,))
    b = build_scan_set(tmp_path / "b", photos=("coffee",), scales=(1,))
    assert a == b and a[0]["image"] == "coffee_x1" and 0 < a[0]["damaged_share"] < 0.2
    for sub in ("inputs", "truth"):
        assert (tmp_path / "a" / sub / "coffee_x1.png").read_bytes() == (tmp_path / "b" / sub / "coffee_x1.png").read_bytes()


def test_baseline_classical_adds_the_classical_rows(two_stage_onnx, tmp_path):
    rng = np.random.default_rng(1)
    inputs, truth = tmp_path / "in", tmp_path / "truth"
    inputs.mkdir()
    truth.mkdir()
    clean = np.clip(rng.normal(128, 10, (64, 64)), 0, 255).astype(np.uint8)
    Image.fromarray(clean).save(truth / "a.png")
    damaged = clean.copy()
    damaged[20:22, 4:60] = 255
    Image.fromarray(damaged).save(inputs / "a.png")
    out = tmp_path / "results"
    code = bench(["restore-quality", "--inputs", str(inputs), "--truth", str(truth), "--engine",
                  str(two_stage_onnx["restore"]), "--baseline", "classical", "--out", str(out), "--device", "cpu"])
    assert code == 0
    data = json.loads((out / "restore_quality.json").read_text())
    assert set(data["methods"]) == {"revive", "classical", "revive_mask_telea", "revive_other_fill"}
    assert (data["fill"], data["other_fill"]) == ("classical", "model")
    assert data["methods"]["classical"]["mae_damaged_output"] < data["mean"]["mae_damaged_input"]
    assert data["restore_speed"]["mpx_per_s"] > 0
    assert "classical" in (out / "restore_quality.md").read_text()
