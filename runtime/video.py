"""Films in and out through PyAV (FFmpeg comes inside its wheels): ``pip install 'revive[video]'``.

PyAV is imported here only, inside the functions that need it, so ``import revive.runtime.cli`` never loads
FFmpeg; a missing PyAV is a :class:`VideoError` naming the extra to install.

Reading (:class:`FilmReader`): the first video stream, decoded with FFmpeg's own threads, each frame as 8-bit
gray at its own size: the luma plane, limited-range video (16..235, the usual case) stretched to 0..255 as a
photo's gray is, full-range video (``yuvj*``, or tagged full) as it is, RGB video through swscale's luma. Each
frame keeps its presentation time and duration (``_Timeline``: on a time base holding both the stream's
ticks and whole frames), so variable frame rates and start offsets survive. A file FFmpeg cannot open, a
frame it cannot decode, a resolution change, and a film that ends before its header says (a truncated copy:
frame count, or the stream's duration) are :class:`~revive.runtime.images.DecodeError`\\ s naming the reason.

Writing (:class:`VideoWriter`): H.264 (libx264) or H.265 (libx265) at a constant rate factor and preset, or
FFV1 (lossless; level 3, a CRC per slice, every frame a key frame, as archives use it), into MP4, Matroska
or QuickTime. Every frame goes out with its input's time stamp and duration (same frame
count, rate and duration); colour is converted with BT.709 (720 lines and up) or BT.601 (below) at limited
range and tagged so, which is what players assume for untagged video of those sizes too; FFV1 stores the
RGB itself (``bgr0``; gray as ``gray``), bit-exact. Audio streams are copied packet for packet, never
re-encoded, interleaved with the video by time. Sizes that 4:2:0 cannot hold (odd width or height) are
encoded 4:4:4. The file is written beside its final name (``files.AtomicFile``) and renamed into place
by :meth:`VideoWriter.close`: a killed run never leaves a partial film under the final name.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from .errors import UserError
from .files import AtomicFile
from .images import DecodeError

__all__ = ["CODECS", "CONTAINERS", "VIDEO_EXTS", "Clock", "EncodeSettings", "FilmReader", "Timing", "VideoError",
           "VideoWriter", "gray_of", "import_av", "probe_frames"]

log = logging.getLogger(__name__)

VIDEO_EXTS = (".mp4", ".mkv", ".avi", ".mov", ".webm")
CODECS = {"h264": "libx264", "h265": "libx265", "ffv1": "ffv1"}
CONTAINERS = {"mp4": "mp4", "mkv": "matroska", "mov": "mov"}  # file suffix -> FFmpeg muxer
# x264/x265 preset: "faster" against "medium" on the bundled models' film (README Video): 0.1 dB less PSNR
# against the lossless output, 2 % smaller, and film throughput 0.99x the photo path's instead of 0.88x
DEFAULT_PRESET = "faster"
# FFmpeg's colour tags (AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic / AVColorRange).
_BT709, _SMPTE170M, _RGB, _SRGB_TRC, _LIMITED, _FULL = 1, 6, 0, 13, 1, 2
_HD_LINES = 720
# Frames a film may come up short of its header before it counts as truncated (rounding in the header).
_SLACK_FRAMES = 2


class VideoError(UserError, ValueError):
    """A film that cannot be written as asked (an audio codec the container cannot hold, no PyAV, ...)."""


def import_av() -> Any:
    """PyAV, or a VideoError that says how to install it."""
    try:
        import av
    except ImportError:
        raise VideoError("video inputs need PyAV: pip install 'revive[video]'") from None
    return av


@dataclass(frozen=True)
class Timing:
    """One frame's place on its film's time line, in the stream's time base."""

    pts: int
    duration: int


@dataclass(frozen=True)
class Clock:
    """A film's time base, frame rate and pixel shape, as the output must keep them."""

    time_base: Fraction
    rate: Fraction
    sample_aspect_ratio: Fraction | None = None


