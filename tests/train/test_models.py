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


def test_a_shallow_unet_drops_the_encoder_stages_it_never_runs_and_still_loads_full_weights(tmp_path):
    """3 decoder widths = 3 encoder stages: ResNet-18's layer3/layer4 are gone (0.9 M parameters, not 11.8 M),
    the net runs, and weights saved from a whole ResNet-18 encoder still load into what is left."""
    import segmentation_models_pytorch as smp

    from revive.train.models.smp_unet import SmpUnet

    full = smp.Unet(encoder_name="resnet18", encoder_weights=None, in_channels=1, classes=2)
    torch.save(full.encoder.state_dict(), tmp_path / "r18.pth")
    shallow = SmpUnet(1, 1, True, "resnet18", (16, 8, 8), encoder_weights=str(tmp_path / "r18.pth"))
    assert shallow.encoder_init == str(tmp_path / "r18.pth")
    keys = set(shallow.unet.encoder.state_dict())
    assert not any(k.startswith(("layer3.", "layer4.")) for k in keys) and "layer2.0.conv1.weight" in keys
    assert torch.equal(shallow.unet.encoder.conv1.weight, full.encoder.conv1.weight)
    assert sum(p.numel() for p in shallow.parameters()) < 1_000_000
    assert shallow(torch.zeros(2, 1, 32, 32)).shape == (2, 2, 32, 32)
    deep = SmpUnet(1, 1, True, "efficientnet-b0", (16, 8, 8, 8, 8))
    whole = smp.Unet(encoder_name="efficientnet-b0", encoder_weights=None, in_channels=1, classes=2,
                     decoder_channels=(16, 8, 8, 8, 8))
    assert set(deep.unet.state_dict()) == set(whole.state_dict())  # full depth: every key, as before pruning
