"""Training: learning happens, checkpoints are data, splits and sources behave."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from revive.train import cli
from revive.train.checkpoint import build_model, load_checkpoint
from revive.train.data import DataError, Item, discover, split_items
from revive.train.datasets import ColorizeDataset, EpochSampler
from revive.train.encoding import decode_output, encode_input, encode_target
from revive.train.loop import Precision
from revive.train.pix2pix_task import Pix2PixOptions, Pix2PixTask


def tiny_batch(color_space, n=2, size=32, seed=0):
    items = discover("sample")[:n]
    ds = ColorizeDataset(items, size, color_space, train=False, seed=seed)
    return torch.utils.data.default_collate([ds[i] for i in range(n)])


@pytest.mark.parametrize("color_space", ["rgb", "lab"])
def test_a_few_steps_lower_the_l1_loss(color_space):
    torch.manual_seed(0)
    task = Pix2PixTask(Pix2PixOptions(color_space=color_space, image_size=32, ngf=8, ndf=8))
    batch = tiny_batch(color_space)
    precision = Precision("off", torch.device("cpu"))
    losses = [float(task.train_step(batch, precision)["loss_g_l1"]) for _ in range(12)]
    assert np.mean(losses[-3:]) < 0.97 * np.mean(losses[:3])
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= 9  # falling, not noise


@pytest.mark.parametrize("color_space", ["rgb", "lab"])
def test_encoding_round_trips_the_truth(color_space):
    batch = tiny_batch(color_space, n=1)
    gray, color = batch["gray"][0, 0].numpy(), batch["color"][0].numpy().transpose(1, 2, 0)
    decoded = decode_output(encode_target(color, color_space), gray, color_space)
    diff = np.abs(decoded.astype(int) - color.astype(int))
    # rgb is exact; lab rebuilds with the gray's lightness, so only chroma survives exactly.
    assert diff.max() <= (1 if color_space == "rgb" else 40) and diff.mean() < 3
    assert encode_input(gray, color_space).shape[0] == {"rgb": 3, "lab": 1}[color_space]


def test_checkpoint_loads_weights_only_and_rebuilds_the_same_model(tmp_path):
    out = tmp_path / "run"
    code = cli.main(["pix2pix", "--mode", "lab", "--data", "sample", "--image-size", "32", "--ngf", "8",
                     "--ndf", "8", "--batch-size", "4", "--max-steps", "2", "--workers", "0", "--out", str(out)])
    assert code == 0
    for name in ("best.pt", "last.pt", "metrics.csv", "metrics.json", "curves.png"):
        assert (out / name).is_file(), name
    raw = torch.load(out / "last.pt", weights_only=True)  # raises on anything but plain data
    payload = load_checkpoint(out / "last.pt")
    assert raw["config"] == payload["config"]
    config = payload["config"]
    assert config["color_space"] == "lab" and config["image_size"] == 32 and config["step"] == 2
    assert "val_psnr" in config["metrics"] and config["train"]["batch_size"] == 4
    model = build_model(config, payload["model"]).eval()
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    state = payload["model"]
    again = build_model(config, state).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), again(x))
    history = json.loads((out / "metrics.json").read_text())
    assert history[-1]["step"] == 2


def test_split_is_deterministic_and_keeps_groups_apart():
    items = discover("sample")
    train_a, val_a = split_items(items, 0.25, seed=3)
    train_b, val_b = split_items(items, 0.25, seed=3)
    assert train_a == train_b and val_a == val_b
    assert {i.group for i in train_a}.isdisjoint({i.group for i in val_a})
    assert len(train_a) + len(val_a) == len(items) and val_a
    assert split_items(items, 0.25, seed=4)[1] != val_a or len({i.group for i in items}) < 3


def test_sampler_shards_cover_every_index_once_per_epoch():
    shards = [list(EpochSampler(10, True, seed=1, rank=r, world_size=2)) for r in range(2)]
    indices = sorted(i for shard in shards for i, _ in shard)
    assert indices == list(range(10))
    first = list(EpochSampler(10, True, seed=1))
    later = EpochSampler(10, True, seed=1)
    later.set_epoch(1)
    assert [i for i, _ in first] != [i for i, _ in later]


def write_images(folder, n, size=(40, 36)):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"sub{i % 2}" / f"img{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_folder_and_paired_sources(tmp_path):
    write_images(tmp_path / "plain", 3)
    items = discover(tmp_path / "plain")
    assert len(items) == 3 and all(i.color and not i.gray for i in items)
    for p in write_images(tmp_path / "paired" / "color", 3):
        gray = tmp_path / "paired" / "gray" / p.relative_to(tmp_path / "paired" / "color")
        gray.parent.mkdir(parents=True, exist_ok=True)
        Image.open(p).convert("L").save(gray.with_suffix(".jpg"))
    paired = discover(tmp_path / "paired")
    assert len(paired) == 3 and all(i.gray.endswith(".jpg") for i in paired)
    ds = ColorizeDataset(paired, 32, "rgb", train=True, seed=0)
    sample = ds[(0, 0)]
    assert sample["input"].shape == (3, 32, 32) and sample["color"].shape == (3, 32, 32)
    with pytest.raises(DataError, match="no such folder"):
        discover(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        discover(tmp_path / "empty")


def test_training_draws_repeat_for_the_same_epoch_and_differ_across_epochs():
    ds = ColorizeDataset([Item(key="k", group="k", photo="astronaut", crop=(0, 0, 300))], 32, "rgb",
                         train=True, seed=0)
    same = [torch.equal(ds[(0, 0)]["color"], ds[(0, 0)]["color"])]
    flips = {bool(torch.equal(ds[(0, e)]["color"], ds[(0, 0)]["color"])) for e in range(8)}
    assert all(same) and flips == {True, False}
