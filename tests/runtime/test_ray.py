"""runtime-infer --ray on a local two-CPU Ray: same pixels and statuses as one process, lost actors, resume.

One Ray instance serves the whole module (starting one costs seconds); runtime-infer finds it connected and
leaves it running.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revive.runtime.cli import main

from .helpers import smooth
from .test_cli import make_corpus

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'revive[ray]'")
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning",
                                        "ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    yield
    ray.shutdown()


def run(*args) -> int:
    return main([*map(str, args), "--no-progress"])


def report(path: Path) -> dict:
    data = json.loads(path.read_text())
    return {Path(f["input"]).name: (f["status"], f.get("reason", "")) for f in data["files"]} | \
        {"counts": data["counts"]}


def pixels(folder: Path) -> dict[str, np.ndarray]:
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        with Image.open(path) as im:
            found[path.relative_to(folder).as_posix()] = np.asarray(im)
    return found


def assert_same_outputs(a: Path, b: Path) -> None:
    left, right = pixels(a), pixels(b)
    assert sorted(left) == sorted(right)
    for name in left:
        assert left[name].shape == right[name].shape and np.array_equal(left[name], right[name]), name


@pytest.mark.parametrize("chain", ["colorize", "restore+colorize"])
def test_same_pixels_and_statuses_as_one_process(tmp_path, tiny_onnx, restore_onnx, chain):
    good, bad = make_corpus(tmp_path / "in")
    models = ["--engine", tiny_onnx["rgb"]] if chain == "colorize" else \
        ["--engine", restore_onnx, "--engine", tiny_onnx["lab"], "--save-restored"]
    common = [*models, tmp_path / "in", "--max-pixels", 50000, "--batch-size", 3]
    assert run(*common, "-o", tmp_path / "one", "--summary", tmp_path / "one.json") == 1
    assert run(*common, "-o", tmp_path / "ray", "--summary", tmp_path / "ray.json", "--ray", "auto") == 1
    assert_same_outputs(tmp_path / "one", tmp_path / "ray")
    one, on_ray = report(tmp_path / "one.json"), report(tmp_path / "ray.json")
    assert on_ray == one
    assert on_ray["counts"] == {"written": len(good), "skipped": 0, "failed": len(bad), "pending": 0}
    one_data, ray_data = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "ray"))
    assert ray_data["engine"] == "ray"
    assert ray_data["throughput"]["tiles"] == one_data["throughput"]["tiles"]
    assert (ray_data["throughput"]["tiles"] > 0) == (chain != "colorize")  # the restorer saw tiles
    assert not list((tmp_path / "ray").rglob(".*.part"))


def make_folder(root: Path, count: int) -> None:
    root.mkdir()
    for i in range(count):
        Image.fromarray(smooth(40 + i, 50, seed=i)).save(root / f"img_{i:02d}.png")


def test_lost_model_actor_is_restarted_and_its_batch_retried(tmp_path, tiny_onnx, monkeypatch):
    make_folder(tmp_path / "in", 10)
    marker = tmp_path / "crashed"
    args = ["--engine", tiny_onnx["lab"], tmp_path / "in", "--batch-size", 2]
    assert run(*args, "-o", tmp_path / "one") == 0
    monkeypatch.setenv("REVIVE_RAY_CRASH_ONCE", f"{marker}:2")
    assert run(*args, "-o", tmp_path / "ray", "--ray", "auto", "--summary", tmp_path / "ray.json") == 0
    assert marker.exists(), "the model actor was never killed: the test proves nothing"
    assert_same_outputs(tmp_path / "one", tmp_path / "ray")
    assert json.loads((tmp_path / "ray.json").read_text())["counts"]["written"] == 10
    assert not list((tmp_path / "ray").glob(".*.part"))


def test_rerun_after_interruption_writes_only_what_is_missing(tmp_path, tiny_onnx):
    make_folder(tmp_path / "in", 8)
    out = tmp_path / "out"
    args = ["--engine", tiny_onnx["rgb"], tmp_path / "in", "-o", out, "--ray", "auto", "--batch-size", 2]
    assert run(*args) == 0
    # What an interrupted run leaves: some outputs whole, the rest missing, a temporary file from a killed write.
    missing = ["img_01.png", "img_04.png", "img_07.png"]
    for name in missing:
        (out / name).unlink()
    stale = out / ".img_04.png.x1y2z3.part"
    stale.write_bytes(b"half a png")
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert run(*args, "--summary", tmp_path / "rerun.json") == 0
    result = report(tmp_path / "rerun.json")
    assert result["counts"] == {"written": 3, "skipped": 5, "failed": 0, "pending": 0}
    assert sorted(n for n, v in result.items() if n != "counts" and v[0] == "written") == missing
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept
    assert not stale.exists()
    assert sorted(p.name for p in out.iterdir()) == [".revive-output"] + [f"img_{i:02d}.png" for i in range(8)]


@pytest.mark.parametrize("flags, message", [
    (["--ray-workers", "2"], "need --ray"),
    (["--ray", "auto", "--ray-workers", "0"], "at least 1"),
    (["--ray", "auto", "--ray-gpus-per-worker", "-1"], "0 or more"),
])
def test_ray_flag_errors_exit_two(tmp_path, tiny_onnx, capsys, flags, message):
    make_folder(tmp_path / "in", 1)
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "in", "-o", tmp_path / "out", *flags) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_more_gpus_per_worker_than_the_cluster_has_is_a_user_error(tmp_path, tiny_onnx, capsys):
    make_folder(tmp_path / "in", 1)
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "in", "-o", tmp_path / "out", "--ray", "auto",
               "--ray-gpus-per-worker", "1") == 2
    assert "the cluster has 0 GPU(s)" in capsys.readouterr().err
    assert os.environ.get("REVIVE_RAY_CRASH_ONCE") is None


def test_without_ray_installed_says_what_to_install(tmp_path, tiny_onnx, capsys, monkeypatch):
    import sys

    make_folder(tmp_path / "in", 1)
    monkeypatch.delitem(sys.modules, "revive.runtime.ray_driver", raising=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when the package is missing
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "in", "-o", tmp_path / "out", "--ray", "auto") == 2
    assert "pip install 'revive[ray]'" in capsys.readouterr().err


def test_dry_run_plans_without_starting_anything(tmp_path, tiny_onnx, capsys):
    make_folder(tmp_path / "in", 2)
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "in", "-o", tmp_path / "out", "--ray", "auto",
               "--dry-run") == 0
    assert "2 to write" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_ray_driver_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, revive.runtime.ray_driver\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_killed_driver_leaves_whole_files_and_the_rerun_writes_the_rest(tmp_path, tiny_onnx):
    import signal
    import subprocess
    import sys
    import time

    count = 48
    make_folder(tmp_path / "in", count)
    out = tmp_path / "out"
    args = ["--engine", tiny_onnx["rgb"], tmp_path / "in", "-o", out, "--batch-size", 2, "--ray", "auto",
            "--no-progress"]
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    cli = [sys.executable, "-c", "from revive.runtime.cli import entry; entry()", *map(str, args)]
    proc = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(list(out.glob("*.png"))) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130, proc.stderr.read().decode()[-2000:]
    done = sorted(p.name for p in out.glob("*.png"))
    assert 5 <= len(done) < count, "the run finished before it could be interrupted"
    for name in done:
        with Image.open(out / name) as im:
            im.load()
    kept = {n: (out / n).stat().st_mtime_ns for n in done}
    assert run(*args[:-1], "--summary", tmp_path / "rerun.json") == 0
    result = report(tmp_path / "rerun.json")
    assert result["counts"]["skipped"] + result["counts"]["written"] == count
    assert result["counts"]["skipped"] >= len(done)
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept
    assert not list(out.glob(".*.part"))
    assert len(list(out.glob("*.png"))) == count


def test_archival_fidelity_on_ray(tmp_path, tiny_onnx, restore_onnx):
    """Pages, 16 bits and metadata on Ray: the very files one process writes, pages counted alike."""
    import tifffile

    from .test_fidelity import archival_jpeg, ramp16, write_pages

    folder = tmp_path / "in"
    folder.mkdir()
    write_pages(folder / "album.tif", 3)
    archival_jpeg(folder / "scan.jpg")
    Image.fromarray(ramp16(30, 40)).save(folder / "deep.png", dpi=(1200, 1200))
    args = ["--engine", restore_onnx, "--engine", tiny_onnx["rgb"], folder, "--save-restored"]
    assert run(*args, "-o", tmp_path / "one", "--summary", tmp_path / "one.json") == 0
    assert run(*args, "-o", tmp_path / "ray", "--summary", tmp_path / "ray.json", "--ray", "auto") == 0
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("[!.]*"))
    assert one == sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("[!.]*"))
    assert len(one) == 6
    for rel in one:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "ray" / rel).read_bytes(), rel
    with tifffile.TiffFile(tmp_path / "ray" / "album.tif") as tif:
        assert len(tif.pages) == 3
    counts = [json.loads((tmp_path / f"{n}.json").read_text())["counts"] for n in ("one", "ray")]
    assert counts[0] == counts[1] == {"written": 5, "skipped": 0, "failed": 0, "pending": 0}


def test_a_ray_run_leaves_the_process_logging_as_it_found_it(tmp_path, tiny_onnx, caplog):
    """Last in the module, after its other Ray runs: quieting Ray Data once silenced every later warning of the
    process (pytest's capture handler, shared with Ray Data's logger, was set to CRITICAL)."""
    make_folder(tmp_path / "in", 2)
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "in", "-o", tmp_path / "out", "--ray", "auto") == 0
    logging.getLogger("revive.runtime.film").warning("still heard after Ray Data")  # a later film's failure
    assert "still heard after Ray Data" in caplog.text
