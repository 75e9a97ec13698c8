"""The soft-vs-hard composite benchmark: its rules are the graphs' (old and new), and it scores a real restorer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from revive.benchmarks.soft_composite import composite, main, parse_rule
from revive.runtime.composite import SOFT_HIGH, SOFT_LOW, mask_weight

pytestmark = pytest.mark.usefixtures("no_onednn")


def test_rules_are_the_hard_switch_and_the_shipped_ramp():
    rng = np.random.default_rng(0)
    recon, gray, mask = (rng.integers(0, 256, (4, 16, 16), dtype=np.uint8) for _ in range(3))
    assert np.array_equal(composite(recon, gray, mask, None), np.where(mask >= 128, recon, gray))
    shipped = composite(recon, gray, mask, (SOFT_LOW, SOFT_HIGH))
    w = mask_weight(mask)
    expected = np.rint(gray + w * (recon.astype(np.float32) - gray)).astype(np.uint8)
    assert np.array_equal(shipped, expected)  # the runtime's and the graphs' ramp
    assert parse_rule("hard") is None and parse_rule("0.2:0.5") == (0.2, 0.5)
    for bad in ("0.6:0.4", "soft", "0.1:1.2"):
        with pytest.raises(ValueError):
            parse_rule(bad)


def test_compares_rules_on_held_out_damage(two_stage_checkpoints, tmp_path):
    assert main(["--checkpoint", str(two_stage_checkpoints["restore"]), "--seeds", "1", "--rules", "hard,0.35:0.65",
                 "--out", str(tmp_path), "--tag", "t"]) == 0
    data = json.loads((tmp_path / "soft_composite-t.json").read_text())
    assert data["pictures"] > 10 and set(data["rules"]) == {"hard", "0.35:0.65"}
    hard, soft = data["rules"]["hard"], data["rules"]["0.35:0.65"]
    for row in (hard, soft):
        assert 0 <= row["changed_iou"] <= 1 and 0 <= row["collateral_share"] <= 1 and row["psnr_damaged"] > 0
    # What the ramp is for: bf16 autocast moves the soft composite far less than the hard switch.
    assert soft["bf16_psnr"] > hard["bf16_psnr"] + 3 and soft["bf16_flip_share"] < hard["bf16_flip_share"]
    assert "| hard |" in (tmp_path / "soft_composite-t.md").read_text()
