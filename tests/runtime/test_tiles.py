"""Tiled restoration: the layout's geometry and blend, and the whole path checked against a known local operator."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from revive.runtime.cli import main
from revive.runtime.layout import LayoutOptions, TilePlan, parse_tile, tile_starts, tile_weights

from .helpers import box_filter, smooth


def run(*args) -> int:
    return main([str(a) for a in args] + ["--no-progress", "--device", "cpu", "--fill", "model"])  # the net's own


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 8), (33, 32, 4), (32, 32, 4), (7, 32, 4),
                                                 (65000, 256, 32), (1000, 256, 0), (300, 256, 128), (90, 32, 1)])
def test_tiles_cover_with_the_overlap_and_weights_sum_to_one(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == max(length, tile)
    assert all(tile - overlap >= b - a > 0 for a, b in zip(starts, starts[1:]))
    total = np.zeros(max(length, tile))
    for start, weight in zip(starts, tile_weights(starts, length, tile, overlap)):
        total[start:start + tile] += weight
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_edge_pixels_of_inner_tile_borders_weigh_nothing():
    starts = tile_starts(100, 32, 8)
    weights = tile_weights(starts, 100, 32, 8)
    assert weights[0][0] == 1.0 and weights[-1][-1] == 1.0  # the picture's own borders
    assert weights[0][-1] == 0.0 and weights[1][0] == 0.0 and weights[1][-1] == 0.0


def test_plan_reassembles_the_identity_exactly():
    gray = np.random.default_rng(0).integers(0, 256, (45, 70), dtype=np.uint8)
    plan = TilePlan(gray, 32, 32, 6)
    for i in reversed(range(len(plan))):  # any order
        row = plan.row(i)
        plan.put(i, {"restored": row[None], "mask": np.full((1, 32, 32), 200, np.uint8)})
    restored, mask = plan.result()
    assert np.array_equal(restored, gray) and (mask == 200).all()


def test_options_refuse_nonsense():
    assert parse_tile("AUTO") == "auto" and parse_tile("off") == "off" and parse_tile("64") == 64
    for bad in ("4", "big", "-1"):
        with pytest.raises(ValueError):
            parse_tile(bad)
    with pytest.raises(ValueError, match="half"):
        LayoutOptions(tile=32, overlap=20).overlap_px(32)


@pytest.mark.parametrize("h,w,overlap", [(75, 100, 8), (33, 47, 4), (40, 31, None), (97, 130, 12)])
def test_tiled_local_operator_equals_it_on_the_whole_picture(tmp_path, smoothing_onnx, h, w, overlap):
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(h * w)
    gray = np.clip(np.asarray(Image.fromarray(smooth(h, w)).convert("L"), np.int16)
                   + rng.integers(-60, 61, (h, w)) * (rng.random((h, w)) < 0.2) + 40 * ((x // 7 + y // 5) % 2),
                   0, 255).astype(np.uint8)  # smooth picture, sharp checks and speckle: every tile differs
    Image.fromarray(gray).save(tmp_path / "scan.png")
    extra = [] if overlap is None else ["--overlap", overlap]
    assert run("--engine", smoothing_onnx[32], tmp_path / "scan.png", "-o", tmp_path / "out", *extra) == 0
    with Image.open(tmp_path / "out" / "scan.png") as im:
        tiled = np.asarray(im, np.int16)
    expected = box_filter(gray).astype(np.int16)
    assert tiled.shape == gray.shape
    diff = np.abs(tiled - expected)[1:-1, 1:-1]
    assert diff.max() <= 1, np.argwhere(diff > 1)[:5]
    # The whole-view path (--tile off) resamples to 32 x 32 and back: off the operator by more than 1, which shows
    # that the check above can fail.
    assert run("--engine", smoothing_onnx[32], tmp_path / "scan.png", "-o", tmp_path / "off", "--tile", "off") == 0
    with Image.open(tmp_path / "off" / "scan.png") as im:
        assert np.abs(np.asarray(im, np.int16) - expected)[1:-1, 1:-1].max() > 3


def test_tiles_of_another_size_and_a_working_copy(tmp_path, smoothing_onnx):
    gray = np.asarray(Image.fromarray(smooth(120, 200)).convert("L"))
    Image.fromarray(gray).save(tmp_path / "scan.png")
    for name, flags in (("n24", ["--tile", 24]), ("cap", ["--max-side", 90])):
        assert run("--engine", smoothing_onnx[32], tmp_path / "scan.png", "-o", tmp_path / name, *flags) == 0
        with Image.open(tmp_path / name / "scan.png") as im:
            out = np.asarray(im, np.int16)
        assert out.shape == gray.shape
        # A smooth picture barely changes under a 3 x 3 box filter, whatever the scale it is restored at.
        assert np.abs(out - box_filter(gray))[2:-2, 2:-2].mean() < 2.0


@pytest.mark.parametrize("h,w", [(1, 1), (12, 4000), (1, 65000), (5, 3)])
def test_odd_sizes_restore_in_tiles(tmp_path, smoothing_onnx, h, w):
    gray = np.random.default_rng(1).integers(0, 256, (h, w), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "odd.png")
    assert run("--engine", smoothing_onnx[32], tmp_path / "odd.png", "-o", tmp_path / "out") == 0
    with Image.open(tmp_path / "out" / "odd.png") as im:
        out = np.asarray(im)
    assert out.shape == (h, w)
    if h > 2 and w > 2:
        assert np.abs(out.astype(int) - box_filter(gray))[1:-1, 1:-1].max() <= 1


def test_exif_rotation_before_tiling(tmp_path, smoothing_onnx):
    gray = np.asarray(Image.fromarray(smooth(40, 90)).convert("L"))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    Image.fromarray(gray).save(tmp_path / "rot.jpg", exif=exif, quality=100)
    assert run("--engine", smoothing_onnx[32], tmp_path / "rot.jpg", "-o", tmp_path / "out") == 0
    with Image.open(tmp_path / "out" / "rot.jpg") as im:  # --format auto: JPEG in, JPEG out
        assert im.size == (40, 90) and im.getexif().get(0x0112, 1) == 1


def test_overlap_over_half_the_models_tile_is_a_usage_error(tmp_path, smoothing_onnx, capsys):
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "a.png")
    assert run("--engine", smoothing_onnx[32], tmp_path / "a.png", "-o", tmp_path / "out", "--overlap", 20) == 2
    assert "--overlap" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert run("--engine", smoothing_onnx[32], tmp_path / "a.png", "-o", tmp_path / "out", "--tile", 24,
               "--overlap", 13) == 2


def test_summary_counts_tiles(tmp_path, smoothing_onnx):
    import json

    Image.fromarray(np.zeros((64, 100), np.uint8)).save(tmp_path / "a.png")
    summary = tmp_path / "run.json"
    assert run("--engine", smoothing_onnx[32], tmp_path / "a.png", "-o", tmp_path / "out", "--overlap", 4,
               "--summary", summary) == 0
    report = json.loads(summary.read_text())
    assert report["throughput"]["tiles"] == 3 * 4  # rows: ceil(60/28)=3, columns: ceil(96/28)=4
    assert report["settings"]["tile"] == "auto"


def test_run_image_gives_the_pictures_runtime_infer_writes(tmp_path, smoothing_onnx, tiny_onnx):
    """The per-image steps other drivers (serve, Ray) call give the very pixels of runtime-infer's pipeline."""
    from revive.runtime.backends import open_backend
    from revive.runtime.images import decode_gray
    from revive.runtime.render import Route, run_image

    gray = np.asarray(Image.fromarray(smooth(70, 110)).convert("L"))
    Image.fromarray(gray).save(tmp_path / "scan.png")
    models = [smoothing_onnx[32], tiny_onnx["rgb"]]
    assert run(*(x for m in models for x in ("--engine", m)), tmp_path / "scan.png", "-o", tmp_path / "out",
               "--save-restored", "--batch-size", 3) == 0
    backends = [open_backend(m, device="cpu") for m in models]
    try:
        route, options = Route.from_cards([b.card for b in backends]), LayoutOptions(fill="model")  # as run()
        work = run_image(decode_gray(tmp_path / "scan.png", route.first_view(options, True)), route, options,
                         lambda k, rows: backends[k].run(rows), batch_size=5)
    finally:
        for b in backends:
            b.close()
    with Image.open(tmp_path / "out" / "scan.png") as a, Image.open(tmp_path / "out" / "scan.restored.png") as r:
        assert np.array_equal(np.asarray(a), np.asarray(work.picture()))
        assert np.array_equal(np.asarray(r), np.asarray(work.restored))
