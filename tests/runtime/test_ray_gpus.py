"""--ray-gpus-per-worker planning on a local Ray that declares two GPUs (Ray schedules by the count it is told).

The model actors are placed on those GPU slots by Ray itself; the models are ONNX on the CPU provider, so this
proves the plan (workers, GPUs each, refusals) and that GPU-reserving actors run the batches, not CUDA.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from revive.runtime.cli import main

from .helpers import smooth

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'revive[ray]'")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module", autouse=True)
def ray_with_two_gpus():
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    for i in range(6):
        Image.fromarray(smooth(40, 48, seed=i)).save(root / f"img_{i}.png")
    return root


def _run(tiny_onnx, folder, tmp_path, *flags) -> tuple[int, dict]:
    summary = tmp_path / "summary.json"
    code = main(["--engine", str(tiny_onnx["rgb"]), str(folder), "-o", str(tmp_path / "out"), "--ray", "auto",
                 "--batch-size", "2", "--summary", str(summary), "--no-progress", *flags])
    return code, json.loads(summary.read_text())["settings"] if summary.exists() else {}


@pytest.mark.parametrize("flags, workers, per_worker", [
    ([], 2, 1.0),  # default on a GPU cluster: one model actor per GPU
    (["--ray-gpus-per-worker", "0.5"], 4, 0.5),  # two actors share each GPU
    (["--ray-gpus-per-worker", "1", "--ray-workers", "1"], 1, 1.0),
])
def test_model_actors_are_planned_from_the_clusters_gpus(tiny_onnx, folder, tmp_path, flags, workers, per_worker):
    code, settings = _run(tiny_onnx, folder, tmp_path, *flags)
    assert code == 0
    assert settings["cluster"] == {"CPU": 2.0, "GPU": 2.0}
    assert (settings["ray_workers"], settings["ray_gpus_per_worker"]) == (workers, per_worker)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [f"img_{i}.png" for i in range(6)]


def test_more_gpus_per_worker_than_the_cluster_has_is_one_line(tiny_onnx, folder, tmp_path, capsys):
    code, _ = _run(tiny_onnx, folder, tmp_path, "--ray-gpus-per-worker", "3")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().endswith("--ray-gpus-per-worker 3: the cluster has 2 GPU(s)")
    assert not list((tmp_path / "out").glob("*.png"))
