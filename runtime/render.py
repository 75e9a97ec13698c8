"""One picture's way through the model(s): decoded gray -> rows for each model in turn -> picture -> bytes.

These are the per-image steps every driver feeds (runtime-infer's pipeline, revive-serve, the Ray driver),
so a file gives the same pixels whichever way it travels::

    route = Route.from_cards([b.card for b in backends])         # colorize | restore | restore+colorize | pipeline
    route.check(options, native=True)                             # CardError: a fused graph cannot tile
    decoded = decode_gray(path, route.first_view(options, native=True))
    work = ImageWork(decoded, route, options, native=True)
    while work.step is not None:                                  # index of the model whose rows are wanted
        plan = work.plan                                          # len(plan) rows, plan.row(i): uint8 S x S
        for i in range(len(plan)):                                # rows of many pictures may share a batch
            out = backends[work.step].run(plan.row(i)[None, None])
            work.put(i, {role: value[0] for role, value in out.items()})   # thread-safe
    finished = work.finish()                                      # picture, restored gray, metadata
    data = encode(finished.picture, "png", finished.meta)         # revive.runtime.encode (any format, 8/16 bits)

:func:`run_image` is that loop for a driver that runs one picture at a time.

Steps, by route (``S`` is each model's card size):

- colorize: the whole picture at S x S -> rgb -> chroma on the picture's own luminance (composite.py).
- restore, tiled (default): overlapping tiles of the full-resolution gray, or of a working copy no longer
  than ``max_side`` (layout.py) -> restored gray and damage mask at that resolution -> the restored gray
  (upsampled if a working copy was used) replaces the input's where the mask is set.
- restore, ``--tile off`` or ``--size model``: the whole picture at S x S, as before tiling.
- restore then colorize: the restore step, then the colorizer sees the whole restored picture at its S x S
  (with ``--tile off`` the restorer's own S x S output, exactly what a fused graph feeds its colorizer) and
  its chroma goes on the restored luminance.
- pipeline (one fused graph): whole picture only. It restores at S x S, so :meth:`Route.check` refuses it
  unless the caller chose ``tile="off"``: a user must never get a 256-px restoration of a large scan without
  asking. Give the two halves (``--engine restore.onnx --engine colorize.onnx``) for tiled restoration.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from .card import CardError, ModelCard
from .composite import apply_restore, colorize_native
from .composite16 import apply_restore16, colorize_native16
from .fill import classical_fill
from .images import Decoded
from .layout import LayoutOptions, TilePlan, WholeView, view
from .metadata import Metadata, srgb_tone

__all__ = ["Finished", "ImageWork", "Route", "run_image"]

Picture = Image.Image | np.ndarray  # 8-bit "L"/"RGB", or uint16 H x W / H x W x 3 (a 16-bit output)


@dataclass
class Finished:
    """A picture's outputs, ready to encode: the picture, the restored gray (restore routes), the metadata."""

    picture: Picture
    restored: Picture | None
    meta: Metadata | None


log = logging.getLogger(__name__)
_UP = Image.Resampling.BICUBIC


