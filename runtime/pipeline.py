"""Files in, files out: decode on worker threads, batch, run the model(s), encode on worker threads.

::

    feeder -> [todo] -> W decoders -> [decoded] -> batcher -> [batches] -> K runners -> [encode] -> W encoders
                         (read, EXIF,                (fixed-size        (backend.run,         (composite,
                          gray, resize)               uint8 batches)     K batches in flight)  encode, write)

Every queue is bounded, so memory stays flat on a folder of any size: at most
``W`` images being decoded, ``2B`` decoded, ``K + 1`` batches formed or in flight,
``2B`` waiting to be encoded and ``W`` being encoded. With ``K = 2`` runners the
device works on one batch while the host prepares the next and encodes the last;
``Backend.run`` is thread-safe, which is what lets two batches share a model.

One bad file never stops a run: its job is marked failed with a reason and the
rest go on. A backend error is fatal (every later batch would fail the same way):
the pipeline stops and re-raises it. Outputs are written atomically.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .backends.base import Backend
from .card import CardError, ModelCard
from .composite import apply_restore, colorize_native
from .files import write_atomic
from .images import DEFAULT_MAX_PIXELS, Decoded, DecodeError, decode_gray, encode
from .inputs import Job

__all__ = ["Chain", "Pipeline", "PipelineConfig", "RunStats", "check_chain"]

log = logging.getLogger(__name__)
_STOP = object()


def check_chain(cards: list[ModelCard]) -> None:
    """One model of any task, or a restore model followed by a colorize model."""
    if len(cards) == 1:
        return
    if len(cards) != 2:
        raise CardError(f"give one model, or two (restore then colorize); got {len(cards)}")
    first, second = cards
    if first.task != "restore" or second.task != "colorize":
        raise CardError(f"two models run as restore then colorize; got {first.task} then {second.task} "
                        "(a 'pipeline' model already does both: give it alone)")


class Chain:
    """One backend, or restore then colorize: the restore model's 'restored' output feeds the colorizer."""

    def __init__(self, backends: list[Backend]) -> None:
        check_chain([b.card for b in backends])
        self.backends = backends
        self.image_size = backends[0].image_size
        roles = {o.role for b in backends for o in b.card.outputs}
        self.restores = {"restored", "mask"} <= roles
        self.colorizes = "rgb" in roles

    def run(self, gray: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.backends[0].run(gray)
        if len(self.backends) == 2:
            second = self.backends[1]
            restored = outputs["restored"]
            if second.image_size != self.image_size:
                s = second.image_size
                restored = np.stack([np.asarray(Image.fromarray(r[0]).resize((s, s), Image.Resampling.BICUBIC))
                                     for r in restored])[:, None]
            outputs = {**outputs, **second.run(np.ascontiguousarray(restored))}
        return outputs


@dataclass
class PipelineConfig:
    batch_size: int = 8
    workers: int = 2
    inflight: int = 2  # batches on the device at once
    native: bool = True  # False: write the model's S x S output (--size model)
    fmt: str = "png"
    quality: int = 95
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    progress: bool = True


@dataclass
class RunStats:
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=lambda: {"decode": 0.0, "infer": 0.0, "encode": 0.0})
    batches: int = 0
    high_water: dict[str, int] = field(default_factory=dict)
    bounds: dict[str, int] = field(default_factory=dict)

    def summary(self, jobs: list[Job]) -> dict[str, Any]:
        counts = {s: sum(j.status == s for j in jobs) for s in ("written", "skipped", "failed", "pending")}
        return {
            "counts": counts,
            "timings": {"wall_s": round(self.wall_s, 3),
                        **{f"{k}_thread_s": round(v, 3) for k, v in self.stage_s.items()}},
            "throughput": {"images_per_s": round(counts["written"] / self.wall_s, 2) if self.wall_s else 0.0,
                           "batches": self.batches},
            "queues": {"high_water": self.high_water, "bounds": self.bounds},
        }


class _Stopped(Exception):
    pass


