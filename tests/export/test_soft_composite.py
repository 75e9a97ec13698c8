"""The soft restore composite: the graphs' torch twin (training, validation, export) against the runtime's numpy one."""

from __future__ import annotations

import numpy as np
import torch

from revive.runtime.composite import SOFT_HIGH, SOFT_LOW, mask_weight
from revive.train.models.smp_unet import composite_weight, restore_outputs


def test_torch_weight_equals_the_runtime_weight_for_every_mask_value():
    mask = np.arange(256, dtype=np.uint8)
    ours = composite_weight(torch.from_numpy(mask.astype(np.float32))).numpy()
    assert ours.dtype == np.float32 and np.array_equal(ours, mask_weight(mask))  # bit for bit
    p = mask / 255.0
    assert (ours[p <= SOFT_LOW] == 0).all() and (ours[p >= SOFT_HIGH] == 1).all()
    inside = (p > SOFT_LOW) & (p < SOFT_HIGH)
    assert inside.sum() > 50 and (np.diff(ours[inside]) > 0).all()  # a ramp, not a switch


def test_restore_outputs_is_the_numpy_composite_of_its_mask_and_reconstruction():
    rng = np.random.default_rng(0)
    n, s = 4, 40
    gray = rng.integers(0, 256, (n, 1, s, s)).astype(np.float32)
    net_out = np.concatenate([rng.uniform(-1.1, 1.1, (n, 1, s, s)), rng.normal(0, 3, (n, 1, s, s))], 1)
    restored, mask = restore_outputs(torch.from_numpy(net_out.astype(np.float32)), torch.from_numpy(gray))
    restored, mask = restored.numpy(), mask.numpy()
    recon = np.round(np.clip((net_out[:, :1].astype(np.float32) + 1.0) * 127.5, 0, 255))
    expected = np.rint(gray + mask_weight(mask.astype(np.uint8)) * (recon - gray))
    assert np.array_equal(restored, expected)
    assert np.array_equal(restored, np.round(restored)) and restored.min() >= 0 and restored.max() <= 255
    w = mask_weight(mask.astype(np.uint8))
    assert np.array_equal(restored[w == 0], gray[w == 0])  # the input kept exactly where the mask is off
    assert np.array_equal(restored[w == 1], recon[w == 1])
    partly = (w > 0) & (w < 1) & (np.abs(recon - gray) > 20)
    assert partly.sum() > 100  # the test exercises the ramp: pixels strictly between input and reconstruction
    lo, hi = np.minimum(gray, recon)[partly], np.maximum(gray, recon)[partly]
    assert ((restored[partly] > lo) & (restored[partly] < hi)).mean() > 0.9


def test_a_small_change_of_the_mask_logit_moves_pixels_a_little():
    """What the ramp is for: a hard switch at 0.5 turns a 0.05 logit change into 255-level jumps."""
    s = 64
    logit = torch.linspace(-4, 4, s * s).reshape(1, 1, s, s)
    gray = torch.zeros(1, 1, s, s)
    recon = torch.ones(1, 1, s, s)  # reconstruction 255, input 0: the largest possible jump
    a, _ = restore_outputs(torch.cat([recon, logit], 1), gray)
    b, _ = restore_outputs(torch.cat([recon, logit + 0.05], 1), gray)
    # sigmoid' <= 1/4: the mask moves by at most 255 * 0.05 / 4 + 1 (rounding) levels, the pixel by that over the
    # ramp's width in mask levels, times the 255-level jump: 15 levels where a hard switch moves 255.
    bound = (255 * 0.05 / 4 + 1) / ((SOFT_HIGH - SOFT_LOW) * 255) * 255 + 1
    assert 0 < (b - a).abs().max() <= bound
    hard = lambda lg: torch.where(torch.round(torch.sigmoid(lg) * 255) >= 128, recon * 255, gray)  # noqa: E731
    assert (hard(logit + 0.05) - hard(logit)).abs().max() == 255  # what the check above would see without it
