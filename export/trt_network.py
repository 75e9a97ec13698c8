"""The TensorRT calls that turn an FP16 ONNX model into a strongly typed engine.

Kept thin on purpose: every decision (profile, workspace, cache key, error
wording, precision read-back, card) is a plain function in ``trt_build``. The
build is the same on TensorRT >= 10.12 and 11.x: a strongly typed network
(``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` by name), precision taken from
the ONNX graph, never ``BuilderFlag.FP16`` (a conflict on 10.x, gone in 11.x).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from revive.runtime.backends.base import BackendError
from revive.runtime.backends.cuda_memory import DeviceInfo
from revive.runtime.backends.tensorrt_engine import import_tensorrt, is_rtx
from revive.runtime.files import write_atomic

from .trt_build import BuildError, ParserIssue, Profile, TensorRTMissing, check_version, format_parser_errors, \
    layer_dtypes_from_inspector

__all__ = ["BuiltEngine", "build_engine", "current_gpu", "load_tensorrt", "network_flags", "typing_mode"]

log = logging.getLogger(__name__)

def load_tensorrt() -> tuple[Any, int]:
    """(the TensorRT module, its major version); TensorRTMissing when absent or older than 10.12.

    The import (``tensorrt``, else TensorRT-RTX as ``tensorrt_rtx`` or ``tensorrt_rtx_bindings``) and its
    install message are the runtime's own. TensorRT-RTX numbers its releases from 1.0 and builds strongly
    typed networks only, like TensorRT 11, so it is treated as major 11. Its 1.7.1 bindings took every
    builder call made here on a CPU-only machine (benchmarks/results/cpu-2core/gpu_wheels.md); no engine of
    it has run yet.
    """
    try:
        trt = import_tensorrt()
    except BackendError as exc:
        raise TensorRTMissing(str(exc)) from None
    if is_rtx(trt):
        return trt, 11
    return trt, check_version(trt.__version__)


def current_gpu() -> DeviceInfo:
    """The GPU the engine is built for (device 0); BuildError when there is none."""
    import torch

    if not torch.cuda.is_available():
        raise BuildError("no CUDA GPU is visible (torch.cuda.is_available() is False): TensorRT builds an engine "
                         "for the GPU it runs on, so build on the machine (or GPU model) that will run it; "
                         "elsewhere run the FP16 ONNX model with ONNX Runtime")
    major, minor = torch.cuda.get_device_capability(0)
    return DeviceInfo(torch.cuda.get_device_name(0), major, minor)


def network_flags(trt: Any) -> int:
    """Creation flags for a strongly typed network, the flag taken by name on every version.

    Its value is 1 on 10.x, where it selects strong typing (BuilderFlag.FP16 must then stay
    unset), and 0 on 11.x, where strong typing is the only mode and the flag is ignored.
    """
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def typing_mode(major: int) -> str:
    return "strongly typed (the only mode in TensorRT 11)" if major >= 11 else "strongly typed (flag)"


@dataclass
class BuiltEngine:
    plan: bytes
    io_dtypes: dict[str, str]
    layer_dtypes: Counter
    network_dtypes: Counter
    notes: list[str] = field(default_factory=list)


def _network_dtypes(trt: Any, network: Any) -> Counter:
    """Data types of the parsed network's layer outputs: what strong typing makes TensorRT honour."""
    names = {trt.DataType.HALF: "half", trt.DataType.FLOAT: "float", trt.DataType.UINT8: "uint8"}
    counts: Counter = Counter()
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            counts[names.get(layer.get_output(j).dtype, "other")] += 1
    return counts


def _timing_cache(config: Any, path: Path | None) -> Any:
    previous = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(previous)
    if cache is None and previous:
        log.warning("%s: timing cache unreadable by this TensorRT; starting a fresh one", path)
        cache = config.create_timing_cache(b"")
    if cache is None:
        raise BuildError("TensorRT could not create a timing cache")
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        log.warning("%s: timing cache made by another TensorRT version or GPU; starting a fresh one", path)
        if not config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False):
            raise BuildError("TensorRT refused a fresh timing cache")
    return cache


def build_engine(trt: Any, major: int, onnx_path: Path, *, input_name: str, image_size: int, profile: Profile,
                 workspace: int, opt_level: int, timing_cache: Path | None = None) -> BuiltEngine:
    """Parse ``onnx_path``, build a strongly typed engine with one batch profile, read back what was built."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        issues = []
        for i in range(parser.num_errors):
            err = parser.get_error(i)
            issues.append(ParserIssue(err.node_name(), err.node_operator(), err.desc() or str(err)))
        raise BuildError(format_parser_errors(onnx_path, issues))
    network_dtypes = _network_dtypes(trt, network)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    config.builder_optimization_level = opt_level
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # layer precisions in the inspector
    shapes = builder.create_optimization_profile()
    try:
        shapes.set_shape(input_name, *profile.shapes(image_size))
    except RuntimeError as exc:
        raise BuildError(f"TensorRT rejected the batch profile {profile.as_dict()} for input "
                         f"{input_name!r}: {exc}") from None
    if config.add_optimization_profile(shapes) < 0:
        raise BuildError(f"TensorRT rejected the batch profile {profile.as_dict()} for input {input_name!r}")
    if is_rtx(trt):
        # TensorRT-RTX tunes its kernels when the engine first runs: a timing cache changes nothing in the
        # engine, forces a GPU query while building, and is deprecated there (since 1.2).
        if timing_cache is not None:
            log.info("TensorRT-RTX keeps no timing cache: --timing-cache %s is not used", timing_cache)
        timing_cache = None
    else:
        _timing_cache(config, timing_cache)

    log.info("building a %s engine from %s (batch %d/%d/%d, opt level %d); this takes a while",
             typing_mode(major), onnx_path.name, profile.min, profile.opt, profile.max, opt_level)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BuildError(f"{onnx_path}: TensorRT could not build an engine (build_serialized_network returned "
                         "nothing; its log above says why). Common causes: too little --workspace, a GPU out of "
                         "memory, a batch profile too large for this GPU")
    plan = bytes(plan)
    if timing_cache is not None:
        write_atomic(timing_cache, bytes(config.get_timing_cache().serialize()))
    io_dtypes, layer_dtypes = _read_back(trt, logger, plan)
    return BuiltEngine(plan, io_dtypes, layer_dtypes, network_dtypes)


def _read_back(trt: Any, logger: Any, plan: bytes) -> tuple[dict[str, str], Counter]:
    """The built engine's I/O dtypes and per-layer output data types (from the engine inspector)."""
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise BuildError("TensorRT built an engine it cannot load back (see its log above)")
    io = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        io[name] = np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name
    inspector = engine.create_engine_inspector()
    layers = layer_dtypes_from_inspector(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    del inspector, engine
    return io, layers
