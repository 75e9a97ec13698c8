"""What the CPU can reach of the runtime's GPU paths: ONNX Runtime's CUDA provider, its IOBinding, --device cuda.

The CUDA provider is played by ``cuda_twin``: the real onnxruntime, whose CPU provider runs the sessions a
"CUDA" provider was asked for, with IOBinding's "cuda" device mapped to ONNX Runtime's real "cpu" device.
So the backend's binding code (OrtValue in, outputs bound by name, run_with_iobinding, copy back) runs through
ONNX Runtime's own IOBinding, and its outputs must equal a plain CPU run exactly. ``libraries_load=False`` plays
what onnxruntime-gpu 1.31.1 does on a machine where its CUDA libraries cannot load (seen on this CPU machine):
it lists CUDAExecutionProvider, logs "libcublasLt.so.13: cannot open shared object file", and the session runs
on the CPU provider alone. Nothing here proves a CUDA kernel runs: that needs a GPU (benchmarks/gpu_suite.sh).
"""

from __future__ import annotations

import logging
import sys
import types

import numpy as np
import onnxruntime as real_ort
import pytest

from revive.runtime.backends import BackendError
from revive.runtime.backends.ort import OrtBackend
from revive.runtime.cli import main as infer_main

from .helpers import smooth


def cuda_twin(*, libraries_load: bool = True) -> types.ModuleType:
    """An ``onnxruntime`` module whose CUDA provider is the real CPU provider; ``calls`` records the bindings."""
    twin = types.ModuleType("onnxruntime")
    twin.__version__ = real_ort.__version__
    twin.SessionOptions, twin.GraphOptimizationLevel = real_ort.SessionOptions, real_ort.GraphOptimizationLevel
    twin.get_available_providers = lambda: ["CUDAExecutionProvider", *real_ort.get_available_providers()]
    calls: list[tuple] = []
    twin.calls = calls

    class OrtValue:
        @staticmethod
        def ortvalue_from_numpy(array, device, device_id):
            calls.append(("input", device, device_id, array.dtype.name, array.shape, array.flags.c_contiguous))
            return real_ort.OrtValue.ortvalue_from_numpy(array, "cpu", 0)

    class IOBinding:
        def __init__(self, binding) -> None:
            self.binding = binding

        def bind_ortvalue_input(self, name, value):
            self.binding.bind_ortvalue_input(name, value)

        def bind_output(self, name, device):
            calls.append(("output", name, device))
            self.binding.bind_output(name, "cpu")

        def copy_outputs_to_cpu(self):
            return self.binding.copy_outputs_to_cpu()

    class InferenceSession:
        def __init__(self, path, options=None, providers=()) -> None:
            names = [p[0] if isinstance(p, tuple) else p for p in providers]
            calls.append(("providers", tuple(providers)))
            self._session = real_ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            on_cuda = libraries_load and "CUDAExecutionProvider" in names
            self._providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if on_cuda else ["CPUExecutionProvider"]
            self.fallback = True

        def get_providers(self):
            return list(self._providers)

        def get_inputs(self):
            return self._session.get_inputs()

        def get_outputs(self):
            return self._session.get_outputs()

        def disable_fallback(self):
            self.fallback = False

        def io_binding(self):
            return IOBinding(self._session.io_binding())

        def run_with_iobinding(self, io):
            calls.append(("run_with_iobinding",))
            self._session.run_with_iobinding(io.binding)

        def run(self, names, feed):
            calls.append(("run",))
            return self._session.run(names, feed)

    twin.OrtValue, twin.InferenceSession = OrtValue, InferenceSession
    return twin


def _gray(n, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 1, size, size), dtype=np.uint8)


def test_cuda_sessions_run_through_iobinding_with_uint8_in_and_out(tiny_onnx, monkeypatch):
    gray = _gray(3)
    with OrtBackend(tiny_onnx["lab_fp16"], device="cpu") as cpu:
        expected = cpu.run(gray)
    twin = cuda_twin()
    monkeypatch.setitem(sys.modules, "onnxruntime", twin)
    with OrtBackend(tiny_onnx["lab_fp16"], device="cuda") as backend:
        assert backend.providers[0] == "CUDAExecutionProvider"
        assert backend.session.fallback is False  # --device cuda: no silent rerun on the CPU
        twin.calls.clear()
        out = backend.run(gray)
    assert list(out) == list(expected) == ["rgb"]
    assert out["rgb"].dtype == np.uint8
    np.testing.assert_array_equal(out["rgb"], expected["rgb"])
    assert twin.calls == [("input", "cuda", 0, "uint8", (3, 1, 32, 32), True), ("output", "rgb", "cuda"),
                          ("run_with_iobinding",)]


