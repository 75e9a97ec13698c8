"""temporal.py: chroma smoothing inside shots (never across a cut, never smearing motion) and scene cuts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from revive.runtime.temporal import ChromaSmoother, SceneCuts, TemporalOptions, chroma_planes, guide_of, small_gray

S = 32


def _photo(seed: int, size: int = 96) -> np.ndarray:
    """A gray picture with structure at several scales (a 'shot')."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (6, 6)).astype(np.float32)
    big = np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC), np.float32)
    return np.clip(big + rng.normal(0, 10, (size, size)), 0, 255)


def _run(smoother: ChromaSmoother, chromas, guides, cuts) -> list[tuple[int, np.ndarray]]:
    out = []
    for i, (c, g, cut) in enumerate(zip(chromas, guides, cuts)):
        out += smoother.push(i, c, g, cut)
    return out + smoother.flush()


def test_a_static_shot_steadies_and_constant_colour_stays_exactly_constant():
    rng = np.random.default_rng(0)
    truth = rng.uniform(90, 170, (2, S, S)).astype(np.float32)
    noisy = [truth + rng.normal(0, 3, truth.shape).astype(np.float32) for _ in range(40)]
    guide = guide_of(_photo(1, S))
    out = _run(ChromaSmoother(9), noisy, [guide] * 40, [True] + [False] * 39)
    assert [k for k, _ in out] == list(range(40))  # every frame, in order
    before = np.mean([np.abs(noisy[i] - noisy[i - 1]).mean() for i in range(5, 35)])
    after = np.mean([np.abs(out[i][1].astype(float) - out[i - 1][1]).mean() for i in range(5, 35)])
    assert after < 0.25 * before, (before, after)
    constant = [truth.round()] * 12
    steady = _run(ChromaSmoother(9), constant, [guide] * 12, [True] + [False] * 11)
    assert all(np.array_equal(c, truth.round().astype(np.uint8)) for _, c in steady)


def test_no_colour_crosses_a_cut_and_a_shots_first_and_last_frames_keep_their_own():
    rng = np.random.default_rng(1)
    chromas = [rng.uniform(60, 200, (2, S, S)).astype(np.float32).round() for _ in range(20)]
    guides = [guide_of(_photo(0 if i < 10 else 1, S)) for i in range(20)]
    cuts = [i in (0, 10) for i in range(20)]
    out = dict(_run(ChromaSmoother(7), chromas, guides, cuts))
    for first_or_last in (0, 9, 10, 19):
        assert np.array_equal(out[first_or_last], chromas[first_or_last].astype(np.uint8))
    # frames after the cut do not depend on any frame before it
    changed = [c + 40 if i < 10 else c for i, c in enumerate(chromas)]
    again = dict(_run(ChromaSmoother(7), changed, guides, cuts))
    assert all(np.array_equal(out[i], again[i]) for i in range(10, 20))
    assert not np.array_equal(out[5], again[5])


def test_a_moving_object_keeps_its_own_colour_where_its_neighbours_differ():
    """A bright square moves 6 px a frame over a dark ground: its chroma (red) is not smeared over the ground
    (blue) where it was, because the gray there differs between the frames."""
    frames, chromas = [], []
    for i in range(9):
        gray = np.full((S, S), 40.0, np.float32)
        chroma = np.zeros((2, S, S), np.float32)
        chroma[0], chroma[1] = 170, 90  # blue-ish ground
        x = 2 + 3 * i
        gray[10:20, x:x + 6] = 220
        chroma[0, 10:20, x:x + 6], chroma[1, 10:20, x:x + 6] = 90, 200  # red square
        frames.append(gray)
        chromas.append(chroma)
    out = dict(_run(ChromaSmoother(9), chromas, [guide_of(g) for g in frames], [True] + [False] * 8))
    mid = out[4].astype(float)
    square = frames[4] > 128
    ground = frames[4] < 128
    assert np.abs(mid[1][square] - 200).mean() < 12  # the square is still red
    assert np.abs(mid[1][ground] - 90).mean() < 12  # the ground is still blue
    # a box filter would have mixed them: the check above is not trivially met
    box = np.mean(chromas, axis=0)
    assert np.abs(box[1][square] - 200).mean() > 40


def test_output_lags_by_the_radius_and_holds_only_the_window():
    smoother = ChromaSmoother(5)
    c, g = np.zeros((2, S, S), np.float32), np.zeros((S, S), np.float32)
    out_per_push = [len(smoother.push(i, c, g, i == 0)) for i in range(30)]
    assert out_per_push[:2] == [0, 0] and all(n == 1 for n in out_per_push[2:])
    assert len(smoother._frames) <= 5 and len(smoother._pending) == 2
    assert len(smoother.flush()) == 2


def _shot_frames(seed: int, count: int, rng, flicker: float = 0.1, grain: float = 8.0, pan: int = 0):
    wide = _photo(seed, 160)
    out = []
    for i in range(count):
        crop = wide[:96, pan * i:pan * i + 96] if pan else wide[:96, :96]
        frame = crop * (1 + rng.uniform(-flicker, flicker)) + rng.uniform(-8, 8) + rng.normal(0, grain, crop.shape)
        out.append(small_gray(Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)), 64))
    return out


def test_cuts_are_found_and_flicker_grain_and_a_pan_are_not_cuts():
    rng = np.random.default_rng(2)
    frames = (_shot_frames(1, 20, rng) + _shot_frames(2, 20, rng) + _shot_frames(3, 16, rng, pan=3)
              + _shot_frames(4, 12, rng, flicker=0.2))
    cuts = SceneCuts()
    found = [i for i, frame in enumerate(frames) if cuts.update(frame)]
    assert found == [0, 20, 40, 56]


def test_chroma_planes_are_pillows_ycbcr():
    rgb = np.random.default_rng(3).integers(0, 256, (S, S, 3), dtype=np.uint8)
    ycc = np.asarray(Image.fromarray(rgb).convert("YCbCr"))
    assert np.array_equal(chroma_planes(rgb), ycc[..., 1:].transpose(2, 0, 1).astype(np.float32))


@pytest.mark.parametrize(("kwargs", "message"), [({"window": 4}, "odd"), ({"mode": "on"}, "auto or off")])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TemporalOptions(**kwargs)
    assert not TemporalOptions(window=1).on and not TemporalOptions(mode="off").on and TemporalOptions().on
