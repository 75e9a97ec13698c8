"""Checkpoint or ONNX -> FP16 ONNX -> strongly typed TensorRT engine, with its model card.

Run as ``python export/to_trt.py CKPT|ONNX [-o NAME.engine]``,
``python export/to_trt.py --pipeline RESTORE_CKPT COLORIZE_CKPT`` or ``python -m revive.export.to_trt``.

Stages: checkpoint -> NAME.onnx (FP32, export/to_onnx.py) -> NAME.fp16.onnx
(export/fp16.py: networks in FP16; uint8 I/O, normalisation, InstanceNormalization,
Resize scales and the Lab->RGB tail in FP32) -> NAME.engine built strongly typed
on TensorRT >= 10.12 and 11.x alike, + NAME.card.json. An FP32 ONNX input is
converted; an FP16 one is used as is. An engine whose cache key (ONNX sha256,
TensorRT version, compute capability, profile, optimisation level, workspace)
matches the card beside it is reused unless ``--force``.

Exit status: 0 built (or reused) and, with ``--verify``, verified; 1 verification
below the PSNR threshold; 2 a user or environment error (no TensorRT, no GPU,
parser or build failure, bad arguments), reported as one message. Without
TensorRT the ONNX models are still written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from revive.runtime.card import DEFAULT_BATCH_SIZE, ModelCard, card_path_for_engine, read_onnx_card, write_card_json
from revive.runtime.errors import UserError, parse_args, report
from revive.runtime.files import clash, write_atomic
from revive.export.trt_build import BuildError, Profile, TensorRTMissing, built_precision, cache_key, \
    cached_engine_matches, engine_card, output_paths, parse_workspace, validate_opt_level, validate_profile
from revive.export.trt_verify import DEFAULT_THRESHOLD_DB
from revive.export.formats import ExportFormat, register

__all__ = ["BuildOptions", "PreparedOnnx", "build_parser", "export_engine", "main", "prepare_onnx"]

log = logging.getLogger("revive.export.to_trt")
DEFAULT_WORKSPACE = "4GiB"

register(ExportFormat(key="tensorrt", title="TensorRT engine", precision="fp16", path=lambda a: a.engine,
                      module="revive.export.to_trt", command="python export/to_trt.py NAME.onnx",
                      runs_on="TensorRT >= 10.12 on the GPU it was built on (+ NAME.card.json beside it)"))


@dataclass(frozen=True)
class BuildOptions:
    profile: Profile
    workspace: int
    opt_level: int = 3
    timing_cache: Path | None = None
    force: bool = False
    verify: bool = False
    threshold: float = DEFAULT_THRESHOLD_DB


@dataclass(frozen=True)
class PreparedOnnx:
    fp16: Path  # what TensorRT builds
    fp32: Path | None  # the FP32 model it came from, when there is one
    card: ModelCard  # the FP16 model's card
    checkpoint: Path | None  # a single checkpoint (PyTorch reference for --verify)


def _to_fp16(fp32: Path, fp16: Path) -> ModelCard:
    from revive.export.to_fp16 import write_fp16

    try:
        return write_fp16(fp32, fp16)
    except ValueError as exc:  # StageError: not a revive FP32 model, or the converter's refusal
        raise BuildError(str(exc)) from None


def prepare_onnx(source: Path | None, pipeline: tuple[Path, Path] | None, fp32_out: Path, fp16_out: Path,
                 max_batch: int) -> PreparedOnnx:
    """Stage 1: the FP16 ONNX model to build, writing NAME.onnx and NAME.fp16.onnx as needed."""
    from revive.export.to_onnx import export_checkpoint

    for path in [source] if source else list(pipeline or ()):
        if not path.is_file():
            raise BuildError(f"{path}: no such file")
    if pipeline is not None:
        try:
            from revive.export.to_onnx import export_pipeline
        except ImportError:
            raise BuildError("--pipeline: this revive has no pipeline exporter (export_pipeline in "
                             "export/to_onnx.py); export the pipeline ONNX first and pass that file") from None
        export_pipeline(pipeline[0], pipeline[1], fp32_out, max_batch=max_batch)
        return PreparedOnnx(fp16_out, fp32_out, _to_fp16(fp32_out, fp16_out), None)
    if source is None:
        raise BuildError("give a checkpoint, an ONNX model or --pipeline")
    if source.suffix != ".onnx":
        export_checkpoint(source, fp32_out, max_batch=max_batch)
        return PreparedOnnx(fp16_out, fp32_out, _to_fp16(fp32_out, fp16_out), source)
    card = read_onnx_card(source)
    validate_profile(1, 1, max_batch, limit=card.batch["max"])
    if card.precision == "fp16":
        log.info("%s is already FP16: building from it as is", source)
        return PreparedOnnx(source, None, card, None)
    if fp16_out.resolve() == source.resolve():
        raise BuildError(f"{source} is an FP32 model named like its FP16 twin; rename it or pass -o")
    return PreparedOnnx(fp16_out, source, _to_fp16(source, fp16_out), None)


def export_engine(source: Path | None, engine_path: Path, fp32_out: Path, fp16_out: Path, options: BuildOptions,
                  pipeline: tuple[Path, Path] | None = None) -> tuple[ModelCard, bool]:
    """All stages; returns the engine's card and whether ``--verify`` passed (True without it)."""
    from revive.export.trt_network import build_engine, current_gpu, load_tensorrt, typing_mode
    from revive.train.checkpoint import file_sha256  # noqa: PLC0415

    onnx = prepare_onnx(source, pipeline, fp32_out, fp16_out, options.profile.max)
    log.info("ONNX models: %s%s (FP16)", f"{onnx.fp32} (FP32), " if onnx.fp32 else "", onnx.fp16)
    try:
        trt, major = load_tensorrt()
    except TensorRTMissing as exc:
        exc.fp16_onnx = onnx.fp16
        raise
    gpu = current_gpu()
    onnx_sha = file_sha256(onnx.fp16)
    key = cache_key(onnx_sha256=onnx_sha, tensorrt_version=trt.__version__, compute_capability=gpu.compute_capability,
                    profile=options.profile, opt_level=options.opt_level, workspace=options.workspace,
                    input_name=onnx.card.input.name)
    card_file = card_path_for_engine(engine_path)
    if not options.force and cached_engine_matches(engine_path, key):
        log.info("%s is up to date (same ONNX, TensorRT %s, GPU, profile): reused; --force rebuilds it",
                 engine_path, trt.__version__)
        card = ModelCard.from_json(card_file.read_text())
    else:
        built = build_engine(trt, major, onnx.fp16, input_name=onnx.card.input.name, image_size=onnx.card.image_size,
                             profile=options.profile, workspace=options.workspace, opt_level=options.opt_level,
                             timing_cache=options.timing_cache)
        wrong = {name: dtype for name, dtype in built.io_dtypes.items() if dtype != "uint8"}
        if wrong:
            raise BuildError(f"the engine's I/O tensors are not uint8: {wrong}; export the ONNX with to_onnx.py")
        precision = built_precision(built.layer_dtypes or built.network_dtypes)
        if precision != "fp16":
            log.warning("TensorRT built no FP16 layer from %s: the engine is FP32", onnx.fp16)
        build = {
            "tensorrt_version": trt.__version__, "tensorrt_module": trt.__name__, "typing": typing_mode(major),
            "gpu_name": gpu.name, "compute_capability": gpu.compute_capability,
            "onnx": str(onnx.fp16), "onnx_sha256": onnx_sha, "source": f"--pipeline {pipeline[0]} {pipeline[1]}" if pipeline else str(source),
            "profile": options.profile.as_dict(), "opt_level": options.opt_level, "workspace_bytes": options.workspace,
            "precision_built": precision, "io_dtypes": built.io_dtypes, "layer_dtypes": dict(built.layer_dtypes),
            "network_dtypes": dict(built.network_dtypes), "cache_key": key,
        }
        card = engine_card(onnx.card, profile=options.profile, precision=precision, build=build)
        write_atomic(engine_path, built.plan)
        write_card_json(card, card_file)
        log.info("wrote %s (%s, %s, batch %d/%d/%d, TensorRT %s, %s sm_%s) and %s", engine_path, card.task, precision,
                 options.profile.min, options.profile.opt, options.profile.max, trt.__version__, gpu.name,
                 gpu.compute_capability.replace(".", ""), card_file.name)
    passed = _verify(engine_path, onnx, card, options) if options.verify else True
    return card, passed


