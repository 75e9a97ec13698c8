"""The metrics the two-stage system reports, held to scikit-image and to their definitions."""

import numpy as np
import pytest
from skimage.color import hsv2rgb, rgb2hsv
from skimage.metrics import structural_similarity

from revive.runtime import metrics
from revive.train.damage import damage


def _pair(seed=0):
    rng = np.random.default_rng(seed)
    truth = (np.linspace(0, 255, 64)[None, :, None] * np.ones((64, 1, 3)) * [1.0, 0.6, 0.3]).astype(np.uint8)
    pred = np.clip(truth.astype(int) + rng.integers(-30, 31, truth.shape), 0, 255).astype(np.uint8)
    return truth, pred


def test_masked_ssim_is_the_skimage_ssim_map_averaged_over_the_mask():
    truth, pred = _pair()
    _, mask = damage(truth[..., 0], np.random.default_rng(1))
    _, full = structural_similarity(truth, pred, data_range=255, channel_axis=-1, full=True)
    assert metrics.masked_ssim(truth, pred, mask) == pytest.approx(full.mean(axis=-1)[mask].mean(), abs=1e-12)
    g_truth, g_pred = truth[..., 0], pred[..., 0]
    _, full = structural_similarity(g_truth, g_pred, data_range=255, full=True)
    assert metrics.masked_ssim(g_truth, g_pred, mask) == pytest.approx(full[mask].mean(), abs=1e-12)
    assert np.isnan(metrics.masked_ssim(g_truth, g_pred, np.zeros_like(mask)))


def test_colour_similarity_is_one_for_identical_images_and_drops_for_a_hue_shift():
    rng = np.random.default_rng(2)
    image = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    assert metrics.hsv_histogram_similarity(image, image) == pytest.approx(1.0)
    hsv = rgb2hsv(image)
    hsv[..., 0] = (hsv[..., 0] + 0.33) % 1.0
    shifted = np.clip(np.round(hsv2rgb(hsv) * 255), 0, 255).astype(np.uint8)
    assert metrics.hsv_histogram_similarity(image, shifted) < 0.9


def test_score_weights_and_missing_damage():
    w = metrics.ScoreWeights(ssim=1.0, masked_ssim=1.0, color=2.0)
    assert metrics.restoration_score(0.5, 0.7, 0.9, w) == pytest.approx((0.5 + 0.7 + 1.8) / 4)
    assert metrics.restoration_score(0.5, float("nan"), 0.9, w) == pytest.approx((0.5 + 1.8) / 3)
