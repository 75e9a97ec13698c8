"""One batch of encoded images in, one result per image out: the runtime's steps, without any server.

Why a batch and not one image: Triton's dynamic batcher hands over every request that arrived within
its queue delay at once. Each image becomes an :class:`~revive.runtime.render.ImageWork` (the same
per-image steps runtime-infer runs: the model's whole view or overlapping tiles, merge, composite), and
the rows of every image at the same step share one backend call. Decoding and encoding run on a small
thread pool (Pillow releases the GIL while it works).

Fidelity is runtime-infer's: the format ``auto`` answers in the upload's own container, 16 bits come back
16 bits (PNG, TIFF), and DPI, ICC, EXIF, XMP and IPTC travel as they do into files. A multi-page TIFF upload
is served page by page and comes back as one multi-page TIFF (the only format that holds pages), whatever
format was asked; a page that cannot be served is left out and named in ``Result.error`` (``page 2: ...``)
beside the pages that were.

A request that cannot be served (not an image, empty, over ``max_pixels``, an unknown output format)
gets its reason in ``Result.error`` and no image; the other images of its batch are served as usual.
A backend failure is not a bad request: it raises, and Triton fails the batch.
"""

from __future__ import annotations

import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..backends import Backend
from ..encode import EncodeOptions, TiffPages, encode
from ..images import DEFAULT_MAX_PIXELS, DecodeError, decode_gray, tiff_pages
from ..inputs import DEEP_FORMATS, FORMATS, container, output_format
from ..layout import LayoutOptions
from ..render import ImageWork, Route

__all__ = ["FORMATS", "ImageService", "Result", "ServiceConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceConfig:
    native: bool = True  # False: the model's S x S output (runtime-infer --size model)
    fmt: str = "auto"  # default output format (auto: the upload's own container); a request may ask for another
    quality: int = 95  # JPEG and WebP quality
    depth: str = "auto"  # bits per sample of PNG and TIFF answers: auto (the upload's), 8, 16
    compression: str = "deflate"  # TIFF answers
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
            raise ValueError(f"unknown output format {config.fmt!r}; use one of {', '.join(FORMATS)}")
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

        ``formats``: the output format per image (one of :data:`FORMATS`; default the service's).
        """
        formats = formats or [self.config.fmt] * len(images)
        start = time.perf_counter()
        started = list(self._pool.map(self._start, images, formats))  # (format, pages: ImageWork | reason) or why
        good = [i for i, s in enumerate(started) if not isinstance(s, str)]
        results = [Result(error=s) if isinstance(s, str) else Result() for s in started]
        self._run([w for i in good for w in started[i][1] if isinstance(w, ImageWork)])
        for i, result in zip(good, self._pool.map(self._finish, [started[i] for i in good])):
            results[i] = result
        log.debug("batch of %d (%d served) in %.1f ms", len(images), len(good), (time.perf_counter() - start) * 1e3)
        return results

    def _start(self, data: bytes, fmt: str) -> tuple[str, list[ImageWork | str]] | str:
        if fmt not in FORMATS:
            return f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}"
        if not data:
            return "empty request: no image bytes"
        cfg = self.config
        kind = container(bytes(data[:12]))
        fmt = output_format(fmt, kind, cfg.depth)
        numbers, thumbnails = tiff_pages(bytes(data)) if kind == "tiff" else ([0], [])
        if thumbnails:
            log.info("upload: IFD %s left out (reduced-resolution thumbnails)",
                     ", ".join(str(i + 1) for i in thumbnails))
        count = len(numbers)
        if count > 1:
            fmt = "tiff"
        depth = cfg.depth if fmt in DEEP_FORMATS else "8"
        pages: list[ImageWork | str] = []
        for page in numbers:
            try:
                decoded = decode_gray(data, self._view, keep_native=cfg.native, max_pixels=cfg.max_pixels,
                                      page=page, depth=depth)
            except DecodeError as exc:
                if count == 1:
                    return str(exc)
                pages.append(str(exc))
                continue
            pages.append(ImageWork(decoded, self.route, cfg.layout, cfg.native))
        if not any(isinstance(p, ImageWork) for p in pages):
            return "; ".join(f"page {k + 1}: {r}" for k, r in enumerate(pages))
        return fmt, pages

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

    def _finish(self, started: tuple[str, list[ImageWork | str]]) -> Result:
        fmt, pages = started
        options = EncodeOptions(quality=self.config.quality, compression=self.config.compression)
        finished = [p.finish() if isinstance(p, ImageWork) else p for p in pages]
        done = [f for f in finished if not isinstance(f, str)]
        error = "; ".join(f"page {k + 1}: {f}" for k, f in enumerate(finished) if isinstance(f, str))
        if len(pages) == 1:
            f = done[0]
            restored = encode(f.restored, fmt, f.meta, options) if f.restored is not None else b""
            return Result(image=encode(f.picture, fmt, f.meta, options), restored=restored)
        image, restored = (_tiff([(getattr(f, part), f.meta) for f in done], options)
                           for part in ("picture", "restored"))
        return Result(image=image, restored=restored, error=error)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _tiff(pages: list, options: EncodeOptions) -> bytes:
    """Pages (picture, metadata) as one multi-page TIFF; empty when there are none (no restored gray)."""
    pages = [(p, m) for p, m in pages if p is not None]
    if not pages:
        return b""
    buffer = io.BytesIO()
    writer = TiffPages(buffer, options, len(pages))
    for picture, meta in pages:
        writer.add(picture, meta)
    writer.close()
    return buffer.getvalue()