def _verify(engine_path: Path, onnx: PreparedOnnx, card: ModelCard, options: BuildOptions) -> bool:
    from revive.export.trt_verify import compare, report, torch_runner
    from revive.runtime.backends.ort import OrtBackend
    from revive.runtime.backends.tensorrt_engine import TensorRTBackend

    references, closers = {}, []
    ort16 = OrtBackend(onnx.fp16)
    closers.append(ort16)
    references["onnxruntime-fp16"] = ort16.run
    if onnx.checkpoint is not None:
        from revive.export.to_onnx import graph_from_checkpoint

        graph, _ = graph_from_checkpoint(onnx.checkpoint)
        references["pytorch-fp32"] = torch_runner(graph, card)
    elif onnx.fp32 is not None:
        log.info("no single checkpoint: the FP32 reference is ONNX Runtime on %s", onnx.fp32.name)
        ort32 = OrtBackend(onnx.fp32, device="cpu")
        closers.append(ort32)
        references["onnxruntime-fp32"] = ort32.run
    else:
        log.warning("an FP16 ONNX input has no FP32 twin: --verify compares with ONNX Runtime only")
    fp32_name = next((n for n in references if n.endswith("fp32")), None)
    extra = {"fp16-vs-fp32": ("onnxruntime-fp16", fp32_name)} if fp32_name else None
    engine = TensorRTBackend(engine_path)
    try:
        results = compare(engine.run, references, [1, options.profile.opt, options.profile.max], card.image_size,
                          extra=extra)
    finally:
        engine.close()
        for backend in closers:
            backend.close()
    return report(results, options.threshold)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="to_trt", description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path,
                        help="a revive checkpoint (.pt) or an ONNX model exported by to_onnx.py (FP32 or FP16)")
    parser.add_argument("--pipeline", nargs=2, type=Path, metavar=("RESTORE_CKPT", "COLORIZE_CKPT"),
                        help="build the fused restore+colorize graph from two checkpoints instead")
    parser.add_argument("-o", "--output", help="engine file NAME.engine (default: beside the source); "
                                               "NAME.onnx, NAME.fp16.onnx and NAME.card.json go beside it")
    group = parser.add_argument_group("optimisation profile (batch sizes)")
    group.add_argument("--min-batch", type=int, default=1, help="smallest batch (default %(default)s)")
    group.add_argument("--opt-batch", type=int, help=f"batch TensorRT tunes for (default: {DEFAULT_BATCH_SIZE}, or max if smaller)")
    group.add_argument("--max-batch", type=int, default=64, help="largest batch (default %(default)s)")
    group = parser.add_argument_group("builder")
    group.add_argument("--workspace", default=DEFAULT_WORKSPACE,
                       help="workspace memory pool limit: bytes or 512MiB, 4GiB, 8G... (default %(default)s)")
    group.add_argument("--opt-level", type=int, default=3,
                       help="builder optimisation level 0-5; higher builds slower, may run faster (default 3)")
    group.add_argument("--timing-cache", type=Path, metavar="FILE",
                       help="TensorRT timing cache: read if present, saved after the build, shared across builds")
    group.add_argument("--force", action="store_true", help="rebuild even when a matching engine exists")
    group = parser.add_argument_group("verification")
    group.add_argument("--verify", action="store_true",
                       help="compare the engine with ONNX Runtime (same FP16 ONNX) and PyTorch FP32 at batch 1, "
                            "opt and max; exit 1 below the threshold")
    group.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD_DB,
                       help="minimum PSNR in dB on the uint8 outputs (default %(default)s)")
    return parser


