"""`pip install revive` is the runtime alone: a fresh venv runs runtime-infer without torch.

Marker ``fresh_venv``: this test makes a new virtual environment, installs a
copy of this source tree into it with ``pip install .`` and nothing else (PyPI
or a warm pip cache must be reachable; about a minute), checks that torch,
onnx and scikit-image are absent there, and runs that venv's ``runtime-infer``
on an ONNX model exported by the test venv. It is part of ``make test``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.fresh_venv

REPO = Path(__file__).resolve().parents[1]
# Not part of the source: local environments, build outputs, caches, exported models.
_NOT_SOURCE = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "demo", "runs", "__pycache__",
                                     ".pytest_cache", "*.onnx", "*.engine", "*.plan", "*.pt", ".whl")
_ABSENT = ("torch", "torchvision", "onnx", "skimage", "segmentation_models_pytorch", "timm", "matplotlib")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900, **kwargs)
    assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    """A new venv holding ``pip install .`` of a copy of this tree (the copy keeps build files out of it)."""
    root = tmp_path_factory.mktemp("fresh")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", str(source)])
    return env_dir


def test_base_install_has_no_torch(runtime_venv):
    code = ("import importlib.util, json\n"
            f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {_ABSENT!r}}}))\n")
    found = _run([str(runtime_venv / "bin" / "python"), "-c", code]).stdout
    present = [name for name, there in json.loads(found).items() if there]
    assert present == [], f"pip install . pulled {present}"
    freeze = _run([str(runtime_venv / "bin" / "python"), "-m", "pip", "freeze"]).stdout.lower()
    assert "onnxruntime==" in freeze and "numpy==" in freeze


def test_runtime_infer_runs_an_exported_model(runtime_venv, tiny_onnx, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for i, size in enumerate([(40, 30), (32, 32), (64, 48)]):
        Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8)).save(inputs / f"p{i}.png")
    out = tmp_path / "out"
    _run([str(runtime_venv / "bin" / "runtime-infer"), "--engine", str(tiny_onnx["lab"]), str(inputs),
          "-o", str(out), "--no-progress"])
    for i, size in enumerate([(40, 30), (32, 32), (64, 48)]):
        with Image.open(out / f"p{i}.png") as im:
            assert im.mode == "RGB" and im.size == size
