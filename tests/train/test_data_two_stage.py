"""K-fold splits and CSV discovery."""

import numpy as np
import pytest
from PIL import Image

from revive.runtime.color import rgb_to_gray
from revive.train.csv_data import MASK_THRESHOLD, discover_csv
from revive.train.data import DataError, Item, discover, kfold_items
from revive.train.restore_data import RestoreDataset


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_kfold_splits_are_disjoint_group_aware_and_cover_the_data(folds):
    items = discover("sample") + [Item(key=f"x{i}", group=f"g{i % 3}", color="") for i in range(9)]
    vals = []
    for fold in range(folds):
        train, val = kfold_items(items, folds, fold, seed=7)
        assert len(train) + len(val) == len(items) and val
        assert not {it.key for it in train} & {it.key for it in val}
        assert not {it.group for it in train} & {it.group for it in val}
        vals += [it.key for it in val]
    assert sorted(vals) == sorted(it.key for it in items)  # each item validated exactly once
    assert kfold_items(items, folds, 1, seed=7) == kfold_items(items, folds, 1, seed=7)
    with pytest.raises(ValueError):
        kfold_items(items, folds, folds, seed=7)


def _write_pair(folder, name, rng):
    color = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    gray = rgb_to_gray(color).copy()
    gray[5:15, 5:20] = np.where(rgb_to_gray(color)[5:15, 5:20] > MASK_THRESHOLD, 0, 255)
    Image.fromarray(color).save(folder / "gt" / f"{name}.png")
    Image.fromarray(gray).save(folder / "in" / f"{name}.png")


def test_csv_discovery_headers_paths_and_derived_mask(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "gt").mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        _write_pair(tmp_path, name, rng)
    (tmp_path / "train.csv").write_text("ID,input_image_path,gt_image_path\n"
                                        "A,./in/a.png,./gt/a.png\nB,in/b.png,gt/b.png\n")
    items = discover(tmp_path / "train.csv")
    assert [it.key for it in items] == ["csv:A", "csv:B"] and all(it.damaged for it in items)
    assert items[0].gray.endswith("a.png") and "gt" in items[0].color
    ex = RestoreDataset(items, 32, "rgb", train=False, seed=0)[0]
    mask = ex["mask"].numpy()[0] > 0
    assert 0.02 < mask.mean() < 0.4  # the hole, found without a mask file
    assert np.array_equal(ex["gray"].numpy()[0], rgb_to_gray(ex["color"].numpy().transpose(1, 2, 0)))
    (tmp_path / "plain.csv").write_text("in/a.png,gt/a.png\nin/b.png,gt/b.png\n")  # headerless
    assert len(discover_csv(tmp_path / "plain.csv")) == 2
    (tmp_path / "test.csv").write_text("id,input_image_path\nA,in/a.png\n")
    with pytest.raises(DataError, match="ground-truth"):
        discover_csv(tmp_path / "test.csv")
    (tmp_path / "missing.csv").write_text("input,target\nin/zz.png,gt/a.png\n")
    with pytest.raises(DataError, match="do not exist"):
        discover_csv(tmp_path / "missing.csv")


def test_augmented_view_is_a_rotation_or_mirroring_with_a_monotone_gamma():
    import numpy as np

    from revive.train.restore_data import augment_view

    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (12, 12), dtype=np.uint8)
    color = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    views = [np.rot90(a, k) for a in (color, color[::-1]) for k in range(4)]
    grays = [np.rot90(a, k) for a in (gray, gray[::-1]) for k in range(4)]
    seen = set()
    for seed in range(40):
        out_gray, out_color = augment_view(gray, color, np.random.default_rng(seed))
        match = [i for i, v in enumerate(views) if np.array_equal(v, out_color)]
        assert match, "colour is not one of the eight rotations and mirrorings"
        order = np.argsort(grays[match[0]].ravel(), kind="stable")
        assert np.all(np.diff(out_gray.ravel()[order].astype(int)) >= 0), "gray is not a monotone map of the view"
        seen.add(match[0])
    assert len(seen) == 8


def test_augmented_examples_are_reproducible_and_fresh_per_epoch():
    import torch

    from revive.train.data import discover, split_items
    from revive.train.restore_data import RestoreDataset

    train, _ = split_items(discover("sample"), 0.15, 0)
    a = RestoreDataset(train[:4], 64, "rgb", train=True, seed=3, augment=True)
    b = RestoreDataset(train[:4], 64, "rgb", train=True, seed=3, augment=True)
    assert all(torch.equal(a[(1, 2)][k], b[(1, 2)][k]) for k in ("input", "mask", "gray"))
    assert not torch.equal(a[(1, 2)]["gray"], a[(1, 3)]["gray"])
