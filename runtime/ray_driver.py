"""``runtime-infer --ray``: the same files-to-files run on a Ray cluster, built on Ray Data.

::

    planned jobs -> [decode tasks] -> [model actors] -------------------------> [write tasks] -> statuses
                    (read, EXIF,      (rows of each picture: whole view or       (encode, atomic
                     gray, resize)     tiles, batched across pictures; merge,     write)
                                       next model, composite)

The driver plans the jobs exactly as the single-process run does (``infer.plan_files``: refused files,
outputs that already exist are skipped), and only the pending ones become a dataset, one row per job: a
multi-page TIFF's pages travel together (pickled between the stages: plain data of our own workers), so the
write task can hand them in order to the same writer one process uses (one multi-page TIFF, or a file per
page) through the same :class:`~revive.runtime.sink.OrderedSink`. Every per-picture step is
the runtime's own (``images.decode_gray``, ``render.ImageWork``: layout, merge, composite), so a file gives the
same pixels on Ray as on one process. The model actor does the layout and merge as well as the models: the
tiles of one picture must come back to one place, and a restore -> colorize route needs the merged restoration
before the colorizer's rows exist. Workers read inputs and write outputs themselves: on a cluster the input
and output paths must be on a file system every node sees at the same path.

Failures: a bad file is failed with the same reason as on one process and the run goes on. A model actor
that dies (a node lost, a process killed) is restarted and its batch retried (``max_restarts``,
``max_task_retries``); decode and write tasks are retried by Ray Data. Every write is atomic, so a retried
or interrupted batch never leaves a partial file, and a rerun skips what exists.

This module is named ``ray_driver``, not ``ray`` (DESIGN.md's working name): a module ``runtime/ray.py``
would shadow the ``ray`` package for scripts run by path from runtime/, which DESIGN.md itself forbids.
``ray`` is imported only here, and this module only with ``--ray``.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import ray
import ray.data  # configures the "ray.data" logger: a console handler and a file in the Ray session

from .infer import InferOptions
from .inputs import Job
from .layout import LayoutOptions
from .pipeline import PipelineConfig, RunStats
from .render import Route

__all__ = ["CRASH_HOOK_ENV", "RayOptions", "infer_on_ray"]

log = logging.getLogger(__name__)

# Test hook: "MARKER:N" makes a model actor exit hard on its N-th batch, once (MARKER is created first).
CRASH_HOOK_ENV = "REVIVE_RAY_CRASH_ONCE"
ACTOR_RESTARTS = 3  # a model actor lost more often than this fails the run (a model that always crashes)
WRITE_BATCH = 4  # pictures per encode/write task


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: ``address`` is ``local`` (a one-machine Ray for this run), ``auto`` or HOST:PORT."""

    address: str = "auto"
    workers: int | None = None  # model actors (default: one per GPU group, or 1 on CPU clusters)
    gpus_per_worker: float | None = None  # default: 1 when the cluster has GPUs, else 0


@dataclass(frozen=True)
class _Settings:
    """What the workers need: plain data, shipped with every task."""

    models: tuple[Path, ...]
    route: Route
    device: str
    backend: str
    batch_size: int
    config: PipelineConfig  # native, depth, quality, compression, keep_mtime, max_pixels, layout: as one process

    @property
    def native(self) -> bool:
        return self.config.native

    @property
    def layout(self) -> LayoutOptions:
        return self.config.layout


@dataclass
class _Cluster:
    workers: int = 0
    gpus_per_worker: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)


# -- the per-picture steps, run inside Ray workers -----------------------------------------------------


def _decode(batch: dict[str, np.ndarray], settings: _Settings) -> dict[str, np.ndarray]:
    """Jobs -> their decoded pictures (every page: the first model's view, the native gray, 16-bit gray and
    metadata), or why each cannot be read; pickled per job (our own workers' plain data)."""
    from PIL.Image import DecompressionBombWarning

    from .images import DecodeError, set_max_pixels
    from .pipeline import file_pictures

    set_max_pixels(settings.config.max_pixels)
    warnings.simplefilter("ignore", category=DecompressionBombWarning)  # decode_gray checks the limit itself
    view = settings.route.first_view(settings.layout, settings.native)
    n = len(batch["index"])
    pictures, decode_ms = np.empty(n, object), np.zeros(n, np.float64)
    for i, blob in enumerate(batch["job"]):
        start = time.perf_counter()
        decoded: list = []
        try:
            for ref in file_pictures(pickle.loads(blob), settings.config):
                try:
                    decoded.append(ref.decode(view, settings.native))
                except DecodeError as exc:
                    decoded.append(str(exc))
        except DecodeError as exc:
            decoded.append(str(exc))
        pictures[i] = pickle.dumps(decoded, protocol=pickle.HIGHEST_PROTOCOL)
        decode_ms[i] = round((time.perf_counter() - start) * 1e3, 2)
    return {**batch, "pictures": pictures, "decode_ms": decode_ms}


