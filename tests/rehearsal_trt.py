"""Runs a revive command with TensorRT-RTX played by the test fakes: the tensorrt-rtx step of the rehearsal.

    python tests/rehearsal_trt.py export/to_trt.py ARGS...
    python tests/rehearsal_trt.py -m revive.runtime.cli ARGS...

``bash benchmarks/gpu_suite.sh --rehearse`` puts this in front of the very commands the real suite runs. The
fake module (tests/trt_fakes.py) is installed under the name the tensorrt-rtx-cu13-bindings wheel gives it,
``tensorrt_rtx_bindings`` (version 1.7.1.116), with no ``tensorrt``; the engine is built for a fake GPU and run
through fake device memory, so the exporter's and the runtime's TensorRT calls, cards and files are exercised
on the CPU. Nothing it writes is an engine any TensorRT could load.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trt_fakes  # noqa: E402
from revive.export import trt_network  # noqa: E402
from revive.runtime.backends import tensorrt_engine  # noqa: E402
from revive.runtime.backends.cuda_memory import DeviceInfo  # noqa: E402


def install_fakes() -> None:
    sys.modules["tensorrt"] = None  # import tensorrt -> ImportError, as on the GPU machine
    sys.modules["tensorrt_rtx"] = None
    sys.modules["tensorrt_rtx_bindings"] = trt_fakes.make_tensorrt("1.7.1.116", name="tensorrt_rtx_bindings")
    trt_network.current_gpu = lambda: DeviceInfo("Fake GPU (rehearsal)", 8, 9)
    tensorrt_engine.open_cuda_memory = trt_fakes.FakeMemory


def main(argv: list[str]) -> None:
    install_fakes()
    if argv[:1] == ["-m"]:
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
