"""Films as jobs: a video file, or a folder of numbered frames (``--sequence``), in; one video out.

Each film is one :class:`~revive.runtime.streams.StreamJob`. Its frames are decoded one after another
(video.py: ``FilmReader``; a sequence's files through the photo decoder) and go through the same pipeline as
photos: rows batched with other pictures', the restorer tiled at the frame's resolution, the colorizer on
the whole view. The finished frames come back in order to :class:`FilmStream`, which

1. takes the colorizer's chroma of each frame and, with ``--temporal auto``, smooths it over neighbouring
   frames of the same shot (temporal.py: cuts found on the frames' gray), never touching luminance;
2. lays the chroma on the frame's own full-resolution luminance (composite.py, as for a photo);
3. writes the frame to the film, with the input's time stamps, and its audio copied (video.py);
   ``--save-restored`` also writes the restored gray film.

Names follow the photo rules (inputs.py: the input tree mirrored, clashes refused, finished outputs
skipped): ``A/B/film.avi`` -> ``OUT/B/film.mp4``; a sequence ``A/B/reel1/0001.tif ...`` ->
``OUT/B/reel1.mp4``. The container is ``--container``, or by default MP4 for H.264/H.265 (this FFmpeg copies
AAC, MP3, Opus, FLAC and PCM into it: tested) and Matroska for FFV1 (the archives' pairing).
"""

from __future__ import annotations

import collections
import logging
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from .images import DecodeError, Decoded, decode_gray
from .inputs import normalise_exts, plan_jobs
from .layout import view
from .render import ImageWork
from .streams import StreamJob
from .temporal import ChromaSmoother, SceneCuts, TemporalOptions, chroma_planes, guide_of, small_gray
from .video import CODECS, CONTAINERS, VIDEO_EXTS, Clock, EncodeSettings, FilmReader, Timing, VideoWriter, \
    import_av, probe_frames

__all__ = ["FilmStream", "SequenceFrames", "VideoOptions", "plan_films", "split_inputs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoOptions:
    """Everything ``runtime-infer`` takes for films (the "video" flags)."""

    codec: str = "h264"  # h264 | h265 | ffv1
    crf: int = 18
    preset: str = "medium"
    container: str = "auto"  # auto | mp4 | mkv | mov
    temporal: TemporalOptions = field(default_factory=TemporalOptions)
    sequence: bool = False  # folders of numbered frames are films
    fps: Fraction = Fraction(24)  # of a --sequence film
    exts: tuple[str, ...] = VIDEO_EXTS  # searched for in folders

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"--video-codec takes {', '.join(CODECS)}, not {self.codec!r}")
        if self.container not in ("auto", *CONTAINERS):
            raise ValueError(f"--container takes auto, {', '.join(CONTAINERS)}, not {self.container!r}")
        if not 0 <= self.crf <= 51:
            raise ValueError("--crf must be within 0..51")
        if self.fps <= 0:
            raise ValueError("--fps must be positive")

    @property
    def suffix(self) -> str:
        """The films' container (file suffix, without the dot)."""
        if self.container != "auto":
            return self.container
        return "mkv" if self.codec == "ffv1" else "mp4"

    @property
    def settings(self) -> EncodeSettings:
        return EncodeSettings(codec=self.codec, crf=self.crf, preset=self.preset, container=self.suffix)


def split_inputs(found: list[tuple[Path, Path]], options: VideoOptions
                 ) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]], list[tuple[Path, Path, list[Path]]]]:
    """Found inputs -> (photos, video files, sequences). A sequence is (folder, its path under the output
    root, its frames in number order); with ``--sequence`` every folder's pictures are one."""
    exts = set(normalise_exts(options.exts))
    photos, videos = [], []
    folders: dict[Path, tuple[Path, list[Path]]] = {}
    for src, rel in found:
        if src.suffix.lower() in exts:
            videos.append((src, rel))
        elif options.sequence:
            name = rel.parent if rel.parent != Path(".") else Path(src.parent.resolve().name or "frames")
            folders.setdefault(src.parent, (name, []))[1].append(src)
        else:
            photos.append((src, rel))
    sequences = [(folder, name, sorted(frames, key=_numbered)) for folder, (name, frames) in folders.items()]
    return photos, videos, sequences


