"""benchmarks/gpu_suite.sh: the plan fits the lease, and ``--rehearse`` runs every step of it on the CPU.

The rehearsal is the real script with tiny sizes and each CUDA backend replaced by its CPU twin (TensorRT-RTX
by tests/trt_fakes.py); it must finish, write its results into the scratch folder it is given and leave
benchmarks/results/ and benchmarks/RESULTS.md alone. What it cannot show is that the CUDA paths work: that is
the GPU run itself (benchmarks/GPU_PLAN.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ["bash", "benchmarks/gpu_suite.sh"]
BUDGET_S = 420  # the steps' own limits: 7 minutes of a 15-minute lease (GPU_PLAN.md)


def plan() -> list[tuple[str, int]]:
    out = subprocess.run([*SUITE, "--plan"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    return [(name, int(limit.rstrip("s"))) for name, limit, *_ in rows if name != "total"]


def test_the_plan_fits_seven_minutes_correctness_first():
    steps = plan()
    assert sum(limit for _, limit in steps) <= BUDGET_S
    order = [name for name, _ in steps]
    for check in ("parity", "train-step", "train-cli", "trt-build"):
        for speed in ("speed", "train-speed", "files"):
            assert order.index(check) < order.index(speed), (check, speed)
    assert order[-1] == "summary"


def _snapshot(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    work = tmp_path_factory.mktemp("rehearsal")
    results, summary = ROOT / "benchmarks" / "results", ROOT / "benchmarks" / "RESULTS.md"
    before = (_snapshot(results), summary.read_bytes())
    env = {**os.environ, "PYTHON": sys.executable, "SUITE_WORK": str(work)}
    start = time.monotonic()
    run = subprocess.run([*SUITE, "--rehearse"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    took = time.monotonic() - start
    after = (_snapshot(results), summary.read_bytes())
    folder = next((work / "results").iterdir())
    return {"run": run, "work": work, "results": folder, "took": took, "untouched": before == after}


def _json(rehearsal, name):
    return json.loads((rehearsal["results"] / name).read_text())


def test_rehearsal_exits_zero(rehearsal):
    run = rehearsal["run"]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    print(f"rehearsal took {rehearsal['took']:.0f} s")


def test_every_step_ran_in_the_plans_order_within_its_limit(rehearsal):
    steps = _json(rehearsal, "gpu_suite.json")["steps"]
    assert [s["step"] for s in steps] == [name for name, _ in plan()]
    for s in steps:
        assert s["exit"] == 0 and s["skipped"] is None, s
        assert s["seconds"] <= s["timeout_s"]
    assert _json(rehearsal, "gpu_suite.json")["mode"] == "rehearse"


def test_results_stay_in_the_scratch_folder(rehearsal):
    assert rehearsal["untouched"], "the rehearsal wrote into benchmarks/results/ or benchmarks/RESULTS.md"
    written = {p.name for p in rehearsal["results"].iterdir()}
    assert written >= {"parity.json", "parity.md", "speed.json", "speed.md", "speed.png", "train_speed.json",
                       "train_speed-train-step.json", "files.json", "gpu_suite.json", "gpu_suite.md",
                       "gpu_suite.log", "trt_infer.json", "infer_cuda.json"}
    summary = (rehearsal["work"] / "RESULTS.md").read_text()
    assert "GPU suite (rehearse)" in summary and "Parity" in summary


def test_cuda_backends_ran_as_their_cpu_twins(rehearsal):
    parity = _json(rehearsal, "parity.json")["backends"]
    assert {n: e["status"] for n, e in parity.items()} == {"ort-cpu-fp16": "ok", "ort-cpu": "ok", "torch-amp": "ok"}
    assert parity["ort-cpu-fp16"]["passed"] and parity["ort-cpu"]["passed"]
    speed = _json(rehearsal, "speed.json")["backends"]
    assert all(speed[n]["status"] == "ok" for n in ("ort-cpu-fp16", "ort-cpu", "torch-fp32", "torch-amp"))
    assert speed["tensorrt"]["status"] == "skipped" and "TensorRT is not installed" in speed["tensorrt"]["reason"]
    step = _json(rehearsal, "train_speed-train-step.json")
    assert set(step["models"]) == {"pix2pix", "restore", "colorize"}
    assert all(r["status"] == "ok" for m in step["models"].values() for r in m["results"])


def test_the_tensorrt_rtx_steps_went_through_the_exporter_and_the_runtime(rehearsal):
    infer = _json(rehearsal, "trt_infer.json")
    assert infer["counts"]["written"] == 4 and infer["counts"]["failed"] == 0
    card = json.loads((rehearsal["work"] / "rtx" / "pix2pix.card.json").read_text())
    assert card["build"]["tensorrt_module"] == "tensorrt_rtx_bindings"
    assert card["build"]["gpu_name"] == "Fake GPU (rehearsal)"
    assert _json(rehearsal, "infer_cuda.json")["counts"]["written"] == 4


def test_probe_tries_the_packages_as_the_suite_sees_them(tiny_onnx):
    env = {**os.environ, "PYTHON": sys.executable}
    run = subprocess.run([*SUITE, "--probe", str(tiny_onnx["lab_fp16"])], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads(run.stdout)
    assert found["CPU run of the FP16 model"] == "ok: outputs [(2, 3, 32, 32)] ['uint8']"
    assert found["CUDA session runs on"] == ["CPUExecutionProvider"]  # this onnxruntime has no CUDA provider
    assert "CUDA run of the FP16 model" not in found
    assert found["tensorrt"].startswith("not importable: TensorRT is not installed")
