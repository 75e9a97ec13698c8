"""Polygon damage: documented ranges, a true mask, repeatable validation, fresh training damage."""

import numpy as np

from revive.train import damage
from revive.train.data import Item, discover
from revive.train.restore_data import RestoreDataset, damaged_example


def test_polygon_statistics_stay_within_the_documented_ranges():
    size = 64
    counts, vertices, fills = set(), set(), []
    for i in range(300):
        polys = damage.random_polygons(size, np.random.default_rng(i))
        counts.add(len(polys))
        for p in polys:
            vertices.add(len(p.vertices))
            fills.append(p.fill)
            cx, cy = p.center
            assert 0 <= cx <= size and 0 <= cy <= size
            radii = [np.hypot(x - cx, y - cy) / size for x, y in p.vertices]
            assert min(radii) >= damage.RADIUS[0] - 1e-9 and max(radii) <= damage.RADIUS[1] + 1e-9
    lo, hi = damage.POLYGONS
    assert counts == set(range(lo, hi + 1))  # every count drawn, none outside
    lo, hi = damage.VERTICES
    assert vertices == set(range(lo, hi + 1))
    assert min(fills) >= damage.FILL[0] and max(fills) <= damage.FILL[1]
    assert max(fills) - min(fills) > 200  # spread over the range


def test_mask_marks_exactly_the_painted_pixels():
    rng = np.random.default_rng(3)
    gray = np.full((64, 64), 7, np.uint8)
    polys = [damage.Polygon(((10, 10), (40, 12), (25, 40)), (25, 20), 200)]
    damaged, mask = damage.apply_damage(gray, polys)
    assert mask.dtype == bool and mask.any() and not mask.all()
    assert (damaged[mask] == 200).all() and (damaged[~mask] == 7).all()
    damaged, mask = damage.damage(gray, rng)
    assert damaged.shape == gray.shape and mask.shape == gray.shape
    assert 0 < mask.mean() < 0.9


def test_validation_damage_repeats_and_training_damage_changes_per_epoch():
    items = discover("sample")[:3]
    val = RestoreDataset(items, 64, "rgb", train=False, seed=4)
    again = RestoreDataset(items, 64, "rgb", train=False, seed=4)
    other = RestoreDataset(items, 64, "rgb", train=False, seed=5)
    a, b, c = val[(1, 0)], again[(1, 7)], other[(1, 0)]
    assert np.array_equal(a["damaged"], b["damaged"]) and np.array_equal(a["mask"], b["mask"])
    assert not np.array_equal(a["mask"], c["mask"])
    # Seeded by the item's key, not its position in the list.
    moved = RestoreDataset(items[::-1], 64, "rgb", train=False, seed=4)[(1, 0)]
    assert np.array_equal(moved["damaged"], a["damaged"])
    train = [damaged_example(items[0], 64, 4, epoch, 0, train=True)[1] for epoch in (0, 0, 1)]
    assert np.array_equal(train[0], train[1]) and not np.array_equal(train[0], train[2])


def test_dataset_fields():
    ex = RestoreDataset([Item(key="sample:astronaut:0", group="astronaut", photo="astronaut",
                              crop=(0, 0, 256))], 64, "lab", train=True, seed=0)[(0, 0)]
    assert ex["input"].shape == (1, 64, 64) and ex["clean_input"].shape == (1, 64, 64)
    assert ex["target"].shape == (2, 64, 64) and ex["color"].shape == (3, 64, 64)
    m = ex["mask"].numpy()[0] > 0
    d, g = ex["damaged"].numpy()[0], ex["gray"].numpy()[0]
    assert np.array_equal(d[~m], g[~m])  # damage only inside the mask
    assert np.allclose(ex["input"].numpy()[0], d / 127.5 - 1.0, atol=1e-6)