def test_cuda_provider_options(tiny_onnx, monkeypatch):
    twin = cuda_twin()
    monkeypatch.setitem(sys.modules, "onnxruntime", twin)
    OrtBackend(tiny_onnx["lab"], device="auto").close()
    (_, providers), = [c for c in twin.calls if c[0] == "providers"]
    assert providers == (("CUDAExecutionProvider", {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"}),
                         "CPUExecutionProvider")


def test_batches_past_the_card_maximum_are_bound_in_slices(tiny_onnx, monkeypatch):
    twin = cuda_twin()
    monkeypatch.setitem(sys.modules, "onnxruntime", twin)
    gray = _gray(11, seed=3)  # the tiny models are built for batch 1..8
    with OrtBackend(tiny_onnx["rgb"], device="cuda") as backend:
        twin.calls.clear()
        out = backend.run(gray)["rgb"]
    inputs = [c for c in twin.calls if c[0] == "input"]
    assert [c[4][0] for c in inputs] == [8, 3]
    with OrtBackend(tiny_onnx["rgb"], device="cpu") as cpu:
        np.testing.assert_array_equal(out, cpu.run(gray)["rgb"])


def test_device_cuda_refuses_a_session_that_fell_back_to_the_cpu(tiny_onnx, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", cuda_twin(libraries_load=False))
    with pytest.raises(BackendError, match=r"--device cuda: ONNX Runtime could not start its CUDA provider") as exc:
        OrtBackend(tiny_onnx["lab_fp16"], device="cuda")
    assert "\n" not in str(exc.value) and "LD_LIBRARY_PATH" in str(exc.value)


def test_device_auto_runs_on_the_cpu_and_says_so(tiny_onnx, monkeypatch, caplog):
    twin = cuda_twin(libraries_load=False)
    monkeypatch.setitem(sys.modules, "onnxruntime", twin)
    gray = _gray(2, seed=5)
    with caplog.at_level(logging.WARNING, logger="revive.runtime.backends.ort"):
        with OrtBackend(tiny_onnx["lab_fp16"], device="auto") as backend:
            twin.calls.clear()
            out = backend.run(gray)
            assert backend.providers == ["CPUExecutionProvider"]
    assert twin.calls == [("run",)]
    assert "could not start its CUDA provider" in caplog.text and "running on the CPU" in caplog.text
    monkeypatch.undo()
    with OrtBackend(tiny_onnx["lab_fp16"], device="cpu") as cpu:
        np.testing.assert_array_equal(out["rgb"], cpu.run(gray)["rgb"])


def _folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(smooth(40, 50, seed=1)).save(folder / "a.png")
    return folder


def test_runtime_infer_device_cuda_without_a_cuda_provider_is_one_line(tiny_onnx, tmp_path, capsys):
    assert "CUDAExecutionProvider" not in real_ort.get_available_providers()  # the CPU build, as in CI
    code = infer_main(["--engine", str(tiny_onnx["lab"]), str(_folder(tmp_path)), "-o", str(tmp_path / "out"),
                       "--device", "cuda", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("runtime-infer: --device cuda: this onnxruntime has no CUDAExecutionProvider")
    assert "install onnxruntime-gpu" in err
    assert not (tmp_path / "out").exists()


def test_runtime_infer_device_cuda_whose_provider_cannot_start_is_one_line(tiny_onnx, tmp_path, capsys,
                                                                            monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", cuda_twin(libraries_load=False))
    code = infer_main(["--engine", str(tiny_onnx["lab"]), str(_folder(tmp_path)), "-o", str(tmp_path / "out"),
                       "--device", "cuda", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "tiny_lab.onnx: --device cuda: ONNX Runtime could not start its CUDA provider" in err
    assert not (tmp_path / "out").exists()
