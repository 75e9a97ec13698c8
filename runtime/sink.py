"""A job may yield several pictures; a sink hands the finished ones to one writer, in picture order.

A job is one input and its outputs. Most jobs yield one picture; a multi-page TIFF yields one per page, a
video one per frame. The pipeline decodes, batches and composites pictures independently (pages of one file
share batches with other files' pictures, as any two pictures do), so they finish in any order, on any
encoder thread. What an output needs is the opposite: one writer per job that sees its pictures one at a
time, in order (a multi-page TIFF is appended page by page and renamed into place once the last is in; an
encoder wants frame 0 before frame 1). :class:`OrderedSink` is the join between the two::

    sink = OrderedSink(writer, on_picture=progress, on_close=finished)   # writer: see Writer
    sink.put(2, picture, release=give_back_pixels)   # any thread: held until pictures 0 and 1 are in
    sink.fail(1, "cannot decode: ...")               # picture 1 will never come: the writer is told, in order
    sink.expect(3)                                   # the job yields no more: close once 0, 1, 2 are in

- ``release`` is called once the picture has been written (or dropped), never earlier, so the pipeline's
  pixel budget keeps counting a picture the sink holds back. Holding back cannot deadlock: a picture is only
  held while an earlier one is still in flight, and that one needs no more budget to finish.
- A writer error (disk full) fails the job: the writer is aborted (it leaves no partial output), later
  pictures are dropped and released, and ``on_close`` gets the reason.
- ``put``/``fail``/``expect`` may come from different threads; the writer is called under the sink's lock,
  so it needs no locking of its own, and two jobs' writers run in parallel.

Writers for runtime-infer's files are in :mod:`revive.runtime.writers`; a video encoder is one more Writer.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Protocol

from .errors import describe

__all__ = ["OrderedSink", "Writer"]


class Writer(Protocol):
    """Receives one job's pictures in index order, one call at a time."""

    def write(self, index: int, picture: Any) -> None:
        """Picture ``index`` is finished (every earlier one was written or skipped)."""

    def skip(self, index: int, reason: str) -> None:
        """Picture ``index`` failed and will not come (``reason`` is one line)."""

    def close(self) -> None:
        """Every picture is in: commit the output (atomically)."""

    def abort(self) -> None:
        """The job failed or the run stopped: leave no partial output."""


class OrderedSink:
    """One job's pictures, put in any order from any thread; its writer sees them in index order."""

    def __init__(self, writer: Writer, *, on_picture: Callable[[int, str], None] | None = None,
                 on_close: Callable[[str], None] | None = None) -> None:
        self.writer = writer
        self._on_picture = on_picture  # (index, '' when written else the reason): once per picture
        self._on_close = on_close  # ('' when the output was committed, else why not): once
        self._held: dict[int, tuple[Any, str, Callable[[], None] | None]] = {}
        self._next = 0  # the index the writer waits for
        self._count: int | None = None
        self._error = ""
        self._closed = False
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, index: int, picture: Any, release: Callable[[], None] | None = None) -> None:
        """Picture ``index`` is finished; written when every earlier one is in."""
        self._arrive(index, picture, "", release)

    def fail(self, index: int, reason: str, release: Callable[[], None] | None = None) -> None:
        """Picture ``index`` failed (decoding, compositing): the writer skips it, in order."""
        self._arrive(index, None, reason or "failed", release)

    def expect(self, count: int) -> None:
        """The job yields ``count`` pictures in all; the sink closes once they are in."""
        with self._lock:
            self._count = count
            self._drain()

    def abort(self, reason: str) -> None:
        """Stop now (the run is stopping, or the job cannot go on): nothing more is written."""
        with self._lock:
            if not self._error:
                self._error = reason
                self._abort_writer()
            for _, (_, _, release) in sorted(self._held.items()):
                if release is not None:
                    release()
            self._held.clear()
            self._finish()

    def _arrive(self, index: int, picture: Any, reason: str, release: Callable[[], None] | None) -> None:
        with self._lock:
            if self._closed:
                if release is not None:
                    release()
                return
            self._held[index] = (picture, reason, release)
            self._drain()

    def _drain(self) -> None:
        while self._next in self._held:
            picture, reason, release = self._held.pop(self._next)
            index, self._next = self._next, self._next + 1
            try:
                if self._error:
                    reason = reason or f"not written: {self._error}"
                elif reason:
                    self.writer.skip(index, reason)
                else:
                    self.writer.write(index, picture)
            except Exception as exc:  # noqa: BLE001 - a disk-full write fails this job, not the run
                reason = self._error = _write_error(exc)
                self._abort_writer()
            finally:
                if release is not None:
                    release()
            if self._on_picture is not None:
                self._on_picture(index, reason)
        if self._count is not None and self._next >= self._count:
            if not self._error:
                try:
                    self.writer.close()
                except Exception as exc:  # noqa: BLE001
                    self._error = _write_error(exc)
                    self._abort_writer()
            self._finish()

    def _abort_writer(self) -> None:
        try:
            self.writer.abort()
        except Exception:  # noqa: BLE001 - the first error is the one worth reporting
            pass

    def _finish(self) -> None:
        if not self._closed:
            self._closed = True
            if self._on_close is not None:
                self._on_close(self._error)


def _write_error(exc: Exception) -> str:
    return f"cannot write: {exc}" if isinstance(exc, OSError) else describe(exc)
