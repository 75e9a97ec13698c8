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
- ``put``/``fail``/``expect`` may come from different threads, and none of them waits for the writer: the
  thread that finds the next picture due takes the sink's turn and feeds the writer until a gap; a thread that
  finds the turn taken leaves its picture and returns at once (to composite other pictures, of this job or
  any other). The writer is called by one thread at a time, in order, so it needs no locking of its own, and
  two jobs' writers run in parallel. A slow writer (a video encoder) therefore holds up nobody; what it has
  not written yet waits in the sink, bounded by the pixel budget each held picture keeps (pictures.py:
  ``frame_share`` for a film's small frames).

Writers for runtime-infer's files are in :mod:`revive.runtime.writers`; a film's encoder is in
:mod:`revive.runtime.film`.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Protocol

from .errors import UserError, describe

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
        self._lock = threading.Lock()  # guards the fields above; never held while the writer runs
        self._turn = threading.Lock()  # held by the one thread calling the writer (and the callbacks)
        self.high_water = 0  # most pictures held at once (finished ahead of their turn, or waiting for it)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def error(self) -> str:
        """Why the job's output cannot be committed ('' while it can): its later pictures need no work."""
        return self._error

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
        """Stop now (the run is stopping, or the job cannot go on): nothing more is written.

        Waits for a writer call in progress (its picture is complete), never for pictures still in flight.
        """
        with self._turn:
            with self._lock:
                if self._closed:
                    return
                first = not self._error
                self._error = self._error or reason
                held = [release for _, (_, _, release) in sorted(self._held.items())]
                self._held.clear()
            if first:
                self._abort_writer()
            for release in held:
                if release is not None:
                    release()
            self._finish()

    def _arrive(self, index: int, picture: Any, reason: str, release: Callable[[], None] | None) -> None:
        with self._lock:
            late = self._closed
            if not late:
                self._held[index] = (picture, reason, release)
                self.high_water = max(self.high_water, len(self._held))
        if late:
            if release is not None:
                release()
            return
        self._drain()

    def _drain(self) -> None:
        """Feed the writer if nobody is; otherwise leave it to the thread that is (it looks again before it
        lets go of the turn, so nothing put meanwhile is left behind)."""
        while self._turn.acquire(blocking=False):
            try:
                self._feed()
            finally:
                self._turn.release()
            with self._lock:
                if not self._due():
                    return

    def _due(self) -> bool:
        """(under the lock) Work for whoever takes the turn: the next picture, or the close."""
        if self._closed:
            return False
        return self._next in self._held or (self._count is not None and self._next >= self._count)

    def _feed(self) -> None:
        """(under the turn) Every picture due, in order, then the close once the last is in."""
        while True:
            with self._lock:
                if not self._due():
                    return
                entry = self._held.pop(self._next, None)
                index = self._next
                if entry is not None:
                    self._next += 1
                error = self._error
            if entry is None:  # every picture is in
                if not error:
                    try:
                        self.writer.close()
                    except Exception as exc:  # noqa: BLE001
                        self._set_error(_write_error(exc))
                        self._abort_writer()
                self._finish()
                return
            picture, reason, release = entry
            try:
                if error:
                    reason = reason or f"not written: {error}"
                elif reason:
                    self.writer.skip(index, reason)
                else:
                    self.writer.write(index, picture)
            except Exception as exc:  # noqa: BLE001 - a disk-full write fails this job, not the run
                reason = _write_error(exc)
                self._set_error(reason)
                self._abort_writer()
            finally:
                if release is not None:
                    release()
            if self._on_picture is not None:
                self._on_picture(index, reason)

    def _set_error(self, reason: str) -> None:
        with self._lock:
            self._error = self._error or reason

    def _abort_writer(self) -> None:
        try:
            self.writer.abort()
        except Exception:  # noqa: BLE001 - the first error is the one worth reporting
            pass

    def _finish(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            error = self._error
        if self._on_close is not None:
            self._on_close(error)


def _write_error(exc: Exception) -> str:
    """The one line a picture's or a job's reason reads: a user error's own message (a film the writer finds
    broken), an OS error's cause (disk full), else the exception."""
    if isinstance(exc, UserError):
        return " ".join(str(exc).split()) or type(exc).__name__
    return f"cannot write: {exc}" if isinstance(exc, OSError) else describe(exc)
