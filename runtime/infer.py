"""The runtime's library entry point: model files (or open backends) and input paths in, files out.

``runtime-infer`` is a flag layer over :func:`infer_files`; the demo and the benchmarks call it directly::

    from revive.runtime import InferOptions, LayoutOptions, infer_files
    stats = infer_files(["restore.onnx", "colorize.onnx"], ["scans/"], "out/",
                        InferOptions(save_restored=True, layout=LayoutOptions(tile="auto", max_side=8000)))
    stats.counts            # {"written": ..., "skipped": ..., "failed": ..., "pending": ...}
    stats.summary()         # the JSON report runtime-infer --summary writes (without the file list)

User errors (a missing or unusable model, a bad card, a missing input, no inputs found, a fused graph asked to
tile) raise ``BackendError``, ``CardError`` or ``InputError`` with a one-line message; a bad image never
raises: its job is marked failed and the run goes on.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .backends import Backend, check_model_path, open_backend
from .card import DEFAULT_BATCH_SIZE, CardError, read_card
from .files import check_report_path, write_atomic
from .film import VideoOptions, job_finish, job_pictures, job_writer, plan_films, split_inputs
from .images import DEFAULT_MAX_PIXELS, set_max_pixels
from .models import resolve_model
from .inputs import (DEFAULT_EXTS, InputError, Job, find_inputs, mark_output_folder, normalise_exts, plan_jobs,
                     remove_stale_parts, run_files)
from .layout import LayoutOptions
from .memory import pin_mmap_threshold
from .pipeline import Pipeline, PipelineConfig, RunStats
from .render import Route
from .system import cpu_count

__all__ = ["InferOptions", "infer_files", "plan_files"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferOptions:
    """Everything ``runtime-infer`` takes besides the models, the inputs and the output folder."""

    device: str = "auto"  # where ONNX models run: auto, cpu, cuda
    backend: str = "auto"  # what runs the models (auto: by file suffix)
    batch_size: int | None = None  # rows per batch (default: the card's opt batch, at most DEFAULT_BATCH_SIZE)
    workers: int = field(default_factory=lambda: min(4, cpu_count()))
    inflight: int = PipelineConfig.inflight
    native: bool = True  # False: the model's S x S output (--size model)
    fmt: str = "auto"  # auto (each input's own container), png, jpg, tiff, webp
    quality: int = 95
    depth: str = "auto"  # output bits per sample: auto (the input's), 8, 16
    compression: str = "deflate"  # TIFF outputs: deflate, lzw, none
    keep_mtime: bool = False  # outputs get their input's modification time
    save_restored: bool = False
    overwrite: bool = False
    exts: tuple[str, ...] = DEFAULT_EXTS
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    layout: LayoutOptions = field(default_factory=LayoutOptions)
    summary: Path | None = None  # write the JSON report here
    progress: bool = True
    video: VideoOptions = field(default_factory=VideoOptions)  # films: codec, temporal smoothing, sequences


def plan_files(models: Sequence[str | Path | Backend], inputs: Sequence[str | Path], output: str | Path,
               options: InferOptions = InferOptions()) -> list[Job]:
    """The jobs a run would do (written, skipped as done, refused), reading only the models' cards."""
    cards = [m.card if isinstance(m, Backend) else read_card(resolve_model(m)) for m in models]
    _check(cards, options)
    return _jobs(models, inputs, output, options)


def infer_files(models: Sequence[str | Path | Backend], inputs: Sequence[str | Path], output: str | Path,
                options: InferOptions = InferOptions()) -> RunStats:
    """Run every input through the model(s); one model, or restore then colorize. Returns the run's stats.

    Models given as paths are opened here and closed at the end; open backends are used as they are.
    """
    started = time.perf_counter()
    for m in models:
        if not isinstance(m, Backend):
            check_model_path(Path(m))
    opened: list[Backend] = []
    try:
        backends = []
        for m in models:
            if isinstance(m, Backend):
                backends.append(m)
            else:
                opened.append(open_backend(Path(m), device=options.device, concurrency=options.inflight,
                                           backend=options.backend))
                backends.append(opened[-1])
        _check([b.card for b in backends], options)
        jobs = _jobs(models, inputs, output, options)
        mark_output_folder(Path(output))  # a later run knows the images there are outputs (inputs.py)
        return _process(backends, jobs, options, started)
    finally:
        for backend in opened:
            backend.close()


