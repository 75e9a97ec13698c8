"""Both stages learn on a fixed tiny batch, rebuild from their checkpoints, and run from the CLI."""

import json
import logging

import numpy as np
import pytest
import torch

from revive.train import cli
from revive.train.checkpoint import build_model, load_checkpoint, save_checkpoint
from revive.train.colorize_task import ColorizeOptions, ColorizeTask, encode_gray
from revive.train.data import discover
from revive.train.encoding import encode_input
from revive.train.loop import Precision
from revive.train.models import create_model, list_models
from revive.train.restore_data import RestoreDataset

from tiny_unets import DECODER, SIZE

pytestmark = pytest.mark.usefixtures("no_onednn")

STEPS = 4
TRAIN_SIZE = SIZE


def _batch(color_space="rgb"):
    ds = RestoreDataset(discover("sample")[::40][:2], TRAIN_SIZE, color_space, train=False, seed=0)
    return {k: torch.stack([ds[i][k] for i in range(2)]) for k in ds[0]}


def _losses(task, batch, key="loss"):
    precision = Precision("off", torch.device("cpu"))
    for net in task.nets.values():
        net.train()
    return [float(task.train_step(batch, precision)[key]) for _ in range(STEPS)]


def test_restorer_learns_a_fixed_batch_with_the_gan_term(tmp_path):
    from revive.train.restore_task import RestoreOptions, RestoreTask

    torch.manual_seed(0)
    task = RestoreTask(RestoreOptions(image_size=TRAIN_SIZE, encoder_weights=None, decoder_channels=DECODER,
                                      lr=1e-3, gan_weight=0.01, ndf=8))
    losses = _losses(task, _batch())
    assert losses[-1] < losses[0], losses
    path = tmp_path / "r.pt"
    save_checkpoint(path, task.nets["restorer"], {**task.config(), "train": {}, "metrics": {}})
    _rebuilds(path, task.nets["restorer"], "restore")


def test_colorizer_learns_on_restored_inputs_and_rebuilds(tmp_path, two_stage_checkpoints):
    from revive.train.two_stage import load_restorer

    restorer, info = load_restorer(two_stage_checkpoints["restore"])  # fully convolutional: runs at 32 too
    torch.manual_seed(0)
    task = ColorizeTask(ColorizeOptions(image_size=TRAIN_SIZE, color_space="lab", encoder_weights=None,
                                        decoder_channels=DECODER, lr=1e-3, colorize_input="restored",
                                        gan_weight=0.01, ndf=8, restorer_info=info), restorer)
    batch = _batch("lab")
    losses = _losses(task, batch)
    assert losses[-1] < losses[0], losses
    sums = task.eval_step(batch)
    assert sums["count"] == 2 and -1 <= sums["color"] / 2 <= 1 and 0 < sums["score"] / 2 < 1
    path = tmp_path / "c.pt"
    save_checkpoint(path, task.nets["colorizer"], {**task.config(), "train": {}, "metrics": {}})
    config = _rebuilds(path, task.nets["colorizer"], "colorize")
    assert config["colorize_input"] == "restored" and config["restorer"]["sha256"] == info["sha256"]


def _rebuilds(path, net, task_name):
    payload = load_checkpoint(path)
    config = payload["config"]
    assert config["task"] == task_name and config["family"] == "two_stage"
    assert config["model_kwargs"]["encoder_weights"] is None and config["model_kwargs"]["encoder"] == "efficientnet-b3"
    rebuilt = build_model(config, payload["model"]).eval()  # no flags, no download
    x = torch.rand(1, 1, SIZE, SIZE) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), net.eval()(x))
    return config


def test_colorizer_input_encoding_matches_the_numpy_encoding():
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for cs in ("rgb", "lab"):
        ours = encode_gray(torch.from_numpy(gray).double()[None, None], cs)[0, 0].numpy()
        np.testing.assert_allclose(ours, encode_input(gray, cs)[0], atol=1e-6)


def test_models_are_registered_and_pretrained_weights_fail_fast(caplog, monkeypatch):
    assert {"smp_unet_restorer", "smp_unet_colorizer"} <= set(list_models())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as on a machine without the hub: no wait, no crash
    with caplog.at_level(logging.WARNING):
        net = create_model("smp_unet_colorizer", decoder_channels=DECODER, encoder_weights="imagenet")
    assert net.encoder_init == "random" or "imagenet" in net.encoder_init
    if net.encoder_init == "random":
        assert "random initialisation" in caplog.text


