"""``revive-bench``: inference speed, files -> files speed, output parity, training speed, results summary.

    revive-bench speed        [MODELS] [--batch 1,8,32,64] [--backends ...] [--files DIR]
    revive-bench files        [MODELS] [--files DIR | --images N] [--batch-size 8]
    revive-bench serve        [MODELS] [--files DIR | --images N] [--concurrency 1,4,16] [--protocol grpc]
    revive-bench ray          [MODELS] [--files DIR | --images N] [--repeats 3]   (Ray's overhead)
    revive-bench parity       [MODELS] [--backends ...] [--images 16]       (exit 1 below thresholds)
    revive-bench train-speed  [--models pix2pix,restore,colorize] [--batch 32] [--amp fp32,bf16] ...
    revive-bench restore-quality [--inputs DIR --truth DIR] [--engine MODEL] [--baseline classical]
    revive-bench damage-types [--engine MODEL] [--fill F]  (each kind of damage alone: found, left)
    revive-bench flicker      [--video FILE] [--engine MODEL ...] [--stand-in]  (film colour: smoothing vs per frame)
    revive-bench summary      (rewrites benchmarks/RESULTS.md from benchmarks/results/*/)

MODELS: ``--checkpoint CKPT`` and/or ``--onnx``/``--onnx-fp16``/``--onnx-int8``/``--engine`` files; with
none, a full-size pix2pix U-Net with random weights is made so every command runs
anywhere. Results go to ``benchmarks/results/<machine>/`` (``--out DIR`` elsewhere).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from revive.runtime.card import DEFAULT_BATCH_SIZE
from revive.runtime.errors import UserError, parse_args, report

__all__ = ["build_parser", "entry", "main"]

log = logging.getLogger("revive.benchmarks")


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers, e.g. 1,8,32") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: batch sizes must be >= 1")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _size(text: str) -> int | tuple[int, int]:
    """N (a square size) or WxH (files: synthetic input pictures of W x H)."""
    try:
        parts = tuple(int(x) for x in text.lower().split("x"))
    except ValueError:
        parts = ()
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a size in pixels (256) or WxH (6000x4000)")
    return parts[0] if len(parts) == 1 else parts


def _model_args(p: argparse.ArgumentParser, sizes: str = "") -> None:
    from .random_models import random_model_names

    g = p.add_argument_group("models (default: a full-size random-weight model, see --model)")
    g.add_argument("--checkpoint", type=Path, help="a revive checkpoint (.pt); PyTorch backends need one")
    g.add_argument("--pipeline", nargs=2, type=Path, metavar=("RESTORE_CKPT", "COLORIZE_CKPT"),
                   help="a restorer and a colorizer checkpoint, benchmarked as the fused pipeline graph")
    g.add_argument("--model", default="pix2pix", choices=random_model_names(),
                   help="the random-weight model made without --checkpoint/--pipeline/--onnx (default pix2pix: "
                        "unet_256, 54M; restore/colorize: the two-stage EfficientNet-B3 U-Nets)")
    g.add_argument("--onnx", type=Path, help="FP32 ONNX model (default: exported from --checkpoint)")
    g.add_argument("--onnx-fp16", type=Path, help="FP16 ONNX model (default: converted from the FP32 one)")
    g.add_argument("--onnx-int8", type=Path, help="INT8 QDQ ONNX model (default: quantized from the FP32 one, "
                                                  "calibrated on the built-in sample)")
    g.add_argument("--engine", type=Path, help="TensorRT engine (default: built from the FP16 ONNX when "
                                               "TensorRT and a GPU are present)")
    g.add_argument("--image-size", type=_size if sizes else int, default=256,
                   help="size of the random-weight model (default 256)" + sizes)
    g.add_argument("--amp-dtype", choices=("fp16", "bf16"),
                   help="autocast dtype of torch-amp (default fp16 on CUDA, bf16 on the CPU)")
    g.add_argument("--threads", type=int, default=0,
                   help="CPU threads for PyTorch and ONNX Runtime (default: all cores)")
    g.add_argument("--workdir", type=Path, help="keep exported models here (default: a temporary folder)")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>/)")
    p.add_argument("--tag", default="", help="suffix for result file names (speed-TAG.json ...)")
    p.add_argument("-v", "--verbose", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    from .backends import BACKENDS
    from .train_speed import train_speed_models

    names = ", ".join(BACKENDS)
    parser = argparse.ArgumentParser(prog="revive-bench", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("speed", help="engine-only throughput and latency per backend and batch size")
    _model_args(p)
    p.add_argument("--batch", type=_ints, default=(1, 8, 32, 64), help="batch sizes (default 1,8,32,64)")
    p.add_argument("--backends", default="torch-fp32,torch-amp,torch-compile,ort-cpu,ort-cuda,tensorrt",
                   help=f"comma-separated, or all; from: {names} (default %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per measurement (default 3)")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per measurement (default 20)")
    p.add_argument("--max-seconds", type=float, default=30.0,
                   help="stop timing one measurement after this long (at least 3 calls; default 30)")
    p.add_argument("--files", type=Path, metavar="DIR", help="also time files -> files on this folder")
    p.add_argument("--interleave", action="store_true",
                   help="time the backends in turns, one call each per round (ratios that hold on a shared CPU)")

    p = sub.add_parser("files", help="files -> files speed through the runtime-infer pipeline")
    _model_args(p, sizes="; also the synthetic inputs' size, or WxH: W x H inputs (e.g. 6000x4000 scans, "
                         "restored in tiles) and a 256-px model")
    p.add_argument("--files", type=Path, metavar="DIR", help="input images (default: --images synthetic PNGs)")
    p.add_argument("--images", type=int, default=64, help="synthetic inputs to make without --files (default 64)")
    p.add_argument("--backends", default="ort-cpu,ort-cuda,tensorrt,torch-fp32", help="(default %(default)s)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="decode and encode threads each (default 2)")
    p.add_argument("--inflight", type=int, default=2, help="batches in flight (default 2)")
    p.add_argument("--tile", default="auto", help="restore models: auto, off or N, as runtime-infer (default auto)")
    p.add_argument("--overlap", type=int, metavar="P", help="tile overlap in pixels (default: tile // 8)")
    p.add_argument("--max-side", type=int, metavar="M", help="restore on a copy no longer than M px")

    p = sub.add_parser("serve", help="revive-serve (Triton) under 1/4/16 concurrent clients vs files -> files")
    _model_args(p)
    p.add_argument("--files", type=Path, metavar="DIR", help="input images (default: --images synthetic PNGs)")
    p.add_argument("--images", type=int, default=32, help="synthetic inputs to make without --files (default 32)")
    p.add_argument("--concurrency", type=_ints, default=(1, 4, 16), help="clients in flight (default 1,4,16)")
    p.add_argument("--protocol", choices=("grpc", "http"), default="grpc", help="(default %(default)s)")
    p.add_argument("--window", type=float, default=5.0, help="measurement window, seconds (default 5)")
    p.add_argument("--max-windows", type=int, default=10, help="give up on stability after this many (default 10)")
    p.add_argument("--max-batch", type=int, default=16, help="revive-serve --max-batch (default 16)")
    p.add_argument("--max-queue-delay-us", type=int, default=5000, help="revive-serve's (default 5000)")
    p.add_argument("--instances", type=int, default=1, help="revive-serve --instances (default 1)")
    p.add_argument("--batch-size", type=int, default=8, help="files -> files batch size (default 8)")
    p.add_argument("--workers", type=int, default=2, help="decode/encode threads of both (default 2)")

    p = sub.add_parser("ray", help="runtime-infer --ray against one process on the same folder (Ray's overhead)")
    _model_args(p)
    p.add_argument("--files", type=Path, metavar="DIR", help="input images (default: --images synthetic PNGs)")
    p.add_argument("--images", type=int, default=64, help="synthetic inputs to make without --files (default 64)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="one process: decode and encode threads each (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="alternating one-process / Ray runs (default 3)")

    p = sub.add_parser("parity", help="outputs against PyTorch FP32 and metrics against ground truth")
    _model_args(p)
    p.add_argument("--backends", default="ort-cpu,ort-cpu-fp16,torch-amp,ort-cuda,ort-cuda-fp32,tensorrt",
                   help=f"compared with torch-fp32; from: {names} (default %(default)s)")
    p.add_argument("--data", default="sample", help="ground-truth colour images (default: the built-in sample)")
    p.add_argument("--images", type=int, default=16, help="images, spread over the data (default 16)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--min-psnr-fp32", type=float, default=60.0, help="dB vs PyTorch FP32 (default 60)")
    p.add_argument("--min-psnr-fp16", type=float, default=45.0, help="dB vs PyTorch FP32 (default 45)")
    p.add_argument("--min-psnr-bf16", type=float, default=30.0, help="dB vs PyTorch FP32 (default 30)")
    p.add_argument("--min-psnr-int8", type=float, default=40.0, help="dB vs PyTorch FP32 (default 40)")
    p.add_argument("--max-dssim", type=float, default=0.001,
                   help="largest |SSIM difference| to PyTorch FP32 against the truth (default 0.001)")

    p = sub.add_parser("train-speed", help="training images/s: FP32 vs mixed precision, channels-last, compile")
    p.add_argument("--models", default=",".join(train_speed_models()),
                   help=f"from {', '.join(train_speed_models())}: the model families with a training task "
                        "(default %(default)s)")
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH_SIZE)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--amp", default="fp32,bf16", help="precisions to compare: fp32, bf16, fp16 (default fp32,bf16)")
    p.add_argument("--channels-last", default="off,on", help="off, on or off,on (default off,on)")
    p.add_argument("--compile", action="store_true", help="also run each configuration under torch.compile")
    p.add_argument("--configs", help="explicit configurations instead of the --amp x --channels-last grid, e.g. "
                                     "fp32,bf16,bf16+channels_last,bf16+channels_last+compile")
    p.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps (default 3; more under --compile)")
    p.add_argument("--ngf", type=int, default=64, help="pix2pix generator width (default 64, as in the paper)")
    p.add_argument("--encoder", default=None, help="two-stage encoder (default efficientnet-b3)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for PyTorch (default: all cores)")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>/)")
    p.add_argument("--tag", default="")
    p.add_argument("-v", "--verbose", action="store_true")

    p = sub.add_parser("restore-quality", help="mask IoU, damaged-region error and undamaged change of a restorer, "
                                               "on the scan-like set or on damaged inputs with their truths")
    p.add_argument("--inputs", type=Path, help="folder of damaged gray images (recursive; default: build the "
                                               "scan-like set, benchmarks/scan_set.py)")
    p.add_argument("--truth", type=Path,
                   help="folder of the undamaged photos (colour or gray), same relative paths and stems")
    p.add_argument("--engine", action="append", metavar="MODEL",
                   help="a restore (or pipeline) model as runtime-infer takes it; twice: restore then colorize "
                        "(default builtin:restore)")
    p.add_argument("--baseline", choices=("classical",),
                   help="also score the median-difference detector + OpenCV Telea inpainting, and Telea's fill "
                        "on the restorer's own mask (needs the bench extra)")
    p.add_argument("--fill", choices=("model", "classical"), default=None,
                   help="runtime-infer's --fill for the engines (default: runtime-infer's; with --baseline the "
                        "other fill is scored too)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where ONNX models run")
    p.add_argument("--keep-outputs", type=Path, metavar="DIR",
                   help="keep the scan set and runtime-infer's outputs here")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>/)")
    p.add_argument("--tag", default="", help="suffix for result file names (restore_quality-TAG.json ...)")
    p.add_argument("-v", "--verbose", action="store_true")

    p = sub.add_parser("damage-types", help="per kind of damage (scan scratches, hairs, dust, folds, polygons; "
                                            "film dust and scratch): the share a restorer finds, the error left")
    p.add_argument("--engine", default="builtin:restore", metavar="MODEL",
                   help="a restore model as runtime-infer takes it (default builtin:restore)")
    p.add_argument("--fill", choices=("model", "classical"), default=None,
                   help="runtime-infer's --fill (default: runtime-infer's)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where ONNX models run")
    p.add_argument("--keep-outputs", type=Path, metavar="DIR", help="keep the pictures and outputs here")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>/)")
    p.add_argument("--tag", default="", help="suffix for result file names (damage_types-TAG.json ...)")
    p.add_argument("-v", "--verbose", action="store_true")

    p = sub.add_parser("flicker", help="films: chroma flicker and colourfulness with and without temporal "
                                       "smoothing, colour across cuts, frames/s against a PNG folder, memory")
    p.add_argument("--video", type=Path, help="a film to measure (default: a synthetic old film made here)")
    p.add_argument("--engine", action="append", default=[], metavar="MODEL",
                   help="as runtime-infer: once, or twice (restore then colorize); default builtin:restore "
                        "builtin:colorize")
    p.add_argument("--stand-in", action="store_true",
                   help="add a random-weight colorizer with amplified output as the colorizer (no trained one)")
    p.add_argument("--stand-in-gain", type=float, default=20.0, help="its output layer's scale (default 20)")
    p.add_argument("--size", type=_size, default=(320, 240), help="synthetic film's WxH (default 320x240)")
    p.add_argument("--shot-frames", type=_ints, default=(48, 48, 48), help="synthetic shots' lengths "
                                                                             "(default 48,48,48)")
    p.add_argument("--window", type=int, default=9, help="--temporal-window (default 9)")
    p.add_argument("--repeats", type=int, default=2, help="alternating film / folder throughput runs (default 2)")
    p.add_argument("--preset", default="", help="x264 preset of the throughput run's film (default: "
                                                "runtime-infer's)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where ONNX models run")
    p.add_argument("--memory-minutes", type=float, default=0.0,
                   help="also run a synthetic film this long in a fresh runtime-infer and sample its memory")
    p.add_argument("--memory-size", type=_size, default=(160, 120), help="that film's WxH (default 160x120)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep the films made and written here")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>/)")
    p.add_argument("--tag", default="", help="suffix for result file names (flicker-TAG.json ...)")
    p.add_argument("-v", "--verbose", action="store_true")

    p = sub.add_parser("summary", help="rewrite benchmarks/RESULTS.md from the results folders")
    p.add_argument("--root", type=Path, help="results root (default benchmarks/results)")
    p.add_argument("--output", type=Path, help="markdown file (default benchmarks/RESULTS.md)")
    p.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not args.verbose:  # the ONNX exporter's optimiser chatter
        for name in ("onnxscript", "onnx_ir", "torch.onnx", "torch._dynamo", "torch._inductor"):
            logging.getLogger(name).setLevel(logging.WARNING)
    from . import commands

    # The commands that time or compare the exported models: each gets the models made or named here.
    on_models = {"speed": commands.speed, "files": commands.files, "serve": commands.serve, "ray": commands.ray,
                 "parity": commands.parity}
    command = "revive-bench " + " ".join(argv)
    try:
        if args.command == "summary":
            return commands.summary(args)
        if args.command == "train-speed":
            return commands.train_speed(args, command)
        if args.command == "restore-quality":
            return commands.restore_quality(args, command)
        if args.command == "flicker":
            return commands.flicker(args, command)
        if args.command == "damage-types":
            return commands.damage_types(args, command)
        with tempfile.TemporaryDirectory(prefix="revive-bench.") as tmp:
            workdir = args.workdir or Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            return on_models[args.command](args, commands.models_from_args(args, workdir), command)
    except UserError as exc:
        return report(f"revive-bench {args.command}", exc)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
