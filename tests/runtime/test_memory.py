"""Memory stays flat on a big folder: queues never pass their bounds, peak RSS does not grow with the count."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image

PEAK_RSS = """
import resource, sys
from revive.runtime.cli import main
code = main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
sys.exit(code)
"""


def peak_rss_kib(tmp_path, model, folder, name) -> tuple[int, dict]:
    summary = tmp_path / f"{name}.json"
    args = ["--engine", model, folder, "-o", tmp_path / f"out_{name}", "--batch-size", 8, "--workers", 2,
            "--summary", summary, "--no-progress"]
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