def _missing_tensorrt_message(exc: TensorRTMissing) -> str:
    fp16 = exc.fp16_onnx or "NAME.fp16.onnx"
    return (f"to_trt: {exc}\nThe ONNX models are written; {fp16} is the FP16 model to build from. Meanwhile run it "
            f"with ONNX Runtime (install onnxruntime-gpu for the CUDA provider): "
            f"runtime-infer --engine {fp16} INPUTS... -o OUT")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if (args.source is None) == (args.pipeline is None):
        return report("to_trt", BuildError("give one CKPT or ONNX file, or --pipeline RESTORE_CKPT COLORIZE_CKPT"))
    pipeline = tuple(args.pipeline) if args.pipeline else None
    try:
        options = BuildOptions(
            profile=validate_profile(args.min_batch, args.opt_batch or max(args.min_batch, min(DEFAULT_BATCH_SIZE, args.max_batch)),
                                     args.max_batch),
            workspace=parse_workspace(args.workspace), opt_level=validate_opt_level(args.opt_level),
            timing_cache=args.timing_cache, force=args.force, verify=args.verify, threshold=args.threshold)
        default_name = args.source or args.pipeline[1].with_name(args.pipeline[1].stem + "_pipeline.pt")
        engine, fp32, fp16 = output_paths(args.output, default_name)
        sources = list(pipeline) if pipeline else [args.source]
        written = [engine, card_path_for_engine(engine)]
        if pipeline or args.source.suffix != ".onnx":  # an ONNX source is read, never rewritten
            written += [fp32, fp16]
        found = clash(written, sources)
        if found is not None:
            raise BuildError(f"{found[0]}: the output would overwrite the input {found[1]}; give another -o")
        _, passed = export_engine(args.source, engine, fp32, fp16, options, pipeline)
    except TensorRTMissing as exc:
        print(_missing_tensorrt_message(exc), file=sys.stderr)
        return 2
    except UserError as exc:
        return report("to_trt", exc)
    if not passed:
        print(f"to_trt: verification failed: the engine is below {options.threshold:g} dB PSNR against a "
              "reference (table above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
