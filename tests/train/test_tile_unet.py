"""The bundled restorer's network: cheap per pixel, any tile size that its levels divide, two output channels."""

import pytest
import torch

from revive.train.builtin import Recipe
from revive.train.models import create_model
from revive.train.models.tile_unet import macs_per_pixel


def test_restorer_gives_a_picture_and_a_damage_logit_at_any_multiple_of_its_levels():
    net = create_model("tile_unet_restorer", widths=[8, 8, 16]).eval()
    for size in (32, 64, 96):
        with torch.no_grad():
            out = net(torch.zeros(2, 1, size, size))
        assert out.shape == (2, 2, size, size) and float(out[:, 0].abs().max()) <= 1.0
    assert net.min_size == 4


def test_the_recipes_restorer_costs_what_tiled_scans_on_two_cores_allow():
    net = create_model("tile_unet_restorer", widths=list(Recipe.restore_widths))
    macs = macs_per_pixel(net, 128)
    assert 5_000 < macs < 20_000  # measured: ~17 k multiply-adds per pixel
    assert sum(p.numel() for p in net.parameters()) < 1_000_000


def test_mask_prior_starts_the_mask_at_the_damage_share():
    net = create_model("tile_unet_restorer", widths=[8, 8, 16])
    net.init_mask_bias(0.03)
    assert float(net.head.bias[1]) == pytest.approx(torch.logit(torch.tensor(0.03)).item(), rel=1e-5)
    with pytest.raises(ValueError):
        create_model("tile_unet_colorizer", widths=[8, 8]).init_mask_bias(0.1)


def test_top_hats_mark_thin_bright_and_dark_marks_and_nothing_on_smooth_ground():
    net = create_model("tile_unet_restorer", widths=[8, 8, 16], morph_window=7)
    x = torch.linspace(-0.5, 0.5, 48).repeat(48, 1)[None, None]  # a smooth ramp
    x[..., 10:12, :] = 1.0  # a bright scratch, 2 px
    x[..., 30, 30] = -1.0  # a dark speck
    white, black = net.top_hats(x)[0]
    assert float(white[10:12, 5:40].min()) > 0.4 and float(black[30, 30]) > 0.4
    assert float(white[20:28, 20:28].abs().max()) < 1e-6 and float(black[20:28, 5:20].abs().max()) < 1e-6
    with pytest.raises(ValueError, match="odd"):
        create_model("tile_unet_restorer", widths=[8, 8], morph_window=4)
