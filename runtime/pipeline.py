"""Files in, files out: decode on worker threads, batch rows, run the model(s), encode on worker threads.

::

    feeder -> [todo] -> W decoders -> [decoded] -> batcher -> [batches] -> K runners -> [encode] -> W encoders
                         (read, EXIF, gray,          (rows of many         (backend.run,         (composite,
                          ImageWork: layout)          pictures, one         put rows back;        encode, write)
                                       ^              model per batch)      merge when complete)
                                       '------------- [next step] <---------'  (restore -> colorize)

The pipeline only moves rows: each picture is an :class:`~revive.runtime.render.ImageWork` that says which
model wants which uint8 S x S rows (the whole view, or overlapping tiles for a restorer) and puts their
outputs back together (render.py, layout.py). Rows of many pictures share a batch; a batch holds rows for
one model. With two models (restore then colorize) a picture whose restoration is complete comes back to
the batcher for its colorizer row.

Memory stays flat on a folder of any size and on pictures of any size: every queue is bounded (at most ``W``
pictures being decoded, ``2W`` decoded, ``K + 1`` batches formed or in flight, ``2B`` pictures waiting to be
encoded, ``W`` being encoded) and, because one scan can hold hundreds of tiles, the pictures between decoding
and their written file also share a budget of native pixels (``PipelineConfig.pixels_in_flight``; one picture
larger than the budget still goes, alone). The batcher cuts a picture's tiles only as batches are formed.
``Backend.run`` is thread-safe, which lets K batches share a model.

A job may yield several pictures (the pages of a multi-page TIFF; a video's frames): ``pictures(job)`` gives
them as :class:`PictureRef` (its size for the budget, and how to decode it), each travels on its own like any
picture, and the job's :class:`~revive.runtime.sink.OrderedSink` hands the finished ones to the job's writer in
order (``writer(job)``: the files of runtime-infer by default, :mod:`revive.runtime.writers`); ``finish(job,
work)`` is what the encoder threads make of a finished picture for that writer (by default its composited
outputs). All three are arguments of :class:`Pipeline`, so a film (film.py) feeds its frames and its encoder
through the same decode, batch, backend and composite steps: its frames are pictures like any other, batched
with other jobs' rows. The progress bar and the counts are in pictures.

One bad file (or page) never stops a run: it is marked failed with a reason and the rest go on. A backend
error is fatal (every later batch would fail the same way): the pipeline stops and re-raises it. Outputs are
written atomically.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from .backends.base import Backend
from .errors import describe
from .images import DEFAULT_MAX_PIXELS, DecodeError
from .inputs import Job
from .layout import LayoutOptions
from .pictures import PictureRef, file_pictures
from .render import ImageWork, Route
from .runstats import RunStats
from .sink import OrderedSink, Writer

__all__ = ["Pipeline", "PipelineConfig", "PictureRef", "RunStats", "file_pictures", "finish_picture"]

log = logging.getLogger(__name__)
_STOP = object()
_STOPPED = "the run stopped"
POLL_S = 0.05


@dataclass
class PipelineConfig:
    batch_size: int = 8  # rows (whole views or tiles) per batch
    workers: int = 2
    inflight: int = 2  # batches on the device at once
    native: bool = True  # False: write the model's S x S output (--size model)
    depth: str = "auto"  # output bits per sample: auto (the input's), 8 or 16 (formats that hold 16 bits)
    quality: int = 95
    compression: str = "deflate"  # TIFF outputs: deflate, lzw or none
    keep_mtime: bool = False  # outputs get their input's modification time
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    progress: bool = True
    layout: LayoutOptions = field(default_factory=LayoutOptions)
    # Native pixels of the pictures between decoding and their written file (two 24-Mpx scans).
    pixels_in_flight: int = 50_000_000


class _Stopped(Exception):
    pass


class _PixelBudget:
    """Native pixels of the pictures in flight; ``take`` waits while the budget is spent (unless none is held)."""

    def __init__(self, capacity: int, stop: threading.Event) -> None:
        self.capacity, self.used, self.waiting, self.high = capacity, 0, 0, 0
        self._cond = threading.Condition()
        self._stop = stop

    def take(self, pixels: int) -> None:
        with self._cond:
            self.waiting += 1
            try:
                while self.used and self.used + pixels > self.capacity:
                    if self._stop.is_set():
                        raise _Stopped
                    self._cond.wait(POLL_S)
            finally:
                self.waiting -= 1
            self.used += pixels
            self.high = max(self.high, self.used)

    def give(self, pixels: int) -> None:
        with self._cond:
            self.used -= pixels
            self._cond.notify_all()


@dataclass
class _Item:
    job: Job
    index: int  # which of the job's pictures
    work: ImageWork
    pixels: int  # what it holds of the pixel budget
    sink: OrderedSink


def finish_picture(job: Job, work: ImageWork) -> Any:
    """The pipeline's default ``finish``: the picture's composited outputs (render.Finished)."""
    return work.finish()


class Pipeline:
    """``pictures(job, config)``: the pictures a job yields (default :func:`file_pictures`); ``writer(job,
    config)``: the job's :class:`~revive.runtime.sink.Writer` (default: runtime-infer's files); ``finish(job,
    work)``: what that writer is given of each finished picture, made on an encoder thread (default
    :func:`finish_picture`)."""

    def __init__(self, backends: list[Backend], config: PipelineConfig,
                 pictures: Callable[[Job, PipelineConfig], Iterable[PictureRef]] = file_pictures,
                 writer: Callable[[Job, PipelineConfig], Writer] | None = None,
                 finish: Callable[[Job, ImageWork], Any] = finish_picture) -> None:
        if writer is None:
            from .writers import file_writer as writer
        self._pictures, self._writer, self._finish = pictures, writer, finish
        self._sinks: set[OrderedSink] = set()  # open ones: aborted if the run stops
        self._pixels: dict[tuple[int, int], int] = {}  # (job, picture) decoded and not yet written
        self.backends = backends
        self.route = Route.from_cards([b.card for b in backends])
        self.route.check(config.layout, config.native)
        self.config = config
        self.stats = RunStats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._bar = None
        self._budget = _PixelBudget(config.pixels_in_flight, self._stop)
        self._next: queue.Queue = queue.Queue()  # pictures whose next step wants rows (bounded by the budget)
        self._busy = 0  # batches formed and not yet put back
        self._decoding = 0  # decoders still running
        self._tiled = self.route.tiles(config.layout, config.native)

    # -- plumbing ---------------------------------------------------------------------------------
    def _put(self, q: queue.Queue, item: Any, name: str) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=POLL_S)
            except queue.Full:
                continue
            size = q.qsize()
            with self._lock:
                if size > self.stats.high_water.get(name, 0):
                    self.stats.high_water[name] = size
            return

    def _get(self, q: queue.Queue) -> Any:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                return q.get(timeout=POLL_S)
            except queue.Empty:
                continue

    def _thread(self, target, *args) -> threading.Thread:
        def body() -> None:
            try:
                target(*args)
            except _Stopped:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                with self._lock:
                    self._error = self._error or exc
                self._stop.set()

        thread = threading.Thread(target=body, name=target.__name__, daemon=True)
        thread.start()
        return thread

    def _stage(self, job: Job, stage: str, seconds: float) -> None:
        with self._lock:
            self.stats.stage_s[stage] += seconds
            job.timings[f"{stage}_ms"] = round(job.timings.get(f"{stage}_ms", 0.0) + seconds * 1e3, 2)

    def _open_sink(self, job: Job) -> OrderedSink:
        """The job's sink: counts each picture as it is written or fails, sets the job's status at the end."""

        def on_picture(index: int, reason: str) -> None:
            with self._lock:
                pixels = self._pixels.pop((id(job), index), 0)
                if self._stop.is_set() and reason.endswith(_STOPPED):
                    return  # not a failure of this picture: it stays pending, a rerun does it
                job.picture_done(index, reason)  # logs a failure
                if not reason:
                    self.stats.pixels += pixels
                if self._bar is not None:
                    self._bar.update(1)

        def on_close(error: str) -> None:
            with self._lock:
                self._sinks.discard(sink)
                if sink.high_water > max(1, self.stats.high_water.get("reorder", 0)):
                    self.stats.high_water["reorder"] = sink.high_water  # pictures waiting for their turn
                if error == _STOPPED:
                    job.page_reasons.clear()  # nothing of it was committed: the whole job stays pending
                    return
                if error:  # nothing was committed: pictures written into the aborted output failed too
                    for index, reason in job.page_reasons.items():
                        job.page_reasons[index] = reason or error
                job.settle(error)

        sink = OrderedSink(self._writer(job, self.config), on_picture=on_picture, on_close=on_close)
        with self._lock:
            self._sinks.add(sink)
        return sink

    # -- stages -----------------------------------------------------------------------------------
    def _feed(self, jobs: list[Job], todo: queue.Queue) -> None:
        for job in jobs:
            self._put(todo, job, "todo")
        for _ in range(self.config.workers):
            self._put(todo, _STOP, "todo")

    def _decode(self, todo: queue.Queue, decoded: queue.Queue) -> None:
        cfg = self.config
        view = self.route.first_view(cfg.layout, cfg.native)
        try:
            while (job := self._get(todo)) is not _STOP:
                sink = self._open_sink(job)
                pictures = iter(self._pictures(job, cfg))
                count = 0
                try:
                    for ref in pictures:
                        if sink.error:  # the job's output is lost already: the rest of it is not worth decoding
                            break
                        self._decode_one(job, count, ref, view, sink, decoded)
                        count += 1
                except DecodeError as exc:  # the job's (next) pictures cannot be listed: a truncated film
                    sink.fail(count, str(exc))
                    count += 1
                finally:
                    if hasattr(pictures, "close"):
                        pictures.close()  # a generator: its file is closed now, not when collected
                sink.expect(count)
        finally:
            with self._lock:
                self._decoding -= 1

    def _decode_one(self, job: Job, index: int, ref: PictureRef, view: int | None, sink: OrderedSink,
                    decoded: queue.Queue) -> None:
        cfg = self.config
        cost = max(ref.pixels, ref.share)
        self._budget.take(cost)
        release = lambda: self._budget.give(cost)  # noqa: E731 - once the sink has written the picture
        start = time.perf_counter()
        item = None
        try:
            image = ref.decode(view, cfg.native)
            item = _Item(job, index, ImageWork(image, self.route, cfg.layout, cfg.native), cost, sink)
            with self._lock:
                self._pixels[(id(job), index)] = ref.pixels  # what the picture adds to Mpx/s once written
        except DecodeError as exc:
            sink.fail(index, str(exc), release)
        self._stage(job, "decode", time.perf_counter() - start)
        if item is not None:
            self._put(decoded, item, "decoded")

    def _batch(self, decoded: queue.Queue, batches: queue.Queue) -> None:
        """Rows of many pictures into batches of ``batch_size``, one model per batch.

        A short batch goes only when waiting cannot bring more rows: nothing is on the device or queued for it,
        and the decoders are finished or held back by the pixel budget.
        """
        b = self.config.batch_size
        pending: list[collections.deque] = [collections.deque() for _ in self.backends]  # (item, row index)
        inputs_open = True
        while True:
            while True:  # pictures coming back for their next model
                try:
                    item = self._next.get_nowait()
                except queue.Empty:
                    break
                pending[item.work.step].extend((item, i) for i in range(item.work.rows))
            for k in reversed(range(len(pending))):  # later steps first: they finish pictures
                while len(pending[k]) >= b:
                    self._send(k, [pending[k].popleft() for _ in range(b)], batches)
            if inputs_open and len(pending[0]) < b:
                try:
                    item = decoded.get(timeout=POLL_S)
                except queue.Empty:
                    item = None
                if self._stop.is_set():
                    raise _Stopped
                if item is not None:
                    pending[0].extend((item, i) for i in range(item.work.rows))
                    continue
                with self._lock:
                    inputs_open = self._decoding > 0 or not decoded.empty()
            elif not inputs_open:
                time.sleep(POLL_S / 5)
                if self._stop.is_set():
                    raise _Stopped
            with self._lock:
                idle = self._busy == 0 and self._next.empty()
            if idle and (not inputs_open or self._budget.waiting):
                if not any(pending):
                    if not inputs_open:
                        break
                    continue
                for k in reversed(range(len(pending))):
                    if pending[k]:
                        self._send(k, [pending[k].popleft() for _ in range(min(b, len(pending[k])))], batches)
        for _ in range(self.config.inflight):
            self._put(batches, _STOP, "batches")

    def _send(self, k: int, rows: list[tuple[_Item, int]], batches: queue.Queue) -> None:
        s = self.backends[k].image_size
        array = np.empty((len(rows), 1, s, s), np.uint8)
        for n, (item, i) in enumerate(rows):
            array[n, 0] = item.work.plan.row(i)
        with self._lock:
            self._busy += 1
        self._put(batches, (k, rows, array), "batches")

    def _infer(self, batches: queue.Queue, encode_q: queue.Queue) -> None:
        while (batch := self._get(batches)) is not _STOP:
            k, rows, array = batch
            start = time.perf_counter()
            outputs = self.backends[k].run(array)
            for n, (item, i) in enumerate(rows):
                if item.work.put(i, {role: value[n] for role, value in outputs.items()}):
                    if item.work.step is None:
                        self._put(encode_q, item, "encode")
                    else:
                        self._next.put(item)
            with self._lock:
                self.stats.stage_s["infer"] += time.perf_counter() - start
                self.stats.batches += 1
                self.stats.rows += len(rows)
                self.stats.tiles += len(rows) if k == 0 and self._tiled else 0
                self._busy -= 1

    def _encode(self, encode_q: queue.Queue) -> None:
        while (item := self._get(encode_q)) is not _STOP:
            start = time.perf_counter()
            release = lambda pixels=item.pixels: self._budget.give(pixels)  # noqa: E731
            try:
                finished = self._finish(item.job, item.work)
            except Exception as exc:  # one picture's bad luck must not stop the run; the reason says what
                log.debug("%s", item.job.describe(item.index), exc_info=True)
                item.sink.fail(item.index, describe(exc), release)
            else:
                item.sink.put(item.index, finished, release)  # written now, or once earlier pictures are in
            finally:
                item.work = None
            self._stage(item.job, "encode", time.perf_counter() - start)

    # -- driver -----------------------------------------------------------------------------------
    def run(self, jobs: list[Job]) -> RunStats:
        """Process every pending job; statuses and reasons are set on the jobs themselves."""
        from tqdm import tqdm

        cfg = self.config
        self.stats.jobs = jobs
        pending = [j for j in jobs if j.status == "pending"]
        bounds = {"todo": 2 * cfg.workers, "decoded": 2 * cfg.workers, "batches": 1, "encode": 2 * cfg.batch_size}
        self.stats.bounds = bounds
        self.stats.pixel_budget = cfg.pixels_in_flight
        qs = {name: queue.Queue(maxsize=size) for name, size in bounds.items()}
        pictures = sum(j.expected_pictures for j in pending)
        words = {j.picture_word for j in pending if j.expected_pictures > 1}
        self._bar = tqdm(total=pictures, unit="img" if not words else words.pop() if len(words) == 1 else "picture",
                         disable=not cfg.progress or None, smoothing=0.1, dynamic_ncols=True)
        self._decoding = cfg.workers
        start = time.perf_counter()
        threads = [self._thread(self._feed, pending, qs["todo"])]
        threads += [self._thread(self._decode, qs["todo"], qs["decoded"]) for _ in range(cfg.workers)]
        runners = [self._thread(self._infer, qs["batches"], qs["encode"]) for _ in range(cfg.inflight)]
        encoders = [self._thread(self._encode, qs["encode"]) for _ in range(cfg.workers)]
        try:
            try:
                self._batch(qs["decoded"], qs["batches"])
                self._join(threads + runners)
                for _ in encoders:
                    self._put(qs["encode"], _STOP, "encode")
                self._join(encoders)
            except _Stopped:
                pass
        except BaseException:  # Ctrl-C / SIGTERM: let in-flight writes finish atomically, then stop
            self._stop.set()
            self._join(threads + runners + encoders)
            raise
        finally:
            self._abort_open(_STOPPED)
            self._bar.close()
            self.stats.wall_s = time.perf_counter() - start
            self.stats.pixels_high_water = self._budget.high
        if self._error is not None:
            self._join(threads + runners + encoders)
            raise self._error
        return self.stats

    def _abort_open(self, reason: str) -> None:
        """Sinks still open when the run ends (stopped, or a backend error): no partial multi-page output."""
        with self._lock:
            sinks = list(self._sinks)
        for sink in sinks:
            sink.abort(reason)

    @staticmethod
    def _join(threads: list[threading.Thread]) -> None:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.1)