def gray_of(frame: Any) -> np.ndarray:
    """A decoded video frame -> uint8 H x W gray at 0..255 (module docstring: range rules)."""
    name = frame.format.name
    full = frame.color_range == _FULL or name.startswith(("yuvj", "gray", "rgb", "bgr", "gbr", "argb", "abgr", "pal"))
    return frame.reformat(format="gray", src_color_range="JPEG" if full else "MPEG",
                          dst_color_range="JPEG").to_ndarray()


def probe_frames(path: Path) -> int:
    """Frames the header declares (for a progress bar); 0 when unknown or unreadable. Never raises."""
    try:
        av = import_av()
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            seconds = _declared_seconds(stream)
            rate = stream.average_rate or stream.guessed_rate
            return round(seconds * rate) if seconds and rate else 0
    except Exception:  # noqa: BLE001 - only a hint; reading the film reports what is wrong with it
        return 0


def _declared_seconds(stream: Any) -> float | None:
    """The stream's length from its header: ``duration``, or Matroska's DURATION tag ("HH:MM:SS.nnn")."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = next((v for k, v in stream.metadata.items() if k.upper() == "DURATION"), None)
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", tag.strip()) if tag else None
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


class FilmReader:
    """The frames of one film, in order: ``for gray, timing in reader.frames(): ...``; ``clock`` once started."""

    def __init__(self, path: Path, max_pixels: int | None = None) -> None:
        self.path, self.max_pixels = path, max_pixels
        self.clock: Clock | None = None

    def frames(self) -> Iterator[tuple[np.ndarray, Timing]]:
        av = import_av()
        try:
            container = av.open(str(self.path), metadata_errors="ignore")
        except av.error.FFmpegError as exc:
            raise DecodeError(f"not a video FFmpeg can read ({_short(exc)})") from None
        with container:
            if not container.streams.video:
                raise DecodeError("no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            width, height = stream.codec_context.width, stream.codec_context.height
            if self.max_pixels and width * height > self.max_pixels:
                raise DecodeError(f"{width}x{height} frames are over --max-pixels {self.max_pixels}")
            rate = Fraction(stream.average_rate or stream.guessed_rate or 24)
            timeline = _Timeline(Fraction(stream.time_base or 1 / rate), rate)
            self.clock = Clock(timeline.time_base, rate, stream.codec_context.sample_aspect_ratio)
            count, timing = 0, None
            try:
                for frame in container.decode(stream):
                    if (frame.width, frame.height) != (width, height):
                        raise DecodeError(f"frame {count} is {frame.width}x{frame.height}, the film "
                                          f"{width}x{height}: a change of resolution is not supported")
                    timing = timeline.place(frame.pts, frame.duration)
                    yield gray_of(frame), timing
                    count += 1
            except av.error.FFmpegError as exc:
                raise DecodeError(f"frame {count}: cannot decode ({_short(exc)})") from None
            if count == 0:
                raise DecodeError("no frame could be decoded")
            end = (timing.pts + timing.duration) * timeline.time_base - (stream.start_time or 0) * timeline.tick
            self._check_complete(stream, count, end, rate)

    @staticmethod
    def _check_complete(stream: Any, count: int, seconds: Fraction, rate: Fraction) -> None:
        declared = int(stream.frames or 0)
        if declared:
            if count < declared - max(_SLACK_FRAMES, declared // 100):
                raise DecodeError(f"truncated: {count} frames decoded, its header declares {declared}")
            return
        expected = _declared_seconds(stream)
        if expected and float(seconds) < expected - max(_SLACK_FRAMES / float(rate), expected / 100):
            raise DecodeError(f"truncated: {float(seconds):.2f} s decoded, its header declares {expected:.2f} s")


class _Timeline:
    """A film's time stamps as the output writes them.

    The output's time base holds both the input's ticks and whole frames (their greatest common divisor), and
    a stamp within one input tick of the frame grid is put on it: Matroska keeps milliseconds, so a 24 fps
    film's frames sit at 0, 42, 83, 125 ms, and copied as they are they would make a 24.006 fps MP4. A stamp
    off the grid (variable frame rate) is kept exactly; a missing or repeated one becomes the next tick.
    """

    def __init__(self, tick: Fraction, rate: Fraction) -> None:
        frame = 1 / rate
        base = Fraction(math.gcd(tick.numerator, frame.numerator), math.lcm(tick.denominator, frame.denominator))
        self.snap = base.denominator <= 10**7  # an exotic pair of rates: keep the input's own ticks
        self.tick, self.rate = tick, rate
        self.time_base = base if self.snap else tick
        self.step = max(1, round(frame / self.time_base))  # one frame, in the output's time base
        self._start: Fraction | None = None
        self._last: int | None = None

    def place(self, pts: int | None, duration: int | None) -> Timing:
        if pts is None:
            at = (self._last + self.step) * self.time_base if self._last is not None else Fraction(0)
        else:
            at = pts * self.tick
        if self._start is None:
            self._start = at
        length = duration * self.tick / self.time_base if duration else self.step
        if self.snap:
            grid = self._start + round((at - self._start) * self.rate) / self.rate
            if abs(at - grid) <= self.tick:
                at, length = grid, self.step
        out = round(at / self.time_base)
        if self._last is not None and out <= self._last:
            out = self._last + 1  # a broken time stamp must not stop the encoder
        self._last = out
        return Timing(int(out), max(1, round(length)))


def _short(exc: BaseException) -> str:
    """FFmpeg's reason without the file name PyAV appends (the caller's message names the file)."""
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())


@dataclass(frozen=True)
class EncodeSettings:
    """How films are written: ``codec`` h264 | h265 | ffv1, ``crf`` and ``preset`` (x264/x265), ``container``."""

    codec: str = "h264"
    crf: int = 18
    preset: str = DEFAULT_PRESET
    container: str = "mp4"  # mp4 | mkv | mov


class VideoWriter:
    """One output film; ``write`` each picture in order, then ``close`` (renames it into place) or ``abort``."""

    def __init__(self, path: Path, settings: EncodeSettings, size: tuple[int, int], clock: Clock, *,
                 gray: bool, audio_from: Path | None = None) -> None:
        self.av = av = import_av()
        self.path, self.gray, self.clock = path, gray, clock
        self.file = AtomicFile(path, opened=False)  # FFmpeg opens it by name
        self._out = self._audio_in = None
        self._audio: dict[int, Any] = {}  # input audio stream index -> output stream
        self._packets: Iterator[Any] | None = None
        self._held: Any = None  # the next audio packet, read ahead to interleave by time
        try:
            self._out = av.open(str(self.file.temporary), "w", format=CONTAINERS[settings.container],
                                options={"movflags": "+faststart"} if settings.container in ("mp4", "mov") else {})
            self._video = self._video_stream(settings, size)
            if audio_from is not None:
                self._copy_audio_from(audio_from, settings.container)
            self._start(settings.container)
        except av.error.FFmpegError as exc:
            self.abort()
            raise VideoError(f"cannot write {path.name}: {_short(exc)}") from None
        except BaseException:
            self.abort()
            raise

    def _video_stream(self, settings: EncodeSettings, size: tuple[int, int]) -> Any:
        width, height = size
        stream = self._out.add_stream(CODECS[settings.codec], rate=self.clock.rate)
        stream.width, stream.height = width, height
        stream.time_base = stream.codec_context.time_base = self.clock.time_base
        cc = stream.codec_context
        if self.clock.sample_aspect_ratio:
            cc.sample_aspect_ratio = self.clock.sample_aspect_ratio
        if settings.codec == "ffv1":
            self._pix_fmt = "gray" if self.gray else "bgr0"
            cc.options = {"level": "3", "slicecrc": "1", "g": "1"}
            cc.color_range = _FULL
            if not self.gray:
                cc.colorspace, cc.color_primaries, cc.color_trc = _RGB, _BT709, _SRGB_TRC
            self._matrix = None
        else:
            self._pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
            cc.options = {"crf": str(settings.crf), "preset": settings.preset,
                          **({"x265-params": "log-level=error"} if settings.codec == "h265" else {})}
            tag = _BT709 if height >= _HD_LINES else _SMPTE170M
            cc.colorspace = cc.color_primaries = cc.color_trc = tag
            cc.color_range = _LIMITED
            self._matrix = "ITU709" if tag == _BT709 else "SMPTE170M"
            if settings.codec == "h265" and settings.container in ("mp4", "mov"):
                cc.codec_tag = "hvc1"  # what Apple's players look for
        stream.pix_fmt = self._pix_fmt
        return stream

    def _copy_audio_from(self, source: Path, container: str) -> None:
        av = self.av
        self._audio_in = av.open(str(source), metadata_errors="ignore")
        streams = list(self._audio_in.streams.audio)
        for i, stream in enumerate(streams):
            try:
                self._audio[stream.index] = self._out.add_stream_from_template(stream)
            except (av.error.FFmpegError, ValueError) as exc:
                raise VideoError(f"audio stream {i} ({stream.codec_context.name}) cannot be copied into "
                                 f".{container} ({_short(exc)}); try --container mkv") from None
        if streams:
            self._packets = iter(self._audio_in.demux(*streams))
        others = [s.type for s in self._audio_in.streams if s.type not in ("video", "audio")]
        if others:
            log.info("%s: its %s streams are not carried (only the picture and the audio)", source.name,
                     ", ".join(sorted(set(others))))

    def _start(self, container: str) -> None:
        """Write the header now, so a stream the container refuses is named before any frame is encoded."""
        try:
            self._out.start_encoding()
        except self.av.error.FFmpegError as exc:
            if not self._audio:
                raise
            codecs = ", ".join(s.codec_context.name for s in self._audio_in.streams.audio)
            raise VideoError(f"its audio ({codecs}) cannot be copied into .{container} ({_short(exc)}); "
                             "try --container mkv") from None

    def write(self, picture: Image.Image, timing: Timing) -> None:
        """The next picture (mode "RGB", or "L" for a gray film) at the film's size."""
        av = self.av
        frame = av.VideoFrame.from_ndarray(np.asarray(picture), format="gray" if picture.mode == "L" else "rgb24")
        if self._matrix is not None:  # H.264 / H.265: limited-range YCbCr with the tagged matrix
            frame = frame.reformat(format=self._pix_fmt, src_color_range="JPEG", dst_colorspace=self._matrix,
                                   dst_color_range="MPEG")
        elif frame.format.name != self._pix_fmt:
            frame = frame.reformat(format=self._pix_fmt)
        frame.pts, frame.duration, frame.time_base = timing.pts, timing.duration, self.clock.time_base
        try:
            for packet in self._video.encode(frame):
                self._out.mux(packet)
            self._mux_audio(timing.pts * self.clock.time_base)
        except av.error.FFmpegError as exc:
            raise VideoError(f"cannot write {self.path.name}: {_short(exc)}") from None

    def _mux_audio(self, until: Fraction | None) -> None:
        """Copy the audio packets that start before ``until`` seconds (None: all that are left)."""
        while self._packets is not None:
            packet = self._held if self._held is not None else next(self._packets, None)
            self._held = None
            if packet is None:
                self._packets = None
                return
            if packet.dts is None:  # the demuxer's empty end-of-stream packets
                continue
            if until is not None and packet.pts is not None and packet.pts * packet.time_base > until:
                self._held = packet
                return
            packet.stream = self._audio[packet.stream_index]
            self._out.mux(packet)

    def close(self) -> None:
        """Flush the encoder, copy the rest of the audio, close, and rename the film into place."""
        av = self.av
        try:
            for packet in self._video.encode(None):
                self._out.mux(packet)
            self._mux_audio(None)
            self._out.close()
            self._out = None
        except av.error.FFmpegError as exc:
            self.abort()
            raise VideoError(f"cannot write {self.path.name}: {_short(exc)}") from None
        self._close_audio()
        self.file.commit()

    def abort(self) -> None:
        """Close without finishing and delete the temporary file (safe to call more than once)."""
        for container in (self._out, self._audio_in):
            if container is not None:
                try:
                    container.close()
                except Exception:  # noqa: BLE001 - a half-written file is being thrown away anyway
                    log.debug("%s: closing a discarded film failed", self.path, exc_info=True)
        self._out = self._audio_in = None
        self.file.discard()

    def _close_audio(self) -> None:
        if self._audio_in is not None:
            self._audio_in.close()
            self._audio_in = None
