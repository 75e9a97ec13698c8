"""Films as jobs: a video file, or a folder of numbered frames (``--sequence``), in; one video out.

Each film is one :class:`FilmJob` through the pipeline's hook (pipeline.py), like a multi-page TIFF:

- ``pictures``: :func:`film_pictures` decodes its frames one after another on a decoder thread (video.py:
  ``FilmReader``; a sequence's files through the photo decoder), each a ``PictureRef`` holding at least
  ``frame_share`` of the pixel budget. From there a frame is a picture like any photo's: rows batched with
  other pictures', the restorer tiled at the frame's resolution, the colorizer on the whole view.
- ``finish``: :func:`finish_frame`, on the encoder threads, in any order: the frame composited, or, when its
  colour is to be smoothed, what the smoother needs (its chroma, gray and motion guide: temporal.py).
- ``writer``: :class:`FilmWriter`, fed in order by the job's ``OrderedSink``, which never makes an encoder
  thread wait for it. It (1) with ``--temporal auto`` smooths each frame's chroma over neighbouring frames of
  the same shot (cuts found on the frames' gray), never touching luminance; (2) lays the chroma on the
  frame's own full-resolution luminance (composite.py, as for a photo); (3) writes the frame with the input's
  time stamps, and its audio copied (video.py); ``--save-restored`` also writes the restored gray film.

A film fails as a whole: a frame that cannot be decoded (a truncated copy), or a disk error, fails the job
with that reason, its partial output is discarded and the rest of the run goes on. A film counts as one in
the run's counts; its frames are the summary's ``throughput.frames``.

Names follow the photo rules (inputs.py ``plan_jobs``: the input tree mirrored, clashes renamed or refused,
finished outputs skipped): ``A/B/film.avi`` -> ``OUT/B/film.mp4``; a sequence ``A/B/reel1/0001.tif ...`` ->
``OUT/B/reel1.mp4``. The container is ``--container``, or by default MP4 for H.264/H.265 (this FFmpeg copies
AAC, MP3, Opus, FLAC and PCM into it: tested) and Matroska for FFV1 (the archives' pairing).
"""

from __future__ import annotations

import collections
import functools
import logging
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import numpy as np
from PIL import Image

from .files import not_a_regular_file
from .images import DecodeError, Decoded, decode_gray
from .inputs import RESTORED_TAG, Job, normalise_exts
from .layout import view
from .pictures import PictureRef, file_pictures, frame_share
from .render import ImageWork
from .temporal import ChromaSmoother, SceneCuts, TemporalOptions, chroma_planes, guide_of, small_gray
from .video import CODECS, CONTAINERS, DEFAULT_PRESET, VIDEO_EXTS, Clock, EncodeSettings, FilmReader, Timing, \
    VideoWriter, import_av, probe_frames

if TYPE_CHECKING:
    from .pipeline import PipelineConfig
    from .sink import Writer

__all__ = ["FilmJob", "FilmWriter", "Frame", "SequenceFrames", "VideoOptions", "film_pictures", "finish_frame",
           "job_finish", "job_pictures", "job_writer", "plan_films", "split_inputs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoOptions:
    """Everything ``runtime-infer`` takes for films (the "video" flags)."""

    codec: str = "h264"  # h264 | h265 | ffv1
    crf: int = 18
    preset: str = DEFAULT_PRESET
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
               options: VideoOptions, *, save_restored: bool) -> list[FilmJob]:
    """One job per film, named as ``inputs.plan_jobs`` names a photo's output; give them to its ``films`` for
    the checks (clashes, outputs over inputs, finished films skipped)."""
    if not videos and not sequences:
        return []
    import_av()  # a missing PyAV is one error before any work, not one per film
    suffix = f".{options.suffix}"
    jobs = []
    for src, rel in videos:
        jobs.append(_job(src, out_root / rel.with_suffix(suffix), save_restored, FilmReader(src), options, src))
        unusable = not_a_regular_file(src)
        if unusable:
            jobs[-1].fail(unusable)
    for folder, name, frames in sequences:  # the suffix added, not swapped: a folder "reel.1" keeps its dot
        out = out_root / name.parent / f"{name.name}{suffix}"
        jobs.append(_job(folder, out, save_restored, SequenceFrames(frames, options.fps), options, None))
    return jobs


