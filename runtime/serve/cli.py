"""``revive-serve``: serve restore and/or colorize models on Triton Inference Server (through PyTriton).

Exit status: 0 stopped by SIGTERM or Ctrl-C, 1 Triton stopped on its own,
2 usage, missing package, model-card or engine error, a port in use or Triton failing to start
(one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import warnings
from pathlib import Path

__all__ = ["build_parser", "entry", "main"]

log = logging.getLogger("revive.runtime.serve")
PROG = "revive-serve"


def build_parser() -> argparse.ArgumentParser:
    from ..backends import backend_names
    from ..cli import add_layout_options
    from ..images import DEFAULT_MAX_PIXELS
    from ..system import cpu_count
    from .server import ServeConfig
    from .service import FORMATS, ServiceConfig

    d, ds = ServeConfig(), ServiceConfig()
    p = argparse.ArgumentParser(prog=PROG, description="Serve restore and/or colorize models on Triton Inference "
                                "Server as model 'revive': input 'image' (BYTES, one encoded image), outputs "
                                "'image', 'error' and, for restore models, 'restored'.",
                                epilog=__doc__.split("\n\n", 1)[1])
    model = p.add_argument_group("model")
    model.add_argument("--engine", action="append", required=True, type=Path, metavar="MODEL",
                       help=".onnx (ONNX Runtime) or .engine/.plan (TensorRT); give twice for restore then colorize")
    model.add_argument("--backend", choices=("auto", *backend_names()), default="auto",
                       help="backend for every model (default auto: by the file's suffix)")
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="where ONNX models run (default %(default)s)")
    add_layout_options(p.add_argument_group("tiles (restore models: how the restorer sees a picture; as "
                                            "runtime-infer)"))
    net = p.add_argument_group("network (loopback by default: pass --host 0.0.0.0 to listen on every interface)")
    net.add_argument("--host", default=d.host, help="address of every endpoint (default %(default)s)")
    net.add_argument("--http-port", type=int, default=d.http_port, help="(default %(default)s)")
    net.add_argument("--grpc-port", type=int, default=d.grpc_port, help="(default %(default)s)")
    net.add_argument("--metrics-port", type=int, default=d.metrics_port,
                     help="Prometheus metrics at /metrics (default %(default)s)")
    batching = p.add_argument_group("batching (Triton's dynamic batcher)")
    batching.add_argument("--max-batch", type=int, help="images per batch (default: the card's max batch, at most 32)")
    batching.add_argument("--max-queue-delay-us", type=int, default=d.max_queue_delay_us,
                          help="how long a request may wait for a batch to fill (default %(default)s)")
    batching.add_argument("--max-queue", type=int, default=d.max_queue,
                          help="requests waiting beyond this are refused; 0: no limit (default %(default)s)")
    batching.add_argument("--instances", type=int, default=d.instances,
                          help="model instances, batches run at once (default %(default)s)")
    out = p.add_argument_group("responses")
    out.add_argument("--size", choices=("native", "model"), default="native",
                     help="native: the input's own size; model: the model's square output (default %(default)s)")
    out.add_argument("--format", choices=FORMATS, default=ds.fmt, dest="fmt",
                     help="default output format (auto: the upload's own container); a request's 'format' "
                          "parameter overrides it; a multi-page TIFF upload always gets a multi-page TIFF "
                          "(default %(default)s)")
    out.add_argument("--depth", choices=("auto", "8", "16"), default=ds.depth,
                     help="bits per sample of PNG and TIFF responses; auto: the upload's (default %(default)s)")
    out.add_argument("--compression", choices=("deflate", "lzw", "none"), default=ds.compression,
                     help="TIFF responses (default %(default)s; lzw needs pip install 'revive[lzw]')")
    out.add_argument("--quality", type=int, default=ds.quality,
                     help="JPEG and WebP quality 1..100 (default %(default)s)")
    out.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                     help="refuse larger images (decompression-bomb guard); 0: no limit (default %(default)s)")
    out.add_argument("--workers", type=int, default=min(4, cpu_count()),
                     help="decode/encode threads (default %(default)s)")
    p.add_argument("--exit-timeout", type=int, default=d.exit_timeout_s,
                   help="seconds in-flight requests get when stopping (default %(default)s)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    return p


def main(argv: list[str] | None = None) -> int:
    from ..cli import server_args
    from ..errors import UserError, report

    args = server_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    problem = _check_args(args)
    if problem:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    from .server import missing_packages

    missing = missing_packages()
    if missing:
        print(f"{PROG}: {', '.join(missing)} not installed: pip install 'revive[serve]'", file=sys.stderr)
        return 2

    try:
        return _run(args)
    except UserError as exc:  # a bad model or card, a port in use: one line; bugs keep their tracebacks
        return report(PROG, exc)


def _check_args(args: argparse.Namespace) -> str:
    if len(args.engine) > 2:
        return "give one --engine, or two (restore then colorize)"
    for flag in ("http_port", "grpc_port", "metrics_port"):
        if not 1 <= getattr(args, flag) <= 65535:
            return f"--{flag.replace('_', '-')} must be within 1..65535"
    if len({args.http_port, args.grpc_port, args.metrics_port}) != 3:
        return "--http-port, --grpc-port and --metrics-port must differ"
    for flag, low in (("max_batch", 1), ("instances", 1), ("workers", 1), ("max_queue_delay_us", 0),
                      ("max_queue", 0), ("max_pixels", 0), ("exit_timeout", 0)):
        value = getattr(args, flag)
        if value is not None and value < low:
            return f"--{flag.replace('_', '-')} must be at least {low}"
    if not 1 <= args.quality <= 100:
        return "--quality must be within 1..100"
    if args.max_side is not None and args.max_side < 1:
        return "--max-side must be at least 1"
    if args.overlap is not None and args.overlap < 0:
        return "--overlap must be 0 or more pixels"
    if args.depth == "16" and args.fmt in ("jpg", "webp"):
        return f"--depth 16: {args.fmt} holds 8 bits per sample; use --format png, tiff or auto"
    try:
        _layout(args)
    except ValueError as exc:
        return str(exc)
    return ""


def _layout(args: argparse.Namespace):
    from ..cli import layout_options

    return layout_options(args)


def _run(args: argparse.Namespace) -> int:
    from PIL.Image import DecompressionBombWarning

    from ..backends import check_model_path, open_backend
    from ..encode import check_compression
    from ..images import set_max_pixels
    from .server import ServeConfig, serve
    from .service import ServiceConfig

    for path in args.engine:
        check_model_path(path)
    check_compression(args.compression)
    set_max_pixels(args.max_pixels)
    warnings.simplefilter("ignore", category=DecompressionBombWarning)  # the decoder checks --max-pixels itself
    backends = [open_backend(path, device=args.device, concurrency=args.instances, backend=args.backend)
                for path in args.engine]
    try:
        service = ServiceConfig(native=args.size == "native", fmt=args.fmt, quality=args.quality, depth=args.depth,
                                compression=args.compression, max_pixels=args.max_pixels or None,
                                workers=args.workers, layout=_layout(args))
        config = ServeConfig(host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
                             metrics_port=args.metrics_port,
                             max_batch=args.max_batch or min(backends[0].card.batch["max"], 32),
                             max_queue_delay_us=args.max_queue_delay_us, max_queue=args.max_queue,
                             instances=args.instances, exit_timeout_s=args.exit_timeout, service=service)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        stopped = serve(backends, config, stop)
    finally:
        for backend in backends:
            backend.close()
    log.info("stopped")
    return 0 if stopped else 1


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
