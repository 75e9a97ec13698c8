"""pix2pix networks: the official sizes, shapes and initialisation."""

import pytest
import torch

from revive.train.models import create_model, list_models


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_unet_256_has_the_official_parameter_count():
    assert n_params(create_model("pix2pix_unet", in_channels=3, out_channels=3)) == 54_413_955


def test_patchgan_has_the_official_parameter_count():
    assert n_params(create_model("patchgan", in_channels=6)) == 2_768_705


def test_generator_output_shape_and_range():
    g = create_model("pix2pix_unet").eval()
    with torch.no_grad():
        y = g(torch.rand(2, 3, 256, 256) * 2 - 1)
    assert y.shape == (2, 3, 256, 256)
    assert y.abs().max() <= 1.0


def test_discriminator_patch_grid_is_30x30_at_256():
    assert create_model("patchgan")(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)


def test_dropout_sits_in_the_three_innermost_512_decoders():
    g = create_model("pix2pix_unet")
    dropouts = [m for m in g.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 3 and all(d.p == 0.5 for d in dropouts)


def test_weights_are_drawn_from_n_0_002():
    torch.manual_seed(0)
    g = create_model("pix2pix_unet")
    conv = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(conv.mean().item()) < 1e-3
    assert conv.std().item() == pytest.approx(0.02, rel=0.05)


def test_wrong_size_suggests_the_fix():
    g = create_model("pix2pix_unet").eval()
    with pytest.raises(ValueError, match="multiples of 256"):
        g(torch.zeros(1, 3, 250, 250))


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(ValueError, match="choose one of: .*pix2pix_unet"):
        create_model("unet_9000")
    assert {"pix2pix_unet", "patchgan"} <= set(list_models())