def _job(source: Path, out: Path, save_restored: bool, film: FilmReader | SequenceFrames, options: VideoOptions,
         audio: Path | None) -> FilmJob:
    restored = out.with_name(out.stem + RESTORED_TAG + out.suffix) if save_restored else None
    return FilmJob(source, out, restored, fmt=options.suffix, film=film, options=options, audio=audio)


@dataclass
class FilmJob(Job):
    """A film: many pictures (its frames) in, one video out (and the restored gray film with --save-restored).

    ``times`` carries each decoded frame's place on the time line from the decoder to the writer, in order.
    """

    film: FilmReader | SequenceFrames | None = None
    options: VideoOptions = field(default_factory=VideoOptions)
    audio: Path | None = None  # the film whose audio streams are copied (None: a sequence has none)
    frames: int = 0  # frames handed to the film by this run
    smoothed: bool = False  # its colour was smoothed (then shot_starts says where the shots begin)
    shot_starts: list[int] = field(default_factory=list)
    failure: str = ""  # the first failure of one of its frames: the film's reason
    times: collections.deque = field(default_factory=collections.deque, repr=False)

    picture_word: ClassVar[str] = "frame"

    @functools.cached_property
    def expected_pictures(self) -> int:
        """Frames its header declares (a sequence: its files); 1 when unknown, for the progress bar."""
        if isinstance(self.film, SequenceFrames):
            return len(self.film.paths)
        return max(1, probe_frames(self.source))

    def describe(self, index: int) -> str:
        return str(self.source)  # the reason names the frame where it matters

    def picture_done(self, index: int, reason: str) -> None:
        if not reason:
            self.frames += 1
        elif not self.failure:  # one line per film: later frames fail only because this one did
            self.failure = reason
            log.warning("%s: %s", self.source, reason)

    def settle(self, error: str = "") -> None:
        reason = error or self.failure
        if reason:
            self.fail(reason)
        else:
            self.status, self.reason = "written", ""

    def picture_counts(self) -> dict[str, int]:
        return {self.status: 1}  # a film counts as one; its frames are in figures()

    def figures(self) -> dict[str, int]:
        return {"frames": self.frames}

    def record(self) -> dict:
        entry = super().record()
        if self.status == "written":
            entry["frames"] = self.frames
            if self.smoothed:
                entry["shot_starts"] = self.shot_starts
        return entry


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


# -- the pipeline's hooks ------------------------------------------------------------------------------


def job_pictures(job: Job, config: PipelineConfig) -> Iterator[PictureRef]:
    """runtime-infer's ``pictures``: a film's frames, a file's pages."""
    return film_pictures(job, config) if isinstance(job, FilmJob) else iter(file_pictures(job, config))


def job_writer(job: Job, config: PipelineConfig) -> Writer:
    """runtime-infer's ``writer``: a film's encoder, a file's output files."""
    if isinstance(job, FilmJob):
        return FilmWriter(job, keep_mtime=config.keep_mtime)
    from .writers import file_writer

    return file_writer(job, config)


def job_finish(job: Job, work: ImageWork) -> Any:
    """runtime-infer's ``finish``: what a film's writer needs of a frame, a photo's composited outputs."""
    return finish_frame(job, work) if isinstance(job, FilmJob) else work.finish()


def film_pictures(job: FilmJob, config: PipelineConfig) -> Iterator[PictureRef]:
    """The film's frames in order, decoded here (one decoder thread per film); each holds at least
    ``frame_share`` of the budget."""
    share = frame_share(config)
    job.film.max_pixels = config.max_pixels
    for gray, timing in job.film.frames():
        image = Image.fromarray(gray, "L")
        job.times.append(timing)
        yield PictureRef(image.width * image.height, functools.partial(_decoded, image), share)


def _decoded(image: Image.Image, view_size: int | None, keep_native: bool) -> Decoded:
    return Decoded(None if view_size is None else view(image, view_size), image, image.size)