def test_cli_two_stage_cross_validation(tmp_path):
    from PIL import Image

    data = tmp_path / "photos"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(data / f"p{i}.png")
    out = tmp_path / "run"
    args = ["two-stage", "--data", str(data), "--image-size", "32", "--decoder-channels", "16,8,8,8,8",
            "--encoder-weights", "none", "--batch-size", "2", "--max-steps", "1", "--workers", "0",
            "--folds", "2", "--cv", "--gan-restore", "0.1", "--gan-color", "0.1", "--ndf", "8",
            "--score-weights", "1,1,1", "--out", str(out)]
    assert cli.main(args) == 0
    summary = json.loads((out / "cv_summary.json").read_text())
    assert summary["folds"] == 2
    stats = summary["metrics"]["colorize_val_score"]
    assert len(stats["per_fold"]) == 2 and stats["std"] >= 0
    for fold in (0, 1):
        for stage in ("restore", "colorize"):
            assert (out / f"fold{fold}" / stage / "last.pt").is_file()
            assert (out / f"fold{fold}" / stage / "curves.png").is_file()
    row = json.loads((out / "fold0" / "restore" / "metrics.json").read_text())[-1]
    assert {"train_loss", "train_loss_d", "train_loss_g_gan", "val_ssim", "val_ssim_damaged", "lr_restorer"} <= set(row)
    row = json.loads((out / "fold0" / "colorize" / "metrics.json").read_text())[-1]
    assert {"train_loss_d", "val_color", "val_score", "lr_colorizer"} <= set(row)
    config = load_checkpoint(out / "fold0" / "colorize" / "last.pt")["config"]
    assert config["colorize_input"] == "restored" and config["score_weights"]["color"] == 1.0


def test_cli_rejects_sizes_the_unet_cannot_take(capsys):
    assert cli.main(["restore", "--image-size", "48", "--encoder-weights", "none"]) == 2
    assert "multiple of 32" in capsys.readouterr().err


def test_encoder_weights_from_a_file_adapt_the_rgb_stem_to_one_channel(tmp_path):
    import segmentation_models_pytorch as smp
    from safetensors.torch import save_file

    rgb = smp.encoders.get_encoder("efficientnet-b3", in_channels=3, weights=None)
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(tmp_path / "enc.safetensors"))
    net = create_model("smp_unet_restorer", decoder_channels=DECODER, encoder_weights=str(tmp_path / "enc.safetensors"))
    assert net.encoder_init.endswith("enc.safetensors")
    stem = net.unet.encoder.state_dict()["_conv_stem.weight"]
    torch.testing.assert_close(stem, rgb.state_dict()["_conv_stem.weight"].sum(1, keepdim=True))


def test_cli_restore_validates_every_n_epochs_with_recalibrated_batch_norm(tmp_path):
    """--val-every 2 over 3 epochs validates after epochs 2 and 3 (the last); --bn-recal leaves the saved
    running statistics different from the ones training alone would have left; a 3-stage decoder trains."""
    from PIL import Image

    data = tmp_path / "photos"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(data / f"p{i}.png")
    common = ["restore", "--data", str(data), "--image-size", "32", "--encoder", "resnet18",
              "--decoder-channels", "16,8,8", "--encoder-weights", "none", "--batch-size", "2", "--epochs", "3", "--workers", "0", "--val-every", "2"]
    assert cli.main([*common, "--bn-recal", "1", "--out", str(tmp_path / "recal")]) == 0
    assert cli.main([*common, "--out", str(tmp_path / "plain")]) == 0
    rows = json.loads((tmp_path / "recal" / "metrics.json").read_text())
    assert ["val_score" in row for row in rows] == [False, True, True]
    recal, plain = (load_checkpoint(tmp_path / run / "last.pt") for run in ("recal", "plain"))
    assert recal["config"]["model_kwargs"]["decoder_channels"] == [16, 8, 8]
    stats = [k for k in recal["model"] if k.endswith("running_mean")]
    assert stats and any(not torch.equal(recal["model"][k], plain["model"][k]) for k in stats)
    weights = [k for k in recal["model"] if "running_" not in k and "num_batches" not in k]
    assert weights and all(torch.equal(recal["model"][k], plain["model"][k]) for k in weights)
