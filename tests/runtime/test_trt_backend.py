"""The TensorRT backend and its CUDA memory layer, on CPU with fakes (real runs need a GPU)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from types import SimpleNamespace

import numpy as np
import pytest

import trt_fakes
from revive.runtime.backends import BackendError, open_backend, tensorrt_engine
from revive.runtime.backends.cuda_memory import CudaError, CudaPythonMemory
from revive.runtime.card import card_path_for_engine, read_card, write_card_json

BUILD = {"backend": "tensorrt", "tensorrt_version": "10.13.0", "gpu_name": "NVIDIA L4", "compute_capability": "8.9",
         "source": "tiny_lab.pt"}


def _engine(tmp_path, tiny_onnx, *, batch=(1, 4, 8), io_dtype="uint8", name="m.engine"):
    """A fake plan the fake runtime deserializes, and the card beside it."""
    card = read_card(tiny_onnx["lab_fp16"])
    card = card.replace(batch=dict(zip(("min", "opt", "max"), batch)), build=BUILD)
    s = card.image_size
    meta = {"version": "10.13.0", "profile": [[b, 1, s, s] for b in batch],
            "io": {"gray": ["input", io_dtype, [1, s, s]], "rgb": ["output", io_dtype, [3, s, s]]}}
    path = tmp_path / name
    path.write_bytes(trt_fakes.MAGIC + json.dumps(meta).encode())
    write_card_json(card, card_path_for_engine(path))
    return path


@pytest.fixture
def fake_runtime(monkeypatch):
    trt = trt_fakes.make_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    memory = trt_fakes.FakeMemory()
    monkeypatch.setattr(tensorrt_engine, "open_cuda_memory", lambda: memory)
    return SimpleNamespace(trt=trt, memory=memory)


def _gray(n, s=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 1, s, s), dtype=np.uint8)


def test_missing_tensorrt_names_the_package(tmp_path, tiny_onnx, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setitem(sys.modules, "tensorrt_rtx", None)
    with pytest.raises(BackendError, match=r"TensorRT is not installed: pip install tensorrt.*\.fp16\.onnx"):
        open_backend(_engine(tmp_path, tiny_onnx))


def test_missing_cuda_python_names_the_package(tmp_path, tiny_onnx, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", trt_fakes.make_tensorrt())
    for module in ("cuda", "cuda.bindings", "pycuda", "pycuda.driver"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(BackendError, match="pip install cuda-python"):
        open_backend(_engine(tmp_path, tiny_onnx))


def test_an_engine_without_card_is_refused(tmp_path, tiny_onnx, fake_runtime):
    path = _engine(tmp_path, tiny_onnx)
    card_path_for_engine(path).unlink()
    with pytest.raises(BackendError, match="no model card"):
        open_backend(path)


def test_runs_batches_through_bound_buffers(tmp_path, tiny_onnx, fake_runtime):
    with open_backend(_engine(tmp_path, tiny_onnx)) as backend:
        assert backend.providers == ["TensorRT 10.13.0"]
        assert len(fake_runtime.trt.state.contexts) == 2  # two execution slots
        for n in (1, 3, 8, 19):  # 19 > max: slices of 8
            gray = _gray(n, seed=n)
            out = backend.run(gray)
            assert list(out) == ["rgb"] and out["rgb"].dtype == np.uint8
            np.testing.assert_array_equal(out["rgb"], np.repeat(gray, 3, axis=1))
    assert sum(1 for f in fake_runtime.memory.freed if f[0] == "device") == 2 * 2  # input + output per slot


def test_batches_from_several_threads_stay_apart(tmp_path, tiny_onnx, fake_runtime):
    backend = open_backend(_engine(tmp_path, tiny_onnx))
    errors = []

    def worker(seed):
        try:
            for i in range(10):
                gray = _gray(1 + (seed + i) % 8, seed=seed * 100 + i)
                np.testing.assert_array_equal(backend.run(gray)["rgb"], np.repeat(gray, 3, axis=1))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    backend.close()
    assert not errors


def test_batches_below_the_profile_minimum_are_padded(tmp_path, tiny_onnx, fake_runtime):
    with open_backend(_engine(tmp_path, tiny_onnx, batch=(4, 4, 8))) as backend:
        gray = _gray(1)
        out = backend.run(gray)["rgb"]
        assert out.shape == (1, 3, 32, 32)
        np.testing.assert_array_equal(out, np.repeat(gray, 3, axis=1))


@pytest.mark.parametrize("module", ["tensorrt_rtx", "tensorrt_rtx_bindings"])
def test_tensorrt_rtx_is_accepted(tmp_path, tiny_onnx, monkeypatch, module):
    # tensorrt_rtx comes with the tensorrt-rtx-cu13 package; tensorrt_rtx_bindings is all the
    # tensorrt-rtx-cu13-bindings wheel installs (its top_level.txt, version 1.7.1.116).
    for name in ("tensorrt", "tensorrt_rtx", "tensorrt_rtx_bindings"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, module, trt_fakes.make_tensorrt("1.7.1.116", name=module))
    monkeypatch.setattr(tensorrt_engine, "open_cuda_memory", trt_fakes.FakeMemory)
    with open_backend(_engine(tmp_path, tiny_onnx)) as backend:
        assert backend.providers == ["TensorRT-RTX 1.7.1.116"]
        gray = _gray(2)
        np.testing.assert_array_equal(backend.run(gray)["rgb"], np.repeat(gray, 3, axis=1))


def test_an_engine_built_by_tensorrt_rtx_is_named_so_when_it_cannot_load(tmp_path, tiny_onnx, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", trt_fakes.make_tensorrt("10.13.0", deserialize_fails=True))
    monkeypatch.setattr(tensorrt_engine, "open_cuda_memory", trt_fakes.FakeMemory)
    path = _engine(tmp_path, tiny_onnx)
    card = read_card(path)
    write_card_json(card.replace(build={**card.build, "tensorrt_version": "1.7.1.116",
                                        "tensorrt_module": "tensorrt_rtx_bindings"}), card_path_for_engine(path))
    with pytest.raises(BackendError, match=r"TensorRT 10\.13\.0 could not deserialize.*built by TensorRT-RTX "
                                           r"1\.7\.1\.116 for NVIDIA L4"):
        open_backend(path)


def test_an_engine_from_another_tensorrt_says_how_to_rebuild(tmp_path, tiny_onnx, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", trt_fakes.make_tensorrt("11.1.0", deserialize_fails=True))
    monkeypatch.setattr(tensorrt_engine, "open_cuda_memory", trt_fakes.FakeMemory)
    path = _engine(tmp_path, tiny_onnx)
    with pytest.raises(BackendError) as exc:
        open_backend(path)
    text = str(exc.value)
    for needle in ("built by TensorRT 10.13.0", "NVIDIA L4", "8.9", "TensorRT 11.1.0 on Fake GPU",
                   f"python export/to_trt.py tiny_lab.pt -o {path} --force"):
        assert needle in text


def test_an_engine_whose_tensors_differ_from_its_card_is_refused(tmp_path, tiny_onnx, fake_runtime):
    with pytest.raises(BackendError, match="is float16, the card says uint8"):
        open_backend(_engine(tmp_path, tiny_onnx, io_dtype="float16"))


def test_a_profile_narrower_than_the_card_is_refused(tmp_path, tiny_onnx, fake_runtime):
    path = _engine(tmp_path, tiny_onnx)
    card = read_card(path)
    write_card_json(card.replace(batch={"min": 1, "opt": 8, "max": 16}), card_path_for_engine(path))
    with pytest.raises(BackendError, match="profile covers batch 1..8"):
        open_backend(path)


class _FakeCudart:
    """cuda-python's calling convention: every call returns (err, *results)."""

    cudaError_t = SimpleNamespace(cudaSuccess=0, cudaErrorMemoryAllocation=2)
    cudaMemcpyKind = SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)

    def __init__(self, devices=1, fail_malloc=False):
        self.devices, self.fail_malloc = devices, fail_malloc

    def cudaGetDeviceCount(self):
        return (0, self.devices)

    def cudaSetDevice(self, device):
        return (0,)

    def cudaGetErrorString(self, err):
        return (0, b"out of memory")

    def cudaGetDeviceProperties(self, device):
        return (0, SimpleNamespace(name=b"NVIDIA H100\x00\x00", major=9, minor=0))

    def cudaMalloc(self, n):
        return (2, None) if self.fail_malloc else (0, 0xABC)


def test_cuda_python_results_are_checked():
    memory = CudaPythonMemory(_FakeCudart())
    assert str(memory.device_info()) == "NVIDIA H100 (compute capability 9.0)"
    assert memory.device_alloc(16) == (0xABC, 0xABC)
    with pytest.raises(CudaError, match="cudaMalloc failed: out of memory"):
        CudaPythonMemory(_FakeCudart(fail_malloc=True)).device_alloc(16)
    with pytest.raises(CudaError, match="no CUDA GPU"):
        CudaPythonMemory(_FakeCudart(devices=0))


def test_importing_the_backend_loads_neither_tensorrt_nor_cuda():
    code = ("import sys, revive.runtime.backends.tensorrt_engine, revive.runtime.backends.cuda_memory; "
            "print(sorted(m for m in ('tensorrt', 'tensorrt_rtx', 'cuda', 'pycuda', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

