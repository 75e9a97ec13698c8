"""OrderedSink: pictures put in any order from any thread reach the writer in order; failures and writer
errors are reported once; every picture's release is called once, after it was consumed."""

from __future__ import annotations

import random
import threading

from revive.runtime.sink import OrderedSink


class Recorder:
    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[tuple] = []
        self.fail_at = fail_at

    def write(self, index, picture):
        if index == self.fail_at:
            raise OSError(28, "No space left on device")
        self.calls.append(("write", index, picture))

    def skip(self, index, reason):
        self.calls.append(("skip", index, reason))

    def close(self):
        self.calls.append(("close",))

    def abort(self):
        self.calls.append(("abort",))


def test_any_order_from_many_threads_reaches_the_writer_in_order():
    writer, outcomes, closed, released = Recorder(), {}, [], []
    sink = OrderedSink(writer, on_picture=outcomes.__setitem__, on_close=closed.append)
    order = list(range(50))
    random.Random(0).shuffle(order)
    threads = [threading.Thread(target=sink.put, args=(i, f"p{i}", lambda i=i: released.append(i))) for i in order]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not sink.closed  # the count is not known yet
    sink.expect(50)
    assert writer.calls == [("write", i, f"p{i}") for i in range(50)] + [("close",)]
    assert sorted(released) == list(range(50)) and closed == [""] and sink.closed
    assert outcomes == {i: "" for i in range(50)}


def test_a_held_picture_is_released_only_once_written():
    writer, released = Recorder(), []
    sink = OrderedSink(writer)
    sink.put(1, "second", lambda: released.append(1))
    assert released == [] and writer.calls == []  # held: picture 0 is still in flight
    sink.fail(0, "cannot decode: broken", lambda: released.append(0))
    assert released == [0, 1]
    assert writer.calls == [("skip", 0, "cannot decode: broken"), ("write", 1, "second")]


def test_a_writer_error_aborts_the_job_and_drops_the_rest():
    writer, outcomes, closed, released = Recorder(fail_at=1), {}, [], []
    sink = OrderedSink(writer, on_picture=outcomes.__setitem__, on_close=closed.append)
    for i in range(3):
        sink.put(i, i, lambda i=i: released.append(i))
    sink.expect(3)
    assert writer.calls == [("write", 0, 0), ("abort",)]
    assert outcomes[0] == "" and "No space left" in outcomes[1] and outcomes[2].startswith("not written:")
    assert closed == [outcomes[1]] and sorted(released) == [0, 1, 2]


def test_abort_releases_what_is_held_and_closes_once():
    writer, closed, released = Recorder(), [], []
    sink = OrderedSink(writer, on_close=closed.append)
    sink.put(2, "x", lambda: released.append(2))
    sink.abort("the run stopped")
    sink.put(0, "late", lambda: released.append(0))  # after the end: released, never written
    assert writer.calls == [("abort",)] and closed == ["the run stopped"] and sorted(released) == [0, 2]