def _check(cards, options: InferOptions) -> None:
    from .encode import check_compression
    from .inputs import FORMATS

    if options.fmt not in FORMATS:
        raise InputError(f"unknown output format {options.fmt!r}; use one of {', '.join(FORMATS)}")
    if options.depth not in ("auto", "8", "16"):
        raise InputError(f"--depth must be auto, 8 or 16, not {options.depth!r}")
    if options.depth == "16" and options.fmt in ("jpg", "webp"):
        raise InputError(f"--depth 16: {options.fmt} holds 8 bits per sample; use --format png, tiff or auto")
    if options.fmt in ("tiff", "auto"):
        check_compression(options.compression)
    if not cards:
        raise CardError("give one model, or two (restore then colorize)")
    Route.from_cards(cards).check(options.layout, options.native)
    if options.save_restored and not any(c.task in ("restore", "pipeline") for c in cards):
        raise CardError("--save-restored needs a restore or pipeline model")


def _jobs(models, inputs, output, options: InferOptions) -> list[Job]:
    exts = normalise_exts(options.exts + options.video.exts)  # photos and films (film.py)
    found = find_inputs([Path(p) for p in inputs], exts, exclude=Path(output))
    if not found:
        raise InputError(f"no inputs found in {', '.join(map(str, inputs))} (extensions: {' '.join(exts)})")
    photos, videos, sequences = split_inputs(found, options.video)
    if (videos or sequences) and not options.native:
        raise InputError("films keep their resolution: --size model is for photos")
    films = plan_films(videos, sequences, Path(output), options.video, save_restored=options.save_restored)
    jobs = plan_jobs(photos, Path(output), options.fmt, save_restored=options.save_restored,
                     overwrite=options.overwrite, depth=options.depth, films=films)
    if options.summary:  # checked before any work: never an input, a model or an output of this run
        paths = [m.path if isinstance(m, Backend) else Path(m) for m in models]
        check_report_path(Path(options.summary), [*paths, *run_files(jobs, Path(output))])
    return jobs


def _process(backends: list[Backend], jobs: list[Job], options: InferOptions, started: float) -> RunStats:
    from PIL.Image import DecompressionBombWarning

    for job in jobs:
        if job.status == "failed":
            log.warning("%s: %s", job.source, job.reason)
    remove_stale_parts(jobs)
    set_max_pixels(options.max_pixels)
    pin_mmap_threshold()  # memory.py: flat RSS over a folder of large scans
    warnings.simplefilter("ignore", category=DecompressionBombWarning)  # the decoder checks max_pixels itself
    config = PipelineConfig(batch_size=options.batch_size or min(backends[0].card.batch["opt"], DEFAULT_BATCH_SIZE),
                            workers=options.workers, inflight=options.inflight, native=options.native,
                            depth=options.depth, quality=options.quality, compression=options.compression,
                            keep_mtime=options.keep_mtime, max_pixels=options.max_pixels or None,
                            progress=options.progress, layout=options.layout)
    pipeline = Pipeline(backends, config, pictures=job_pictures, writer=job_writer, finish=job_finish)
    try:
        stats = pipeline.run(jobs)
    finally:
        if options.summary:
            try:
                _write_summary(options, pipeline, backends, started)
            except OSError as exc:  # disk full, folder gone: the run's own result must not be lost
                pipeline.stats.summary_error = f"{options.summary}: cannot write the summary: {exc.strerror or exc}"
                log.error("%s", pipeline.stats.summary_error)
    return stats


def _write_summary(options: InferOptions, pipeline: Pipeline, backends: list[Backend], started: float) -> None:
    cfg, jobs = pipeline.config, pipeline.stats.jobs
    report = {
        "command": "runtime-infer",
        "models": [{"path": str(b.path), "task": b.card.task, "architecture": b.card.architecture,
                    "precision": b.card.precision, "image_size": b.image_size, "providers": b.providers}
                   for b in backends],
        "settings": {"batch_size": cfg.batch_size, "workers": cfg.workers, "inflight": cfg.inflight,
                     "size": "native" if cfg.native else "model", "format": options.fmt, "depth": cfg.depth,
                     "compression": cfg.compression,
                     "tile": cfg.layout.tile, "overlap": cfg.layout.overlap, "max_side": cfg.layout.max_side},
        **pipeline.stats.summary(),
        "total_s": round(time.perf_counter() - started, 3),
        "files": [j.record() for j in jobs],
    }
    write_atomic(options.summary, json.dumps(report, indent=2).encode())