def _numbered(path: Path) -> list:
    """Sort key: names in number order (frame_2 before frame_10), however the numbers are padded."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def plan_films(videos: list[tuple[Path, Path]], sequences: list[tuple[Path, Path, list[Path]]], out_root: Path,
               options: VideoOptions, *, save_restored: bool, overwrite: bool) -> list[StreamJob]:
    """One job per film, named, checked and skipped by the photo rules (``inputs.plan_jobs``)."""
    if not videos and not sequences:
        return []
    import_av()  # a missing PyAV is one error before any work, not one per film
    suffix = options.suffix
    # plan_jobs names an output rel.with_suffix(.SUFFIX): a sequence's folder name gets the suffix already,
    # so a folder called "reel.1" keeps its dot; its first frame stands for it in the file checks.
    found = videos + [(frames[0], name.parent / f"{name.name}.{suffix}") for _, name, frames in sequences]
    planned = plan_jobs(found, out_root, suffix, save_restored=save_restored, overwrite=overwrite)
    jobs = []
    for job, (src, _) in zip(planned, videos):
        source = FilmReader(src)
        jobs.append(_job(job, src, source, options, src, probe_frames(src) if job.status == "pending" else 0))
    for job, (folder, _, frames) in zip(planned[len(videos):], sequences):
        jobs.append(_job(job, folder, SequenceFrames(frames, options.fps), options, None, len(frames)))
    return jobs


def _job(job, source: Path, frames, options: VideoOptions, audio: Path | None, hint: int) -> StreamJob:
    stream = FilmStream(frames, options, job.output, job.restored, audio)
    return StreamJob(source, job.output, job.restored, job.status, job.reason, stream=stream, pictures_hint=hint)


class SequenceFrames:
    """A folder's numbered pictures as a film at ``fps``: each frame decoded as a photo is."""

    def __init__(self, frames: list[Path], fps: Fraction) -> None:
        self.paths = frames
        self.clock = Clock(1 / Fraction(fps), Fraction(fps))
        self.max_pixels: int | None = None

    def frames(self) -> Iterator[tuple[np.ndarray, Timing]]:
        size = None
        for i, path in enumerate(self.paths):
            try:
                gray = decode_gray(path, None, keep_native=True, max_pixels=self.max_pixels).native
            except DecodeError as exc:
                raise DecodeError(f"frame {path.name}: {exc}") from None
            if size is not None and gray.size != size:
                raise DecodeError(f"frame {path.name} is {gray.width}x{gray.height}, the first frame "
                                  f"{size[0]}x{size[1]}: a sequence's frames must share one size")
            size = gray.size
            yield np.asarray(gray), Timing(i, 1)


class FilmStream:
    """One film's way in and out of the pipeline (the ``PictureStream`` of its job; module docstring)."""

    def __init__(self, source: FilmReader | SequenceFrames, options: VideoOptions, output: Path,
                 restored: Path | None, audio: Path | None) -> None:
        self.source, self.options = source, options
        self.output, self.restored, self.audio = output, restored, audio
        self.cuts: list[int] = []  # frames that start a shot (temporal smoothing on)
        self.frames_written = 0
        self._timeline: collections.deque[Timing] = collections.deque()  # decoded, not yet written
        self._writers: list[VideoWriter] = []
        self._film: VideoWriter | None = None
        self._gray_film: VideoWriter | None = None
        self._smoother: ChromaSmoother | None = None
        self._cuts: SceneCuts | None = None
        self._index = 0

    # -- decoder side ---------------------------------------------------------------------------------
    def pictures(self, view_size: int | None, native: bool, max_pixels: int | None) -> Iterator[Decoded]:
        self.source.max_pixels = max_pixels
        for gray, timing in self.source.frames():
            image = Image.fromarray(gray, "L")
            self._timeline.append(timing)
            yield Decoded(None if view_size is None else view(image, view_size), image, image.size)

    # -- sink side (in order, one thread at a time) -----------------------------------------------------
    def put(self, work: ImageWork) -> None:
        timing = self._timeline.popleft()
        if not self._writers:
            self._open(work)
        if self._gray_film is not None:
            self._gray_film.write(work.restored, timing)
        rgb = work.rgb
        if rgb is None or self._smoother is None:
            self._film.write(work.picture(), timing)
            self.frames_written += 1
        else:
            gray = small_gray(work.luma, rgb.shape[0])
            cut = self._cuts.update(gray)
            if cut:
                self.cuts.append(self._index)
            for (luma, at), chroma in self._smoother.push((work.luma, timing), chroma_planes(rgb), guide_of(gray),
                                                          cut):
                self._write(luma, at, chroma)
        self._index += 1

    def _open(self, work: ImageWork) -> None:
        settings, clock = self.options.settings, self.source.clock
        temporal = self.options.temporal
        if temporal.on and work.rgb is not None:
            self._smoother = ChromaSmoother(temporal.window, temporal.sigma)
            self._cuts = SceneCuts(temporal.cut_threshold, temporal.cut_ratio)
        if self.restored is not None and work.restored is not None:
            self._gray_film = VideoWriter(self.restored, settings, work.size, clock, gray=True,
                                          audio_from=self.audio)
            self._writers.append(self._gray_film)
        self._film = VideoWriter(self.output, settings, work.size, clock, gray=work.rgb is None,
                                 audio_from=self.audio)
        self._writers.append(self._film)

    def _write(self, luma: Image.Image, timing: Timing, chroma: np.ndarray) -> None:
        from .composite import chroma_on_luma

        cb, cr = (Image.fromarray(plane, "L") for plane in chroma)
        self._film.write(chroma_on_luma(luma, cb, cr), timing)
        self.frames_written += 1

    def finish(self) -> None:
        if not self._writers:
            raise DecodeError("no frame could be decoded")
        if self._smoother is not None:
            for (luma, timing), chroma in self._smoother.flush():
                self._write(luma, timing, chroma)
        for writer in self._writers:  # the restored film first: the film itself marks the job done
            writer.close()
        log.info("%s: %d frames%s", self.output, self.frames_written,
                 f", {len(self.cuts)} shots" if self._smoother is not None else "")

    def abort(self) -> None:
        for writer in self._writers:
            writer.abort()
        self._writers = []

    def summary(self) -> dict:
        """Frames written and, with smoothing, the frames that start a shot."""
        return {"frames": self.frames_written, **({"shot_starts": self.cuts} if self._smoother is not None else {})}
