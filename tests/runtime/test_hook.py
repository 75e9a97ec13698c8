"""The pipeline's hook (pictures, finish, writer) with a front end of its own: pictures from memory, a writer
that keeps them; a job whose output is lost stops being decoded, and its generator is closed."""

from __future__ import annotations

import numpy as np
from PIL import Image

from revive.runtime.backends import open_backend
from revive.runtime.images import Decoded
from revive.runtime.inputs import Job
from revive.runtime.pictures import PictureRef
from revive.runtime.pipeline import Pipeline, PipelineConfig


class Kept:
    """A writer that keeps what it is given, failing (disk full) at picture ``fail_at``."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.got, self.fail_at, self.closed, self.aborted = [], fail_at, False, False

    def write(self, index, picture):
        if index == self.fail_at:
            raise OSError(28, "No space left on device")
        self.got.append((index, picture))

    def skip(self, index, reason):
        raise AssertionError(reason)

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True


def _run(model, tmp_path, count: int, fail_at: int | None):
    decoded, state = [], {"closed": False}
    writer = Kept(fail_at)

    def pictures(job, config):
        try:
            for i in range(count):
                image = Image.fromarray(np.full((20, 30), 40 + i % 200, np.uint8), "L")
                decoded.append(i)
                yield PictureRef(600, lambda view, keep, image=image: Decoded(
                    np.asarray(image.resize((view, view))), image, image.size), share=10_000)
        finally:
            state["closed"] = True

    backend = open_backend(model)
    try:
        pipeline = Pipeline([backend], PipelineConfig(batch_size=4, workers=2, progress=False,
                                                      pixels_in_flight=200_000),
                            pictures=pictures, writer=lambda job, config: writer,
                            finish=lambda job, work: work.picture().getpixel((0, 0)))
        job = Job(tmp_path / "in", tmp_path / "out")
        stats = pipeline.run([job])
    finally:
        backend.close()
    return job, stats, writer, decoded, state


def test_a_front_end_feeds_its_own_pictures_and_writer(tiny_onnx, tmp_path):
    job, stats, writer, decoded, state = _run(tiny_onnx["rgb"], tmp_path, 120, None)
    assert job.status == "written" and writer.closed and not writer.aborted
    assert [i for i, _ in writer.got] == list(range(120))  # in order, whatever order batches finished in
    assert all(len(p) == 3 for _, p in writer.got)  # what finish made of each: its first RGB pixel
    # share=10 000 of a 200 000 budget: at most 20 pictures in flight, however small they are.
    assert stats.pixels_high_water <= 200_000 and stats.high_water.get("reorder", 1) <= 20
    assert stats.pixels == 120 * 600 and state["closed"]


def test_a_job_whose_output_is_lost_is_not_decoded_to_its_end(tiny_onnx, tmp_path):
    job, _, writer, decoded, state = _run(tiny_onnx["rgb"], tmp_path, 5000, 3)
    assert job.status == "failed" and "No space left" in job.reason and writer.aborted and not writer.closed
    assert len(decoded) < 200 and state["closed"]  # stopped within the pictures in flight, generator closed
