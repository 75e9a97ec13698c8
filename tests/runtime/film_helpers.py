"""Small films made by the video tests themselves (PyAV; FFmpeg's encoders come inside its wheels)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

AUDIO_RATE = 48000


def gray_frames(count: int, size: tuple[int, int] = (64, 48), seed: int = 0) -> list[np.ndarray]:
    """``count`` distinct smooth gray frames (uint8 H x W): a gradient that drifts, brighter frame by frame."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 6.28)
    return [np.clip(60 + 100 * (0.5 + 0.5 * np.sin(x / w * 5 + y / h * 3 + phase + i * 0.2)) + i * 2, 0, 255)
            .astype(np.uint8) for i in range(count)]


def make_film(path: Path, frames: list[np.ndarray], *, rate: int | Fraction = 24, codec: str = "libx264",
              container: str | None = None, audio: str | None = "aac", pts: list[int] | None = None,
              time_base: Fraction | None = None, crf: int = 0) -> Path:
    """Write gray ``frames`` as a film (``crf`` 0: lossless H.264) with a tone in ``audio`` (None: silent).

    ``pts`` (in ``time_base``, default 1/rate) gives the frames' own time stamps (variable frame rate).
    """
    import av

    h, w = frames[0].shape
    with av.open(str(path), "w", format=container) as out:
        video = out.add_stream(codec, rate=rate)
        video.width, video.height = w, h
        video.pix_fmt = "yuv420p" if codec != "ffv1" else "gray"
        if codec in ("libx264", "libx265"):
            video.codec_context.options = {"crf": str(crf), "preset": "ultrafast"}
        if time_base is not None:
            video.time_base = video.codec_context.time_base = time_base
        sound = out.add_stream(audio, rate=AUDIO_RATE, layout="mono") if audio else None
        for i, gray in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(gray, format="gray")
            if video.pix_fmt != "gray":
                frame = frame.reformat(format=video.pix_fmt, src_color_range="JPEG", dst_color_range="MPEG")
            frame.pts = pts[i] if pts is not None else i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            seconds = (pts[-1] + 1) * (time_base or Fraction(1) / rate) if pts else Fraction(len(frames)) / rate
            _tone(out, sound, seconds)
    return path


def _tone(out, stream, seconds) -> None:
    import av

    size = stream.codec_context.frame_size or 1024
    fmt = stream.codec_context.format.name
    for start in range(0, int(seconds * AUDIO_RATE), size):
        wave = 0.2 * np.sin(2 * np.pi * 440.0 * (start + np.arange(size)) / AUDIO_RATE)
        if fmt.startswith("s16"):
            data = (wave * 32767).astype(np.int16)
        elif fmt.startswith("s32"):
            data = (wave * 2**31).astype(np.int32)
        else:
            data = wave.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(data[None, :], format=fmt, layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def audio_packets(path: Path) -> list[tuple[int | None, bytes]]:
    """Every audio packet of the first audio stream: (pts in samples, payload), for bit-exact comparisons."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(None if p.pts is None else round(p.pts * p.time_base * AUDIO_RATE), bytes(p))
                for p in container.demux(stream) if p.dts is not None]


def video_info(path: Path) -> dict:
    """Frame count, size, rate, frame times (s) and pixel format, from decoding the film."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(f.pts * f.time_base) for f in container.decode(stream)]
        return {"frames": len(times), "size": (stream.codec_context.width, stream.codec_context.height),
                "rate": stream.average_rate, "times": times, "pix_fmt": stream.codec_context.pix_fmt,
                "codec": stream.codec_context.name, "audio": len(container.streams.audio)}


def decoded_rgb(path: Path) -> list[np.ndarray]:
    """A film's frames as RGB, with the matrix and range they are tagged with."""
    import av

    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            kwargs = {} if frame.format.name.startswith(("bgr", "rgb", "gbr", "gray")) else {
                "src_color_range": "JPEG" if frame.color_range == 2 else "MPEG"}
            out.append(frame.to_ndarray(format="rgb24", **kwargs))
        return out
