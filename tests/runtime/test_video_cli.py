"""runtime-infer on films: video in and out through the same pipeline, smoothing, resume, failures, sequences."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revive.runtime.cli import main
from revive.runtime.color import rgb_to_gray
from revive.runtime.video import FilmReader

from .film_helpers import audio_packets, decoded_rgb, gray_frames, make_film, video_info

pytest.importorskip("av")


@pytest.fixture(scope="module")
def vivid(tmp_path_factory) -> Path:
    """A 32-px colorizer whose colours are saturated and change with its input (revive-bench's stand-in)."""
    from revive.benchmarks.flicker import make_stand_in_colorizer

    return make_stand_in_colorizer(tmp_path_factory.mktemp("vivid") / "vivid.onnx", size=32)


def _grainy(count: int, size=(64, 48), seed=0) -> list[np.ndarray]:
    """One static picture with fresh grain and flicker every frame (a static shot of old film)."""
    rng = np.random.default_rng(seed)
    base = gray_frames(1, size, seed)[0].astype(np.float32)
    return [np.clip(base * rng.uniform(0.94, 1.06) + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
            for _ in range(count)]


def _run(*args, capsys=None) -> int:
    return main([*map(str, args), "--no-progress", "--preset", "ultrafast"])


def test_a_film_keeps_its_frames_timing_and_sound(tmp_path, vivid, restore_onnx):
    film = make_film(tmp_path / "film.mp4", gray_frames(24), rate=25)
    out = tmp_path / "out"
    assert _run(film, "-o", out, "--engine", restore_onnx, "--engine", vivid, "--save-restored") == 0
    before = video_info(film)
    for name in ("film.mp4", "film.restored.mp4"):
        after = video_info(out / name)
        assert (after["frames"], after["size"], after["rate"]) == (24, (64, 48), 25)
        assert after["times"] == pytest.approx(before["times"], abs=1e-3)
        assert b"".join(p for _, p in audio_packets(out / name)) == b"".join(p for _, p in audio_packets(film))
    colour = decoded_rgb(out / "film.mp4")
    ycc = np.asarray(Image.fromarray(colour[5]).convert("YCbCr"), np.float32)
    restored = np.asarray(Image.fromarray(decoded_rgb(out / "film.restored.mp4")[5]).convert("YCbCr"), np.float32)
    assert np.abs(ycc[..., 1:] - 128).mean() > 1 > np.abs(restored[..., 1:] - 128).mean()  # colour, and gray


def _chroma_flicker(frames: list[np.ndarray]) -> float:
    planes = [np.asarray(Image.fromarray(f).convert("YCbCr"), np.float32)[..., 1:] for f in frames]
    return float(np.mean([np.abs(a - b).mean() for a, b in zip(planes[1:], planes)]))


def test_smoothing_steadies_colour_and_never_touches_luminance(tmp_path, vivid):
    film = make_film(tmp_path / "shot.mkv", _grainy(30), container="matroska", audio=None)
    gray = [g for g, _ in FilmReader(film).frames()]
    outputs = {}
    for mode in ("off", "auto"):
        assert _run(film, "-o", tmp_path / mode, "--engine", vivid, "--video-codec", "ffv1", "--temporal", mode) == 0
        outputs[mode] = decoded_rgb(tmp_path / mode / "shot.mkv")  # FFV1: the runtime's own RGB
    per_frame, smoothed = _chroma_flicker(outputs["off"]), _chroma_flicker(outputs["auto"])
    assert per_frame > 0.5 and smoothed < 0.5 * per_frame, (per_frame, smoothed)
    for mode, frames in outputs.items():  # every frame keeps its own luminance (composite.py: +-1)
        assert max(int(np.abs(rgb_to_gray(f).astype(int) - g).max()) for f, g in zip(frames, gray)) <= 1, mode


def test_a_broken_film_fails_alone_and_a_rerun_skips_finished_films(tmp_path, vivid, caplog):
    films = tmp_path / "films"
    films.mkdir()
    make_film(films / "good.mp4", gray_frames(12))
    (films / "broken.mp4").write_bytes(b"\x00" * 3000)
    whole = make_film(tmp_path / "whole.mkv", gray_frames(48), container="matroska", audio=None).read_bytes()
    (films / "cut.mkv").write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "out"
    assert _run(films, "-o", out, "--engine", vivid) == 1
    assert sorted(p.name for p in out.iterdir()) == [".revive-output", "good.mp4"]  # nothing partial, no leftovers
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "broken.mp4: not a video FFmpeg can read" in messages
    assert "cut.mkv: truncated" in messages
    stamp = (out / "good.mp4").stat().st_mtime_ns
    summary = tmp_path / "run.json"
    assert _run(films, "-o", out, "--engine", vivid, "--summary", summary) == 1
    assert (out / "good.mp4").stat().st_mtime_ns == stamp
    report = json.loads(summary.read_text())
    assert report["counts"] == {"written": 0, "skipped": 1, "failed": 2, "pending": 0}


def _interrupted(film: Path, out: Path, vivid: Path, sig: int) -> int:
    """Start runtime-infer on ``film``, send ``sig`` once the film is being written; its exit status."""
    command = [sys.executable, "-m", "revive.runtime.cli", str(film), "-o", str(out), "--engine", str(vivid),
               "--no-progress", "--video-codec", "ffv1"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        parts = list(out.glob(f".{film.stem}.mkv.*.part")) if out.is_dir() else []
        if parts and parts[0].stat().st_size > 20_000:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.kill(proc.pid, sig)
    return proc.wait(timeout=60)


def test_an_interrupted_run_leaves_no_film_under_its_name_and_the_rerun_finishes_it(tmp_path, vivid):
    film = make_film(tmp_path / "long.mp4", gray_frames(400, size=(96, 64)), audio="aac")
    out = tmp_path / "out"
    assert _interrupted(film, out, vivid, signal.SIGTERM) == 130  # Ctrl-C / SIGTERM: the partial film is removed
    assert sorted(p.name for p in out.iterdir()) == [".revive-output"]
    assert _interrupted(film, out, vivid, signal.SIGKILL) == -signal.SIGKILL  # kill -9: a .part may stay behind
    assert not (out / "long.mkv").exists() and list(out.glob(".long.mkv.*.part"))
    assert _run(film, "-o", out, "--engine", vivid, "--video-codec", "ffv1") == 0
    assert sorted(p.name for p in out.iterdir()) == [".revive-output", "long.mkv"]
    assert video_info(out / "long.mkv")["frames"] == 400


def test_a_sequence_of_numbered_frames_is_one_film_in_number_order(tmp_path, vivid):
    reel = tmp_path / "scans" / "reel.1"
    reel.mkdir(parents=True)
    levels = [30 + 15 * i for i in range(12)]
    for i, level in enumerate(levels, 1):  # f_1, f_2 ... f_10: name order is not number order
        Image.fromarray(np.full((48, 64), level, np.uint8)).save(reel / f"f_{i}.png")
    out = tmp_path / "out"
    assert _run("--sequence", tmp_path / "scans", "-o", out, "--engine", vivid, "--fps", "12",
                "--video-codec", "ffv1") == 0
    info = video_info(out / "reel.1.mkv")
    assert (info["frames"], info["rate"]) == (12, 12)
    got = [int(np.rint(rgb_to_gray(f).mean())) for f in decoded_rgb(out / "reel.1.mkv")]
    assert got == pytest.approx(levels, abs=1)
    Image.fromarray(np.zeros((40, 64), np.uint8)).save(reel / "f_13.png")  # a frame of another size
    assert _run("--sequence", reel, "-o", tmp_path / "out2", "--engine", vivid) == 1


def test_photos_and_films_in_one_folder(tmp_path, vivid):
    folder = tmp_path / "box"
    folder.mkdir()
    Image.fromarray(gray_frames(1)[0]).save(folder / "photo.png")
    make_film(folder / "reel.mov", gray_frames(6), container="mov", audio="pcm_s16le")
    assert _run(folder, "-o", tmp_path / "out", "--engine", vivid) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".revive-output", "photo.png", "reel.mp4"]
    assert video_info(tmp_path / "out" / "reel.mp4")["audio"] == 1


@pytest.mark.parametrize(("flags", "message"), [
    (["--size", "model"], "films keep their resolution"),
    (["--ray", "local"], "films (and --sequence) run on one process"),
    (["--temporal-window", "4"], "odd number of frames"),
    (["--crf", "60"], "--crf must be within 0..51"),
    (["--fps", "fast"], "--fps takes a frame rate"),
])
def test_refusals_are_one_line_and_exit_two(tmp_path, vivid, capsys, flags, message):
    film = make_film(tmp_path / "f.mp4", gray_frames(2), audio=None)
    assert _run(film, "-o", tmp_path / "out", "--engine", vivid, *flags) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_without_pyav_a_film_is_one_line_naming_the_extra(tmp_path, vivid):
    film = make_film(tmp_path / "f.mp4", gray_frames(2), audio=None)
    code = ("import sys; sys.modules['av'] = None\nfrom revive.runtime.cli import main\n"
            f"sys.exit(main([{str(film)!r}, '-o', {str(tmp_path / 'out')!r}, '--engine', {str(vivid)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert "video inputs need PyAV: pip install 'revive[video]'" in result.stderr


def test_dry_run_and_summary_speak_of_films(tmp_path, vivid, capsys):
    film = make_film(tmp_path / "f.mp4", gray_frames(8), audio=None)
    assert _run(film, "-o", tmp_path / "out", "--engine", vivid, "--dry-run") == 0
    assert f"write: {film} -> {tmp_path / 'out' / 'f.mp4'}" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()
    assert _run(film, "-o", tmp_path / "out", "--engine", vivid, "--summary", tmp_path / "s.json") == 0
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["throughput"]["frames"] == 8 and report["throughput"]["frames_per_s"] > 0
    assert report["files"][0]["frames"] == 8 and report["files"][0]["shot_starts"] == [0]
    assert "8 film frames" in capsys.readouterr().err


def test_frames_in_flight_do_not_grow_with_the_film(tmp_path, vivid, restore_onnx):
    """The reorder buffer holds only frames in flight (bounded queues): the same bound for 60 and 240 frames."""
    from revive.runtime.infer import InferOptions, infer_files

    high = {}
    for count in (60, 240):
        film = make_film(tmp_path / f"f{count}.mp4", gray_frames(count, size=(48, 32)), audio=None)
        stats = infer_files([restore_onnx, vivid], [film], tmp_path / f"out{count}",
                            InferOptions(batch_size=4, workers=2, progress=False))
        assert stats.figures["frames"] == count
        high[count] = stats.high_water["reorder"]
    assert high[240] <= 6 * 4 + 4 * 2 and high[60] <= 6 * 4 + 4 * 2, high  # 6 batches + 4 per worker


def test_keep_mtime_gives_the_films_the_inputs_time(tmp_path, vivid, restore_onnx):
    film = make_film(tmp_path / "f.mp4", gray_frames(3), audio=None)
    os.utime(film, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    out = tmp_path / "out"
    assert _run(film, "-o", out, "--engine", restore_onnx, "--engine", vivid, "--save-restored", "--keep-mtime") == 0
    assert [(out / n).stat().st_mtime_ns for n in ("f.mp4", "f.restored.mp4")] == [film.stat().st_mtime_ns] * 2


def test_the_ray_driver_refuses_a_film_by_name_before_connecting(tmp_path, vivid):
    pytest.importorskip("ray")
    from revive.runtime.inputs import InputError
    from revive.runtime.ray_driver import infer_on_ray

    film = make_film(tmp_path / "f.mp4", gray_frames(2), audio=None)
    with pytest.raises(InputError, match="f.mp4: films run on one process"):
        infer_on_ray([vivid], [film], tmp_path / "out")


def test_two_films_that_would_share_a_name_both_keep_their_own_extension(tmp_path, vivid):
    folder = tmp_path / "reels"
    folder.mkdir()
    make_film(folder / "reel.mkv", gray_frames(3), container="matroska", audio=None)
    make_film(folder / "reel.mov", gray_frames(4), container="mov", audio=None)
    out = tmp_path / "out"
    assert _run(folder, "-o", out, "--engine", vivid) == 0
    assert sorted(p.name for p in out.iterdir()) == [".revive-output", "reel.mkv.mp4", "reel.mov.mp4"]
    assert [video_info(out / n)["frames"] for n in ("reel.mkv.mp4", "reel.mov.mp4")] == [3, 4]