@dataclass(frozen=True)
class Route:
    """Which models a picture goes through, in order: their tasks and S x S sizes (from the cards)."""

    tasks: tuple[str, ...]
    sizes: tuple[int, ...]

    @classmethod
    def from_cards(cls, cards: list[ModelCard]) -> Route:
        route = cls(tuple(c.task for c in cards), tuple(c.image_size for c in cards))
        if route.tasks not in (("colorize",), ("restore",), ("pipeline",), ("restore", "colorize")):
            raise CardError(f"give one model, or two (restore then colorize); got {' then '.join(route.tasks)}"
                            + (" (a 'pipeline' model already does both: give it alone)"
                               if "pipeline" in route.tasks else ""))
        return route

    @property
    def restores(self) -> bool:
        return self.tasks[0] in ("restore", "pipeline")

    @property
    def colorizes(self) -> bool:
        return self.tasks[-1] in ("colorize", "pipeline")

    def tiles(self, options: LayoutOptions, native: bool) -> bool:
        """Whether the restorer sees tiles (a model-size output is one S x S view by definition)."""
        return self.tasks[0] == "restore" and native and options.tiled

    def check(self, options: LayoutOptions, native: bool) -> None:
        """Refuse what would silently restore a large scan at S x S (a fused graph asked to tile), and an
        overlap of more than half a tile (known only once the card gives S)."""
        if self.tiles(options, native):
            tile = options.tile_size(self.sizes[0])
            try:
                options.overlap_px(tile)
            except ValueError as exc:
                raise CardError(f"--overlap: {exc} (the restorer's tiles are {tile} px)") from None
        if self.tasks == ("pipeline",) and native and options.tiled:
            raise CardError("a fused 'pipeline' model restores only its whole-picture "
                            f"{self.sizes[0]}x{self.sizes[0]} view, so it cannot restore in tiles at the "
                            "input's resolution: give its two halves (--engine restore.onnx --engine "
                            "colorize.onnx) or pass --tile off to accept the whole-picture restoration")

    def first_view(self, options: LayoutOptions, native: bool) -> int | None:
        """The S x S view the first model needs from decoding, or None when it sees tiles of the native gray."""
        return None if self.tiles(options, native) else self.sizes[0]


