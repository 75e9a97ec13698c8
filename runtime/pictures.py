"""What a job yields: its pictures, each with its size (for the pipeline's pixel budget) and how to decode it.

The other half of the pipeline's hook (sink.py is where finished pictures go): ``Pipeline(backends, config,
pictures=...)`` takes any ``pictures(job, config) -> Iterable[PictureRef]``. runtime-infer's is
:func:`file_pictures`, the pages of a file; a film's are its frames (film.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from .images import Decoded, decode_gray, peek_pixels
from .inputs import Job

if TYPE_CHECKING:
    from .pipeline import PipelineConfig

__all__ = ["PictureRef", "file_pictures", "frame_share"]


@dataclass
class PictureRef:
    """One picture a job yields, not decoded yet: its native pixels (for the budget) and how to decode it.

    ``decode(view, keep_native)`` -> :class:`~revive.runtime.images.Decoded`; ``view`` is the first model's
    S x S (None when it sees tiles), ``keep_native`` False for model-size output. Raises ``DecodeError``.
    """

    pixels: int
    decode: Callable[[int | None, bool], Decoded]
    share: int = 0  # the least of the pipeline's pixel budget it holds while in flight (0: its pixels)


def file_pictures(job: Job, config: PipelineConfig) -> Iterable[PictureRef]:
    """The pictures of a runtime-infer input: each page of the file (``job.pages``), decoded on its own."""
    depth = config.depth if job.deep_output else "8"
    for page in job.pages:
        pixels = peek_pixels(job.source, page)  # the budget is taken before decoding: no scan waits decoded
        if config.max_pixels:
            pixels = min(pixels, config.max_pixels)  # a bomb is refused by decode_gray, never held
        yield PictureRef(pixels, lambda view, keep, page=page: decode_gray(
            job.source, view, keep_native=keep, max_pixels=config.max_pixels, page=page, depth=depth))


def frame_share(config: PipelineConfig) -> int:
    """The least share of the pixel budget each of a film's frames holds (``PictureRef.share``).

    The sink never makes a thread wait for the writer, so frames finished ahead of a slow encoder wait in it,
    each holding its share of the budget until written. Small frames would let thousands wait (a 50-Mpx
    budget holds 30 000 frames of 48 x 32 px); at 1/(6B + 4W) of the budget (B rows per batch, W workers) a
    film has at most about six batches' worth of frames in flight, enough to keep every batch full, and
    memory stays flat over a film of any length. Photos need none: one picture per job is never held back.
    """
    return config.pixels_in_flight // (6 * config.batch_size + 4 * config.workers)