class _ModelWorker:
    """One model actor: opens the backend(s) once; takes decoded pictures to finished pictures.

    The rows of every picture in the batch (whole views, tiles; every page of every job) are batched together
    per model, as the single-process pipeline does; ``ImageWork`` merges them and prepares the next model's rows.
    """

    def __init__(self, settings: _Settings, crash_hook: str = "") -> None:
        from .backends import open_backend
        from .memory import pin_mmap_threshold

        pin_mmap_threshold()  # as runtime-infer does: flat memory in a long-lived process over large scans
        self.settings = settings
        self.backends = [open_backend(p, device=settings.device, backend=settings.backend)
                         for p in settings.models]
        self.crash_hook, self.calls = crash_hook, 0

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from .errors import describe
        from .render import ImageWork

        self.calls += 1
        self._maybe_crash()
        cfg = self.settings
        start = time.perf_counter()
        n = len(batch["index"])
        jobs = [pickle.loads(blob) for blob in batch["pictures"]]  # per job: Decoded or a reason, per page
        works = {(i, k): ImageWork(d, cfg.route, cfg.layout, cfg.native)
                 for i, pictures in enumerate(jobs) for k, d in enumerate(pictures) if not isinstance(d, str)}
        rows, tiles = np.zeros(n, np.int64), np.zeros(n, np.int64)  # per job, for the run's totals
        batches = np.zeros(n, np.int64)  # model batches this call ran, counted on its first job
        tiled = cfg.route.tiles(cfg.layout, cfg.native)
        while any(w.step is not None for w in works.values()):
            for k, backend in enumerate(self.backends):  # later steps' rows appear as earlier ones finish
                wanted = [(key, r) for key, w in works.items() if w.step == k for r in range(w.rows)]
                for at in range(0, len(wanted), cfg.batch_size):
                    chunk = wanted[at:at + cfg.batch_size]
                    out = backend.run(np.stack([works[key].plan.row(r) for key, r in chunk])[:, None])
                    batches[0] += 1
                    for m, (key, r) in enumerate(chunk):
                        works[key].put(r, {role: value[m] for role, value in out.items()})
                        rows[key[0]] += 1
                        tiles[key[0]] += k == 0 and tiled
        finished, pixels = np.empty(n, object), np.zeros(n, np.int64)
        for i, pictures in enumerate(jobs):
            results = []
            for k, d in enumerate(pictures):
                if isinstance(d, str):
                    results.append(d)
                    continue
                try:  # as on one process: this picture fails, the batch goes on
                    results.append(works.pop((i, k)).finish())
                    pixels[i] += d.size[0] * d.size[1]
                except Exception as exc:  # noqa: BLE001
                    results.append(describe(exc))
            finished[i] = pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
        seconds = time.perf_counter() - start
        return {"index": batch["index"], "job": batch["job"], "decode_ms": batch["decode_ms"], "finished": finished,
                "infer_ms": np.full(n, round(seconds * 1e3 / max(n, 1), 2)), "rows": rows, "tiles": tiles,
                "batches": batches, "pixels": pixels}

    def _maybe_crash(self) -> None:
        if not self.crash_hook:
            return
        marker, nth = self.crash_hook.rsplit(":", 1)
        if self.calls == int(nth) and not os.path.exists(marker):
            Path(marker).touch()
            log.warning("test hook %s: model actor exits on batch %s", CRASH_HOOK_ENV, nth)
            os._exit(17)


def _write(batch: dict[str, np.ndarray], settings: _Settings) -> dict[str, np.ndarray]:
    """Each job's finished pictures through its writer (runtime-infer's own: atomic files, one multi-page TIFF),
    in page order; returns each picture's outcome and the job's."""
    from .sink import OrderedSink
    from .writers import file_writer

    n = len(batch["index"])
    errors, pages, encode_ms = np.empty(n, object), np.empty(n, object), np.zeros(n, np.float64)
    for i in range(n):
        start = time.perf_counter()
        job, results = pickle.loads(batch["job"][i]), pickle.loads(batch["finished"][i])
        outcome: dict[int, str] = {}
        closed: list[str] = []
        sink = OrderedSink(file_writer(job, settings.config), on_picture=outcome.__setitem__,
                           on_close=closed.append)
        for k, result in enumerate(results):
            if isinstance(result, str):
                sink.fail(k, result)
            else:
                sink.put(k, result)
        sink.expect(len(results))
        errors[i], pages[i] = closed[0] if closed else "", json.dumps(outcome)
        encode_ms[i] = round((time.perf_counter() - start) * 1e3, 2)
    passed = ("index", "decode_ms", "infer_ms", "rows", "tiles", "batches", "pixels")
    return {**{k: batch[k] for k in passed}, "error": errors, "pages": pages, "encode_ms": encode_ms}


