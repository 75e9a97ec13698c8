"""Files -> files speed: ``runtime-infer``'s pipeline (decode, resize, batch, run, composite, encode) on a folder.

Every backend is driven by ``revive.runtime.pipeline`` with the same inputs and
settings, after one warm-up batch; the figure is images written per second of
wall time. Inputs are ``--files DIR`` (every image runtime-infer reads) or
``--images N`` gray PNGs cut from scikit-image's photos
(``sample_inputs.make_inputs``). Outputs are written to a scratch folder and
deleted.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .backends import Models, Unavailable, open_named

__all__ = ["run_files_bench", "time_files"]

log = logging.getLogger(__name__)


def time_files(backend: Any, inputs: Path, out: Path, batch: int, workers: int, inflight: int) -> dict[str, Any]:
    import resource

    from revive.runtime.inputs import DEFAULT_EXTS, find_inputs, plan_jobs
    from revive.runtime.pipeline import Chain, Pipeline, PipelineConfig

    shutil.rmtree(out, ignore_errors=True)
    jobs = plan_jobs(find_inputs([inputs], DEFAULT_EXTS), out, "png")
    if not jobs:
        raise ValueError(f"{inputs}: no images ({', '.join(DEFAULT_EXTS)})")
    backend.run(np.zeros((batch, 1, backend.image_size, backend.image_size), np.uint8))  # warm-up
    config = PipelineConfig(batch_size=batch, workers=workers, inflight=inflight, progress=False)
    before = resource.getrusage(resource.RUSAGE_SELF)
    stats = Pipeline(Chain([backend]), config).run(jobs)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    written = sum(j.status == "written" for j in jobs)
    return {"images": written, "failed": len(jobs) - written, "wall_s": round(stats.wall_s, 3),
            "images_per_s": round(written / stats.wall_s, 3) if stats.wall_s else None,
            # CPU seconds this process used: less sensitive than wall time to other jobs on a shared machine.
            "cpu_s": round(cpu_s, 3), "images_per_cpu_s": round(written / cpu_s, 3) if cpu_s else None,
            "stage_thread_s": {k: round(v, 3) for k, v in stats.stage_s.items()},
            "failures": [j.reason for j in jobs if j.status == "failed"][:3]}


def run_files_bench(models: Models, names: tuple[str, ...], folder: Path | None, count: int, batch: int,
                    workers: int, inflight: int, image_size: int) -> dict[str, Any]:
    source = str(folder) if folder is not None else f"{count} gray PNGs from scikit-image photos, {image_size} px"
    with tempfile.TemporaryDirectory(prefix="revive-bench-files.") as tmp:
        tmp = Path(tmp)
        if folder is None:
            from .sample_inputs import make_inputs

            folder = tmp / "inputs"
            make_inputs(folder, count, image_size)
        out: dict[str, Any] = {}
        for name in names:
            try:
                backend, precision = open_named(name, models)
            except Unavailable as exc:
                log.warning("%s: skipped (%s)", name, exc)
                out[name] = {"status": "skipped", "reason": str(exc)}
                continue
            try:
                r = time_files(backend, folder, tmp / "out", batch, workers, inflight)
            finally:
                backend.close()
            out[name] = {"status": "ok", "precision": precision, "providers": backend.providers, **r}
            log.info("%-14s %8.2f images/s (%d images, %.2f s)", name, r["images_per_s"] or 0, r["images"],
                     r["wall_s"])
    return {"settings": {"inputs": source,
                         "batch_size": batch, "workers": workers, "inflight": inflight},
            "backends": out}
