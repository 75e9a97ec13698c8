"""``revive-ui``: a web page to restore and colorize photos, on this machine, with revive's own runtime.

Exit status: 0 stopped by Ctrl-C or SIGTERM, 2 usage, missing package, model or port error
(one line on stderr, no traceback), 130 interrupted before the page was up.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path

__all__ = ["build_parser", "entry", "main"]

log = logging.getLogger("revive.runtime.ui")
PROG = "revive-ui"
DEFAULT_UPLOAD_MB = 500


def build_parser() -> argparse.ArgumentParser:
    from ..backends import backend_names
    from ..cli import add_format_options, add_layout_options
    from ..images import DEFAULT_MAX_PIXELS
    from ..system import cpu_count

    p = argparse.ArgumentParser(prog=PROG, description="A web page to restore and colorize photos: drop photos (or "
                                "a zip), compare before and after, download the results at full size.",
                                epilog=__doc__.split("\n\n", 1)[1])
    model = p.add_argument_group("model")
    model.add_argument("--engine", action="append", type=Path, metavar="MODEL",
                       help=".onnx, .engine/.plan or builtin:NAME; give twice for restore then colorize "
                            "(default: the bundled builtin:restore then builtin:colorize)")
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="where ONNX models run (default %(default)s)")
    model.add_argument("--backend", choices=("auto", *backend_names()), default="auto",
                       help="what runs the models (default %(default)s: by file suffix)")
    model.add_argument("--workers", type=int, default=min(4, cpu_count()),
                       help="decode and encode threads, each (default %(default)s)")
    model.add_argument("--concurrency", type=int, default=2, metavar="N",
                       help="photos run at once, started in the order they came (default %(default)s: one photo's "
                            "encoding overlaps the next one's models)")
    add_layout_options(p.add_argument_group("tiles (restore models: how the restorer sees a picture; as "
                                            "runtime-infer)"))
    out = p.add_argument_group("results (as runtime-infer writes them)")
    add_format_options(out)
    out.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                     help="refuse larger images (decompression-bomb guard); 0: no limit (default %(default)s)")
    out.add_argument("--max-upload-mb", type=float, default=DEFAULT_UPLOAD_MB,
                     help="largest upload, and largest unpacked zip, in MB; 0: no limit (default %(default)s)")
    out.add_argument("--work-dir", type=Path, metavar="DIR",
                     help="keep uploads and results here (default: a temporary folder, removed on exit)")
    net = p.add_argument_group("network (loopback only, unless --public)")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    net.add_argument("--port", type=int, default=7860, help="(default %(default)s; 0: any free port)")
    net.add_argument("--public", action="store_true",
                     help="allow a --host other machines can reach (the page has no login: anyone who reaches it "
                          "can use it and see the photos it holds)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    return p


def main(argv: list[str] | None = None) -> int:
    from ..cli import server_args
    from ..errors import UserError, report

    args = server_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    from .server import missing_packages

    try:
        options = _options(args)
        missing = missing_packages()
        if missing:
            raise UserError(f"{', '.join(missing)} not installed: pip install 'revive[ui]'")
        return _run(args, options)
    except UserError as exc:  # a bad model, a port in use: one line; bugs keep their tracebacks
        return report(PROG, exc)
    except KeyboardInterrupt:  # Ctrl-C while the models load
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _options(args: argparse.Namespace):
    """Flags -> InferOptions; UsageError (one line) for a bad value or combination."""
    from ..errors import UsageError
    from ..infer import InferOptions
    from ..cli import layout_options
    from .server import check_host

    checks = [(args.engine is not None and len(args.engine) > 2, "give one --engine, or two (restore then colorize)"),
              (args.workers < 1, "--workers must be at least 1"),
              (args.concurrency < 1, "--concurrency must be at least 1"),
              (not 1 <= args.quality <= 100, "--quality must be within 1..100"),
              (args.max_pixels < 0, "--max-pixels must be 0 (no limit) or positive"),
              (args.max_upload_mb < 0, "--max-upload-mb must be 0 (no limit) or positive"),
              (args.max_side is not None and args.max_side < 1, "--max-side must be at least 1"),
              (args.overlap is not None and args.overlap < 0, "--overlap must be 0 or more pixels"),
              (not 0 <= args.port <= 65535, "--port must be within 0..65535")]
    for failed, reason in checks:
        if failed:
            raise UsageError(reason)
    check_host(args.host, args.public)
    try:
        layout = layout_options(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return InferOptions(device=args.device, backend=args.backend, workers=args.workers, fmt=args.fmt,
                        quality=args.quality, depth=args.depth, compression=args.compression,
                        max_pixels=args.max_pixels or None, layout=layout)


def _run(args: argparse.Namespace, options) -> int:
    from ..backends import check_model_path, open_backend
    from ..models import default_models
    from .app import build_app
    from .desk import Desk
    from .server import UiServer

    models = args.engine or default_models()  # BuiltinModelError (a UserError) names --engine while they are missing
    for model in models:
        check_model_path(model)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="revive-ui-"))
    backends = []
    try:
        # As runtime-infer opens them, times the photos run at once: every batch in flight has its own slot.
        backends = [open_backend(m, device=options.device, concurrency=options.inflight * args.concurrency,
                                 backend=options.backend) for m in models]
        desk = Desk(backends, options, work, max_upload_bytes=int(args.max_upload_mb * 1e6),
                    concurrency=args.concurrency)
        try:
            server = UiServer(build_app(desk), args.host, args.port)
            route = " then ".join(f"{b.card.task} ({b.path.name})" for b in backends)
            print(f"{PROG}: {route}; open {server.url} in a browser (Ctrl-C stops)", file=sys.stderr)
            _run_until_stopped(server)
        finally:
            desk.close()
    finally:
        for backend in backends:
            backend.close()
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    log.info("stopped")
    return 0


class _Stopped(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stopped


def _run_until_stopped(server) -> None:
    """uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for the handler it found:
    this one ends the run normally, so uploads are removed and the exit status is 0."""
    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    except _Stopped:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