# -- the driver -----------------------------------------------------------------------------------------


def infer_on_ray(models: Sequence[str | Path], inputs: Sequence[str | Path], output: str | Path,
                 options: InferOptions = InferOptions(), cluster: RayOptions = RayOptions()) -> RunStats:
    """:func:`revive.runtime.infer_files` on Ray: same jobs, statuses, reasons, summary and pixels.

    Connects to the cluster (or starts a local one) unless this process is already connected, and
    disconnects at the end only if it connected here. Model files are opened by the workers; the driver (a
    head node may have no GPU) reads only their cards.
    """
    from .card import DEFAULT_BATCH_SIZE, read_card
    from .models import resolve_model
    from .film import FilmJob
    from .infer import plan_files
    from .inputs import InputError, mark_output_folder, remove_stale_parts

    started = time.perf_counter()
    jobs = plan_files(models, inputs, output, options)  # checks the cards and the route, plans the outputs
    film = next((j for j in jobs if isinstance(j, FilmJob)), None)
    if film is not None:  # a film's frames go through one process's sink to one encoder
        raise InputError(f"{film.source}: films run on one process (infer_files), not on Ray")
    mark_output_folder(Path(output))  # as infer_files: a later run knows the images there are outputs
    cards = [read_card(resolve_model(m)) for m in models]
    for job in jobs:
        if job.status == "failed":
            log.warning("%s: %s", job.source, job.reason)
    remove_stale_parts(jobs)
    config = PipelineConfig(native=options.native, depth=options.depth, quality=options.quality,
                            compression=options.compression, keep_mtime=options.keep_mtime,
                            max_pixels=options.max_pixels or None, progress=False, layout=options.layout)
    settings = _Settings(models=tuple(resolve_model(m) for m in models), route=Route.from_cards(cards),
                         device=options.device, backend=options.backend,
                         batch_size=options.batch_size or min(cards[0].batch["opt"], DEFAULT_BATCH_SIZE),
                         config=config)
    stats = RunStats(jobs=jobs)
    connected_here = not ray.is_initialized()
    if connected_here:
        on_term = signal.getsignal(signal.SIGTERM)
        _connect(cluster.address)
        if callable(on_term) and threading.current_thread() is threading.main_thread():
            # ray.init replaces the SIGTERM handler with one that ends the process at once; the caller's own
            # (runtime-infer: stop like Ctrl-C, exit 130, finished outputs complete) is put back.
            signal.signal(signal.SIGTERM, on_term)
    on = None
    try:
        on = _plan_resources(cluster)
        pending = [j for j in jobs if j.status == "pending"]
        start = time.perf_counter()
        if pending:
            _check_models_open(settings, on)
            _collect(_dataset(pending, settings, on), pending, stats, options.progress)
        stats.wall_s = time.perf_counter() - start
        return stats
    finally:
        if connected_here:
            ray.shutdown()
        if options.summary:
            _write_summary(options, stats, cards, settings, on, time.perf_counter() - started)


def _check_models_open(settings: _Settings, on: _Cluster) -> None:
    """Open the model(s) once on a worker with a model actor's resources, so that a model this cluster cannot
    run (no CUDA there, a TensorRT engine for another GPU) is one clear error before any file is touched."""
    probe = ray.remote(num_cpus=1, num_gpus=on.gpus_per_worker or 0, max_retries=0)(_open_models)
    problem = ray.get(probe.remote(settings))
    if problem:
        from .backends import BackendError

        raise BackendError(problem)


def _open_models(settings: _Settings) -> str:
    from .backends import BackendError, open_backend
    from .card import CardError

    try:
        for path in settings.models:
            open_backend(path, device=settings.device, backend=settings.backend).close()
    except (BackendError, CardError) as exc:
        return str(exc)
    return ""


