"""One batch of encoded images in, one result per image out: the runtime's steps, without any server.

Why a batch and not one image: Triton's dynamic batcher hands over every request that arrived within
its queue delay at once, and the model runs them as one batch. Decoding and encoding run on a small
thread pool (Pillow releases the GIL while it works), the model(s) run once for the whole batch.

A request that cannot be served (not an image, empty, over ``max_pixels``, an unknown output format)
gets its reason in ``Result.error`` and no image; the other images of its batch are served as usual.
A backend failure is not a bad request: it raises, and Triton fails the batch.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..backends import Backend
from ..composite import apply_restore, colorize_native
from ..images import DEFAULT_MAX_PIXELS, Decoded, DecodeError, decode_gray, encode
from ..pipeline import Chain

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


@dataclass(frozen=True)
class Result:
    image: bytes = b""  # the encoded picture (empty when ``error`` is set)
    restored: bytes = b""  # the restored gray, encoded, for models that restore
    error: str = ""  # one line: why this request got no image


class ImageService:
    """Serve the chain of ``backends`` (one model, or restore then colorize) on encoded images."""

    def __init__(self, backends: list[Backend], config: ServiceConfig = ServiceConfig()) -> None:
        if config.fmt not in FORMATS:
            raise ValueError(f"unknown output format {config.fmt!r}; use {' or '.join(FORMATS)}")
        self.chain = Chain(backends)
        self.config = config
        self._pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="revive-serve")

    @property
    def restores(self) -> bool:
        return self.chain.restores

    def process(self, images: list[bytes], formats: list[str] | None = None) -> list[Result]:
        """Encoded images (any format runtime-infer reads) -> one :class:`Result` each, in order.

        ``formats``: the output format per image (``png`` or ``jpg``; default the service's).
        """
        formats = formats or [self.config.fmt] * len(images)
        start = time.perf_counter()
        decoded = list(self._pool.map(self._decode, images, formats))
        good = [i for i, item in enumerate(decoded) if isinstance(item, Decoded)]
        results: list[Result] = [Result(error=item) if isinstance(item, str) else Result() for item in decoded]
        if good:
            s = self.chain.image_size
            batch = np.empty((len(good), 1, s, s), np.uint8)
            for row, i in enumerate(good):
                batch[row, 0] = decoded[i].small
            outputs = self.chain.run(batch)
            per_image = [{role: value[row] for role, value in outputs.items()} for row in range(len(good))]
            rendered = self._pool.map(self._render, [decoded[i] for i in good], per_image,
                                      [formats[i] for i in good])
            for i, result in zip(good, rendered):
                results[i] = result
        log.debug("batch of %d (%d served) in %.1f ms", len(images), len(good), (time.perf_counter() - start) * 1e3)
        return results

    def _decode(self, data: bytes, fmt: str) -> Decoded | str:
        if fmt not in FORMATS:
            return f"unknown output format {fmt!r}; use {' or '.join(FORMATS)}"
        if not data:
            return "empty request: no image bytes"
        try:
            return decode_gray(data, self.chain.image_size, keep_native=self.config.native,
                               max_pixels=self.config.max_pixels)
        except DecodeError as exc:
            return str(exc)

    def _render(self, decoded: Decoded, outputs: dict[str, np.ndarray], fmt: str) -> Result:
        """The picture runtime-infer would write for this image (see pipeline.Pipeline._write)."""
        native, quality = self.config.native, self.config.quality
        luma, restored = decoded.native, b""
        if self.chain.restores:
            small, mask = outputs["restored"][0], outputs["mask"][0]
            luma = apply_restore(luma, small, mask) if native else Image.fromarray(small, "L")
            restored = encode(luma, fmt, quality)
        if self.chain.colorizes:
            rgb = np.ascontiguousarray(outputs["rgb"].transpose(1, 2, 0))
            picture = colorize_native(luma, rgb) if native else Image.fromarray(rgb, "RGB")
        else:
            picture = luma
        return Result(image=encode(picture, fmt, quality), restored=restored)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
