"""revive-bench on tiny models on the CPU: every subcommand, its JSON schema, its numbers, its files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from revive.benchmarks import backends as bench_backends
from revive.benchmarks.cli import main
from revive.benchmarks.report import json_safe, machine_slug, write_results
from revive.benchmarks.speed import latency_stats

FAST = ["--threads", "1"]


def _load(path):
    data = json.loads(path.read_text())
    assert set(data["machine"]) >= {"slug", "date", "load_average", "torch", "onnxruntime", "gpu"}
    assert len(data["machine"]["load_average"]) == 3
    return data


@pytest.fixture(scope="module")
def speed_run(tiny_checkpoints, tmp_path_factory):
    out = tmp_path_factory.mktemp("speed")
    rc = main(["speed", "--checkpoint", str(tiny_checkpoints["rgb"]), "--batch", "1,4",
               "--backends", "torch-fp32,torch-amp,ort-cpu,ort-cuda,tensorrt", "--warmup", "2", "--repeats", "6",
               "--out", str(out), *FAST])
    return rc, out


def test_speed_schema_and_numbers(speed_run):
    rc, out = speed_run
    assert rc == 0
    data = _load(out / "speed.json")
    assert data["model"]["architecture"] == "pix2pix_unet" and data["model"]["image_size"] == 32
    assert data["model"]["gflops_per_image"] > 0
    ran = {n: e for n, e in data["backends"].items() if e["status"] == "ok"}
    assert set(ran) == {"torch-fp32", "torch-amp", "ort-cpu"}
    assert data["backends"]["torch-amp"]["precision"] == "bf16"
    for name, entry in ran.items():
        assert [r["batch"] for r in entry["results"]] == [1, 4]
        for r in entry["results"]:
            assert 0 < r["latency_ms_p50"] <= r["latency_ms_p95"] <= r["latency_ms_p99"]
            assert r["images_per_s"] > 0 and r["achieved_tflops"] > 0 and r["peak_memory_mb"] > 0
            assert r["calls"] == 6
            # throughput is batch / median latency; the overall figure is batch / mean latency.
            assert r["images_per_s"] * r["latency_ms_p50"] / 1000 == pytest.approx(r["batch"], rel=1e-6)
            assert r["images_per_s_overall"] * r["latency_ms_mean"] / 1000 == pytest.approx(r["batch"], rel=1e-6)
            assert r["latency_ms_min"] <= r["latency_ms_p50"]


def test_speed_reports_unavailable_backends_as_skipped(speed_run):
    _, out = speed_run
    data = _load(out / "speed.json")
    for name in ("ort-cuda", "tensorrt"):
        assert data["backends"][name]["status"] == "skipped"
        assert data["backends"][name]["reason"]
    md = (out / "speed.md").read_text()
    assert "| torch-fp32 | fp32 | 1 |" in md and "`tensorrt`: skipped" in md


def test_speed_writes_plot(speed_run):
    _, out = speed_run
    png = (out / "speed.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_speed_interleaved_times_the_backends_in_turns(tiny_checkpoints, tmp_path):
    rc = main(["speed", "--checkpoint", str(tiny_checkpoints["rgb"]), "--batch", "2", "--interleave",
               "--backends", "ort-cpu,ort-cpu-int8,ort-cuda", "--warmup", "1", "--repeats", "4",
               "--out", str(tmp_path), *FAST])
    assert rc == 0
    data = _load(tmp_path / "speed.json")
    assert data["interleaved"] is True and data["settings"]["interleave"] is True
    assert data["backends"]["ort-cuda"]["status"] == "skipped"
    ran = {n: e for n, e in data["backends"].items() if e["status"] == "ok"}
    assert set(ran) == {"ort-cpu", "ort-cpu-int8"} and ran["ort-cpu-int8"]["precision"] == "int8"
    for entry in ran.values():
        (r,) = entry["results"]
        assert r["calls"] == 4 and r["images_per_s"] > 0 and r["peak_memory_mb"] is None  # one call per round
    md = (tmp_path / "speed.md").read_text()
    ratio = ran["ort-cpu-int8"]["results"][0]["images_per_s"] / ran["ort-cpu"]["results"][0]["images_per_s"]
    assert f"| 2 | ort-cpu-int8 ÷ ort-cpu | {ratio:.2f} |" in md


def test_latency_stats_percentiles_ordered():
    s = latency_stats([0.010, 0.011, 0.012, 0.050, 0.013], batch=8)
    assert s["latency_ms_p50"] <= s["latency_ms_p95"] <= s["latency_ms_p99"] <= 50.0 + 1e-9
    assert s["images_per_s_overall"] == pytest.approx(8 * 5 / 0.096)
    assert s["images_per_s"] == pytest.approx(8 / 0.012)


def test_files_mode(tiny_checkpoints, tmp_path):
    rc = main(["files", "--checkpoint", str(tiny_checkpoints["lab"]), "--images", "6", "--batch-size", "4",
               "--backends", "ort-cpu,torch-fp32,ort-cuda", "--out", str(tmp_path), *FAST])
    assert rc == 0
    data = _load(tmp_path / "files.json")
    for name in ("ort-cpu", "torch-fp32"):
        entry = data["backends"][name]
        assert entry["status"] == "ok" and entry["images"] == 6 and entry["failed"] == 0
        assert entry["images_per_s"] > 0
    assert data["backends"]["ort-cuda"]["status"] == "skipped"
    assert (tmp_path / "files.md").is_file()


def test_files_mode_on_large_pictures_reports_pixel_rates(tiny_checkpoints, tmp_path):
    rc = main(["files", "--checkpoint", str(tiny_checkpoints["lab"]), "--images", "2", "--image-size", "300x200",
               "--backends", "ort-cpu", "--out", str(tmp_path), *FAST])
    assert rc == 0
    data = _load(tmp_path / "files.json")
    entry = data["backends"]["ort-cpu"]
    assert "300x200" in data["settings"]["inputs"] and entry["images"] == 2
    assert entry["mpx_per_s"] == pytest.approx(2 * 300 * 200 / 1e6 / entry["wall_s"], rel=0.05)
    assert entry["tiles"] == 0 and entry["tiles_per_s"] == 0  # a colorizer sees whole pictures
    # argparse: usage line, exit 2, returned rather than raised (issue 15)
    assert main(["files", "--checkpoint", str(tiny_checkpoints["lab"]), "--image-size", "3x", *FAST]) == 2


def test_parity_passes_and_records_identical_outputs(tiny_checkpoints, tmp_path):
    rc = main(["parity", "--checkpoint", str(tiny_checkpoints["lab"]), "--images", "4", "--batch-size", "4",
               "--backends", "ort-cpu,ort-cpu-fp16,tensorrt", "--out", str(tmp_path), *FAST])
    assert rc == 0
    data = _load(tmp_path / "parity.json")
    ref = data["reference"]["vs_truth"]["rgb"]
    assert 0 < ref["ssim"] <= 1 and ref["psnr"] > 0 and -1 <= ref["color"] <= 1
    assert ref["ssim_damaged"] is None  # a colorize model sees clean input: no damaged region
    ort = data["backends"]["ort-cpu"]["roles"]["rgb"]
    assert ort["vs_reference"]["max_abs_diff"] <= 1
    if ort["vs_reference"]["identical"]:
        assert ort["vs_reference"]["psnr_db"] is None  # inf is written as null + identical
    else:
        assert ort["vs_reference"]["psnr_db"] >= 60
    fp16 = data["backends"]["ort-cpu-fp16"]
    assert fp16["precision"] == "fp16" and fp16["passed"]
    assert fp16["roles"]["rgb"]["vs_reference"]["psnr_db"] >= 45
    assert abs(fp16["roles"]["rgb"]["delta_vs_reference"]["ssim"]) <= 0.001
    assert data["backends"]["tensorrt"]["status"] == "skipped"
    assert "| ort-cpu | fp32 | rgb |" in (tmp_path / "parity.md").read_text()


class _Corrupt:
    """Wraps a backend and adds noise to every output: parity must fail it."""

    def __init__(self, inner):
        self.inner = inner
        self.rng = np.random.default_rng(0)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def run(self, gray):
        return {role: np.clip(v.astype(np.int16) + self.rng.integers(-40, 41, v.shape), 0, 255).astype(np.uint8)
                for role, v in self.inner.run(gray).items()}


def test_parity_fails_a_corrupted_backend(tiny_checkpoints, tmp_path, monkeypatch):
    ort = bench_backends.BACKENDS["ort-cpu"]
    corrupt = bench_backends.BackendSpec("corrupt", ort.precision, lambda m: _Corrupt(ort.open(m)), "cpu")
    monkeypatch.setitem(bench_backends.BACKENDS, "corrupt", corrupt)
    rc = main(["parity", "--checkpoint", str(tiny_checkpoints["rgb"]), "--images", "3",
               "--backends", "ort-cpu,corrupt", "--out", str(tmp_path), *FAST])
    assert rc == 1
    data = _load(tmp_path / "parity.json")
    assert data["backends"]["ort-cpu"]["passed"]
    bad = data["backends"]["corrupt"]
    assert not bad["passed"] and bad["problems"]
    assert bad["roles"]["rgb"]["vs_reference"]["psnr_db"] < 60
    assert "**FAIL**" in (tmp_path / "parity.md").read_text()


def test_train_speed(tmp_path):
    rc = main(["train-speed", "--models", "pix2pix", "--image-size", "32", "--batch", "2", "--ngf", "8",
               "--steps", "2", "--warmup", "1", "--amp", "fp32,bf16", "--channels-last", "off,on",
               "--device", "cpu", "--out", str(tmp_path), "--threads", "1"])
    assert rc == 0
    data = _load(tmp_path / "train_speed.json")
    rows = data["models"]["pix2pix"]["results"]
    assert [r["config"] for r in rows] == ["fp32", "fp32+channels_last", "bf16", "bf16+channels_last"]
    for r in rows:
        assert r["status"] == "ok" and r["images_per_s"] > 0 and r["step_ms_p50"] > 0 and r["steps"] == 2
        assert r["achieved_tflops"] > 0 and r["speedup_vs_fp32"] > 0
    assert rows[0]["speedup_vs_fp32"] == pytest.approx(1.0)
    assert rows[2]["precision_mode"] == "bf16"
    assert data["models"]["pix2pix"]["flops_per_image"] > 0
    assert (tmp_path / "train_speed.png").read_bytes()[:4] == b"\x89PNG"
    assert "fp32+channels_last" in (tmp_path / "train_speed.md").read_text()


def test_user_errors_exit_2(tmp_path, capsys):
    assert main(["speed", "--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["train-speed", "--models", "nope", "--device", "cpu", "--out", str(tmp_path)]) == 2
    assert main(["train-speed", "--amp", "fp16", "--device", "cpu", "--out", str(tmp_path)]) == 2


def test_unknown_backend_is_a_user_error(tiny_checkpoints, tmp_path, capsys):
    assert main(["speed", "--checkpoint", str(tiny_checkpoints["rgb"]), "--backends", "torch-fp32,warp-drive",
                 "--out", str(tmp_path)]) == 2
    assert "warp-drive" in capsys.readouterr().err


def test_summary_collects_machines(tmp_path, speed_run):
    _, out = speed_run
    root = tmp_path / "results"
    (root / "cpu-test").mkdir(parents=True)
    for f in out.iterdir():
        (root / "cpu-test" / f.name).write_bytes(f.read_bytes())
    (root / "cpu-test" / "NOTES.md").write_text("Noisy shared machine.\n")
    assert main(["summary", "--root", str(root), "--output", str(tmp_path / "RESULTS.md")]) == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert "## cpu-test" in text and "Noisy shared machine." in text and "### Inference speed" in text
    assert "results/cpu-test/speed.png" in text


def test_json_safe_and_slug():
    assert json_safe({"a": math.inf, "b": [math.nan, 1.5]}) == {"a": None, "b": [None, 1.5]}
    assert machine_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert machine_slug("").startswith("cpu-")


def test_write_results_names_files_by_benchmark_and_tag(tmp_path):
    plotted = []
    data = write_results("toy_bench", "revive-bench toy", {"value": math.nan}, lambda d: f"# {d['benchmark']}\n",
                         out=tmp_path, tag="t1", plot=lambda d, path: plotted.append(path))
    written = _load(tmp_path / "toy_bench-t1.json")
    assert written["benchmark"] == data["benchmark"] == "toy_bench" and written["command"] == "revive-bench toy"
    assert written["value"] is None  # JSON-safe
    assert (tmp_path / "toy_bench-t1.md").read_text() == "# toy_bench\n"
    assert plotted == [tmp_path / "toy_bench-t1.png"]
    write_results("toy_bench", "c", {}, lambda d: "", out=tmp_path)
    assert (tmp_path / "toy_bench.json").is_file() and not (tmp_path / "toy_bench.png").exists()


def test_serve_windows_are_stable_when_the_last_three_agree():
    from revive.benchmarks.serve_bench import stable_windows

    assert not stable_windows([10.0, 10.0], 0.10)  # fewer than three windows
    assert stable_windows([3.0, 10.0, 10.5, 9.6], 0.10)  # only the last three count
    assert not stable_windows([10.0, 10.0, 12.5], 0.10)
    assert not stable_windows([0.0, 0.0, 0.0], 0.10)