def _connect(address: str) -> None:
    from .backends import BackendError

    # Ray's own warnings only when the user asked for more logging (-v).
    quiet = logging.getLogger("revive").getEffectiveLevel() > logging.INFO
    kwargs = {"include_dashboard": False, "log_to_driver": not quiet,
              "logging_level": logging.ERROR if quiet else logging.WARNING}
    try:
        if address == "local":  # a private one-machine Ray, stopped at the end of the run
            ray.init(address="local", **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise BackendError(f"--ray {address}: no Ray cluster found ({exc}); start one with `ray start --head`, "
                           "or use --ray local for a one-machine Ray") from None


def _plan_resources(cluster: RayOptions) -> _Cluster:
    from .backends import BackendError

    resources = ray.cluster_resources()
    gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    per_worker = cluster.gpus_per_worker if cluster.gpus_per_worker is not None else (1.0 if gpus else 0.0)
    if per_worker > gpus:
        raise BackendError(f"--ray-gpus-per-worker {per_worker:g}: the cluster has {gpus:g} GPU(s)")
    workers = cluster.workers or (max(1, int(gpus // per_worker)) if per_worker else 1)
    if cpus < 2:
        raise BackendError(f"the Ray cluster has {cpus:g} CPU(s); it needs at least 2 (a model worker "
                           "and the decode/write tasks)")
    log.info("Ray cluster: %g CPUs, %g GPUs; %d model worker(s), %g GPU(s) each", cpus, gpus, workers,
             per_worker)
    return _Cluster(workers=workers, gpus_per_worker=per_worker, resources={"CPU": cpus, "GPU": gpus})


def _dataset(pending: list[Job], settings: _Settings, on: _Cluster):
    if logging.getLogger("revive").getEffectiveLevel() > logging.INFO:  # Ray Data's chatter only with -v
        # the logger's level, not its handlers': a handler there may be shared (a test's log capture was,
        # and every later warning of the process was lost)
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver's own bar counts finished files
    context.print_on_execution_start = False
    items = [{"index": i, "job": pickle.dumps(j, protocol=pickle.HIGHEST_PROTOCOL)} for i, j in enumerate(pending)]
    b = settings.batch_size
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // b, 1000)))
    ds = ds.map_batches(_decode, batch_size=b, fn_args=(settings,), batch_format="numpy")
    with warnings.catch_warnings():
        # Bounded restarts and retries for the model actors (Ray Data's default is unbounded, so a model that
        # crashes its process on every batch would loop forever) go in through ray_remote_args, which Ray
        # deprecates for removal in 2.64 without a named replacement yet: pyproject pins ray below 2.64.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        ds = ds.map_batches(_ModelWorker, batch_size=b, batch_format="numpy",
                            fn_constructor_args=(settings, os.environ.get(CRASH_HOOK_ENV, "")),
                            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=on.workers),
                            num_gpus=on.gpus_per_worker or None, num_cpus=1,
                            max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_RESTARTS)
    return ds.map_batches(_write, batch_size=WRITE_BATCH, fn_args=(settings,), batch_format="numpy")


def _collect(results, pending: list[Job], stats: RunStats, progress: bool) -> None:
    from tqdm import tqdm

    pictures = sum(len(j.pages) for j in pending)
    with tqdm(total=pictures, unit="img" if pictures == len(pending) else "page", disable=not progress or None,
              dynamic_ncols=True) as bar:
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            for k, index in enumerate(batch["index"]):
                job = pending[int(index)]
                job.page_reasons = {int(i): r for i, r in json.loads(str(batch["pages"][k])).items()}
                error = str(batch["error"][k] or "")
                if error:
                    job.page_reasons = {i: r or error for i, r in job.page_reasons.items()}
                job.settle(error)
                job.timings = {name: float(batch[name][k]) for name in ("decode_ms", "infer_ms", "encode_ms")
                               if float(batch[name][k])}
                for i, reason in sorted(job.page_reasons.items()):
                    if reason:
                        log.warning("%s: %s", job.describe(i), reason)
                if job.status != "failed":
                    stats.pixels += int(batch["pixels"][k])
                stats.rows += int(batch["rows"][k])
                stats.tiles += int(batch["tiles"][k])
                stats.batches += int(batch["batches"][k])
                bar.update(len(job.pages))


def _write_summary(options: InferOptions, stats: RunStats, cards, settings: _Settings, on: _Cluster | None,
                   total_s: float) -> None:
    """runtime-infer's ``--summary`` report: the same counts and per-file records, Ray's settings."""
    from .files import write_atomic

    layout = settings.layout
    report = {
        "command": "runtime-infer",
        "engine": "ray",
        "models": [{"path": str(p), "task": c.task, "architecture": c.architecture, "precision": c.precision,
                    "image_size": c.image_size} for p, c in zip(settings.models, cards)],
        "settings": {"batch_size": settings.batch_size, "size": "native" if settings.native else "model",
                     "format": options.fmt, "depth": settings.config.depth, "tile": layout.tile,
                     "overlap": layout.overlap,
                     "max_side": layout.max_side, "ray_workers": on.workers if on else None,
                     "ray_gpus_per_worker": on.gpus_per_worker if on else None,
                     "cluster": on.resources if on else {}},
        **stats.summary(),
        "total_s": round(total_s, 3),
        "files": [j.record() for j in stats.jobs],
    }
    write_atomic(Path(options.summary), json.dumps(report, indent=2).encode())