class ImageWork:
    """One decoded picture on its way through a :class:`Route`: the rows wanted now, then the picture.

    ``step`` is the index of the model whose rows ``plan`` holds, or None once every output is back.
    ``put`` is thread-safe; the step that completes a plan also prepares the next one (merge, views).
    """

    def __init__(self, decoded: Decoded, route: Route, options: LayoutOptions, native: bool = True) -> None:
        route.check(options, native)
        self.route, self.options, self.native = route, options, native
        self.gray = decoded.native  # PIL "L" at the input's size, or None for model-size output
        self.deep = decoded.deep if native else None  # uint16 gray when the output is 16-bit
        self.meta = decoded.meta
        self.size = decoded.size
        self.restored: Image.Image | None = None  # the restored gray at the output's size
        self.restored16: np.ndarray | None = None  # its 16-bit twin (deep inputs)
        self._luma: Image.Image | None = None
        self._rgb: np.ndarray | None = None  # the colorizer's S x S x 3
        self._lock = threading.Lock()
        self.step: int | None = 0
        if route.tiles(options, native):
            self.plan: WholeView | TilePlan = self._tile_plan()
        else:
            self.plan = WholeView(decoded.small)

    @property
    def rows(self) -> int:
        """Rows of the current step (0 when done)."""
        return 0 if self.step is None else len(self.plan)

    def _tile_plan(self) -> TilePlan:
        s, opts = self.route.sizes[0], self.options
        work = self.gray
        if opts.max_side and max(work.size) > opts.max_side:
            scale = opts.max_side / max(work.size)
            work = work.resize((max(1, round(work.width * scale)), max(1, round(work.height * scale))), _UP,
                               reducing_gap=3.0)
        tile = opts.tile_size(s)
        return TilePlan(np.asarray(work), s, tile, opts.overlap_px(tile))

    def put(self, i: int, outputs: dict[str, np.ndarray]) -> bool:
        """Row ``i`` of the current step is back (role -> C x S x S). True when that finished the step."""
        if not self.plan.put(i, outputs):
            return False
        with self._lock:  # one thread finishes a plan; the lock only orders it against readers
            self._advance()
        return True

    def _advance(self) -> None:
        task = self.route.tasks[self.step]
        if isinstance(self.plan, TilePlan):
            h, w = self.plan.size
            seen = self.plan.gray[:h, :w]  # what the restorer saw (result() lets it go)
            restored, mask = self._filled(seen, *self.plan.result())
            self._restore16(restored, mask)
            self._luma = self.restored = apply_restore(self.gray, restored, mask)
            self.gray = None  # the restored gray is the picture's luminance from here on
            outputs = None
        else:
            outputs = self.plan.outputs
            if task in ("restore", "pipeline"):
                restored, mask = self._filled(self.plan.row(0), outputs["restored"][0], outputs["mask"][0])
                outputs["restored"] = restored[None]  # the colorizer of a chained route sees this fill
                self._restore16(restored, mask)
                self._luma = self.restored = (apply_restore(self.gray, restored, mask) if self.native
                                              else Image.fromarray(restored, "L"))
            if task in ("colorize", "pipeline"):
                self._rgb = np.ascontiguousarray(outputs["rgb"].transpose(1, 2, 0))
        self.plan = None
        if self.step + 1 < len(self.route.tasks):  # restore -> colorize: the colorizer's whole view
            self.step += 1
            s = self.route.sizes[self.step]
            if outputs is not None:  # whole-view restore: its own S x S output, as a fused graph does
                small = outputs["restored"][0]
                if small.shape[0] != s:
                    small = np.asarray(Image.fromarray(small).resize((s, s), _UP))
            else:
                small = view(self._luma, s)
            self.plan = WholeView(small)
        else:
            self.step = None

    def _filled(self, seen: np.ndarray, restored: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``--fill classical``: the restorer's mask filled from ``seen`` (fill.py); else its own output."""
        if self.options.fill != "classical":
            return restored, mask
        return classical_fill(np.asarray(seen), mask)

    def _restore16(self, restored: np.ndarray, mask: np.ndarray) -> None:
        if self.deep is not None:
            self.deep = self.restored16 = apply_restore16(self.deep, np.asarray(self.gray), restored, mask)

    @property
    def luma(self) -> Image.Image | None:
        """The picture's luminance at the output's size (the restored gray when restored), once done."""
        return self._luma if self._luma is not None else self.gray

    @property
    def rgb(self) -> np.ndarray | None:
        """The colorizer's S x S x 3 uint8 output (None without a colorizer), once done."""
        return self._rgb

    def picture(self) -> Picture:
        """The output picture: RGB for colorizing routes, the restored gray for a restorer alone; uint16
        arrays when the output is 16-bit."""
        if self.step is not None:
            raise RuntimeError("the picture is not ready: some rows are not back")
        tone = srgb_tone(self.meta.icc) if self.meta is not None and self.meta.icc_gray else None
        if self.deep is not None:
            if self._rgb is None:
                return self.deep
            luma16 = self.deep if tone is None else np.rint(np.interp(self.deep, np.arange(256) * 257.0,
                                                                      tone * 257.0)).astype(np.uint16)
            return colorize_native16(luma16, self._rgb)
        luma = self._luma if self._luma is not None else self.gray
        if self._rgb is None:
            return luma
        if not self.native:
            return Image.fromarray(self._rgb, "RGB")
        return colorize_native(luma if tone is None else luma.point(tone.tolist()), self._rgb)

    def finish(self) -> Finished:
        """The composited outputs (the costly step: run it on a worker thread)."""
        restored = self.restored16 if self.restored16 is not None else self.restored
        return Finished(self.picture(), restored, self.meta)


def run_image(decoded: Decoded, route: Route, options: LayoutOptions,
              run: Callable[[int, np.ndarray], dict[str, np.ndarray]], *, native: bool = True,
              batch_size: int = 16) -> ImageWork:
    """Drive one picture through every step; ``run(model_index, uint8 N x 1 x S x S)`` -> {role: N x C x S x S}."""
    work = ImageWork(decoded, route, options, native)
    while work.step is not None:
        step, plan = work.step, work.plan
        for start in range(0, len(plan), batch_size):
            idx = range(start, min(start + batch_size, len(plan)))
            out = run(step, np.stack([plan.row(i) for i in idx])[:, None])
            for k, i in enumerate(idx):
                work.put(i, {role: value[k] for role, value in out.items()})
    return work
