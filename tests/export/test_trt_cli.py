"""export/to_trt.py end to end on CPU: without TensorRT, and with a fake ``tensorrt`` module.

Real TensorRT cannot run here; the fake (tests/trt_fakes.py) follows the API notes in
TENSORRT.md, so these tests pin down which calls are made, with what, and how every
failure is reported. A GPU run is still needed to prove the engine itself.
"""

from __future__ import annotations

import json
import shutil
import sys

import pytest

import trt_fakes
from revive.export import to_trt, trt_network
from revive.runtime.backends.cuda_memory import DeviceInfo
from revive.runtime.card import ModelCard, card_path_for_engine


@pytest.fixture
def no_tensorrt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setattr(trt_network, "current_gpu", lambda: DeviceInfo("Fake GPU", 8, 9))


def _install(monkeypatch, **kwargs):
    trt = trt_fakes.make_tensorrt(**kwargs)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    return trt


def _run(capsys, *argv):
    code = to_trt.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_without_tensorrt_writes_the_onnx_models_and_says_what_to_install(tiny_checkpoints, tmp_path, capsys,
                                                                          no_tensorrt):
    ckpt = shutil.copy(tiny_checkpoints["lab"], tmp_path / "m.pt")
    code, err = _run(capsys, ckpt, "--max-batch", 4)
    assert code == 2
    assert "TensorRT is not installed" in err and "pip install tensorrt" in err and ">= 10.12" in err
    assert f"runtime-infer --engine {tmp_path / 'm.fp16.onnx'}" in err
    assert (tmp_path / "m.onnx").is_file() and (tmp_path / "m.fp16.onnx").is_file()
    assert not (tmp_path / "m.engine").exists()


def test_without_tensorrt_an_fp16_onnx_is_used_as_is(tiny_onnx, tmp_path, capsys, no_tensorrt):
    code, err = _run(capsys, tiny_onnx["lab_fp16"], "-o", tmp_path / "x.engine", "--max-batch", 8)
    assert code == 2 and f"--engine {tiny_onnx['lab_fp16']}" in err
    assert not (tmp_path / "x.fp16.onnx").exists()


@pytest.mark.parametrize("version", ["10.13.0", "11.1.0"])
def test_builds_strongly_typed_from_the_fp16_onnx(tiny_onnx, tmp_path, capsys, monkeypatch, fake_gpu, version):
    trt = _install(monkeypatch, version=version)
    engine, cache = tmp_path / "x.engine", tmp_path / "timing.cache"
    cache.write_bytes(b"old")
    code, err = _run(capsys, tiny_onnx["lab"], "-o", engine, "--min-batch", 2, "--opt-batch", 4, "--max-batch", 8,
                     "--workspace", "1GiB", "--opt-level", 4, "--timing-cache", cache)
    assert code == 0, err
    (network,), (config,) = trt.state.networks, trt.state.configs
    assert network.flags == 1 << (1 if version.startswith("10") else 0)  # STRONGLY_TYPED, by name
    assert config.flags == []  # never BuilderFlag.FP16
    assert config.pools == {trt.MemoryPoolType.WORKSPACE: 1 << 30}
    assert config.builder_optimization_level == 4
    assert config.profiles[0].shapes == {"gray": ((2, 1, 32, 32), (4, 1, 32, 32), (8, 1, 32, 32))}
    assert cache.read_bytes() == b"old+"  # read, then saved after the build
    assert engine.read_bytes().startswith(trt_fakes.MAGIC)
    assert (tmp_path / "x.fp16.onnx").is_file()
    card = ModelCard.from_json(card_path_for_engine(engine).read_text())
    assert card.precision == "fp16" and card.batch == {"min": 2, "opt": 4, "max": 8}
    build = card.build
    assert build["tensorrt_version"] == version and build["gpu_name"] == "Fake GPU"
    assert build["compute_capability"] == "8.9" and build["precision_built"] == "fp16"
    assert build["io_dtypes"] == {"gray": "uint8", "rgb": "uint8"}
    assert build["layer_dtypes"] == {"half": 1, "float": 1}
    assert build["network_dtypes"] == {"uint8": 2, "float": 2, "half": 1}
    assert len(build["onnx_sha256"]) == 64 and build["profile"] == card.batch and build["opt_level"] == 4


def test_a_matching_engine_is_reused_and_force_rebuilds(tiny_onnx, tmp_path, capsys, monkeypatch, fake_gpu):
    trt = _install(monkeypatch)
    argv = [tiny_onnx["lab"], "-o", tmp_path / "x.engine", "--max-batch", 8]
    assert _run(capsys, *argv)[0] == 0 and trt.state.builds == 1
    assert _run(capsys, *argv)[0] == 0 and trt.state.builds == 1
    assert _run(capsys, *argv, "--opt-level", 2)[0] == 0 and trt.state.builds == 2  # other key
    assert _run(capsys, *argv, "--opt-level", 2, "--force")[0] == 0 and trt.state.builds == 3


def test_parser_errors_are_reported_with_node_and_operator(tiny_onnx, tmp_path, capsys, monkeypatch, fake_gpu):
    _install(monkeypatch, parse_errors=[("node_Pow_3", "Pow", "unsupported datatype"),
                                        ("node_Where_7", "Where", "bad condition")])
    code, err = _run(capsys, tiny_onnx["lab"], "-o", tmp_path / "x.engine", "--max-batch", 8)
    assert code == 2
    assert "node 'node_Pow_3' (Pow): unsupported datatype" in err
    assert "node 'node_Where_7' (Where): bad condition" in err
    assert not (tmp_path / "x.engine").exists()


