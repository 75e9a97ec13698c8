"""Colour conversions agree with scikit-image, and the graph's PyTorch twin agrees with numpy."""

import numpy as np
import pytest
import skimage.color
from PIL import Image

from revive.runtime import color


@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)


def test_rgb_to_lab_matches_skimage(rgb):
    np.testing.assert_allclose(color.rgb_to_lab(rgb), skimage.color.rgb2lab(rgb), atol=1e-6)


def test_lab_to_rgb_matches_skimage(rgb):
    lab = skimage.color.rgb2lab(rgb)
    np.testing.assert_allclose(color.lab_to_rgb(lab), skimage.color.lab2rgb(lab), atol=1e-6)


def test_lab_round_trip_is_lossless_at_uint8(rgb):
    back = np.round(color.lab_to_rgb(color.rgb_to_lab(rgb)) * 255).astype(np.uint8)
    np.testing.assert_array_equal(back, rgb)


def test_gray_matches_pillow(rgb):
    np.testing.assert_array_equal(color.rgb_to_gray(rgb), np.asarray(Image.fromarray(rgb).convert("L")))


def test_gray_lightness_is_lab_l_of_neutral_gray():
    levels = np.arange(256, dtype=np.uint8)
    neutral = np.repeat(levels[:, None, None], 3, axis=2).reshape(16, 16, 3)
    np.testing.assert_allclose(color.gray_to_lightness(levels.reshape(16, 16)),
                               skimage.color.rgb2lab(neutral)[..., 0], atol=1e-3)


def test_torch_twin_matches_numpy(rgb):
    torch = pytest.importorskip("torch")
    from revive.export import graph

    lab = color.rgb_to_lab(rgb)
    t = graph.lab_to_rgb(torch.tensor(lab, dtype=torch.float32).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    np.testing.assert_allclose(t.numpy(), color.lab_to_rgb(lab), atol=2e-5)
    levels = torch.arange(256, dtype=torch.float32) / 255
    np.testing.assert_allclose(graph.gray_to_lightness(levels).numpy(),
                               color.gray_to_lightness(np.arange(256)), atol=2e-4)
