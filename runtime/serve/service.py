"""One batch of encoded images in, one result per image out: the runtime's steps, without any server.

Why a batch and not one image: Triton's dynamic batcher hands over every request that arrived within
its queue delay at once. Each image becomes an :class:`~revive.runtime.render.ImageWork` (the same
per-image steps runtime-infer runs: the model's whole view or overlapping tiles, merge, composite), and
the rows of every image at the same step share one backend call. Decoding and encoding run on a small
thread pool (Pillow releases the GIL while it works).

A request that cannot be served (not an image, empty, over ``max_pixels``, an unknown output format)
gets its reason in ``Result.error`` and no image; the other images of its batch are served as usual.
A backend failure is not a bad request: it raises, and Triton fails the batch.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..backends import Backend
from ..encode import EncodeOptions, encode
from ..images import DEFAULT_MAX_PIXELS, DecodeError, decode_gray
from ..layout import LayoutOptions
from ..render import ImageWork, Route

__all__ = ["FORMATS", "ImageService", "Result", "ServiceConfig"]

log = logging.getLogger(__name__)
FORMATS = ("png", "jpg")


@dataclass(frozen=True)
class ServiceConfig:
    native: bool = True  # False: the model's S x S output (runtime-infer --size model)
    fmt: str = "png"  # default output format; a request may ask for another
    quality: int = 95  # JPEG quality
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    workers: int = 2  # decode/encode threads
    layout: LayoutOptions = field(default_factory=LayoutOptions)  # how a restorer sees a picture (--tile ...)


@dataclass(frozen=True)
class Result:
    image: bytes = b""  # the encoded picture (empty when ``error`` is set)
    restored: bytes = b""  # the restored gray, encoded, for models that restore
    error: str = ""  # one line: why this request got no image


class ImageService:
    """Serve ``backends`` (one model, or restore then colorize) on encoded images.

    Raises ``CardError`` for a route the layout cannot serve (a fused graph asked to tile), as runtime-infer does.
    """

    def __init__(self, backends: list[Backend], config: ServiceConfig = ServiceConfig()) -> None:
        if config.fmt not in FORMATS:
            raise ValueError(f"unknown output format {config.fmt!r}; use {' or '.join(FORMATS)}")
        self.backends = backends
        self.route = Route.from_cards([b.card for b in backends])
        self.route.check(config.layout, config.native)
        self.config = config
        self._view = self.route.first_view(config.layout, config.native)
        self._pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="revive-serve")

    @property
    def restores(self) -> bool:
        return self.route.restores

    def process(self, images: list[bytes], formats: list[str] | None = None) -> list[Result]:
        """Encoded images (any format runtime-infer reads) -> one :class:`Result` each, in order.

        ``formats``: the output format per image (``png`` or ``jpg``; default the service's).
        """
        formats = formats or [self.config.fmt] * len(images)
        start = time.perf_counter()
        works = list(self._pool.map(self._start, images, formats))
        good = [i for i, w in enumerate(works) if isinstance(w, ImageWork)]
        results = [Result(error=w) if isinstance(w, str) else Result() for w in works]
        self._run([works[i] for i in good])
        for i, result in zip(good, self._pool.map(self._finish, [works[i] for i in good],
                                                  [formats[i] for i in good])):
            results[i] = result
        log.debug("batch of %d (%d served) in %.1f ms", len(images), len(good), (time.perf_counter() - start) * 1e3)
        return results

    def _start(self, data: bytes, fmt: str) -> ImageWork | str:
        if fmt not in FORMATS:
            return f"unknown output format {fmt!r}; use {' or '.join(FORMATS)}"
        if not data:
            return "empty request: no image bytes"
        cfg = self.config
        try:
            decoded = decode_gray(data, self._view, keep_native=cfg.native, max_pixels=cfg.max_pixels)
        except DecodeError as exc:
            return str(exc)
        return ImageWork(decoded, self.route, cfg.layout, cfg.native)

    def _run(self, works: list[ImageWork]) -> None:
        """Every step of every picture; the rows of all pictures at one step share a backend call."""
        while any(w.step is not None for w in works):
            for step, backend in enumerate(self.backends):
                rows = [(w, i) for w in works if w.step == step for i in range(len(w.plan))]
                if not rows:
                    continue
                outputs = backend.run(np.stack([w.plan.row(i) for w, i in rows])[:, None])
                for k, (w, i) in enumerate(rows):
                    w.put(i, {role: value[k] for role, value in outputs.items()})

    def _finish(self, work: ImageWork, fmt: str) -> Result:
        options = EncodeOptions(quality=self.config.quality)
        finished = work.finish()
        restored = encode(finished.restored, fmt, finished.meta, options) if finished.restored is not None else b""
        return Result(image=encode(finished.picture, fmt, finished.meta, options), restored=restored)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
