"""``python -m revive.benchmarks.ui_queue``: what revive-ui's one-``infer_files``-call-per-photo queue costs.

The page runs each photo through its own ``infer_files`` call (runtime/ui/desk.py: each result shows when it
is done), so photos do not share batches, each call starts the pipeline's threads, and one call cannot
overlap two photos. This measures that price against one ``infer_files`` call over the same folder (what
``runtime-infer`` does), on the same open backends, with the queue running one and two photos at once
(``revive-ui --concurrency``), taking turns ``--repeats`` times: photos/s and the extra ms per photo.

Models: the stand-in restore + colorize pair (``stand_in_models.py``, a few ONNX operators), so the
models cost next to nothing and the figure is the queue's overhead itself; with real models each photo's
model time is added to both sides. Writes ``benchmarks/results/<machine>/ui_queue.{json,md}``.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .report import machine_line, markdown_table, write_results

__all__ = ["main", "measure"]


def _photos(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        y, x = np.mgrid[0:size[1], 0:size[0]]
        gray = 127 + 90 * np.sin(x / (17 + i)) * np.cos(y / 23) + rng.normal(0, 6, (size[1], size[0]))
        paths.append(folder / f"photo{i:03d}.png")
        Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L").save(paths[-1])
    return paths


def measure(work: Path, count: int, size: tuple[int, int], repeats: int) -> dict[str, Any]:
    from ..runtime.backends import open_backend
    from ..runtime.infer import InferOptions, infer_files
    from ..runtime.ui.desk import Desk
    from .stand_in_models import make_scratch_restore, make_sepia_colorize

    models = [make_scratch_restore(work / "restore.onnx"), make_sepia_colorize(work / "colorize.onnx")]
    photos = _photos(work / "in", count, size)
    options = InferOptions(save_restored=True, progress=False, overwrite=True)
    backends = [open_backend(m, concurrency=options.inflight) for m in models]  # as infer_files opens a path
    desks = {f"revive-ui queue, {n} at once (--concurrency {n})": Desk(backends, options, work / f"desk{n}", concurrency=n)
             for n in (1, 2)}
    cli = "runtime-infer (one call, whole folder)"
    seconds: dict[str, list[float]] = {cli: [], **{name: [] for name in desks}}
    try:
        for r in range(repeats):
            start = time.perf_counter()
            stats = infer_files(backends, [work / "in"], work / f"out{r}", options)
            seconds[cli].append(time.perf_counter() - start)
            assert stats.counts["written"] == count
            for name, desk in desks.items():
                start = time.perf_counter()
                batch = desk.new_batch()
                queued = [p for path in photos for p in desk.add(batch, path.name, io.BytesIO(path.read_bytes()))]
                for photo in queued:
                    photo.finished.wait()
                seconds[name].append(time.perf_counter() - start)
                assert all(p.status == "done" for p in queued), [p.reason for p in queued if p.reason]
    finally:
        for desk in desks.values():
            desk.close()
        for backend in backends:
            backend.close()
    rows = {name: {"seconds": [round(s, 3) for s in values], "median_s": round(statistics.median(values), 3),
                   "photos_per_s": round(count / statistics.median(values), 2)} for name, values in seconds.items()}
    base = statistics.median(seconds[cli])
    for name, r in rows.items():
        r["extra_ms_per_photo"] = round((r["median_s"] - base) / count * 1e3, 1) + 0.0  # no "-0.0"
        r["time_vs_runtime_infer"] = round(r["median_s"] / base, 2)
    return {"photos": count, "size": list(size), "repeats": repeats, "runs": rows}


def _markdown(data: dict[str, Any]) -> str:
    rows = [[name, r["median_s"], r["photos_per_s"], r["extra_ms_per_photo"], r["time_vs_runtime_infer"]]
            for name, r in data["runs"].items()]
    return (f"# revive-ui: the queue's cost\n\n{machine_line(data['machine'])}\n\nCommand: `{data['command']}`\n\n"
            f"{data['photos']} gray PNGs of {data['size'][0]}x{data['size'][1]}, stand-in restore + colorize models "
            f"(next to no model time), median of {data['repeats']} alternating runs on the same open backends.\n\n"
            + markdown_table(["how", "seconds", "photos/s", "ms more per photo", "time vs runtime-infer"], rows))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m revive.benchmarks.ui_queue", description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=24, help="(default %(default)s)")
    p.add_argument("--size", default="640x480", help="photo size WxH (default %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="(default %(default)s)")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>/)")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    work = Path(tempfile.mkdtemp(prefix="ui-queue-"))
    try:
        body = measure(work, args.photos, size, args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = "python -m revive.benchmarks.ui_queue " + " ".join(argv if argv is not None else sys.argv[1:])
    print(_markdown(write_results("ui_queue", command.strip(), body, _markdown, out=args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