@dataclass
class Frame:
    """A finished frame for its film: composited (``picture``) when its colour stays as the model made it,
    else what the smoother needs (``luma`` at full size; the model's ``chroma``, 2 x S x S; its ``gray`` at
    S x S for the cut detector and its motion ``guide``)."""

    size: tuple[int, int]
    restored: Image.Image | None
    picture: Image.Image | None = None
    luma: Image.Image | None = None
    chroma: np.ndarray | None = None
    gray: np.ndarray | None = None
    guide: np.ndarray | None = None


def finish_frame(job: FilmJob, work: ImageWork) -> Frame:
    """On an encoder thread, any order: every step of a frame that does not need its neighbours."""
    rgb = work.rgb
    if rgb is None or not job.options.temporal.on:
        return Frame(work.size, work.restored, picture=work.picture())
    gray = small_gray(work.luma, rgb.shape[0])
    return Frame(work.size, work.restored, luma=work.luma, chroma=chroma_planes(rgb), gray=gray,
                 guide=guide_of(gray))


class FilmWriter:
    """One film's frames, in order, into its video (the ``Writer`` its sink feeds; module docstring)."""

    def __init__(self, job: FilmJob, keep_mtime: bool = False) -> None:
        self.job, self.keep_mtime = job, keep_mtime
        self._writers: list[VideoWriter] = []
        self._film: VideoWriter | None = None
        self._gray_film: VideoWriter | None = None
        self._smoother: ChromaSmoother | None = None
        self._cuts: SceneCuts | None = None

    def write(self, index: int, frame: Frame) -> None:
        timing = self.job.times.popleft()
        if not self._writers:
            self._open(frame)
        if self._gray_film is not None:
            self._gray_film.write(frame.restored, timing)
        if self._smoother is None:
            self._film.write(frame.picture, timing)
            return
        cut = self._cuts.update(frame.gray)
        if cut:
            self.job.shot_starts.append(index)
        for (luma, at), chroma in self._smoother.push((frame.luma, timing), frame.chroma, frame.guide, cut):
            self._write(luma, at, chroma)

    def skip(self, index: int, reason: str) -> None:
        raise DecodeError(reason)  # a film with a frame missing is broken: the job fails with the frame's reason

    def _open(self, frame: Frame) -> None:
        job, settings, clock = self.job, self.job.options.settings, self.job.film.clock
        if frame.picture is None:
            temporal = job.options.temporal
            self._smoother = ChromaSmoother(temporal.window, temporal.sigma)
            self._cuts = SceneCuts(temporal.cut_threshold, temporal.cut_ratio)
            job.smoothed = True
        if job.restored is not None and frame.restored is not None:
            self._gray_film = VideoWriter(job.restored, settings, frame.size, clock, gray=True, audio_from=job.audio)
            self._writers.append(self._gray_film)
        gray = frame.picture is not None and frame.picture.mode == "L"
        self._film = VideoWriter(job.output, settings, frame.size, clock, gray=gray, audio_from=job.audio)
        self._writers.append(self._film)

    def _write(self, luma: Image.Image, timing: Timing, chroma: np.ndarray) -> None:
        from .composite import chroma_on_luma

        cb, cr = (Image.fromarray(plane, "L") for plane in chroma)
        self._film.write(chroma_on_luma(luma, cb, cr), timing)

    def close(self) -> None:
        if not self._writers:
            raise DecodeError("no frame could be decoded")
        if self._smoother is not None:
            for (luma, timing), chroma in self._smoother.flush():
                self._write(luma, timing, chroma)
        for writer in self._writers:  # the restored film first: the film itself marks the job done
            writer.close()
            if self.keep_mtime:
                from .writers import keep_mtime

                keep_mtime(writer.path, self.job.source)
        log.info("%s: %d frames%s", self.job.output, self.job.frames,
                 f", {len(self.job.shot_starts)} shots" if self._smoother is not None else "")

    def abort(self) -> None:
        for writer in self._writers:
            writer.abort()
        self._writers = []
