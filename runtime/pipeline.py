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

A :class:`~revive.runtime.streams.StreamJob` (a film: one job, many pictures) is decoded by one decoder thread,
picture after picture, under the same budget; its pictures' rows are batched with everyone else's, and its
finished pictures go back to the job in order (streams.py: ``InOrder``) instead of being written one by one.

One bad file never stops a run: its job is marked failed with a reason and the rest go on. A backend error is
fatal (every later batch would fail the same way): the pipeline stops and re-raises it. Outputs are written
atomically.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backends.base import Backend
from .errors import describe
from .files import write_atomic
from .images import DEFAULT_MAX_PIXELS, DecodeError, decode_gray, encode, peek_pixels
from .inputs import Job
from .layout import LayoutOptions
from .render import ImageWork, Route
from .streams import InOrder, StreamJob

__all__ = ["Pipeline", "PipelineConfig", "RunStats"]

log = logging.getLogger(__name__)
_STOP = object()
POLL_S = 0.05


@dataclass
class PipelineConfig:
    batch_size: int = 8  # rows (whole views or tiles) per batch
    workers: int = 2
    inflight: int = 2  # batches on the device at once
    native: bool = True  # False: write the model's S x S output (--size model)
    fmt: str = "png"
    quality: int = 95
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    progress: bool = True
    layout: LayoutOptions = field(default_factory=LayoutOptions)
    # Native pixels of the pictures between decoding and their written file (two 24-Mpx scans).
    pixels_in_flight: int = 50_000_000


@dataclass
class RunStats:
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=lambda: {"decode": 0.0, "infer": 0.0, "encode": 0.0})
    batches: int = 0
    rows: int = 0  # model rows run (whole views and tiles), padding not counted
    tiles: int = 0  # of which restorer tiles
    pixels: int = 0  # native pixels of the pictures written
    frames: int = 0  # pictures of stream jobs (film frames) written
    high_water: dict[str, int] = field(default_factory=dict)
    bounds: dict[str, int] = field(default_factory=dict)
    pixel_budget: int = 0
    pixels_high_water: int = 0  # above the budget only when one picture alone is larger
    jobs: list[Job] = field(default_factory=list, repr=False)  # every job of the run, with its status
    summary_error: str = ""  # why the --summary report could not be written ('' if it was, or none asked)

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(j.status == s for j in self.jobs) for s in ("written", "skipped", "failed", "pending")}

    def summary(self) -> dict[str, Any]:
        counts = self.counts
        per_s = (lambda n: round(n / self.wall_s, 2)) if self.wall_s else (lambda n: 0.0)
        return {
            "counts": counts,
            "timings": {"wall_s": round(self.wall_s, 3),
                        **{f"{k}_thread_s": round(v, 3) for k, v in self.stage_s.items()}},
            "throughput": {"images_per_s": per_s(counts["written"]), "batches": self.batches, "rows": self.rows,
                           "tiles": self.tiles, "tiles_per_s": per_s(self.tiles),
                           "mpx_per_s": per_s(self.pixels / 1e6), "frames": self.frames,
                           "frames_per_s": per_s(self.frames)},
            "queues": {"high_water": self.high_water, "bounds": self.bounds},
            "pixels_in_flight": {"high_water": self.pixels_high_water, "budget": self.pixel_budget},
        }


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
    work: ImageWork
    pixels: int
    index: int = 0  # the picture's place in a stream job
    order: InOrder | None = None  # a stream job's pictures go back through it


