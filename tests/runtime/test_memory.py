"""Memory stays flat on a big folder: queues never pass their bounds, peak RSS does not grow with the count."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec, so a child of a
# big process (pytest with torch loaded) would report the parent's peak.
PEAK_RSS = """
import sys
from revive.runtime.cli import main
code = main(sys.argv[1:])
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))  # KiB
sys.exit(code)
"""


def peak_rss_kib(tmp_path, model, folder, name, *, batch=8, more=()) -> tuple[int, dict]:
    summary = tmp_path / f"{name}.json"
    models = [model] if not isinstance(model, (list, tuple)) else model
    args = [*(x for m in models for x in ("--engine", m)), folder, "-o", tmp_path / f"out_{name}", "--batch-size",
            batch, "--workers", 2, "--summary", summary, "--no-progress", *more]
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1]), json.loads(summary.read_text())


def test_memory_is_bounded_on_thousands_of_files(tmp_path, tiny_onnx):
    rng = np.random.default_rng(0)
    small, big = tmp_path / "small", tmp_path / "big"
    for folder, count in ((small, 100), (big, 2000)):
        folder.mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    rss_small, _ = peak_rss_kib(tmp_path, tiny_onnx["rgb"], small, "small")
    rss_big, report = peak_rss_kib(tmp_path, tiny_onnx["rgb"], big, "big")
    assert report["counts"]["written"] == 2000
    queues = report["queues"]
    for name, high in queues["high_water"].items():
        assert high <= queues["bounds"][name], name
    # 20x the files: only the per-file bookkeeping (a few hundred bytes each) may grow.
    assert rss_big - rss_small < 24 * 1024, (rss_small, rss_big)


def test_memory_is_bounded_on_large_scans_restored_in_tiles(tmp_path, smoothing_onnx, tiny_onnx):
    """The issue's target: 6000 x 4000 gray scans, a 256-px restorer at batch 16, < 1.5 GB, flat over a folder."""
    import os

    from revive.benchmarks.sample_inputs import make_inputs

    one, many = tmp_path / "one", tmp_path / "many"
    scan = make_inputs(one, 1, (6000, 4000))[0]
    many.mkdir()
    for i in range(4):
        os.link(scan, many / f"scan_{i}.png")
    chain = [smoothing_onnx[256], tiny_onnx["rgb"]]
    rss_one, report_one = peak_rss_kib(tmp_path, chain, one, "one", batch=16)
    rss_many, report = peak_rss_kib(tmp_path, chain, many, "many", batch=16)
    assert report["counts"]["written"] == 4 and report["throughput"]["tiles"] == 4 * 27 * 18
    for name, high in report["queues"]["high_water"].items():
        assert high <= report["queues"]["bounds"][name], name
    assert report["pixels_in_flight"]["high_water"] <= report["pixels_in_flight"]["budget"]
    # Two scans are in flight at most (the pixel budget), so four scans peak like two: bounded, not growing.
    assert rss_one < 1.5 * 2**20 and rss_many < 1.5 * 2**20, (rss_one, rss_many)
    assert rss_many - rss_one < 400 * 1024, (rss_one, rss_many)
