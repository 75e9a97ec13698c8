"""--fill classical: push-pull interpolation behind the restorer's mask (runtime/fill.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from revive.runtime.cli import main
from revive.runtime.fill import DEFAULT_FILL, classical_fill, surroundings
from revive.runtime.layout import LayoutOptions

from .helpers import SIZE, make_restore_onnx, smooth


def _ramp(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return 40.0 + 0.8 * x + 0.5 * y


def test_push_pull_carries_a_smooth_picture_into_a_hole():
    values = _ramp(96, 120)
    valid = np.ones(values.shape, bool)
    valid[40:44, :] = False  # a 4-px scratch right across
    valid[10:16, 20:26] = False  # a speck
    filled = surroundings(values, valid)
    error = np.abs(filled - values)[~valid]
    assert error.mean() < 2.0, error.mean()  # a ramp of 0.5-0.8 levels a pixel, a hole 4-6 px across


def test_push_pull_of_a_constant_is_the_constant_and_nothing_trusted_is_left_as_it_is():
    values = np.full((33, 17), 120.0, np.float32)
    valid = np.ones(values.shape, bool)
    valid[5:30, 3:9] = False
    values[~valid] = 0.0  # the damage itself
    assert np.allclose(surroundings(values, valid), 120.0)
    nothing = np.zeros(values.shape, bool)
    assert np.array_equal(surroundings(values, nothing), values)


def test_classical_fill_repairs_a_scratch_and_leaves_the_rest_untouched():
    truth = smooth(80, 100).mean(axis=2).astype(np.uint8)
    damaged = truth.copy()
    damaged[30:33, :] = 255  # a 3-px bright scratch
    mask = np.zeros_like(damaged)
    mask[30:33, :] = 255  # the restorer found it
    mask[10, 50] = int(0.3 * 255)  # below the soft composite's low edge: not damage
    restored, kept = classical_fill(damaged, mask)
    assert kept is mask
    hole = mask > int(0.35 * 255)
    assert np.array_equal(restored[~hole], damaged[~hole])  # beyond the hole: exactly the input
    error_in = np.abs(damaged.astype(int) - truth)[30:33].mean()
    error_out = np.abs(restored.astype(int) - truth)[30:33].mean()
    assert error_out < 0.1 * error_in, (error_in, error_out)


def test_layout_options_refuse_an_unknown_fill():
    with pytest.raises(ValueError, match="fill"):
        LayoutOptions(fill="magic")


def test_runtime_infer_fill_classical_replaces_the_models_reconstruction(tmp_path):
    model = make_restore_onnx(tmp_path / "restore.onnx")  # restored = 255 - gray, mask: the left half
    gray = smooth(SIZE, SIZE).mean(axis=2).astype(np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "in.png")
    outs = {}
    for fill in ("model", "classical"):
        assert main([str(tmp_path / "in.png"), "-o", str(tmp_path / fill), "--engine", str(model),
                     "--fill", fill, "--no-progress"]) == 0
        outs[fill] = np.asarray(Image.open(tmp_path / fill / "in.png"))
    left, right = slice(0, SIZE // 2), slice(SIZE // 2, SIZE)  # the mask's half; the other
    assert np.array_equal(outs["model"][:, left], 255 - gray[:, left])
    assert np.array_equal(outs["classical"][:, right], gray[:, right])
    # filled from the right half, not inverted: near the picture's own levels at the mask's edge
    edge = SIZE // 2 - 2
    assert np.abs(outs["classical"][:, edge].astype(int) - gray[:, SIZE // 2 + 1]).mean() < 12
    assert main([str(tmp_path / "in.png"), "-o", str(tmp_path / "x"), "--engine", str(model), "--fill", "bogus"]) == 2


def test_every_entry_point_defaults_to_one_fill():
    assert LayoutOptions().fill == DEFAULT_FILL


def test_a_mask_one_level_different_moves_the_fill_by_little():
    """ORT on another batch size, FP16 or INT8 moves a mask by a level here and there; the fill must follow
    smoothly (a pixel that stopped being a source all at once swung its neighbours by 40+ levels in a film)."""
    gray = np.full((40, 40), 60, np.uint8)
    gray[18:22, :] = 250  # a bright scratch
    mask = np.zeros_like(gray)
    mask[19:21, :] = 255  # found, but not its rim
    mask[18, :] = mask[21, :] = 89  # the rim, right at the soft composite's low edge (p = 0.35)
    a, _ = classical_fill(gray, mask)
    b, _ = classical_fill(gray, np.where(mask == 89, 90, mask).astype(np.uint8))
    assert int(np.abs(a.astype(int) - b).max()) <= 2
    found, _ = classical_fill(gray, np.where(mask > 0, 255, 0).astype(np.uint8))  # the rim found too
    assert int(np.abs(found[18:22].astype(int) - 60).max()) <= 2  # filled from the dark ground around it
