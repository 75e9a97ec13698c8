"""A synthetic old film with known damage, for ``revive-bench flicker`` and the video tests.

Static shots of scikit-image's photos (gray), cut hard from one to the next, with what old film does to a
picture, each effect drawn from one seeded generator so a film repeats exactly:

- **grain**: Gaussian noise per pixel and frame (``grain`` levels);
- **flicker**: the whole frame's brightness changes from frame to frame (gain 1 +- ``flicker``, offset
  +- ``flicker_offset`` levels);
- **dust**: a few white or black specks per frame (radius 1-3 px), never twice in one place;
- **a persistent scratch**: a bright 2-px vertical line at one column through the whole film;
- **sound**: a 440 Hz tone, AAC at 48 kHz, as long as the film.

The film is H.264 (CRF 10: close to lossless, as a careful transfer) in MP4. :class:`FilmTruth` regenerates any
frame's clean picture and damage masks from the seed, so a measurement can score a restorer without keeping
the film in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["FilmFrame", "FilmTruth", "make_film"]

_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera")
_AUDIO_RATE = 48000


@dataclass(frozen=True)
class FilmTruth:
    """What the synthetic film is made of (enough to rebuild any frame)."""

    size: tuple[int, int]  # (width, height)
    shot_frames: tuple[int, ...]
    fps: Fraction = Fraction(24)
    grain: float = 6.0
    flicker: float = 0.06
    flicker_offset: float = 4.0
    dust: int = 6  # specks per frame
    scratch_x: int = -1  # column of the persistent scratch (-1: a third of the way across)
    seed: int = 0
    photos: tuple[str, ...] = field(default=_PHOTOS)

    @property
    def frames(self) -> int:
        return sum(self.shot_frames)

    @property
    def cuts(self) -> list[int]:
        """Frames that start a shot after the first."""
        return [int(x) for x in np.cumsum(self.shot_frames)[:-1]]

    @property
    def scratch(self) -> int:
        return self.scratch_x if self.scratch_x >= 0 else self.size[0] // 3

    def shot_of(self, frame: int) -> int:
        return int(np.searchsorted(np.cumsum(self.shot_frames), frame, side="right"))

    def clean(self, shot: int) -> np.ndarray:
        """The undamaged gray picture of ``shot`` (uint8 H x W)."""
        from PIL import Image
        from skimage import data

        name = self.photos[shot % len(self.photos)]
        im = Image.fromarray(getattr(data, name)()).convert("L")
        w, h = self.size
        scale = min(im.width / w, im.height / h)
        cw, ch = round(w * scale), round(h * scale)
        x, y = (im.width - cw) // 2, (im.height - ch) // 2
        return np.asarray(im.crop((x, y, x + cw, y + ch)).resize((w, h), Image.Resampling.LANCZOS))

    def frame(self, i: int, clean: np.ndarray | None = None) -> FilmFrame:
        """Frame ``i`` (``clean``: its shot's clean picture, when the caller has it)."""
        rng = np.random.default_rng([self.seed, i])
        base = (self.clean(self.shot_of(i)) if clean is None else clean).astype(np.float32)
        w, h = self.size
        gain = 1.0 + rng.uniform(-self.flicker, self.flicker)
        offset = rng.uniform(-self.flicker_offset, self.flicker_offset)
        picture = base * gain + offset + rng.normal(0.0, self.grain, base.shape)
        undamaged = _u8(picture)
        yy, xx = np.mgrid[0:h, 0:w]
        dust = np.zeros((h, w), bool)
        for _ in range(self.dust):
            cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(1, 4)
            speck = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            picture[speck] = 250.0 if rng.random() < 0.5 else 8.0
            dust |= speck
        scratch = np.zeros((h, w), bool)
        scratch[:, self.scratch:self.scratch + 2] = True
        picture[scratch] = 235.0 + rng.normal(0.0, 4.0, int(scratch.sum()))
        return FilmFrame(_u8(picture), undamaged, dust, scratch & ~dust)


@dataclass(frozen=True)
class FilmFrame:
    """One frame of the synthetic film: what is on it, and what it would be without dust and the scratch."""

    damaged: np.ndarray  # uint8 H x W, as written to the film
    undamaged: np.ndarray  # the same frame with grain and flicker but no dust or scratch
    dust: np.ndarray  # bool H x W
    scratch: np.ndarray  # bool H x W (dust excluded)


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def make_film(path: Path, truth: FilmTruth, *, audio: bool = True) -> Path:
    """Write ``truth``'s film to ``path`` (.mp4: H.264 CRF 10 + AAC)."""
    import av

    w, h = truth.size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=truth.fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.codec_context.options = {"crf": "10", "preset": "veryfast"}
        sound = out.add_stream("aac", rate=_AUDIO_RATE, layout="mono") if audio else None
        clean, shot = None, -1
        for i in range(truth.frames):
            if truth.shot_of(i) != shot:
                shot = truth.shot_of(i)
                clean = truth.clean(shot)
            gray = truth.frame(i, clean).damaged
            frame = av.VideoFrame.from_ndarray(gray, format="gray").reformat(
                format="yuv420p", src_color_range="JPEG", dst_color_range="MPEG")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            _write_tone(out, sound, truth.frames / truth.fps)
    return path


def _write_tone(out, stream, seconds: Fraction) -> None:
    import av

    size = stream.codec_context.frame_size or 1024
    total = int(seconds * _AUDIO_RATE)
    for start in range(0, total, size):
        t = (start + np.arange(size)) / _AUDIO_RATE
        wave = (0.25 * np.sin(2 * np.pi * 440.0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(wave[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = _AUDIO_RATE, start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
