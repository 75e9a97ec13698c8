"""The backends a benchmark can drive, by name, and the model files they need.

Every entry opens a ``revive.runtime.backends.Backend`` (uint8 batch in, uint8
outputs by role), so speed and parity treat PyTorch, ONNX Runtime and TensorRT
alike. A backend that cannot run here raises ``Unavailable`` with the reason;
the caller reports it as skipped, never drops it.

======================  =========  ==================================================
name                    precision  what runs
======================  =========  ==================================================
``torch-fp32``          fp32       the export graph in PyTorch eager (the reference)
``torch-amp``           fp16/bf16  the same under autocast (fp16 on CUDA, bf16 on CPU;
                                   ``--amp-dtype``)
``torch-compile``       fp32       ``torch.compile`` of the graph
``torch-compile-amp``   fp16/bf16  ``torch.compile`` under autocast
``ort-cpu``             fp32       ONNX Runtime, CPU provider, FP32 ONNX
``ort-cpu-fp16``        fp16       ONNX Runtime, CPU provider, FP16 ONNX
``ort-cpu-int8``        int8       ONNX Runtime, CPU provider, INT8 QDQ ONNX
                                   (export/to_int8.py, calibrated on ``sample``)
``ort-cuda``            fp16       ONNX Runtime, CUDA provider, FP16 ONNX (IOBinding)
``ort-cuda-fp32``       fp32       ONNX Runtime, CUDA provider, FP32 ONNX
``tensorrt``            fp16       strongly typed TensorRT engine from the FP16 ONNX
======================  =========  ==================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from revive.runtime.backends.base import Backend

__all__ = ["BACKENDS", "BackendSpec", "Models", "Unavailable", "for_each_backend", "open_named", "open_or_skip",
           "parse_names"]

log = logging.getLogger(__name__)


class Unavailable(RuntimeError):
    """This backend cannot run on this machine or with these models; the message says why."""


@dataclass
class Models:
    """The model files of one benchmark run; missing ONNX models and engines are made on demand."""

    checkpoint: Path | None
    workdir: Path
    pipeline: tuple[Path, Path] | None = None  # (restorer, colorizer) checkpoints: the fused graph
    onnx: Path | None = None  # FP32
    onnx_fp16: Path | None = None
    onnx_int8: Path | None = None
    engine: Path | None = None
    max_batch: int = 64
    amp_dtype: str | None = None  # None: fp16 on CUDA, bf16 on CPU
    random_weights: bool = False  # made by random_models (recorded in results)
    threads: int = 0  # CPU threads per backend (0 = all cores, shared out among `concurrency` runs for ORT)
    concurrency: int = 1  # threads calling run at once (files mode: the batches in flight, as runtime-infer)
    _made: dict[str, Path] = field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        import torch

        return torch.cuda.is_available()

    @property
    def device(self) -> str:
        return "cuda" if self.cuda else "cpu"

    def amp(self) -> str:
        return self.amp_dtype or ("fp16" if self.cuda else "bf16")

    def need_checkpoint(self, what: str = "PyTorch backends") -> Path | tuple[Path, Path]:
        """The checkpoint, or the (restorer, colorizer) pair of a pipeline."""
        if self.pipeline is not None:
            return self.pipeline
        if self.checkpoint is None:
            raise Unavailable(f"{what} need --checkpoint (or --pipeline)")
        return self.checkpoint

    def fp32_onnx(self) -> Path:
        if self.onnx is None:
            from revive.export.to_onnx import export_checkpoint, export_pipeline

            source = self.need_checkpoint("ONNX backends without --onnx")
            stem = f"{source[0].stem}+{source[1].stem}" if isinstance(source, tuple) else source.stem
            self.onnx = self.workdir / f"{stem}.onnx"
            log.info("exporting %s (max batch %d)", self.onnx.name, self.max_batch)
            if isinstance(source, tuple):
                export_pipeline(*source, self.onnx, max_batch=self.max_batch)
            else:
                export_checkpoint(source, self.onnx, max_batch=self.max_batch)
        return self.onnx

    def fp16_onnx(self) -> Path:
        if self.onnx_fp16 is None:
            from revive.export.naming import artifacts
            from revive.export.to_fp16 import write_fp16

            fp32 = self.fp32_onnx()
            self.onnx_fp16 = artifacts(fp32).onnx("fp16")
            log.info("converting %s to FP16", fp32.name)
            write_fp16(fp32, self.onnx_fp16)
        return self.onnx_fp16

    def int8_onnx(self) -> Path:
        if self.onnx_int8 is None:
            from revive.export.naming import artifacts
            from revive.export.to_int8 import write_int8

            fp32 = self.fp32_onnx()
            self.onnx_int8 = artifacts(fp32).onnx("int8")
            log.info("quantizing %s to INT8 (calibration: sample)", fp32.name)
            write_int8(fp32, self.onnx_int8)
        return self.onnx_int8

    def trt_engine(self) -> Path:
        if self.engine is None:
            from revive.export.naming import artifacts
            from revive.export.to_trt import DEFAULT_WORKSPACE, BuildOptions, export_engine
            from revive.export.trt_build import BuildError, parse_workspace, validate_profile

            fp16 = self.fp16_onnx()
            engine = artifacts(fp16).engine
            options = BuildOptions(profile=validate_profile(1, min(32, self.max_batch), self.max_batch),
                                   workspace=parse_workspace(DEFAULT_WORKSPACE))
            try:
                export_engine(fp16, engine, self.workdir / "unused.fp32.onnx", fp16, options)
            except BuildError as exc:
                raise Unavailable(f"TensorRT engine build failed: {exc}") from None
            self.engine = engine
        return self.engine


@dataclass(frozen=True)
class BackendSpec:
    name: str
    precision: Callable[[Models], str]
    open: Callable[[Models], Backend]
    device: str  # "cpu", "cuda" or "auto" (CUDA when present)


def _torch(amp: bool = False, compile: bool = False) -> Callable[[Models], Backend]:
    def open_(models: Models) -> Backend:
        from .torch_graph import TorchGraphBackend

        ckpt = models.need_checkpoint()
        if models.threads:
            import torch

            torch.set_num_threads(models.threads)
        return TorchGraphBackend(ckpt, device=models.device, amp=models.amp() if amp else None, compile=compile,
                                 max_batch=models.max_batch)

    return open_


def _ort(device: str, precision: str) -> Callable[[Models], Backend]:
    def open_(models: Models) -> Backend:
        try:
            import onnxruntime as ort
        except ImportError:
            raise Unavailable("onnxruntime is not installed") from None
        available = ort.get_available_providers()
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise Unavailable(f"onnxruntime {ort.__version__} has no CUDAExecutionProvider "
                              f"(available: {', '.join(available)}); install onnxruntime-gpu")
        from revive.runtime.backends.ort import OrtBackend

        path = {"fp32": models.fp32_onnx, "fp16": models.fp16_onnx, "int8": models.int8_onnx}[precision]()
        return OrtBackend(path, device=device, threads=models.threads if device == "cpu" else 0,
                          concurrency=models.concurrency)

    return open_


def _tensorrt(models: Models) -> Backend:
    from revive.runtime.backends import BackendError
    from revive.runtime.backends.tensorrt_engine import TensorRTBackend, import_tensorrt

    try:
        import_tensorrt()
    except BackendError as exc:
        raise Unavailable(str(exc).split(":")[0] + ": pip install tensorrt (needs an NVIDIA GPU)") from None
    if not models.cuda:
        raise Unavailable("TensorRT needs a CUDA GPU and none is visible")
    return TensorRTBackend(models.trt_engine())


def _fixed(p: str) -> Callable[[Models], str]:
    return lambda models: p


BACKENDS: dict[str, BackendSpec] = {spec.name: spec for spec in [
    BackendSpec("torch-fp32", _fixed("fp32"), _torch(), "auto"),
    BackendSpec("torch-amp", lambda m: m.amp(), _torch(amp=True), "auto"),
    BackendSpec("torch-compile", _fixed("fp32"), _torch(compile=True), "auto"),
    BackendSpec("torch-compile-amp", lambda m: m.amp(), _torch(amp=True, compile=True), "auto"),
    BackendSpec("ort-cpu", _fixed("fp32"), _ort("cpu", "fp32"), "cpu"),
    BackendSpec("ort-cpu-fp16", _fixed("fp16"), _ort("cpu", "fp16"), "cpu"),
    BackendSpec("ort-cpu-int8", _fixed("int8"), _ort("cpu", "int8"), "cpu"),
    BackendSpec("ort-cuda", _fixed("fp16"), _ort("cuda", "fp16"), "cuda"),
    BackendSpec("ort-cuda-fp32", _fixed("fp32"), _ort("cuda", "fp32"), "cuda"),
    BackendSpec("tensorrt", _fixed("fp16"), _tensorrt, "cuda"),
]}


def parse_names(text: str) -> list[str]:
    """``"torch-fp32,ort-cpu"`` -> names; ``all`` = every backend; unknown names are a user error."""
    names = list(BACKENDS) if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)} or all")
    return names


def open_named(name: str, models: Models) -> tuple[Backend, str]:
    """(opened backend, precision) or ``Unavailable`` with the reason it cannot run here."""
    spec = BACKENDS[name]
    try:
        backend = spec.open(models)
    except Unavailable:
        raise
    except ImportError as exc:
        raise Unavailable(f"missing package: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure to open is reported per backend, with its reason
        from revive.runtime.backends import BackendError

        if isinstance(exc, BackendError):
            raise Unavailable(str(exc)) from None
        log.exception("%s could not be opened", name)
        raise Unavailable(f"{type(exc).__name__}: {exc}") from None
    return backend, spec.precision(models)


def open_or_skip(name: str, models: Models, out: dict[str, dict]) -> tuple[Backend, str] | None:
    """``open_named``, or None with ``out[name]`` recorded as skipped (the reason logged)."""
    try:
        return open_named(name, models)
    except Unavailable as exc:
        log.warning("%s: skipped (%s)", name, exc)
        out[name] = {"status": "skipped", "reason": str(exc)}
        return None


def for_each_backend(names: tuple[str, ...] | list[str], models: Models, out: dict[str, dict],
                     after_close: Callable[[str], None] | None = None) -> Iterator[tuple[str, Backend, str]]:
    """Each named backend opened in turn, as ``(name, backend, precision)``, closed when the caller moves on.

    One that cannot open here is recorded in ``out[name]`` as skipped, with the reason, and
    the loop goes on: every benchmark reports the backends it could not run rather than
    stopping at the first. ``after_close(name)`` runs once the backend is closed (torch
    backends free their cached GPU memory there).
    """
    for name in names:
        opened = open_or_skip(name, models, out)
        if opened is None:
            continue
        backend, precision = opened
        try:
            yield name, backend, precision
        finally:
            backend.close()
            if after_close is not None:
                after_close(name)
