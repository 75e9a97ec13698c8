"""``runtime-infer``: restore and/or colorize photos with exported models, files to files.

Exit status: 0 every input written (or already there), 1 some inputs failed,
2 usage, model-card or engine error (one line on stderr, no traceback),
130 interrupted (outputs written so far are complete; a rerun resumes).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

__all__ = ["add_format_options", "add_layout_options", "layout_options", "build_parser", "entry", "main"]

log = logging.getLogger("revive.runtime")
PROG = "runtime-infer"


def build_parser() -> argparse.ArgumentParser:
    from .backends import backend_names
    from .card import DEFAULT_BATCH_SIZE
    from .images import DEFAULT_MAX_PIXELS
    from .inputs import DEFAULT_EXTS
    from .system import cpu_count

    p = argparse.ArgumentParser(prog=PROG, description="Restore and/or colorize photos with exported models, "
                                "files to files.", epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="image files and/or folders (recursive)")
    p.add_argument("-o", "--output", type=Path, help="output folder (the input tree is mirrored); required")
    model = p.add_argument_group("model")
    model.add_argument("--engine", action="append", type=Path, metavar="MODEL",
                       help=".onnx (ONNX Runtime) or .engine/.plan (TensorRT), or builtin:restore / "
                            "builtin:colorize; give twice for restore then colorize (default: the bundled "
                            "restorer, then the bundled colorizer)")
    model.add_argument("--list-models", action="store_true",
                       help="show the bundled models (builtin:NAME), their card facts and measured figures, and exit")
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where ONNX models run (default %(default)s)")
    model.add_argument("--backend", choices=("auto", *backend_names()), default="auto",
                       help="what runs the models (default %(default)s: by file suffix, .onnx -> onnxruntime, "
                            ".engine/.plan -> tensorrt)")
    model.add_argument("--batch-size", type=int, help="rows per batch, whole pictures or tiles (default: the "
                                                      f"card's opt batch, at most {DEFAULT_BATCH_SIZE})")
    model.add_argument("--workers", type=int, default=min(4, cpu_count()),
                       help="decode threads and encode threads, each (default %(default)s)")
    add_layout_options(p.add_argument_group("tiles (restore models: how the restorer sees a picture)"))
    out = p.add_argument_group("output")
    out.add_argument("--size", choices=("native", "model"), default="native",
                     help="native: the input's own size (model chroma on the input's luminance); "
                          "model: the model's square output (default %(default)s)")
    add_format_options(out)
    out.add_argument("--keep-mtime", action="store_true", help="give each output its input's modification time")
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
    _video_args(p)
    cluster = p.add_argument_group("cluster (Ray Data; pip install 'revive[ray]')")
    cluster.add_argument("--ray", metavar="ADDRESS",
                         help="run on Ray: auto (the cluster this machine belongs to, or RAY_ADDRESS), "
                              "HOST:PORT or ray://HOST:PORT, or local (a one-machine Ray for this run); "
                              "inputs and -o must be on a file system every node sees at the same path")
    cluster.add_argument("--ray-workers", type=int, metavar="N",
                         help="model actors (default: one per --ray-gpus-per-worker GPUs, 1 without GPUs)")
    cluster.add_argument("--ray-gpus-per-worker", type=float, metavar="G",
                         help="GPUs per model actor (default: 1 when the cluster has GPUs, else 0)")
    return p


def add_layout_options(group: argparse._ArgumentGroup) -> None:
    """--tile, --overlap, --max-side, --fill: how a restorer sees a picture (runtime-infer, revive-serve, revive-ui)."""
    from .fill import DEFAULT_FILL, FILLS

    group.add_argument("--tile", default="auto", metavar="auto|off|N",
                       help="auto: overlapping tiles of the model's own size at the input's resolution; off: the "
                            "whole picture at the model's size (the only choice for a fused pipeline model); "
                            "N: N x N-px tiles, each resized to the model's size (default %(default)s)")
    group.add_argument("--overlap", type=int, metavar="P",
                       help="pixels shared by neighbouring tiles, blended smoothly (default: tile // 8)")
    group.add_argument("--max-side", type=int, metavar="M",
                       help="restore on a working copy whose longer side is at most M px, upsampled back "
                            "(default: full resolution)")
    group.add_argument("--fill", choices=FILLS, default=DEFAULT_FILL,
                       help="what fills the damage the restorer finds: model (its own reconstruction) or "
                            "classical (push-pull interpolation from the undamaged pixels around it, behind the "
                            "model's mask) (default %(default)s)")


def server_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace | int:
    """The arguments of a long-running CLI (revive-serve, revive-ui), or its exit status; INFO logging by
    default (a server says what it serves), -vv debug."""
    from .errors import parse_args

    args = parse_args(parser, argv)  # 2 on a usage error, 0 on --help
    if not isinstance(args, int):
        logging.basicConfig(level=logging.DEBUG if args.verbose >= 2 else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
    return args


def layout_options(args: argparse.Namespace):
    """The flags of add_layout_options as LayoutOptions; ValueError (one line) for a bad value."""
    from .layout import LayoutOptions, parse_tile

    layout = LayoutOptions(tile=parse_tile(args.tile), overlap=args.overlap, max_side=args.max_side, fill=args.fill)
    if isinstance(layout.tile, int):
        layout.overlap_px(layout.tile)  # more than half a tile: refused now, not per image
    return layout


def add_format_options(group: argparse._ArgumentGroup) -> None:
    """--format, --depth, --compression, --quality: how results are encoded (runtime-infer and revive-ui)."""
    from .encode import COMPRESSIONS
    from .inputs import FORMATS

    group.add_argument("--format", choices=FORMATS, default="auto", dest="fmt",
                       help="auto: the input's own container (TIFF to TIFF, JPEG to JPEG, PNG to PNG, anything "
                            "else to PNG) (default %(default)s)")
    group.add_argument("--depth", choices=("auto", "8", "16"), default="auto",
                       help="bits per sample of PNG and TIFF outputs; auto: the input's (default %(default)s)")
    group.add_argument("--compression", choices=COMPRESSIONS, default="deflate",
                       help="TIFF outputs (default %(default)s; lzw needs pip install 'revive[lzw]')")
    group.add_argument("--quality", type=int, default=95, help="JPEG and WebP quality 1..100, WebP 100 lossless "
                                                               "(default %(default)s)")


def _video_args(p: argparse.ArgumentParser) -> None:
    from .video import CODECS, CONTAINERS, DEFAULT_PRESET, VIDEO_EXTS

    video = p.add_argument_group("video (films: mp4 mkv avi mov webm, or --sequence; pip install 'revive[video]')")
    video.add_argument("--video-codec", choices=tuple(CODECS), default="h264",
                       help="h264, h265, or ffv1: lossless, for archives (default %(default)s)")
    video.add_argument("--crf", type=int, default=18, metavar="Q",
                       help="H.264/H.265 quality, 0 (lossless) .. 51, lower is better (default %(default)s)")
    video.add_argument("--preset", default=DEFAULT_PRESET, help="x264/x265 speed preset, ultrafast .. veryslow "
                                                          "(default %(default)s)")
    video.add_argument("--container", choices=("auto", *CONTAINERS), default="auto",
                       help="auto: mp4 for h264/h265, mkv for ffv1 (default %(default)s)")
    video.add_argument("--temporal", choices=("auto", "off"), default="auto",
                       help="auto: the colorizer's chroma averaged over neighbouring frames of a shot (reset at "
                            "scene cuts; luminance untouched); off: every frame on its own (default %(default)s)")
    video.add_argument("--temporal-window", type=int, default=9, metavar="N",
                       help="frames averaged, odd (default %(default)s)")
    video.add_argument("--sequence", action="store_true",
                       help="the pictures of each folder are the numbered frames of one film, not photos")
    video.add_argument("--fps", default="24", metavar="RATE",
                       help="frame rate of --sequence films, e.g. 24, 25, 24000/1001 (default %(default)s)")
    video.add_argument("--video-ext", default=",".join(e.lstrip(".") for e in VIDEO_EXTS), metavar="EXT,...",
                       help="extensions of films searched for in folders (default %(default)s)")


def main(argv: list[str] | None = None) -> int:
    from .errors import UserError, parse_args, report

    args = parse_args(build_parser(), argv)  # 2 on a usage error, 0 on --help
    if isinstance(args, int):
        return args
    if args.list_models:
        from .models import describe_builtin

        print("\n".join(describe_builtin()).rstrip())
        return 0
    if not args.inputs or args.output is None:
        return report(PROG, UserError("give INPUT... and -o OUTPUT (or --list-models)"))
    if args.engine is None:  # the bundled restorer, then the bundled colorizer
        from .models import BUILTIN_PREFIX, DEFAULT_ROUTE

        args.engine = [Path(BUILTIN_PREFIX + name) for name in DEFAULT_ROUTE]
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(message)s" if args.verbose else "%(message)s")
    try:
        options = _options(args)
    except ValueError as exc:  # a flag's value out of range: the flag parsers' own one-line refusals
        return report(PROG, exc)
    try:
        return _run(args, options)
    except UserError as exc:  # bad paths, cards, models: one line; real bugs keep their tracebacks
        return report(PROG, exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished outputs are complete, rerun to resume", file=sys.stderr)
        return 130


def _options(args: argparse.Namespace):
    """Flags -> InferOptions; ValueError (one line) for a bad value."""
    from .infer import InferOptions

    if len(args.engine) > 2:
        raise ValueError("give one --engine, or two (restore then colorize)")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if not 1 <= args.quality <= 100:
        raise ValueError("--quality must be within 1..100")
    if args.max_pixels < 0:
        raise ValueError("--max-pixels must be 0 (no limit) or positive")
    if args.max_side is not None and args.max_side < 1:
        raise ValueError("--max-side must be at least 1")
    if args.overlap is not None and args.overlap < 0:
        raise ValueError("--overlap must be 0 or more pixels")
    if args.ray is None and (args.ray_workers is not None or args.ray_gpus_per_worker is not None):
        raise ValueError("--ray-workers and --ray-gpus-per-worker need --ray")
    if args.ray_workers is not None and args.ray_workers < 1:
        raise ValueError("--ray-workers must be at least 1")
    if args.ray_gpus_per_worker is not None and args.ray_gpus_per_worker < 0:
        raise ValueError("--ray-gpus-per-worker must be 0 or more")
    layout = layout_options(args)
    video = _video_options(args)
    return InferOptions(device=args.device, backend=args.backend, batch_size=args.batch_size, workers=args.workers,
                        native=args.size == "native", fmt=args.fmt, quality=args.quality, depth=args.depth,
                        compression=args.compression, keep_mtime=args.keep_mtime,
                        save_restored=args.save_restored, overwrite=args.overwrite,
                        exts=tuple(args.ext.split(",")), max_pixels=args.max_pixels or None, layout=layout,
                        summary=args.summary, progress=not args.no_progress, video=video)


def _video_options(args: argparse.Namespace):
    """The video flags -> VideoOptions; ValueError (one line) for a bad value."""
    from fractions import Fraction

    from .film import VideoOptions
    from .temporal import TemporalOptions
    from .video import VIDEO_EXTS

    try:
        fps = Fraction(args.fps)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"--fps takes a frame rate such as 24 or 24000/1001, not {args.fps!r}") from None
    exts = tuple(e.strip() for e in args.video_ext.split(",") if e.strip())
    if args.ray is not None:  # the Ray driver takes pictures one by one: films run on one process
        named = [p for p in args.inputs if p.suffix.lower() in (VIDEO_EXTS + tuple("." + e.lower() for e in exts))]
        if args.sequence or named:
            raise ValueError("--ray runs photos; films (and --sequence) run on one process: drop --ray")
        exts = ()
    return VideoOptions(codec=args.video_codec, crf=args.crf, preset=args.preset, container=args.container,
                        temporal=TemporalOptions(mode=args.temporal, window=args.temporal_window),
                        sequence=args.sequence, fps=fps, exts=exts)


def _run(args: argparse.Namespace, options) -> int:
    from .infer import infer_files, plan_files

    if args.dry_run:
        _print_plan(plan_files(args.engine, args.inputs, args.output, options))
        return 0
    previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        if args.ray:
            stats = _infer_on_ray(args, options)
        else:
            stats = infer_files(args.engine, args.inputs, args.output, options)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    report = stats.summary()
    counts, speed = report["counts"], report["throughput"]
    tiles = f", {speed['tiles']} tiles, {speed['tiles_per_s']} tiles/s" if speed["tiles"] else ""
    tiles += f", {speed['frames']} film frames, {speed['frames_per_s']} frames/s" if speed.get("frames") else ""
    files = len(stats.jobs)
    pages = f" (pictures: pages of {files} files)" if sum(counts.values()) != files else ""
    print(f"{PROG}: {counts['written']} written, {counts['skipped']} skipped, {counts['failed']} failed{pages} "
          f"in {stats.wall_s:.1f} s ({speed['images_per_s']} images/s, {speed['mpx_per_s']} Mpx/s{tiles})",
          file=sys.stderr)
    return 1 if counts["failed"] or stats.summary_error else 0


def _infer_on_ray(args: argparse.Namespace, options):
    try:
        from .ray_driver import RayOptions, infer_on_ray
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        from .backends import BackendError

        raise BackendError("--ray needs Ray Data: pip install 'revive[ray]'") from None
    cluster = RayOptions(address=args.ray, workers=args.ray_workers, gpus_per_worker=args.ray_gpus_per_worker)
    return infer_on_ray(args.engine, args.inputs, args.output, options, cluster)


def _print_plan(jobs) -> None:
    for job in jobs:
        what = {"pending": "write", "skipped": "skip (exists)", "failed": f"refuse ({job.reason})"}[job.status]
        pages = f" ({len(job.pages)} pages)" if len(job.pages) > 1 else ""
        print(f"{what}: {job.source}{pages} -> {', '.join(map(str, job.targets()))}")
    print(f"{sum(j.status == 'pending' for j in jobs)} to write, {sum(j.status == 'skipped' for j in jobs)} "
          f"already done, {sum(j.status == 'failed' for j in jobs)} refused")


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
