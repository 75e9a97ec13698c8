"""video.py: films in (gray, time stamps, broken files) and out (codecs, containers, timing, audio copied, atomic)."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revive.runtime.images import DecodeError
from revive.runtime.video import Clock, EncodeSettings, FilmReader, Timing, VideoError, VideoWriter, gray_of, \
    import_av, probe_frames

from .film_helpers import audio_packets, decoded_rgb, gray_frames, make_film, video_info

av = pytest.importorskip("av")


def _yuv_frame(y_value: int, color_range: int = 0, fmt: str = "yuv420p"):
    h, w = 8, 8
    planes = np.full((h * 3 // 2, w), 128, np.uint8)
    planes[:h] = y_value
    frame = av.VideoFrame.from_ndarray(planes, format=fmt)
    frame.color_range = color_range
    return frame


@pytest.mark.parametrize(("y", "want"), [(16, 0), (235, 255), (126, 128)])
def test_limited_range_video_is_stretched_to_a_photos_gray(y, want):
    assert np.all(gray_of(_yuv_frame(y)) == want)


def test_full_range_video_is_taken_as_it_is():
    assert np.all(gray_of(_yuv_frame(16, color_range=2)) == 16)
    assert np.all(gray_of(_yuv_frame(235, fmt="yuvj420p")) == 235)


def test_reader_gives_every_frame_with_its_time_stamp(tmp_path):
    frames = gray_frames(10)
    film = make_film(tmp_path / "f.mp4", frames)
    reader = FilmReader(film)
    got = list(reader.frames())
    assert len(got) == 10
    assert reader.clock.rate == 24
    assert [float(t.pts * reader.clock.time_base) for _, t in got] == pytest.approx([i / 24 for i in range(10)])
    # lossless H.264 in limited range: the round trip costs at most a level
    assert max(int(np.abs(g.astype(int) - f).max()) for (g, _), f in zip(got, frames)) <= 1
    assert probe_frames(film) == 10


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("empty.mp4", b"", "not a video FFmpeg can read"),
    ("noise.mkv", bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)), "not a video"),
])
def test_unreadable_files_are_refused_with_the_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DecodeError, match=reason):
        list(FilmReader(path).frames())


def test_a_sound_file_has_no_video_stream(tmp_path):
    with av.open(str(tmp_path / "sound.mka"), "w", format="matroska") as out:
        stream = out.add_stream("flac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(DecodeError, match="no video stream"):
        list(FilmReader(tmp_path / "sound.mka").frames())


@pytest.mark.parametrize(("suffix", "container", "codec", "audio"), [("mkv", "matroska", "libx264", None),
                                                                   ("avi", "avi", "mpeg4", "pcm_s16le")])
def test_a_truncated_copy_is_refused_not_taken_for_a_short_film(tmp_path, suffix, container, codec, audio):
    """Matroska declares its length as a DURATION tag, AVI as a frame count; both end early when cut."""
    whole = make_film(tmp_path / f"whole.{suffix}", gray_frames(48), container=container, codec=codec, audio=audio)
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    assert len(list(FilmReader(whole).frames())) == 48
    with pytest.raises(DecodeError, match="truncated"):
        list(FilmReader(cut).frames())


def test_frames_over_max_pixels_are_refused(tmp_path):
    film = make_film(tmp_path / "f.mp4", gray_frames(2), audio=None)
    with pytest.raises(DecodeError, match="max-pixels"):
        list(FilmReader(film, max_pixels=1000).frames())


def _copy(src: Path, dst: Path, settings: EncodeSettings, colour: bool = True) -> list[np.ndarray]:
    """Read ``src``, write its frames (tinted when ``colour``) to ``dst`` with its audio; the pictures written."""
    reader = FilmReader(src)
    writer = None
    written = []
    for gray, timing in reader.frames():
        if writer is None:
            writer = VideoWriter(dst, settings, (gray.shape[1], gray.shape[0]), reader.clock, gray=not colour,
                                 audio_from=src)
        picture = np.stack([gray, np.clip(gray.astype(int) + 30, 0, 255), 255 - gray], -1).astype(np.uint8) \
            if colour else gray
        written.append(picture)
        writer.write(Image.fromarray(picture), timing)
    writer.close()
    return written


@pytest.mark.parametrize(("codec", "container", "audio"), [
    ("h264", "mp4", "aac"), ("h265", "mkv", "libopus"), ("ffv1", "mkv", "flac"), ("h264", "mov", "pcm_s16le"),
    ("h264", "mp4", "libmp3lame"),
])
def test_output_keeps_frames_timing_and_the_audio_bit_for_bit(tmp_path, codec, container, audio):
    src = make_film(tmp_path / "in.mkv", gray_frames(12), rate=25, audio=audio, container="matroska")
    dst = tmp_path / f"out.{container}"
    written = _copy(src, dst, EncodeSettings(codec=codec, container=container, preset="ultrafast"))
    before, after = video_info(src), video_info(dst)
    assert after["frames"] == 12 and after["size"] == before["size"] and after["rate"] == 25
    assert after["times"] == pytest.approx(before["times"], abs=1e-3)
    # copied, not re-encoded: the same bytes (a muxer may cut PCM into packets of another length)
    assert b"".join(p for _, p in audio_packets(dst)) == b"".join(p for _, p in audio_packets(src))
    decoded = decoded_rgb(dst)
    error = max(float(np.abs(d.astype(int) - w).mean()) for d, w in zip(decoded, written))
    if codec == "ffv1":
        assert error == 0  # lossless: the RGB itself
    else:
        assert error < 3, error  # BT.601 (below 720 lines) at limited range, and back


def test_variable_frame_rate_time_stamps_survive(tmp_path):
    pts = [0, 1, 2, 4, 5, 9, 10, 11]  # in 1/24 s: frames held for 1, 2 and 4 ticks
    src = make_film(tmp_path / "vfr.mkv", gray_frames(8), container="matroska", pts=pts, audio=None,
                    time_base=Fraction(1, 24))
    _copy(src, tmp_path / "out.mp4", EncodeSettings(preset="ultrafast"))
    assert video_info(tmp_path / "out.mp4")["times"] == pytest.approx([p / 24 for p in pts], abs=1e-3)


def test_odd_sizes_are_written_4_4_4_and_gray_films_as_gray(tmp_path):
    frames = [f[:47, :63] for f in gray_frames(4)]
    src = make_film(tmp_path / "odd.mkv", frames, container="matroska", codec="ffv1", audio=None)
    _copy(src, tmp_path / "odd.mp4", EncodeSettings(preset="ultrafast"))
    assert video_info(tmp_path / "odd.mp4")["size"] == (63, 47)
    assert video_info(tmp_path / "odd.mp4")["pix_fmt"] == "yuv444p"
    _copy(src, tmp_path / "gray.mkv", EncodeSettings(codec="ffv1", container="mkv"), colour=False)
    assert video_info(tmp_path / "gray.mkv")["pix_fmt"] == "gray"
    got = [f[..., 0] for f in decoded_rgb(tmp_path / "gray.mkv")]
    assert all(np.array_equal(g, f) for g, f in zip(got, frames))


def test_hd_films_are_tagged_bt709_and_sd_films_bt601(tmp_path):
    clock = Clock(Fraction(1, 24), Fraction(24))
    for height, tag in ((720, 1), (480, 6)):
        path = tmp_path / f"{height}.mp4"
        writer = VideoWriter(path, EncodeSettings(preset="ultrafast"), (64, height), clock, gray=False)
        writer.write(Image.new("RGB", (64, height), (200, 40, 40)), Timing(0, 1))
        writer.close()
        with av.open(str(path)) as film:
            frame = next(film.decode(video=0))
            assert frame.colorspace == tag
            red = frame.to_ndarray(format="rgb24", src_color_range="MPEG")[0, 0]
        assert np.abs(red.astype(int) - (200, 40, 40)).max() <= 3


def test_nothing_is_under_the_final_name_until_close_and_abort_leaves_nothing(tmp_path):
    clock = Clock(Fraction(1, 24), Fraction(24))
    final = tmp_path / "film.mp4"
    writer = VideoWriter(final, EncodeSettings(preset="ultrafast"), (32, 32), clock, gray=True)
    writer.write(Image.new("L", (32, 32), 100), Timing(0, 1))
    assert not final.exists()
    assert [p.name for p in tmp_path.iterdir()] == [writer.file.temporary.name]
    assert writer.file.temporary.name.startswith(".film.mp4.") and writer.file.temporary.name.endswith(".part")
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    writer = VideoWriter(final, EncodeSettings(preset="ultrafast"), (32, 32), clock, gray=True)
    writer.write(Image.new("L", (32, 32), 100), Timing(0, 1))
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["film.mp4"]
    assert video_info(final)["frames"] == 1


def test_audio_a_container_cannot_hold_is_a_clear_error(tmp_path):
    src = make_film(tmp_path / "in.webm", gray_frames(2), codec="libvpx-vp9", audio="libopus", container="webm")
    clock = Clock(Fraction(1, 24), Fraction(24))
    with pytest.raises(VideoError, match=r"its audio \(opus\) cannot be copied into .mov.*--container mkv"):
        VideoWriter(tmp_path / "out.mov", EncodeSettings(container="mov"), (64, 48), clock, gray=True,
                    audio_from=src)
    assert list(p.name for p in tmp_path.iterdir()) == ["in.webm"]  # no temporary file left


def test_a_missing_pyav_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(VideoError, match=r"pip install 'revive\[video\]'"):
        import_av()


def test_the_pixel_aspect_ratio_is_read_and_written(tmp_path):
    """An anamorphic film (pixels 4:3 wide) keeps its shape: the reader's clock carries it to the writer."""
    wide = Clock(Fraction(1, 24), Fraction(24), Fraction(4, 3))
    path = tmp_path / "wide.mkv"
    writer = VideoWriter(path, EncodeSettings(container="mkv", preset="ultrafast"), (64, 48), wide, gray=True)
    writer.write(Image.new("L", (64, 48), 90), Timing(0, 1))
    writer.close()
    reader = FilmReader(path)
    list(reader.frames())
    assert reader.clock.sample_aspect_ratio == Fraction(4, 3)


def test_millisecond_stamps_of_a_matroska_film_keep_its_exact_rate(tmp_path):
    """Matroska stores 24 fps as 0, 42, 83, 125 ms: the copy is exactly 24 fps, not 24.006."""
    src = make_film(tmp_path / "ms.mkv", gray_frames(30), container="matroska", audio=None)
    reader = FilmReader(src)
    times = [float(t.pts * reader.clock.time_base) for _, t in reader.frames()]
    assert reader.clock.time_base == Fraction(1, 3000)  # holds both milliseconds and 1/24 s
    assert times == pytest.approx([i / 24 for i in range(30)], abs=1e-9)
    _copy(src, tmp_path / "out.mp4", EncodeSettings(preset="ultrafast"))
    assert video_info(tmp_path / "out.mp4")["rate"] == 24