class Pipeline:
    def __init__(self, backends: list[Backend], config: PipelineConfig) -> None:
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
        self._orders: list[InOrder] = []  # one per stream job started

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

    def _done(self, job: Job, stage: str, seconds: float) -> None:
        with self._lock:
            self.stats.stage_s[stage] += seconds
            if job.status in ("written", "failed") and self._bar is not None:
                self._bar.update(1)

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
                if isinstance(job, StreamJob):
                    self._decode_stream(job, decoded)
                    continue
                pixels = peek_pixels(job.source)  # the budget is taken before decoding: no scan waits decoded
                if cfg.max_pixels:
                    pixels = min(pixels, cfg.max_pixels)  # a bomb is refused by decode_gray, never held
                self._budget.take(pixels)
                start = time.perf_counter()
                item = None
                try:
                    image = decode_gray(job.source, view, keep_native=cfg.native, max_pixels=cfg.max_pixels)
                    item = _Item(job, ImageWork(image, self.route, cfg.layout, cfg.native), pixels)
                except DecodeError as exc:
                    job.fail(str(exc))
                    log.warning("%s: %s", job.source, exc)
                    self._budget.give(pixels)
                seconds = time.perf_counter() - start
                job.timings["decode_ms"] = round(seconds * 1e3, 2)
                self._done(job, "decode", seconds)
                if item is not None:
                    self._put(decoded, item, "decoded")
        finally:
            with self._lock:
                self._decoding -= 1

    def _decode_stream(self, job: StreamJob, decoded: queue.Queue) -> None:
        """A stream job's pictures, decoded one after another, each going on as a file's picture does."""
        cfg = self.config
        order = InOrder(job, self._release_frame)
        with self._lock:
            self._orders.append(order)
        pictures = job.stream.pictures(self.route.first_view(cfg.layout, cfg.native), cfg.native, cfg.max_pixels)
        # Each frame holds at least a share of the budget that lets ~6 batches' worth of frames be in flight:
        # enough to fill every batch, few enough that frames waiting to be written stay few however small.
        least = cfg.pixels_in_flight // (6 * cfg.batch_size + 4 * cfg.workers)
        count, reason = 0, ""
        try:
            while True:
                start = time.perf_counter()
                try:
                    picture = next(pictures, None)
                except DecodeError as exc:
                    reason = str(exc)
                    picture = None
                with self._lock:
                    self.stats.stage_s["decode"] += time.perf_counter() - start
                if picture is None:
                    break
                cost = max(picture.size[0] * picture.size[1], least)
                self._budget.take(cost)
                work = ImageWork(picture, self.route, cfg.layout, cfg.native)
                self._put(decoded, _Item(job, work, cost, count, order), "decoded")
                count += 1
        finally:
            pictures.close()
        order.end(count, reason)  # not reached when the run stops: an unfinished film is never completed

    def _release_frame(self, cost: int, written_pixels: int) -> None:
        self._budget.give(cost)
        with self._lock:
            if written_pixels:
                self.stats.frames += 1
                self.stats.pixels += written_pixels
            if self._bar is not None:
                self._bar.update(1)

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
            if item.order is not None:  # a film's frame: to its sink, in order
                start = time.perf_counter()
                item.order.add(item.index, item.work, item.pixels)
                item.work = None
                with self._lock:
                    self.stats.stage_s["encode"] += time.perf_counter() - start
                continue
            job = item.job
            start = time.perf_counter()
            try:
                self._write(job, item.work)
                job.status = "written"
                with self._lock:
                    self.stats.pixels += item.pixels
            except OSError as exc:
                job.fail(f"cannot write: {exc}")
                log.warning("%s: %s", job.output, job.reason)
            except Exception as exc:  # one file's bad luck must not stop the run; the reason says what
                job.fail(describe(exc))
                log.warning("%s: %s", job.source, job.reason, exc_info=log.isEnabledFor(logging.DEBUG))
            finally:
                item.work = None
                self._budget.give(item.pixels)
            seconds = time.perf_counter() - start
            job.timings["encode_ms"] = round(seconds * 1e3, 2)
            self._done(job, "encode", seconds)

    def _write(self, job: Job, work: ImageWork) -> None:
        cfg = self.config
        if job.restored is not None and work.restored is not None:
            write_atomic(job.restored, encode(work.restored, cfg.fmt, cfg.quality))
        write_atomic(job.output, encode(work.picture(), cfg.fmt, cfg.quality))

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
        total = sum(max(j.pictures_hint, 1) if isinstance(j, StreamJob) else 1 for j in pending)
        self._bar = tqdm(total=total, unit="img", disable=not cfg.progress or None, smoothing=0.1,
                         dynamic_ncols=True)
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
            self._stop_streams()
            raise
        finally:
            self._bar.close()
            self.stats.wall_s = time.perf_counter() - start
            self.stats.pixels_high_water = self._budget.high
            if self._orders:
                self.stats.high_water["reorder"] = max(o.high_water for o in self._orders)
        if self._error is not None:
            self._join(threads + runners + encoders)
            self._stop_streams()
            raise self._error
        self._stop_streams()  # none is left unless a film's decoder stopped early; then nothing half-done stays
        return self.stats

    def _stop_streams(self) -> None:
        """After the threads are gone: a film left unfinished (interrupt, fatal error) leaves no output."""
        for order in self._orders:
            if not order.done:
                order.stop()

    @staticmethod
    def _join(threads: list[threading.Thread]) -> None:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.1)