class Pipeline:
    def __init__(self, chain: Chain, config: PipelineConfig) -> None:
        self.chain = chain
        self.config = config
        self.stats = RunStats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._bar = None

    # -- plumbing ---------------------------------------------------------------------------------
    def _put(self, q: queue.Queue, item: Any, name: str) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=0.05)
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
                return q.get(timeout=0.05)
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
        s = self.chain.image_size
        try:
            while (job := self._get(todo)) is not _STOP:
                start = time.perf_counter()
                try:
                    item = decode_gray(job.source, s, keep_native=self.config.native,
                                       max_pixels=self.config.max_pixels)
                except DecodeError as exc:
                    job.fail(str(exc))
                    log.warning("%s: %s", job.source, exc)
                    item = None
                seconds = time.perf_counter() - start
                job.timings["decode_ms"] = round(seconds * 1e3, 2)
                self._done(job, "decode", seconds)
                if item is not None:
                    self._put(decoded, (job, item), "decoded")
        finally:
            if not self._stop.is_set():
                self._put(decoded, _STOP, "decoded")

    def _batch(self, decoded: queue.Queue, batches: queue.Queue) -> None:
        b, s = self.config.batch_size, self.chain.image_size
        pending: list[tuple[Job, Decoded]] = []
        running = self.config.workers
        while running:
            item = self._get(decoded)
            if item is _STOP:
                running -= 1
            else:
                pending.append(item)
            if len(pending) == b or (not running and pending):
                # A batch below the model's minimum is padded by the backend itself (Backend.run).
                array = np.empty((len(pending), 1, s, s), np.uint8)
                for i, (_, decoded_item) in enumerate(pending):
                    array[i, 0] = decoded_item.small
                self._put(batches, (pending, array), "batches")
                pending = []
        for _ in range(self.config.inflight):
            self._put(batches, _STOP, "batches")

    def _infer(self, batches: queue.Queue, encode_q: queue.Queue) -> None:
        while (batch := self._get(batches)) is not _STOP:
            items, array = batch
            start = time.perf_counter()
            outputs = self.chain.run(array)
            with self._lock:
                self.stats.stage_s["infer"] += time.perf_counter() - start
                self.stats.batches += 1
            for i, (job, decoded) in enumerate(items):
                self._put(encode_q, (job, decoded, {role: value[i] for role, value in outputs.items()}), "encode")

    def _encode(self, encode_q: queue.Queue) -> None:
        while (item := self._get(encode_q)) is not _STOP:
            job, decoded, outputs = item
            start = time.perf_counter()
            try:
                self._write(job, decoded, outputs)
                job.status = "written"
            except OSError as exc:
                job.fail(f"cannot write: {exc}")
                log.warning("%s: %s", job.output, job.reason)
            except Exception as exc:  # one file's bad luck must not stop the run; the reason says what
                job.fail(f"{type(exc).__name__}: {exc}")
                log.warning("%s: %s", job.source, job.reason, exc_info=log.isEnabledFor(logging.DEBUG))
            seconds = time.perf_counter() - start
            job.timings["encode_ms"] = round(seconds * 1e3, 2)
            self._done(job, "encode", seconds)

    def _write(self, job: Job, decoded: Decoded, outputs: dict[str, np.ndarray]) -> None:
        cfg = self.config
        luma = decoded.native
        if self.chain.restores:
            restored, mask = outputs["restored"][0], outputs["mask"][0]
            luma = apply_restore(luma, restored, mask) if cfg.native else Image.fromarray(restored, "L")
            if job.restored is not None:
                write_atomic(job.restored, encode(luma, cfg.fmt, cfg.quality))
        if self.chain.colorizes:
            rgb = np.ascontiguousarray(outputs["rgb"].transpose(1, 2, 0))
            picture = colorize_native(luma, rgb) if cfg.native else Image.fromarray(rgb, "RGB")
        else:
            picture = luma
        write_atomic(job.output, encode(picture, cfg.fmt, cfg.quality))

    # -- driver -----------------------------------------------------------------------------------
    def run(self, jobs: list[Job]) -> RunStats:
        """Process every pending job; statuses and reasons are set on the jobs themselves."""
        from tqdm import tqdm

        cfg = self.config
        pending = [j for j in jobs if j.status == "pending"]
        bounds = {"todo": 2 * cfg.workers, "decoded": 2 * cfg.batch_size, "batches": 1,
                  "encode": 2 * cfg.batch_size}
        self.stats.bounds = bounds
        qs = {name: queue.Queue(maxsize=size) for name, size in bounds.items()}
        self._bar = tqdm(total=len(pending), unit="img", disable=not cfg.progress or None, smoothing=0.1,
                         dynamic_ncols=True)
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
            self._bar.close()
            self.stats.wall_s = time.perf_counter() - start
        if self._error is not None:
            self._join(threads + runners + encoders)
            raise self._error
        return self.stats

    @staticmethod
    def _join(threads: list[threading.Thread]) -> None:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.1)
