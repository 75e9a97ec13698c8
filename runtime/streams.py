"""Jobs of many pictures in order (a film's frames): the pipeline's hook for them.

A :class:`StreamJob` is a job whose pictures come from an iterator (:meth:`PictureStream.pictures`, run on a
decoder thread) instead of one file, and whose finished pictures go back to the job, in order, through
:meth:`PictureStream.put`. In between they are rows like any photo's: batched with other pictures' rows, the
restorer tiled, the colorizer on the whole view (pipeline.py).

Batches finish out of order (several in flight; a restored frame goes back for its colorizer row), so
:class:`InOrder` puts each job's pictures back in order. Any encoder thread may hand a picture in; the thread
that finds the next one due takes the turn and feeds the sink until a gap, and every other thread returns at
once. No thread ever waits for an earlier picture, so none can hold up the thread that carries it. The
pictures waiting are only those in flight, and the pipeline's pixel budget bounds those: a picture gives its
share back only once the sink is done with it, and a film's frame holds at least 1/(6 B + 4 W) of the budget
(B rows per batch, W workers), so however small its frames, a film has at most about six batches' worth in
flight: memory stays flat over a film of any length.

Every call into the stream's sink (``put``, ``finish``, ``abort``) happens under the turn: one thread at a time,
in order. A failure (a frame that cannot be decoded, an encoder or disk error) fails that job alone; its
partial output is discarded (``abort``) and its later pictures dropped as they arrive.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from .errors import UserError, describe
from .images import Decoded
from .inputs import Job
from .render import ImageWork

__all__ = ["InOrder", "PictureStream", "StreamJob"]

log = logging.getLogger(__name__)


class PictureStream(Protocol):
    """Where a stream job's pictures come from and where they go back to."""

    def pictures(self, view: int | None, native: bool, max_pixels: int | None) -> Iterator[Decoded]:
        """Decode the pictures in order (on one decoder thread); a ``DecodeError`` fails the job with its reason."""

    def put(self, work: ImageWork) -> None:
        """The next finished picture, in order."""

    def finish(self) -> None:
        """Every picture is back: complete the output (atomically)."""

    def abort(self) -> None:
        """The job failed or the run stopped: discard whatever was written."""

    def summary(self) -> dict[str, Any]:
        """What ``--summary`` reports of the written output, beside its status (plain JSON data)."""


@dataclass
class StreamJob(Job):
    """A job of many pictures (a video, a folder of numbered frames) written as one output."""

    stream: PictureStream | None = None
    pictures_hint: int = 0  # pictures expected, for the progress bar (0: not known)


class InOrder:
    """One stream job's finished pictures, handed to its sink in order (module docstring).

    ``release(cost, written_pixels)`` is called once per picture when the sink is done with it (or it was
    dropped: ``written_pixels`` 0), so the pipeline can give its budget back and count it.
    """

    def __init__(self, job: StreamJob, release: Callable[[int, int], None]) -> None:
        self.job = job
        self._release = release
        self._waiting: dict[int, tuple[ImageWork, int]] = {}
        self._next = 0
        self._count: int | None = None  # pictures decoded, once the decoder is done
        self._state = "open"  # open -> finished | failed | aborted
        self._lock = threading.Lock()  # guards the fields above
        self._turn = threading.Lock()  # held by the one thread calling into the sink
        self.high_water = 0

    @property
    def done(self) -> bool:
        return self._state != "open"

    def add(self, index: int, work: ImageWork, cost: int) -> None:
        """Picture ``index`` is finished (any thread, any order); ``cost``: what it holds of the budget."""
        with self._lock:
            keep = self._state == "open"
            if keep:
                self._waiting[index] = (work, cost)
                self.high_water = max(self.high_water, len(self._waiting))
        if not keep:
            self._release(cost, 0)
            return
        self._drain()

    def end(self, count: int, reason: str = "") -> None:
        """The decoder is done: ``count`` pictures were handed on; ``reason``: why decoding failed ('' if not)."""
        with self._lock:
            self._count = count
            if reason:
                self._fail(reason)
        self._drain()

    def stop(self) -> None:
        """The run is stopping (interrupted, or a fatal error): discard an unfinished output."""
        with self._turn:
            with self._lock:
                unfinished = self._state in ("open", "failed")
                self._state = "aborted" if unfinished else self._state
                dropped = list(self._waiting.values())
                self._waiting.clear()
            for _, cost in dropped:
                self._release(cost, 0)
            if unfinished:
                self._call(self.job.stream.abort, quiet=True)

    # -- under the turn ---------------------------------------------------------------------------
    def _drain(self) -> None:
        while self._turn.acquire(blocking=False):
            try:
                self._feed()
            finally:
                self._turn.release()
            with self._lock:  # something that came while the turn was held, and nobody took
                if not self._due():
                    return

    def _due(self) -> bool:
        """Work for the sink (under the lock): the next picture, the end, or an abort to do."""
        if self._state == "failed":
            return True
        if self._state != "open":
            return False
        return self._next in self._waiting or self._count == self._next

    def _feed(self) -> None:
        while True:
            with self._lock:
                state = self._state
                entry = self._waiting.pop(self._next, None) if state == "open" else None
                if entry is not None:
                    self._next += 1
                complete = state == "open" and entry is None and self._count == self._next
                dropped = []
                if state == "failed":
                    dropped = list(self._waiting.values())
                    self._waiting.clear()
                    self._state = "aborted"
            if state == "failed":
                for _, cost in dropped:
                    self._release(cost, 0)
                self._call(self.job.stream.abort, quiet=True)
                log.warning("%s: %s", self.job.source, self.job.reason)
                return
            if entry is not None:
                work, cost = entry
                ok = self._call(lambda: self.job.stream.put(work))
                self._release(cost, work.size[0] * work.size[1] if ok else 0)
                continue
            if complete:
                if self._call(self.job.stream.finish):
                    with self._lock:
                        self._state = "finished"
                        self.job.status = "written"
                continue  # a failed finish comes round as 'failed'
            return

    def _call(self, action: Callable[[], None], quiet: bool = False) -> bool:
        """Run one sink call; an exception fails this job only (True: it went through)."""
        try:
            action()
            return True
        except Exception as exc:  # one film's bad luck (disk full, an encoder error) must not stop the run
            if quiet:
                log.debug("%s: while discarding the output: %s", self.job.source, describe(exc))
                return False
            log.debug("%s: %s", self.job.source, describe(exc), exc_info=True)
            with self._lock:
                self._fail(_reason(exc))
            return False

    def _fail(self, reason: str) -> None:
        """(under the lock) The job fails with ``reason``; the sink is aborted by whoever feeds it next."""
        if self._state == "open":
            self._state = "failed"
            self.job.fail(reason)


def _reason(exc: BaseException) -> str:
    """The one line a user reads: a user error's own message, an OS error's cause, else the exception."""
    if isinstance(exc, UserError):
        return " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot write: {exc.strerror}"
    return describe(exc)
