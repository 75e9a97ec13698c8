"""Scan-scale damage: sizes in pixels whatever the picture's size, the mask rule, reproducibility, the photos."""

from dataclasses import replace

import numpy as np
import pytest

from revive.train import scan_damage
from revive.train.data import discover, split_items
from revive.train.scan_damage import EVALUATION, MASK_LEVELS, TRAINING, DamageRanges, draw_scan_damage
from revive.train.scan_data import HELD_OUT, ScanTileDataset, restorer_photos, scan_tile

FLAT = np.full((256, 256), 128, np.uint8)


def test_mask_is_where_the_damage_moved_a_pixel_by_more_than_the_threshold():
    for seed in range(5):
        drawn = draw_scan_damage(FLAT, np.random.default_rng(seed), replace(TRAINING, clean_share=0.0))
        moved = np.abs(drawn.damaged.astype(int) - drawn.base.astype(int))
        assert np.array_equal(drawn.mask, moved > MASK_LEVELS)
        assert drawn.mask.any()


def test_the_same_generator_gives_the_same_damage():
    a = draw_scan_damage(FLAT, np.random.default_rng(7), EVALUATION)
    b = draw_scan_damage(FLAT, np.random.default_rng(7), EVALUATION)
    c = draw_scan_damage(FLAT, np.random.default_rng(8), EVALUATION)
    assert np.array_equal(a.damaged, b.damaged) and not np.array_equal(a.damaged, c.damaged)


def _dust_only(radius: float) -> DamageRanges:
    return DamageRanges(scratches=0, hairs=0, folds=0, polygons=0, dust=2.0, dust_radius=(radius, radius),
                        clean_share=0, opaque_share=1, blurred_share=0, mid_share=0, fade_share=0, grain_share=0)


def test_marks_keep_their_pixel_size_on_a_larger_picture():
    """Counts grow with the area, sizes do not: a 1024-px picture has the damaged share of a 128-px one."""
    ranges = _dust_only(3.0)
    small = np.mean([draw_scan_damage(np.full((128, 128), 128, np.uint8), np.random.default_rng(s), ranges).mask.mean()
                     for s in range(40)])
    large = draw_scan_damage(np.full((1024, 1024), 128, np.uint8), np.random.default_rng(0), ranges).mask.mean()
    assert large == pytest.approx(small, rel=0.35)
    bigger = draw_scan_damage(np.full((1024, 1024), 128, np.uint8), np.random.default_rng(0), _dust_only(6.0))
    assert bigger.mask.mean() > 2.5 * large  # radius x2: about four times the area per speck


def test_clean_pictures_and_global_degradation_stay_out_of_the_mask():
    clean = draw_scan_damage(FLAT, np.random.default_rng(0), replace(TRAINING, clean_share=1.0))
    assert not clean.mask.any() and np.array_equal(clean.damaged, clean.base)
    faded = draw_scan_damage(FLAT, np.random.default_rng(0), replace(TRAINING, clean_share=1.0, fade_share=1.0,
                                                                       fade_level=(220, 220)))
    assert faded.base.mean() > 140 and not faded.mask.any()


def test_refuses_what_is_not_a_uint8_gray():
    with pytest.raises(ValueError, match="uint8 HxW"):
        draw_scan_damage(FLAT.astype(np.float32), np.random.default_rng(0))


def test_held_out_photos_are_the_sample_splits_validation_photos_and_never_trained_on():
    _, val = split_items(discover("sample"), 0.15, 0)
    assert sorted({i.photo for i in val}) == sorted(HELD_OUT)
    assert not set(HELD_OUT) & set(restorer_photos())


def test_tiles_are_native_or_enlarged_windows_and_examples_repeat():
    gray = np.tile(np.arange(256, dtype=np.uint8), (300, 1))
    tile = scan_tile(gray, 64, np.random.default_rng(0))
    assert tile.shape == (64, 64) and tile.dtype == np.uint8
    data = ScanTileDataset(("camera", "coffee"), 64, 10, seed=3, train=True)
    a, b = data[(4, 2)], data[(4, 2)]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["damaged"], data[(4, 3)]["damaged"])  # another epoch, other damage
    assert a["input"].shape == (1, 64, 64) and float(a["input"].abs().max()) <= 1.0
    assert scan_damage.REFERENCE_AREA == 128 * 128


def test_long_scratches_cross_the_whole_picture():
    plain = replace(TRAINING, clean_share=0.0, scratches=0.0, hairs=0.0, dust=0.0, folds=0.0, polygons=0.0,
                    fade_share=0.0, grain_share=0.0, opaque_share=1.0)
    assert not draw_scan_damage(FLAT, np.random.default_rng(3), plain).mask.any()
    spans = []
    for seed in range(6):
        mask = draw_scan_damage(FLAT, np.random.default_rng(seed), replace(plain, long_scratches=2.0)).mask
        if mask.any():
            ys, xs = np.nonzero(mask)
            spans.append(max(np.ptp(ys), np.ptp(xs)) + 1)
    assert spans and min(spans) >= 250  # edge to edge of the 256-px picture
