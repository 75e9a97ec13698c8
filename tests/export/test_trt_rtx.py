"""export/to_trt.py with TensorRT-RTX in place of TensorRT, on CPU with the fake module (tests/trt_fakes.py).

What is pinned here was read off the real tensorrt-rtx-cu13 1.7.1.116 wheels on this CPU machine
(benchmarks/results/cpu-2core/gpu_wheels.md): the bindings wheel alone installs the module
``tensorrt_rtx_bindings`` (the ``tensorrt_rtx`` name comes with the tensorrt-rtx-cu13 meta package); versions
start at 1.x;
``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` is 0 and there is no ``BuilderFlag.FP16``, as in TensorRT 11;
the timing cache is deprecated there and changes nothing in the engine. Whether the engine runs on a given
GPU is for the GPU suite (benchmarks/gpu_suite.sh, step tensorrt-rtx).
"""

from __future__ import annotations

import logging
import sys

import pytest

import trt_fakes
from revive.export import to_trt, trt_network
from revive.runtime.backends.cuda_memory import DeviceInfo
from revive.runtime.card import ModelCard, card_path_for_engine

RTX_VERSION = "1.7.1.116"


@pytest.fixture
def fake_rtx(monkeypatch):
    """TensorRT-RTX as its bindings wheel installs it, and no TensorRT."""
    for name in ("tensorrt", "tensorrt_rtx"):
        monkeypatch.setitem(sys.modules, name, None)
    trt = trt_fakes.make_tensorrt(RTX_VERSION, name="tensorrt_rtx_bindings")
    monkeypatch.setitem(sys.modules, "tensorrt_rtx_bindings", trt)
    monkeypatch.setattr(trt_network, "current_gpu", lambda: DeviceInfo("Fake GPU", 8, 9))
    return trt


def test_tensorrt_rtx_is_taken_as_a_strongly_typed_only_version(fake_rtx):
    trt, major = trt_network.load_tensorrt()
    assert trt is fake_rtx and major == 11  # not refused as "TensorRT 1.7 is too old"
    assert trt_network.network_flags(trt) == 1  # STRONGLY_TYPED is 0 there, as in TensorRT 11


def test_builds_an_engine_without_a_timing_cache(tiny_onnx, tmp_path, fake_rtx, capsys, caplog):
    engine, cache = tmp_path / "x.engine", tmp_path / "timing.cache"
    with caplog.at_level(logging.INFO, logger="revive.export"):
        code = to_trt.main([str(tiny_onnx["lab"]), "-o", str(engine), "--max-batch", "8", "--opt-batch", "4",
                            "--timing-cache", str(cache)])
    assert code == 0, capsys.readouterr().err
    (network,), (config,) = fake_rtx.state.networks, fake_rtx.state.configs
    assert network.flags == 1 and config.flags == []  # strongly typed, never BuilderFlag.FP16
    assert config.cache is None and not cache.exists()  # no timing cache asked for, none written
    assert f"TensorRT-RTX keeps no timing cache: --timing-cache {cache} is not used" in caplog.text
    assert config.profiles[0].shapes == {"gray": ((1, 1, 32, 32), (4, 1, 32, 32), (8, 1, 32, 32))}
    assert engine.read_bytes().startswith(trt_fakes.MAGIC)
    card = ModelCard.from_json(card_path_for_engine(engine).read_text())
    assert card.build["tensorrt_module"] == "tensorrt_rtx_bindings"
    assert card.build["tensorrt_version"] == RTX_VERSION and card.producer["tensorrt"] == RTX_VERSION
    assert card.precision == "fp16"


def test_the_engine_it_builds_runs_in_the_runtime(tiny_onnx, tmp_path, fake_rtx, monkeypatch):
    import numpy as np

    from revive.runtime.backends import open_backend, tensorrt_engine

    engine = tmp_path / "x.engine"
    assert to_trt.main([str(tiny_onnx["lab"]), "-o", str(engine), "--max-batch", "8"]) == 0
    monkeypatch.setattr(tensorrt_engine, "open_cuda_memory", trt_fakes.FakeMemory)
    gray = np.random.default_rng(0).integers(0, 256, (3, 1, 32, 32), dtype=np.uint8)
    with open_backend(engine) as backend:
        assert backend.providers == [f"TensorRT-RTX {RTX_VERSION}"]
        np.testing.assert_array_equal(backend.run(gray)["rgb"], np.repeat(gray, 3, axis=1))
