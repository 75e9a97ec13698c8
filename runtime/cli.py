"""``runtime-infer``: restore and/or colorize photos with exported models, files to files.

Exit status: 0 every input written (or already there), 1 some inputs failed,
2 usage, model-card or engine error (one line on stderr, no traceback),
130 interrupted (outputs written so far are complete; a rerun resumes).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
import warnings
from pathlib import Path

__all__ = ["build_parser", "entry", "main"]

log = logging.getLogger("revive.runtime")
PROG = "runtime-infer"


def build_parser() -> argparse.ArgumentParser:
    from .backends import backend_names
    from .card import DEFAULT_BATCH_SIZE
    from .images import DEFAULT_MAX_PIXELS
    from .system import cpu_count
    from .inputs import DEFAULT_EXTS

    p = argparse.ArgumentParser(prog=PROG, description="Restore and/or colorize photos with exported models, "
                                "files to files.", epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files and/or folders (recursive)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (the input tree is mirrored)")
    model = p.add_argument_group("model")
    model.add_argument("--engine", action="append", required=True, type=Path, metavar="MODEL",
                       help=".onnx (ONNX Runtime) or .engine/.plan (TensorRT); give twice for restore then colorize")
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where ONNX models run (default %(default)s)")
    model.add_argument("--backend", choices=("auto", *backend_names()), default="auto",
                       help="what runs the models (default %(default)s: by file suffix, .onnx -> onnxruntime, "
                            ".engine/.plan -> tensorrt)")
    model.add_argument("--batch-size", type=int,
                       help=f"images per batch (default: the card's opt batch, at most {DEFAULT_BATCH_SIZE})")
    model.add_argument("--workers", type=int, default=min(4, cpu_count()),
                       help="decode threads and encode threads, each (default %(default)s)")
    out = p.add_argument_group("output")
    out.add_argument("--size", choices=("native", "model"), default="native",
                     help="native: the input's own size (model chroma on the input's luminance); "
                          "model: the model's square output (default %(default)s)")
    out.add_argument("--format", choices=("png", "jpg"), default="png", dest="fmt", help="(default %(default)s)")
    out.add_argument("--quality", type=int, default=95, help="JPEG quality 1..100 (default %(default)s)")
    out.add_argument("--save-restored", action="store_true",
                     help="restore models: also write the restored gray as NAME.restored.EXT")
    out.add_argument("--overwrite", action="store_true", help="redo inputs whose outputs exist (default: skip them)")
    out.add_argument("--summary", type=Path, metavar="FILE", help="write a JSON report of every file")
    inp = p.add_argument_group("inputs")
    inp.add_argument("--ext", default=",".join(e.lstrip(".") for e in DEFAULT_EXTS), metavar="EXT,...",
                     help="comma-separated extensions searched for in folders; files named explicitly are "
                          "always taken (default %(default)s)")
    inp.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                     help="refuse larger images (decompression-bomb guard); 0: no limit (default %(default)s)")
    run = p.add_argument_group("run")
    run.add_argument("--dry-run", action="store_true", help="list the work and write nothing")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(message)s" if args.verbose else "%(message)s")
    problem = _check_args(args)
    if problem:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2

    from .backends import BackendError
    from .card import CardError
    from .inputs import InputError

    try:
        return _run(args)
    except (BackendError, CardError, InputError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished outputs are complete, rerun to resume", file=sys.stderr)
        return 130


def _check_args(args: argparse.Namespace) -> str:
    if len(args.engine) > 2:
        return "give one --engine, or two (restore then colorize)"
    if args.batch_size is not None and args.batch_size < 1:
        return "--batch-size must be at least 1"
    if args.workers < 1:
        return "--workers must be at least 1"
    if not 1 <= args.quality <= 100:
        return "--quality must be within 1..100"
    if args.max_pixels < 0:
        return "--max-pixels must be 0 (no limit) or positive"
    return ""


def _run(args: argparse.Namespace) -> int:
    from .backends import check_model_path, open_backend
    from .card import CardError, read_card
    from .inputs import find_inputs, normalise_exts, plan_jobs
    from .pipeline import PipelineConfig, check_chain

    started = time.perf_counter()
    for path in args.engine:
        check_model_path(path)
    found = find_inputs(args.inputs, normalise_exts(args.ext.split(',')), exclude=args.output)
    if not found:
        print(f"{PROG}: no inputs found in {', '.join(map(str, args.inputs))} "
              f"(extensions: {' '.join(normalise_exts(args.ext.split(',')))})", file=sys.stderr)
        return 2
    # A dry run only reads the cards; a real run loads each model once and takes the card it carries.
    inflight = PipelineConfig.inflight
    backends = [] if args.dry_run else [open_backend(path, device=args.device, concurrency=inflight,
                                                     backend=args.backend)
                                        for path in args.engine]
    try:
        cards = [b.card for b in backends] if backends else [read_card(path) for path in args.engine]
        check_chain(cards)
        if args.save_restored and not any(c.task in ("restore", "pipeline") for c in cards):
            raise CardError("--save-restored needs a restore or pipeline model")
        jobs = plan_jobs(found, args.output, args.fmt, save_restored=args.save_restored,
                         overwrite=args.overwrite)
        if args.dry_run:
            _print_plan(jobs)
            return 0
        return _process(args, jobs, backends, cards, started)
    finally:
        for backend in backends:
            backend.close()


def _print_plan(jobs) -> None:
    for job in jobs:
        what = {"pending": "write", "skipped": "skip (exists)", "failed": f"refuse ({job.reason})"}[job.status]
        print(f"{what}: {job.source} -> {job.output}")
    print(f"{sum(j.status == 'pending' for j in jobs)} to write, {sum(j.status == 'skipped' for j in jobs)} "
          f"already done, {sum(j.status == 'failed' for j in jobs)} refused")


def _process(args: argparse.Namespace, jobs, backends, cards, started: float) -> int:
    from PIL.Image import DecompressionBombWarning

    from .card import DEFAULT_BATCH_SIZE
    from .images import set_max_pixels
    from .inputs import remove_stale_parts
    from .pipeline import Chain, Pipeline, PipelineConfig

    for job in jobs:
        if job.status == "failed":
            log.warning("%s: %s", job.source, job.reason)
    remove_stale_parts(jobs)
    batch = args.batch_size or min(cards[0].batch["opt"], DEFAULT_BATCH_SIZE)
    set_max_pixels(args.max_pixels)
    warnings.simplefilter("ignore", category=DecompressionBombWarning)  # the decoder checks --max-pixels itself
    config = PipelineConfig(batch_size=batch, workers=args.workers, native=args.size == "native", fmt=args.fmt,
                            quality=args.quality, max_pixels=args.max_pixels or None,
                            progress=not args.no_progress)
    pipeline = Pipeline(Chain(backends), config)
    previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        stats = pipeline.run(jobs)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if args.summary:
            _write_summary(args, jobs, pipeline, backends, started)
    report = stats.summary(jobs)
    counts = report["counts"]
    print(f"{PROG}: {counts['written']} written, {counts['skipped']} skipped, {counts['failed']} failed "
          f"in {stats.wall_s:.1f} s ({report['throughput']['images_per_s']} images/s)", file=sys.stderr)
    return 1 if counts["failed"] else 0


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _write_summary(args: argparse.Namespace, jobs, pipeline, backends, started: float) -> None:
    from .files import write_atomic

    report = {
        "command": PROG,
        "models": [{"path": str(b.path), "task": b.card.task, "architecture": b.card.architecture,
                    "precision": b.card.precision, "image_size": b.image_size, "providers": b.providers}
                   for b in backends],
        "settings": {"batch_size": pipeline.config.batch_size, "workers": pipeline.config.workers,
                     "inflight": pipeline.config.inflight, "size": args.size, "format": args.fmt},
        **pipeline.stats.summary(jobs),
        "total_s": round(time.perf_counter() - started, 3),
        "files": [{"input": str(j.source), "output": str(j.output), "status": j.status,
                   **({"reason": j.reason} if j.reason else {}), **({"timings": j.timings} if j.timings else {})}
                  for j in jobs],
    }
    write_atomic(args.summary, json.dumps(report, indent=2).encode())


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
