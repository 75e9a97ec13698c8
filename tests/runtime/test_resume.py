"""A run killed part-way leaves only whole files, and a rerun writes exactly the missing ones."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from PIL import Image

from .helpers import noise

COUNT = 240


def cli(*args) -> list[str]:
    return [sys.executable, "-c", "from revive.runtime.cli import entry; entry()", *map(str, args), "--no-progress"]


def test_killed_run_resumes(tmp_path, tiny_onnx):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(COUNT):
        Image.fromarray(noise(160, 200, 3, seed=i)).save(src / f"img_{i:03d}.png", compress_level=0)
    args = ["--engine", tiny_onnx["rgb"], src, "-o", out, "--batch-size", 2, "--workers", 1]
    proc = subprocess.Popen(cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and len(list(out.glob("*.png"))) >= 10:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    done = sorted(p.name for p in out.glob("*.png"))
    assert 10 <= len(done) < COUNT, "the run finished before it could be interrupted"
    assert proc.returncode == 130
    assert not list(out.glob(".*.part"))
    for name in done:
        with Image.open(out / name) as im:
            im.load()
    # A kill -9 can leave a temporary file behind: the rerun removes it.
    stale = out / f".img_{COUNT - 1:03d}.png.abc123.part"
    stale.write_bytes(b"half a png")
    summary = tmp_path / "summary.json"
    assert subprocess.run(cli(*args, "--summary", summary), capture_output=True).returncode == 0
    assert not stale.exists()
    report = json.loads(summary.read_text())
    assert report["counts"]["skipped"] == len(done)
    assert report["counts"]["written"] == COUNT - len(done)
    skipped = sorted(f["output"].rsplit("/", 1)[-1] for f in report["files"] if f["status"] == "skipped")
    assert skipped == done
    assert len(list(out.glob("*.png"))) == COUNT
