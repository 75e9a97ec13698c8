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


def test_no_thread_waits_for_the_writer_and_nothing_put_meanwhile_is_left_behind():
    """A slow writer (a video encoder) holds up nobody: a picture put while another thread writes is left in
    the sink and its thread returns at once; the writing thread writes it before it lets go."""
    writing, go = threading.Event(), threading.Event()

    class Slow(Recorder):
        def write(self, index, picture):
            if index == 0:
                writing.set()
                assert go.wait(10)
            super().write(index, picture)

    writer = Slow()
    sink = OrderedSink(writer)
    first = threading.Thread(target=sink.put, args=(0, "a"))
    first.start()
    assert writing.wait(10)
    returned = threading.Event()
    second = threading.Thread(target=lambda: (sink.put(1, "b"), sink.put(2, "c"), returned.set()))
    second.start()
    assert returned.wait(5), "put waited for another thread's write"
    assert writer.calls == [] and sink.high_water == 2
    go.set()
    first.join(10)
    second.join(10)
    assert writer.calls == [("write", 0, "a"), ("write", 1, "b"), ("write", 2, "c")]
    sink.expect(3)
    assert writer.calls[-1] == ("close",) and sink.closed


def test_a_user_error_from_the_writer_is_the_reason_as_it_reads():
    class Strict(Recorder):
        def skip(self, index, reason):
            from revive.runtime.images import DecodeError

            raise DecodeError(f"frame {index}: {reason}")

    writer, outcomes, closed = Strict(), {}, []
    sink = OrderedSink(writer, on_picture=outcomes.__setitem__, on_close=closed.append)
    sink.put(0, "a")
    sink.fail(1, "truncated")
    sink.expect(2)
    assert outcomes == {0: "", 1: "frame 1: truncated"} and closed == ["frame 1: truncated"]
    assert writer.calls == [("write", 0, "a"), ("abort",)] and sink.error == "frame 1: truncated"
