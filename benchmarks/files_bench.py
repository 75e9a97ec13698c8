"""Files -> files speed: ``runtime-infer``'s pipeline (decode, resize, batch, run, composite, encode) on a folder.

Every backend is driven by ``revive.runtime.infer_files`` with the same inputs and
settings, after one warm-up batch; the figures are images written per second of wall
time, tiles/s (restorer tiles) and Mpx/s (input pixels written). Inputs are
``--files DIR`` (every image runtime-infer reads) or ``--images N`` gray PNGs cut from
scikit-image's photos (``sample_inputs.make_inputs``) at the model's size or at
``--image-size WxH`` (large scans, which a restore model sees in tiles: ``--tile``).
Outputs are written to a scratch folder and deleted.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from revive.runtime.layout import LayoutOptions

from .backends import Models, for_each_backend
from .sample_inputs import inputs_or_sample

__all__ = ["run_files_bench", "time_files"]

log = logging.getLogger(__name__)


def time_files(backend: Any, inputs: Path, out: Path, batch: int, workers: int, inflight: int,
               layout: LayoutOptions | None = None) -> dict[str, Any]:
    import resource

    from revive.runtime.infer import InferOptions, infer_files

    shutil.rmtree(out, ignore_errors=True)
    backend.run(np.zeros((batch, 1, backend.image_size, backend.image_size), np.uint8))  # warm-up
    options = InferOptions(batch_size=batch, workers=workers, inflight=inflight, progress=False,
                           layout=layout or LayoutOptions())
    before = resource.getrusage(resource.RUSAGE_SELF)
    stats = infer_files([backend], [inputs], out, options)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    jobs = stats.jobs
    written = sum(j.status == "written" for j in jobs)
    speed = stats.summary()["throughput"]
    return {"images": written, "failed": len(jobs) - written, "wall_s": round(stats.wall_s, 3),
            "images_per_s": round(written / stats.wall_s, 3) if stats.wall_s else None,
            "tiles": stats.tiles, "tiles_per_s": speed["tiles_per_s"], "mpx_per_s": speed["mpx_per_s"],
            # CPU seconds this process used: less sensitive than wall time to other jobs on a shared machine.
            "cpu_s": round(cpu_s, 3), "images_per_cpu_s": round(written / cpu_s, 3) if cpu_s else None,
            "stage_thread_s": {k: round(v, 3) for k, v in stats.stage_s.items()},
            "failures": [j.reason for j in jobs if j.status == "failed"][:3]}


def run_files_bench(models: Models, names: tuple[str, ...], folder: Path | None, count: int, batch: int,
                    workers: int, inflight: int, size: tuple[int, int],
                    layout: LayoutOptions | None = None) -> dict[str, Any]:
    """``size``: (width, height) of the synthetic inputs made when no ``folder`` is given."""
    layout = layout or LayoutOptions()
    with tempfile.TemporaryDirectory(prefix="revive-bench-files.") as tmp:
        tmp = Path(tmp)
        folder, source = inputs_or_sample(folder, count, size, tmp)
        out: dict[str, Any] = {}
        for name, backend, precision in for_each_backend(names, models, out):
            r = time_files(backend, folder, tmp / "out", batch, workers, inflight, layout)
            out[name] = {"status": "ok", "precision": precision, "providers": backend.providers, **r}
            log.info("%-14s %8.2f images/s, %8.1f tiles/s, %7.2f Mpx/s (%d images, %.2f s)", name,
                     r["images_per_s"] or 0, r["tiles_per_s"], r["mpx_per_s"], r["images"], r["wall_s"])
    return {"settings": {"inputs": source, "batch_size": batch, "workers": workers, "inflight": inflight,
                         "tile": layout.tile, "overlap": layout.overlap, "max_side": layout.max_side},
            "backends": out}
