"""Decoding every Pillow mode to 8-bit gray, and native-resolution compositing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from revive.runtime.color import rgb_to_gray
from revive.runtime.composite import apply_restore, colorize_native, fix_gamut
from revive.runtime.images import DecodeError, decode_gray, to_gray

from .helpers import noise, smooth


def test_rgb_goes_through_bt601_luma():
    rgb = noise(20, 30, 3)
    assert np.array_equal(np.asarray(to_gray(Image.fromarray(rgb))), rgb_to_gray(rgb))


def test_16_bit_is_scaled_by_its_range_not_clipped():
    a = np.array([[0, 257, 32768, 65535]], np.uint16)
    im = Image.fromarray(a)
    assert im.mode == "I;16"
    assert np.asarray(to_gray(im)).tolist() == [[0, 1, 128, 255]]


@pytest.mark.parametrize(("values", "expected"), [
    ([0.0, 0.5, 1.0], [0, 128, 255]),          # intensities in [0, 1]
    ([0.0, 128.0, 255.0], [0, 128, 255]),      # 8-bit levels
    ([-10.0, 0.0, 10.0], [0, 128, 255]),       # anything else: stretched
    ([np.nan, 0.0, 1.0], [0, 0, 255]),         # NaN is 0
])
def test_float_images(values, expected):
    im = Image.fromarray(np.array([values], np.float32), "F")
    assert np.asarray(to_gray(im)).tolist() == [expected]


def test_32_bit_integer_images():
    assert np.asarray(to_gray(Image.fromarray(np.array([[0, 200]], np.int32), "I"))).tolist() == [[0, 200]]
    assert np.asarray(to_gray(Image.fromarray(np.array([[0, 65535]], np.int32), "I"))).tolist() == [[0, 255]]


def test_decode_refuses_over_max_pixels(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(noise(100, 100)).save(path)
    with pytest.raises(DecodeError, match="max-pixels"):
        decode_gray(path, 32, max_pixels=5000)
    assert decode_gray(path, 32, max_pixels=None).size == (100, 100)


def test_colorize_native_keeps_luminance_even_for_saturated_chroma():
    gray = Image.fromarray(np.concatenate([noise(40, 60), np.full((10, 60), 255, np.uint8),
                                           np.zeros((10, 60), np.uint8)]))
    for rgb in (noise(32, 32, 3, seed=1), np.broadcast_to(np.array([255, 0, 255], np.uint8), (32, 32, 3)).copy()):
        out = colorize_native(gray, rgb)
        assert out.size == gray.size and out.mode == "RGB"
        drift = np.abs(np.asarray(out.convert("L"), np.int16) - np.asarray(gray))
        assert drift.max() <= 1


def test_colorize_native_carries_the_model_colour():
    rgb = smooth(32, 32)
    gray = Image.fromarray(rgb_to_gray(rgb)).resize((96, 96), Image.Resampling.BICUBIC)
    out = np.asarray(colorize_native(gray, rgb).resize((32, 32), Image.Resampling.BOX), np.float32)
    assert np.abs(out - rgb).mean() < 6


def test_fix_gamut_keeps_luma():
    ycc = np.array([[255, 0, 255], [0, 255, 0], [128, 128, 128]], np.uint8)
    rgb = fix_gamut(ycc)
    assert np.abs(rgb_to_gray(rgb[None]).astype(int)[0] - ycc[:, 0]).max() <= 1


def test_apply_restore_only_inside_the_mask():
    native = Image.fromarray(noise(64, 64))
    restored = np.full((32, 32), 7, np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :16] = 255
    out = np.asarray(apply_restore(native, restored, mask))
    assert np.array_equal(out[:, 40:], np.asarray(native)[:, 40:])
    assert (out[:, :24] == 7).all()
    assert apply_restore(native, restored, np.zeros_like(mask)) is native
