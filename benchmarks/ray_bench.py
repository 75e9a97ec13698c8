"""Ray's overhead: one folder through ``runtime-infer`` on one process and with ``--ray``, on this machine.

Three timings, each a whole ``runtime-infer`` command (planning, model loading, every file written):

- ``one_process``: the single-process pipeline.
- ``ray_warm``: ``--ray auto`` against a Ray already running on this machine (started here with
  ``ray.init``), as on a cluster that stays up between runs; it includes starting the model actors and
  loading the model in them.
- ``ray_cold``: ``--ray local``, which also starts and stops a private Ray for the run.

One-process and warm Ray runs alternate ``repeats`` times so that a shared machine's load falls on both
alike; the medians and their ratio are reported. Outputs go to a scratch folder and are deleted; the Ray
outputs are checked to be the same files as the one-process outputs.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from .sample_inputs import inputs_or_sample

__all__ = ["run_ray_bench"]

log = logging.getLogger(__name__)


def _timed(argv: list[str]) -> float:
    from revive.runtime.cli import main

    start = time.perf_counter()
    code = main([*argv, "--no-progress"])
    seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"runtime-infer {' '.join(argv)} exited {code}")
    return seconds


def _same_files(a: Path, b: Path) -> bool:
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names)


def run_ray_bench(model: Path, folder: Path | None, count: int, image_size: int, batch: int, workers: int,
                  repeats: int) -> dict[str, Any]:
    import ray

    with tempfile.TemporaryDirectory(prefix="revive-bench-ray.") as tmp:
        tmp = Path(tmp)
        folder, source = inputs_or_sample(folder, count, image_size, tmp)
        images = sum(1 for p in folder.rglob("*") if p.is_file())
        common = ["--engine", str(model), str(folder), "--batch-size", str(batch), "--workers", str(workers)]
        ray_flags = ["--ray-workers", "1"]

        def fresh(name: str) -> list[str]:
            shutil.rmtree(tmp / name, ignore_errors=True)
            return ["-o", str(tmp / name)]

        cold = _timed([*common, *fresh("ray_cold"), "--ray", "local", *ray_flags])
        log.info("ray_cold     %.2f s", cold)
        start = time.perf_counter()
        ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        ray_start = time.perf_counter() - start
        one, warm = [], []
        try:
            for _ in range(repeats):
                one.append(_timed([*common, *fresh("one")]))
                warm.append(_timed([*common, *fresh("ray"), "--ray", "auto", *ray_flags]))
                log.info("one_process  %.2f s   ray_warm %.2f s", one[-1], warm[-1])
        finally:
            ray.shutdown()
        same = _same_files(tmp / "one", tmp / "ray") and _same_files(tmp / "one", tmp / "ray_cold")
    one_s, warm_s = statistics.median(one), statistics.median(warm)
    return {
        "settings": {"inputs": source, "images": images, "batch_size": batch, "workers": workers,
                     "ray_workers": 1, "repeats": repeats},
        "one_process_s": [round(x, 3) for x in one],
        "ray_warm_s": [round(x, 3) for x in warm],
        "ray_cold_s": round(cold, 3),
        "ray_start_s": round(ray_start, 3),
        "median": {"one_process_s": round(one_s, 3), "ray_warm_s": round(warm_s, 3),
                   "one_process_images_per_s": round(images / one_s, 2),
                   "ray_warm_images_per_s": round(images / warm_s, 2),
                   "ray_warm_over_one_process": round(warm_s / one_s, 2),
                   "ray_warm_extra_s": round(warm_s - one_s, 2),
                   "ray_cold_extra_s": round(cold - one_s, 2)},
        "outputs_identical": same,
    }
