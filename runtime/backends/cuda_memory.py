"""The CUDA memory layer under the TensorRT backend: one interface, two implementations.

``open_cuda_memory()`` returns a :class:`CudaMemory` backed by cuda-python
(``from cuda.bindings import runtime as cudart``, falling back to the pre-13.0
``from cuda import cudart``) or, when that is not installed but pycuda is, by
pycuda on the device's primary context (the one TensorRT uses). The backend
needs only pinned host buffers, device buffers, streams, asynchronous copies
and a stream synchronise, all through this interface; every CUDA return value
is checked here and a failure raises :class:`CudaError`.

Imports are lazy: importing this module needs neither package.
"""

from __future__ import annotations

import contextlib
import ctypes
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from .base import BackendError

__all__ = ["CudaError", "CudaMemory", "DeviceInfo", "open_cuda_memory"]

INSTALL_HINT = "pip install cuda-python (matching your CUDA major version), or pycuda"


class CudaError(BackendError):
    """A CUDA call failed, or no usable GPU is present."""


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    major: int
    minor: int

    @property
    def compute_capability(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.name} (compute capability {self.compute_capability})"


class CudaMemory(ABC):
    """What the TensorRT backend needs from CUDA. Pointers and stream handles are ints."""

    package: str = ""

    @abstractmethod
    def device_info(self) -> DeviceInfo: ...

    @abstractmethod
    def host_empty(self, nbytes: int) -> tuple[np.ndarray, Any]:
        """Pinned host memory as a uint8 array, and the token ``free_host`` takes."""

    @abstractmethod
    def device_alloc(self, nbytes: int) -> tuple[int, Any]:
        """A device pointer, and the token ``free_device`` takes."""

    @abstractmethod
    def stream_create(self) -> tuple[int, Any]:
        """A stream handle for TensorRT, and the token the other stream calls take."""

    @abstractmethod
    def copy_htod(self, dst: int, src: np.ndarray, stream: Any) -> None:
        """Copy all of the contiguous (pinned) host array ``src`` to device pointer ``dst``."""

    @abstractmethod
    def copy_dtoh(self, dst: np.ndarray, src: int, stream: Any) -> None:
        """Fill the contiguous (pinned) host array ``dst`` from device pointer ``src``."""

    @abstractmethod
    def synchronize(self, stream: Any) -> None: ...

    @abstractmethod
    def free_host(self, token: Any) -> None: ...

    @abstractmethod
    def free_device(self, token: Any) -> None: ...

    @abstractmethod
    def stream_destroy(self, token: Any) -> None: ...

    @contextlib.contextmanager
    def activate(self) -> Iterator[None]:
        """Make the device's context current in this thread (a no-op for the runtime API)."""
        yield


