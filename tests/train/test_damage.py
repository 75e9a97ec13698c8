"""Damage kinds: documented ranges, an exact mask, the same draw for the same seed, fresh training damage."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from revive.train import damage
from revive.train.data import Item, discover
from revive.train.restore_data import RestoreDataset, damaged_example

SIZE = 96


def _photo(size: int = SIZE) -> np.ndarray:
    """A textured gray test picture (gradients and stripes: no flat area hides damage)."""
    y, x = np.mgrid[0:size, 0:size]
    return (60 + 80 * (x / size) + 40 * np.sin(y / 3.0)).astype(np.uint8)


def test_polygon_statistics_stay_within_the_documented_ranges():
    counts, vertices = set(), set()
    for i in range(300):
        polys = damage.random_polygons(SIZE, np.random.default_rng(i))
        counts.add(len(polys))
        for p in polys:
            vertices.add(len(p.vertices))
            cx, cy = p.center
            assert 0 <= cx <= SIZE and 0 <= cy <= SIZE
            radii = [np.hypot(x - cx, y - cy) / SIZE for x, y in p.vertices]
            assert min(radii) >= damage.RADIUS[0] - 1e-9 and max(radii) <= damage.RADIUS[1] + 1e-9
    assert counts == set(range(damage.POLYGONS[0], damage.POLYGONS[1] + 1))  # every count drawn, none outside
    assert vertices == set(range(damage.VERTICES[0], damage.VERTICES[1] + 1))


@pytest.mark.parametrize("mean", [0.0, 30.5, 128.0, 200.0, 255.0])
def test_polygon_fill_keeps_its_distance_from_the_gray_under_it(mean):
    fills = [damage.contrasting_fill(mean, u) for u in np.linspace(0, 0.999, 200)]
    assert min(fills) >= damage.FILL[0] and max(fills) <= damage.FILL[1]
    assert min(abs(f - mean) for f in fills) >= damage.POLYGON_CONTRAST
    assert len(set(fills)) > 50  # spread over what is allowed, not one value


def test_painted_polygon_mask_is_exactly_the_changed_pixels():
    gray = np.full((64, 64), 7, np.uint8)
    polys = [damage.Polygon(((10, 10), (40, 12), (25, 40)), (25, 20), 200)]
    damaged, mask = damage.apply_damage(gray, polys)
    assert mask.dtype == bool and mask.any() and not mask.all()
    assert (damaged[mask] == 200).all() and (damaged[~mask] == 7).all()


def _cover(strokes, size=SIZE) -> np.ndarray:
    image = Image.new("L", (size, size), 0)
    for s in strokes:
        ImageDraw.Draw(image).line(s.points, fill=255, width=s.width, joint="curve")
    return np.asarray(image) > 0


def test_scratches_ranges_and_tones():
    counts, widths, segments = set(), set(), set()
    for i in range(300):
        for s in (scratches := damage.random_scratches(SIZE, np.random.default_rng(i))):
            widths.add(s.width)
            segments.add(len(s.points) - 1)
            length = sum(np.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(s.points, s.points[1:])) / SIZE
            assert damage.SCRATCH_LENGTH[0] - 1e-9 <= length <= damage.SCRATCH_LENGTH[1] + 1e-9
            assert damage.DARK[0] <= s.gray <= damage.DARK[1] or damage.BRIGHT[0] <= s.gray <= damage.BRIGHT[1]
        counts.add(len(scratches))
    assert counts == set(range(damage.SCRATCHES[0], damage.SCRATCHES[1] + 1))
    assert widths == set(range(damage.SCRATCH_WIDTH[0], damage.SCRATCH_WIDTH[1] + 1))
    assert segments == set(range(damage.SCRATCH_SEGMENTS[0], damage.SCRATCH_SEGMENTS[1] + 1))


def test_folds_cross_from_border_to_border_within_ranges():
    counts = set()
    for i in range(200):
        folds = damage.random_folds(SIZE, np.random.default_rng(i))
        counts.add(len(folds))
        for f in folds:
            assert damage.FOLD_WIDTH[0] <= f.width <= damage.FOLD_WIDTH[1]
            assert damage.FOLD_SHIFT[0] <= f.shift <= damage.FOLD_SHIFT[1]
            for x, y in f.points:  # both ends on the border
                assert min(x, y) == 0 or max(x, y) == SIZE
    assert counts == set(range(damage.FOLDS[0], damage.FOLDS[1] + 1))


def test_spots_ranges():
    counts, radii = set(), []
    for i in range(200):
        spots = damage.random_spots(SIZE, np.random.default_rng(i))
        counts.add(len(spots))
        for (x0, y0, x1, y1), tone in spots:
            radii += [(x1 - x0) / 2, (y1 - y0) / 2]
            assert damage.DARK[0] <= tone <= damage.DARK[1] or damage.BRIGHT[0] <= tone <= damage.BRIGHT[1]
    assert counts == set(range(damage.SPOTS[0], damage.SPOTS[1] + 1))
    assert min(radii) >= 1.0 - 1e-9 and max(radii) <= damage.SPOT_RADIUS[1] * SIZE + 1e-9


@pytest.mark.parametrize("kind", damage.LOCAL_KINDS)
def test_each_local_kind_marks_exactly_the_pixels_it_changed(kind):
    gray, seen = _photo(), 0
    for i in range(30):
        drawn = damage.draw_damage(gray, np.random.default_rng(i), (kind,))
        assert np.array_equal(drawn.base, gray)  # no global degradation asked for
        assert np.array_equal(drawn.mask, drawn.damaged != gray)
        assert drawn.mask.mean() < 0.5
        seen += drawn.mask.any()
    assert seen >= (15 if kind == "folds" else 30)  # folds may draw 0 lines; the others always damage


def test_scratch_mask_lies_on_the_drawn_scratches():
    gray = _photo()
    rng = np.random.default_rng(11)
    drawn = damage.draw_damage(gray, rng, ("scratches",))
    strokes = damage.random_scratches(SIZE, np.random.default_rng(11).spawn(len(damage.DAMAGE_KINDS))[
        damage.DAMAGE_KINDS.index("scratches")])
    cover = _cover(strokes)
    assert drawn.mask.any() and not (drawn.mask & ~cover).any()
    assert drawn.mask.sum() >= 0.8 * cover.sum()  # bright or dark tones change almost every covered pixel


def test_folds_brighten_and_clip():
    gray = _photo()
    for i in range(20):
        drawn = damage.draw_damage(gray, np.random.default_rng(i), ("folds",))
        m = drawn.mask
        diff = drawn.damaged[m].astype(int) - gray[m].astype(int)
        assert (diff > 0).all() and (diff <= 2 * damage.FOLD_SHIFT[1]).all()  # two folds may cross


@pytest.mark.parametrize("kind", damage.GLOBAL_KINDS)
def test_global_degradations_change_the_print_but_stay_out_of_the_mask(kind):
    gray = _photo()
    drawn = damage.draw_damage(gray, np.random.default_rng(2), (kind, "spots"))
    assert (drawn.base != gray).mean() > 0.5  # nearly every pixel changed
    assert np.array_equal(drawn.mask, drawn.damaged != drawn.base)
    assert drawn.mask.mean() < 0.2  # the spots, not the whole print
    if kind == "fading":  # contrast lowered within the documented range
        ratio = drawn.base.astype(float).std() / gray.astype(float).std()
        assert damage.FADE_CONTRAST[0] - 0.02 <= ratio <= damage.FADE_CONTRAST[1] + 0.02
    else:
        noise = drawn.base.astype(float) - gray
        assert damage.GRAIN_SIGMA[0] * 0.8 <= noise.std() <= damage.GRAIN_SIGMA[1] * 1.1


def test_same_seed_same_draw_and_kinds_draw_independently():
    gray = _photo()
    a = damage.draw_damage(gray, np.random.default_rng(5), damage.DAMAGE_KINDS)
    b = damage.draw_damage(gray, np.random.default_rng(5), damage.DAMAGE_KINDS)
    c = damage.draw_damage(gray, np.random.default_rng(6), damage.DAMAGE_KINDS)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a.mask, c.mask)
    # Spots (painted last) drawn alone land where they land beside polygons: each kind has its own stream.
    mix = damage.draw_damage(gray, np.random.default_rng(5), ("polygons", "spots"))
    alone = damage.draw_damage(gray, np.random.default_rng(5), ("spots",))
    assert alone.mask.any() and np.array_equal(mix.damaged[alone.mask], alone.damaged[alone.mask])


def test_parse_kinds_names_the_bad_kind():
    assert damage.parse_kinds("polygons, scratches") == ("polygons", "scratches")
    with pytest.raises(ValueError, match="crumbs"):
        damage.parse_kinds("polygons,crumbs")
    with pytest.raises(ValueError, match="local kind"):
        damage.parse_kinds("fading,grain")


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


def test_dataset_fields_and_target_is_the_print_before_local_damage():
    item = Item(key="sample:astronaut:0", group="astronaut", photo="astronaut", crop=(0, 0, 256))
    ex = RestoreDataset([item], 64, "lab", train=True, seed=0)[(0, 0)]
    assert ex["input"].shape == (1, 64, 64) and ex["clean_input"].shape == (1, 64, 64)
    assert ex["target"].shape == (2, 64, 64) and ex["color"].shape == (3, 64, 64)
    m = ex["mask"].numpy()[0] > 0
    d, g = ex["damaged"].numpy()[0], ex["gray"].numpy()[0]
    assert m.any() and np.array_equal(d[~m], g[~m]) and (d[m] != g[m]).all()
    assert np.allclose(ex["input"].numpy()[0], d / 127.5 - 1.0, atol=1e-6)
    grainy = RestoreDataset([item], 64, "lab", train=True, seed=0, damage_kinds=("grain", "spots"))[(0, 0)]
    m = grainy["mask"].numpy()[0] > 0
    d, g = grainy["damaged"].numpy()[0], grainy["gray"].numpy()[0]
    assert np.array_equal(d[~m], g[~m])  # the target carries the grain: only local damage is to undo