def test_a_build_that_returns_nothing_is_a_clear_error(tiny_onnx, tmp_path, capsys, monkeypatch, fake_gpu):
    _install(monkeypatch, build_fails=True)
    code, err = _run(capsys, tiny_onnx["lab"], "-o", tmp_path / "x.engine", "--max-batch", 8)
    assert code == 2 and "build_serialized_network returned nothing" in err and "--workspace" in err


def test_an_old_tensorrt_is_refused(tiny_onnx, tmp_path, capsys, monkeypatch, fake_gpu):
    _install(monkeypatch, version="10.8.0")
    code, err = _run(capsys, tiny_onnx["lab"], "-o", tmp_path / "x.engine", "--max-batch", 8)
    assert code == 2 and "TensorRT 10.8.0 is too old" in err


def test_no_gpu_is_a_clear_error(tiny_onnx, tmp_path, capsys, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: the no-GPU message cannot be provoked")
    _install(monkeypatch)
    code, err = _run(capsys, tiny_onnx["lab"], "-o", tmp_path / "x.engine", "--max-batch", 8)
    assert code == 2 and "no CUDA GPU" in err


@pytest.mark.parametrize("wrong", [False, True])
def test_verify_compares_with_onnxruntime_and_pytorch(tiny_checkpoints, tmp_path, capsys, monkeypatch, fake_gpu,
                                                      caplog, wrong):
    from revive.runtime.backends import tensorrt_engine

    _install(monkeypatch, wrong=wrong)
    monkeypatch.setattr(tensorrt_engine, "open_cuda_memory", trt_fakes.FakeMemory)
    ckpt = shutil.copy(tiny_checkpoints["lab"], tmp_path / "m.pt")
    with caplog.at_level("INFO", logger="revive"):
        code, err = _run(capsys, ckpt, "--max-batch", 4, "--opt-batch", 2, "--verify")
    table = caplog.text
    for needle in ("onnxruntime-fp16", "pytorch-fp32", "batch   1", "batch   2", "batch   4"):
        assert needle in table
    if wrong:  # the inverted picture is far from both references
        assert code == 1 and "verification failed" in err and "FAIL" in table
    else:  # the untrained colorizer's near-gray output is what the plain fake returns
        assert code == 0 and "FAIL" not in table


@pytest.mark.parametrize("argv, needle", [
    (["missing.pt"], "no such file"),
    (["m.pt", "--min-batch", "8", "--max-batch", "4"], "min <= opt <= max"),
    (["m.pt", "--opt-level", "9"], "0..5"),
    (["m.pt", "--workspace", "huge"], "--workspace"),
    (["m.pt", "-o", "m.onnx"], ".engine or .plan"),
])
def test_user_errors_exit_2_with_one_message(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    code, err = _run(capsys, *argv)
    assert code == 2 and needle in err and err.count("\n") == 1


def test_source_xor_pipeline_and_argparse_errors_return_2(capsys):
    assert to_trt.main([]) == 2  # returned, not raised as SystemExit (issue 15)
    assert to_trt.main(["--no-such-flag"]) == 2
    assert to_trt.main(["--help"]) == 0


def test_an_onnx_not_exported_by_revive_is_refused(tmp_path, capsys):
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all")
    code, err = _run(capsys, tmp_path / "junk.onnx")
    assert code == 2 and "junk.onnx" in err


def test_pipeline_goes_through_export_pipeline(tiny_onnx, tiny_checkpoints, tmp_path, capsys, monkeypatch,
                                               no_tensorrt):
    from revive.export import to_onnx

    calls = []

    def export_pipeline(restore, colorize, out, *, max_batch):  # the signature to_trt relies on
        calls.append((restore, colorize, out, max_batch))
        shutil.copy(tiny_onnx["lab"], out)

    monkeypatch.setattr(to_onnx, "export_pipeline", export_pipeline, raising=False)
    r, c = tiny_checkpoints["rgb"], tiny_checkpoints["lab"]
    code, err = _run(capsys, "--pipeline", r, c, "-o", tmp_path / "p.engine", "--max-batch", 8)
    assert code == 2 and "TensorRT is not installed" in err
    assert calls == [(r, c, tmp_path / "p.onnx", 8)]
    assert (tmp_path / "p.fp16.onnx").is_file()


def test_runs_by_path_without_tensorrt(tiny_onnx, tmp_path):
    import subprocess
    from pathlib import Path

    script = Path(to_trt.__file__)
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "tensorrt.py").write_text("raise ImportError('blocked for the test')\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(blocker)}
    proc = subprocess.run([sys.executable, str(script), str(tiny_onnx["lab_fp16"]), "-o", str(tmp_path / "x.engine"),
                           "--max-batch", "8"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "pip install tensorrt" in proc.stderr and "Traceback" not in proc.stderr
    json.dumps(proc.stderr)


@pytest.mark.gpu
def test_real_tensorrt_builds_verifies_and_reuses(tiny_checkpoints, tmp_path, capsys):
    """On a GPU machine with TensorRT >= 10.12 and cuda-python: the real thing, end to end."""
    pytest.importorskip("tensorrt", reason="needs the TensorRT Python bindings (pip install tensorrt) and a GPU")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    ckpt = shutil.copy(tiny_checkpoints["lab"], tmp_path / "m.pt")
    argv = [ckpt, "--max-batch", 8, "--opt-batch", 4, "--timing-cache", tmp_path / "t.cache", "--verify"]
    code, err = _run(capsys, *argv)
    assert code == 0, err
    card = ModelCard.from_json((tmp_path / "m.card.json").read_text())
    assert card.precision == "fp16" and card.build["io_dtypes"] == {"gray": "uint8", "rgb": "uint8"}
    stamp = (tmp_path / "m.engine").stat().st_mtime_ns
    assert _run(capsys, *argv)[0] == 0 and (tmp_path / "m.engine").stat().st_mtime_ns == stamp  # reused
