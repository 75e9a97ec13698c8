"""revive-bench flicker: its metrics, its synthetic old film, and the command end to end on a small film."""

from __future__ import annotations

import json

import numpy as np
import pytest

from revive.benchmarks.cli import main
from revive.benchmarks.flicker import chroma, chroma_flicker, colourfulness, rgb_frames
from revive.benchmarks.synthetic_film import FilmTruth, make_film

av = pytest.importorskip("av")


def test_colourfulness_and_flicker_of_known_pictures():
    gray = np.full((8, 8, 3), 120, np.uint8)
    assert colourfulness(gray) == 0.0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    assert colourfulness(red) == pytest.approx(0.3 * np.hypot(255.0, 127.5))  # no spread: 0.3 x |mean|
    half = red.copy()
    half[:, :4] = 0
    assert colourfulness(half) > colourfulness(red) * 0.9  # spread counts too
    assert chroma_flicker(chroma(red), chroma(red)) == 0.0
    shifted = red.copy()
    shifted[..., 2] = 10  # B + 10: Cb + 5, Cr - 0.8
    assert chroma_flicker(chroma(red), chroma(shifted)) == pytest.approx((5 + 0.8) / 2, abs=0.6)


def test_the_synthetic_film_is_what_its_truth_says(tmp_path):
    truth = FilmTruth(size=(64, 48), shot_frames=(5, 4))
    film = make_film(tmp_path / "old.mp4", truth)
    with av.open(str(film)) as container:
        assert container.streams.video[0].frames == 9 and len(container.streams.audio) == 1
        decoded = [f.to_ndarray(format="gray", src_color_range="MPEG", dst_color_range="JPEG")
                   for f in container.decode(video=0)]
    assert truth.cuts == [5] and [truth.shot_of(i) for i in (0, 4, 5, 8)] == [0, 0, 1, 1]
    for i, gray in enumerate(decoded):
        frame = truth.frame(i)
        assert np.abs(gray.astype(int) - frame.damaged).mean() < 4  # CRF 10 keeps most of the grain
        assert frame.dust.any() and (frame.scratch | frame.dust)[:, truth.scratch].all()
        assert not np.array_equal(frame.damaged, frame.undamaged)
    assert not np.array_equal(truth.frame(1).dust, truth.frame(2).dust)  # dust moves, the scratch does not


def test_flicker_command_end_to_end(tmp_path):
    out = tmp_path / "results"
    code = main(["flicker", "--stand-in", "--size", "64x48", "--shot-frames", "12,12", "--repeats", "1",
                 "--memory-minutes", "0.1", "--out", str(out), "--keep", str(tmp_path / "work")])
    data = json.loads((out / "flicker.json").read_text())
    assert code == (0 if all(t["passed"] for t in data["targets"].values()) else 1)
    assert data["film"]["cuts"] == data["film"]["cuts_detected"] == [12]
    assert data["frames"] == 24 and data["cut_error_max"] == 0.0
    flicker = data["chroma_flicker"]
    assert flicker["smoothed"] < flicker["per_frame"]
    assert data["targets"]["luma_untouched"]["passed"]
    assert data["throughput"]["median"]["film"]["frames_per_s"] > 0
    assert data["memory"]["frames"] == 144 and len(data["memory"]["samples"]) >= 4
    assert "Film colour stability" in (out / "flicker.md").read_text()
    kept = tmp_path / "work"
    assert len(list(rgb_frames(kept / "smoothed" / "synthetic_film.mkv"))) == 24


def test_flicker_refuses_a_missing_film_and_a_model_without_colour(tmp_path, capsys):
    from revive.benchmarks.scan_memory import make_box_filter_restore

    assert main(["flicker", "--video", str(tmp_path / "none.mp4")]) == 2
    assert "no such file" in capsys.readouterr().err
    restorer = make_box_filter_restore(tmp_path / "box.onnx", 32)
    assert main(["flicker", "--engine", str(restorer), "--size", "64x48", "--shot-frames", "4"]) == 2
    assert "give a colorizer" in capsys.readouterr().err
