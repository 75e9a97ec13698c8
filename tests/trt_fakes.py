"""A minimal fake ``tensorrt`` module and a fake CUDA memory layer, for tests without a GPU.

Faithful to /work/shared/TENSORRT.md in the calls revive makes: the creation flag
STRONGLY_TYPED is 1 on 10.x and 0 on 11.x, ``BuilderFlag.FP16`` and
``EXPLICIT_BATCH`` are gone on 11.x (AttributeError), setting FP16 on a strongly
typed 10.x network is an error, ``parse_from_file`` returns a bool with errors
behind ``get_error``, ``set_shape`` raises RuntimeError, ``build_serialized_network``
and ``deserialize_cuda_engine`` return None on failure, ``set_input_shape``,
``set_tensor_address`` and ``execute_async_v3`` return bools.

The fake engine "runs" by replicating the uint8 gray input (inverted with ``wrong``)
to every output's channels, through the fake device memory, so the backend's
bindings are exercised. An untrained tiny Lab colorizer outputs near-gray
pictures, so the plain fake passes ``--verify`` against it and ``wrong`` fails.
"""

from __future__ import annotations

import json
import types
from types import SimpleNamespace

import numpy as np

from revive.runtime.backends.cuda_memory import CudaMemory, DeviceInfo

MAGIC = b"FAKETRT"
DEVICE: dict[int, np.ndarray] = {}  # fake device memory: pointer -> uint8 buffer


class _Enum:
    def __init__(self, name: str, value: int) -> None:
        self.name, self.value = name, value

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"<{self.name}>"