class CudaPythonMemory(CudaMemory):
    package = "cuda-python"

    def __init__(self, cudart: Any) -> None:
        self.cudart = cudart
        count = self._call(cudart.cudaGetDeviceCount(), "cudaGetDeviceCount", no_gpu=True)
        if count < 1:
            raise CudaError("no CUDA GPU found (cudaGetDeviceCount = 0)")
        self._call(cudart.cudaSetDevice(0), "cudaSetDevice")

    def _call(self, result: Any, what: str, no_gpu: bool = False) -> Any:
        # cuda-python returns (err, *results); calls without results return (err,).
        err, *rest = result if isinstance(result, tuple) else (result,)
        if err != self.cudart.cudaError_t.cudaSuccess:
            text = self.cudart.cudaGetErrorString(err)
            text = text[1] if isinstance(text, tuple) else text
            text = text.decode() if isinstance(text, bytes) else str(text)
            prefix = "no usable CUDA GPU: " if no_gpu else ""
            raise CudaError(f"{prefix}{what} failed: {text}")
        if not rest:
            return None
        return rest[0] if len(rest) == 1 else tuple(rest)

    def device_info(self) -> DeviceInfo:
        props = self._call(self.cudart.cudaGetDeviceProperties(0), "cudaGetDeviceProperties")
        name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
        return DeviceInfo(name.split("\x00", 1)[0].strip(), int(props.major), int(props.minor))

    def host_empty(self, nbytes: int) -> tuple[np.ndarray, Any]:
        ptr = int(self._call(self.cudart.cudaMallocHost(nbytes), "cudaMallocHost"))
        # Wrap through ctypes as uint8 (as_ctypes_type(float16) fails); callers .view() other dtypes.
        array = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(ptr))
        return array, ptr

    def device_alloc(self, nbytes: int) -> tuple[int, Any]:
        ptr = int(self._call(self.cudart.cudaMalloc(nbytes), "cudaMalloc"))
        return ptr, ptr

    def stream_create(self) -> tuple[int, Any]:
        stream = self._call(self.cudart.cudaStreamCreate(), "cudaStreamCreate")
        return int(stream), stream

    def copy_htod(self, dst: int, src: np.ndarray, stream: Any) -> None:
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(self.cudart.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, stream), "cudaMemcpyAsync")

    def copy_dtoh(self, dst: np.ndarray, src: int, stream: Any) -> None:
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call(self.cudart.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, stream), "cudaMemcpyAsync")

    def synchronize(self, stream: Any) -> None:
        self._call(self.cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def free_host(self, token: Any) -> None:
        self._call(self.cudart.cudaFreeHost(token), "cudaFreeHost")

    def free_device(self, token: Any) -> None:
        self._call(self.cudart.cudaFree(token), "cudaFree")

    def stream_destroy(self, token: Any) -> None:
        self._call(self.cudart.cudaStreamDestroy(token), "cudaStreamDestroy")


class PyCudaMemory(CudaMemory):
    """pycuda on the primary context, pushed around every use (pycuda contexts are per thread)."""

    package = "pycuda"

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        try:
            driver.init()
            if driver.Device.count() < 1:
                raise CudaError("no CUDA GPU found (pycuda sees 0 devices)")
            self.device = driver.Device(0)
            self.context = self.device.retain_primary_context()
        except driver.Error as exc:
            raise CudaError(f"no usable CUDA GPU: {exc}") from None

    @contextlib.contextmanager
    def activate(self) -> Iterator[None]:
        self.context.push()
        try:
            yield
        finally:
            self.driver.Context.pop()

    @contextlib.contextmanager
    def _checked(self, what: str) -> Iterator[None]:
        try:
            with self.activate():
                yield
        except self.driver.Error as exc:
            raise CudaError(f"{what} failed: {exc}") from None

    def device_info(self) -> DeviceInfo:
        major, minor = self.device.compute_capability()
        return DeviceInfo(self.device.name(), int(major), int(minor))

    def host_empty(self, nbytes: int) -> tuple[np.ndarray, Any]:
        with self._checked("pagelocked_empty"):
            array = self.driver.pagelocked_empty(nbytes, np.uint8)
        return array, array

    def device_alloc(self, nbytes: int) -> tuple[int, Any]:
        with self._checked("mem_alloc"):
            allocation = self.driver.mem_alloc(nbytes)
        return int(allocation), allocation

    def stream_create(self) -> tuple[int, Any]:
        with self._checked("Stream"):
            stream = self.driver.Stream()
        return int(stream.handle), stream

    def copy_htod(self, dst: int, src: np.ndarray, stream: Any) -> None:
        with self._checked("memcpy_htod_async"):
            self.driver.memcpy_htod_async(dst, src, stream)

    def copy_dtoh(self, dst: np.ndarray, src: int, stream: Any) -> None:
        with self._checked("memcpy_dtoh_async"):
            self.driver.memcpy_dtoh_async(dst, src, stream)

    def synchronize(self, stream: Any) -> None:
        with self._checked("Stream.synchronize"):
            stream.synchronize()

    def free_host(self, token: Any) -> None:
        with self._checked("free pinned memory"):
            token.base.free()  # pagelocked_empty's array is based on a HostAllocation

    def free_device(self, token: Any) -> None:
        with self._checked("DeviceAllocation.free"):
            token.free()

    def stream_destroy(self, token: Any) -> None:
        pass  # pycuda destroys a Stream when it is garbage collected


def _import_cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart  # cuda-bindings >= 12.9
    except ImportError:
        from cuda import cudart  # older cuda-python; removed in 13.0
    return cudart


def open_cuda_memory() -> CudaMemory:
    """cuda-python when installed, else pycuda; BackendError naming the package when neither is."""
    try:
        cudart = _import_cudart()
    except ImportError:
        cudart = None
    if cudart is not None:
        return CudaPythonMemory(cudart)
    try:
        import pycuda.driver as driver
    except ImportError:
        raise BackendError(f"the TensorRT backend needs CUDA from Python and neither cuda-python nor pycuda "
                           f"is installed: {INSTALL_HINT}") from None
    return PyCudaMemory(driver)