def make_tensorrt(version: str = "10.13.0", *, parse_errors: list[tuple[str, str, str]] | None = None,
                  build_fails: bool = False, deserialize_fails: bool = False, io_dtype: str = "uint8",
                  layer_format: str = "Channel major FP16 format where channel % 8 == 0",
                  name: str = "tensorrt", wrong: bool = False) -> types.ModuleType:
    major = int(version.split(".")[0])
    trt = types.ModuleType(name)
    trt.__version__ = version
    state = SimpleNamespace(networks=[], configs=[], profiles=[], builds=0, contexts=[])
    trt.state = state

    class Logger:
        WARNING = _Enum("WARNING", 2)

        def __init__(self, severity=None) -> None:
            self.severity = severity

    class DataType:
        HALF = _Enum("HALF", 1)
        FLOAT = _Enum("FLOAT", 0)
        UINT8 = _Enum("UINT8", 7)

    def nptype(dtype):
        return {DataType.HALF: np.float16, DataType.FLOAT: np.float32, DataType.UINT8: np.uint8}[dtype]

    flags = SimpleNamespace(STRONGLY_TYPED=_Enum("STRONGLY_TYPED", 1 if major == 10 else 0))
    builder_flags = SimpleNamespace()
    if major == 10:
        flags.EXPLICIT_BATCH = _Enum("EXPLICIT_BATCH", 0)
        builder_flags.FP16 = _Enum("FP16", 0)

    class ParserError:
        def __init__(self, node, op, desc) -> None:
            self._node, self._op, self._desc = node, op, desc

        def node_name(self):
            return self._node

        def node_operator(self):
            return self._op

        def desc(self):
            return self._desc

        def __str__(self):
            return f"In node {self._node} ({self._op}): {self._desc}"

    class Layer:
        def __init__(self, dtype) -> None:
            self.num_outputs = 1
            self._out = SimpleNamespace(dtype=dtype)

        def get_output(self, j):
            return self._out

    class Network:
        def __init__(self, flags_value) -> None:
            self.flags = flags_value
            self.layers: list[Layer] = []
            self.io: dict = {}
            state.networks.append(self)

        @property
        def num_layers(self):
            return len(self.layers)

        def get_layer(self, i):
            return self.layers[i]

    class OnnxParser:
        def __init__(self, network, logger) -> None:
            self.network = network
            self.errors = [ParserError(*e) for e in (parse_errors or [])]

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, i):
            return self.errors[i]

        def parse_from_file(self, path):
            if self.errors:
                return False
            import onnx

            graph = onnx.load(str(path)).graph
            self.network.io = {"inputs": [i.name for i in graph.input], "outputs": [o.name for o in graph.output]}
            self.network.layers = [Layer(DataType.UINT8), Layer(DataType.FLOAT), Layer(DataType.HALF),
                                   Layer(DataType.FLOAT), Layer(DataType.UINT8)]
            return True

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self):
            return memoryview(self.data + b"+")

    class Config:
        def __init__(self) -> None:
            self.pools: dict = {}
            self.builder_optimization_level = 3
            self.profiling_verbosity = None
            self.profiles: list = []
            self.cache = None
            self.flags: list = []
            state.configs.append(self)

        def set_memory_pool_limit(self, pool, size):
            self.pools[pool] = size

        def add_optimization_profile(self, profile):
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, data):
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

        def set_flag(self, flag):
            if major == 10 and state.networks and state.networks[-1].flags & (1 << int(flags.STRONGLY_TYPED)):
                raise RuntimeError("BuilderFlag.FP16 set on a strongly typed network")
            self.flags.append(flag)

    class OptimizationProfile:
        def __init__(self) -> None:
            self.shapes: dict = {}
            state.profiles.append(self)

        def set_shape(self, name, low, opt, high):
            if not all(a <= b <= c for a, b, c in zip(low, opt, high)):
                raise RuntimeError(f"inconsistent shapes for {name}")
            self.shapes[name] = (tuple(low), tuple(opt), tuple(high))

    class Builder:
        def __init__(self, logger) -> None:
            self.logger = logger

        def create_network(self, flags_value):
            return Network(flags_value)

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return OptimizationProfile()

        def build_serialized_network(self, network, config):
            state.builds += 1
            if build_fails:
                return None
            (name, shapes), = config.profiles[0].shapes.items()
            io = {name: ["input", io_dtype, list(shapes[0][1:])]}
            for out in network.io["outputs"]:
                channels = 3 if out == "rgb" else 1
                io[out] = ["output", io_dtype, [channels, *shapes[0][2:]]]
            meta = {"version": version, "io": io, "profile": [list(s) for s in shapes]}
            return memoryview(MAGIC + json.dumps(meta).encode())

    class TensorIOMode:
        INPUT = _Enum("INPUT", 1)
        OUTPUT = _Enum("OUTPUT", 2)

    class Context:
        def __init__(self, engine) -> None:
            self.engine = engine
            self.shapes: dict = {}
            self.addresses: dict = {}
            state.contexts.append(self)

        def set_input_shape(self, name, shape):
            low, _, high = self.engine.get_tensor_profile_shape(name, 0)
            if not all(a <= b <= c for a, b, c in zip(low, shape, high)):
                return False
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            batch = next(iter(self.shapes.values()))[0]
            return (batch, *self.engine.io[name][2])

        def set_tensor_address(self, name, ptr):
            self.addresses[name] = ptr
            return name in self.engine.io

        def execute_async_v3(self, stream):
            if set(self.addresses) != set(self.engine.io):
                return False
            (name, shape), = self.shapes.items()
            n = int(np.prod(shape))
            gray = DEVICE[self.addresses[name]][:n].reshape(shape)
            for out, (mode, _, dims) in self.engine.io.items():
                if mode == "output":
                    value = np.repeat(255 - gray if wrong else gray, dims[0], axis=1)
                    DEVICE[self.addresses[out]][:value.size] = value.reshape(-1)
            return True

    class Engine:
        def __init__(self, meta) -> None:
            self.io = meta["io"]
            self.profile = meta["profile"]
            self.num_io_tensors = len(self.io)

        def get_tensor_name(self, i):
            return list(self.io)[i]

        def get_tensor_mode(self, name):
            return TensorIOMode.INPUT if self.io[name][0] == "input" else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name):
            return {"uint8": DataType.UINT8, "float32": DataType.FLOAT, "float16": DataType.HALF}[self.io[name][1]]

        def get_tensor_shape(self, name):
            return (-1, *self.io[name][2])

        def get_tensor_profile_shape(self, name, profile):
            return [tuple(s) for s in self.profile]

        def create_execution_context(self):
            return Context(self)

        def create_engine_inspector(self):
            layers = [{"Name": "conv", "Outputs": [{"Name": "t", "Format/Datatype": layer_format}]},
                      {"Name": "tail", "Outputs": [{"Name": "u", "Format/Datatype": "Row major linear FP32"}]}]
            return SimpleNamespace(get_engine_information=lambda fmt: json.dumps({"Layers": layers}))

    class Runtime:
        def __init__(self, logger) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, data):
            data = bytes(data)
            if deserialize_fails or not data.startswith(MAGIC):
                return None
            return Engine(json.loads(data[len(MAGIC):]))

    trt.Logger, trt.DataType, trt.nptype = Logger, DataType, nptype
    trt.NetworkDefinitionCreationFlag, trt.BuilderFlag = flags, builder_flags
    trt.OnnxParser, trt.Builder, trt.Runtime, trt.TensorIOMode = OnnxParser, Builder, Runtime, TensorIOMode
    trt.MemoryPoolType = SimpleNamespace(WORKSPACE=_Enum("WORKSPACE", 0))
    trt.ProfilingVerbosity = SimpleNamespace(DETAILED=_Enum("DETAILED", 2))
    trt.LayerInformationFormat = SimpleNamespace(JSON=_Enum("JSON", 1))
    return trt


class FakeMemory(CudaMemory):
    """CudaMemory over numpy: 'device' buffers live in DEVICE, keyed by a fake pointer."""

    package = "fake"

    def __init__(self) -> None:
        self.next_ptr = 0x1000
        self.freed: list = []
        self.streams = 0

    def device_info(self) -> DeviceInfo:
        return DeviceInfo("Fake GPU", 8, 9)

    def host_empty(self, nbytes):
        array = np.zeros(nbytes, np.uint8)
        return array, ("host", id(array))

    def device_alloc(self, nbytes):
        ptr, self.next_ptr = self.next_ptr, self.next_ptr + nbytes + 256
        DEVICE[ptr] = np.zeros(nbytes, np.uint8)
        return ptr, ptr

    def stream_create(self):
        self.streams += 1
        return self.streams, self.streams

    def copy_htod(self, dst, src, stream):
        DEVICE[dst][:src.nbytes] = src.view(np.uint8).reshape(-1)

    def copy_dtoh(self, dst, src, stream):
        dst.view(np.uint8).reshape(-1)[:] = DEVICE[src][:dst.nbytes]

    def synchronize(self, stream):
        pass

    def free_host(self, token):
        self.freed.append(token)

    def free_device(self, token):
        self.freed.append(("device", token))
        DEVICE.pop(token, None)

    def stream_destroy(self, token):
        self.freed.append(("stream", token))

