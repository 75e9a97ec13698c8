"""What each ``revive-bench`` subcommand does, given its parsed arguments (cli.py only parses)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from revive.runtime.errors import UserError

from . import report
from .backends import Models, parse_names

__all__ = ["USER_ERRORS", "UserError", "damage_types", "files", "flicker", "models_from_args", "parity", "ray",
           "restore_quality", "serve", "speed", "summary", "train_speed"]

log = logging.getLogger(__name__)


# Bad arguments or files (any layer's user error): one line on stderr, exit 2.
USER_ERRORS = (UserError,)


def _names(text: str) -> tuple[str, ...]:
    try:
        return tuple(parse_names(text))
    except ValueError as exc:
        raise UserError(str(exc)) from None


def models_from_args(args: argparse.Namespace, workdir: Path) -> Models:
    for flag in ("checkpoint", "onnx", "onnx_fp16", "onnx_int8", "engine"):
        path = getattr(args, flag)
        if path is not None and not path.is_file():
            raise UserError(f"--{flag.replace('_', '-')} {path}: no such file")
    checkpoint, pipeline = args.checkpoint, tuple(args.pipeline) if args.pipeline else None
    model_size = args.image_size if isinstance(args.image_size, int) else 256  # files: WxH is the inputs' size
    random_weights = False
    for path in pipeline or ():
        if not path.is_file():
            raise UserError(f"--pipeline: {path}: no such file")
    if checkpoint and pipeline:
        raise UserError("give --checkpoint or --pipeline, not both")
    if checkpoint is None and pipeline is None and not (args.onnx or args.onnx_fp16 or args.onnx_int8 or args.engine):
        from .random_models import make_random

        log.info("no --checkpoint: a full-size %s model with random weights (%d px)", args.model, model_size)
        made = make_random(args.model, workdir, model_size)
        checkpoint, pipeline = (None, made) if isinstance(made, tuple) else (made, None)
        random_weights = True
    batches = getattr(args, "batch", None) or (getattr(args, "batch_size", 8),)
    return Models(checkpoint=checkpoint, pipeline=pipeline, workdir=workdir, random_weights=random_weights, onnx=args.onnx, onnx_fp16=args.onnx_fp16,
                  onnx_int8=args.onnx_int8,
                  engine=args.engine, max_batch=max(max(batches), 8), amp_dtype=args.amp_dtype,
                  threads=args.threads)


def model_info(models: Models) -> tuple[dict[str, Any], int | None]:
    """What is benchmarked (task, architecture, size, parameters, FLOPs per image) and its FLOPs."""
    if models.checkpoint is not None or models.pipeline is not None:
        from .flops import graph_flops_per_image
        from .torch_graph import load_graph

        graph, fields = load_graph(models.need_checkpoint())
        flops = graph_flops_per_image(graph, fields["image_size"])
        params = sum(p.numel() for p in graph.parameters())
        return ({"task": fields["task"], "architecture": fields["architecture"],
                 "color_space": fields["color_space"], "image_size": fields["image_size"],
                 "parameters": params, "gflops_per_image": flops / 1e9,
                 "checkpoint": " + ".join(map(str, models.pipeline)) if models.pipeline else str(models.checkpoint),
                 "random_weights": models.random_weights}, flops)
    from revive.runtime.card import read_card

    card = read_card(models.onnx or models.onnx_fp16 or models.onnx_int8 or models.engine)
    return ({"task": card.task, "architecture": card.architecture, "color_space": card.color_space,
             "image_size": card.image_size, "parameters": None, "gflops_per_image": None,
             "checkpoint": None}, None)


def speed(args: argparse.Namespace, models: Models, command: str) -> int:
    from .speed import SpeedOptions, run_speed, run_speed_interleaved, speed_markdown, speed_plot

    opts = SpeedOptions(batches=args.batch, backends=_names(args.backends), warmup=args.warmup,
                        repeats=args.repeats, max_seconds=args.max_seconds, interleave=args.interleave)
    info, flops = model_info(models)
    if opts.interleave and models.cuda:
        raise UserError("--interleave is for CPU runs (on a GPU the backends would share the device)")
    result = (run_speed_interleaved if opts.interleave else run_speed)(models, opts, flops)
    report.write_results("speed", command, {
        "model": info, "settings": {"batches": list(opts.batches), "warmup": opts.warmup, "repeats": opts.repeats,
                                    "max_seconds": opts.max_seconds, "interleave": opts.interleave},
        "timer": "cuda-events" if models.cuda else "wall-clock (perf_counter)", **result},
        speed_markdown, out=args.out, tag=args.tag, plot=speed_plot)
    if args.files:
        args.images, args.batch_size, args.workers, args.inflight = 0, max(args.batch), 2, 2
        return files(args, models, command)
    return 0


def ray(args: argparse.Namespace, models: Models, command: str) -> int:
    try:
        from .ray_bench import run_ray_bench
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise UserError("revive-bench ray needs Ray Data: pip install 'revive[ray]'") from None

    if args.files is not None and not args.files.is_dir():
        raise UserError(f"--files {args.files}: no such folder")
    info, _ = model_info(models)
    result = run_ray_bench(models.fp32_onnx(), args.files, args.images, info["image_size"], args.batch_size,
                           args.workers, args.repeats)

    def markdown(data: dict[str, Any]) -> str:
        m = data["median"]
        rows = [["one process", report.fmt(m["one_process_s"]), report.fmt(m["one_process_images_per_s"]), "1.00"],
                ["--ray auto (Ray up)", report.fmt(m["ray_warm_s"]), report.fmt(m["ray_warm_images_per_s"]),
                 report.fmt(m["ray_warm_over_one_process"])],
                ["--ray local (starts Ray)", report.fmt(data["ray_cold_s"]),
                 report.fmt(data["settings"]["images"] / data["ray_cold_s"]),
                 report.fmt(data["ray_cold_s"] / m["one_process_s"])]]
        return (f"# Ray's overhead: runtime-infer --ray vs one process\n\n"
                f"{report.machine_line(data['machine'])}\n\nCommand: `{command}`\n\n"
                f"{data['settings']['images']} images, batch {args.batch_size}, one model actor; medians of "
                f"{args.repeats} alternating runs (cold: one run); outputs identical: "
                f"{data['outputs_identical']}\n\n"
                + report.markdown_table(["run", "wall s", "images/s", "x one process"], rows))

    data = report.write_results("ray", command, {"model": info, **result}, markdown, out=args.out, tag=args.tag)
    return 0 if data["outputs_identical"] else 1


def files(args: argparse.Namespace, models: Models, command: str) -> int:
    from .files_bench import run_files_bench

    names = _names(args.backends)
    if args.files is not None and not args.files.is_dir():
        raise UserError(f"--files {args.files}: no such folder")
    from revive.runtime.layout import LayoutOptions, parse_tile

    info, _ = model_info(models)
    models.concurrency = args.inflight
    size = args.image_size if isinstance(args.image_size, tuple) else (info["image_size"], info["image_size"])
    try:
        layout = LayoutOptions(tile=parse_tile(args.tile), overlap=args.overlap, max_side=args.max_side)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    result = run_files_bench(models, names, args.files, args.images, args.batch_size, args.workers, args.inflight,
                             size, layout)

    def markdown(data: dict[str, Any]) -> str:
        rows = [[n, e.get("precision", ""), e["images"], report.fmt(e["images_per_s"]),
                 report.fmt(e["tiles_per_s"]), report.fmt(e["mpx_per_s"]), report.fmt(e["wall_s"])]
                if e["status"] == "ok" else [n, "skipped", "", "", "", "", e["reason"]]
                for n, e in data["backends"].items()]
        return (f"# Files → files speed\n\n{report.machine_line(data['machine'])}\n\nCommand: `{command}`\n\n"
                + report.markdown_table(["backend", "precision", "images", "images/s", "tiles/s", "Mpx/s",
                                         "wall s"], rows))

    report.write_results("files", command, {"model": info, **result}, markdown, out=args.out, tag=args.tag)
    return 0


def serve(args: argparse.Namespace, models: Models, command: str) -> int:
    from revive.runtime.serve.server import missing_packages

    from .serve_bench import ServeBenchOptions, run_serve_bench

    missing = missing_packages()
    if missing:
        raise UserError(f"{', '.join(missing)} not installed: pip install 'revive[serve]'")
    if args.files is not None and not args.files.is_dir():
        raise UserError(f"--files {args.files}: no such folder")
    if args.window <= 0 or args.max_windows < 3:
        raise UserError("--window must be positive and --max-windows at least 3")
    info, _ = model_info(models)
    opts = ServeBenchOptions(concurrency=args.concurrency, protocol=args.protocol, window_s=args.window,
                             max_windows=args.max_windows, max_batch=args.max_batch,
                             delay_us=args.max_queue_delay_us, instances=args.instances,
                             batch_size=args.batch_size, workers=args.workers)
    models.max_batch = max(models.max_batch, args.max_batch)  # an ONNX export made here takes the server's batches
    model = models.engine or models.fp32_onnx()
    result = run_serve_bench(model, args.files, args.images, info["image_size"], opts)

    def markdown(data: dict[str, Any]) -> str:
        files = data["files"]
        rows = [[f"runtime-infer files -> files (batch {files['batch_size']})", "",
                 report.fmt(files["images_per_s"]), "", "", "", ""]]
        rows += [[f"revive-serve, {opts.protocol}", str(s["concurrency"]), report.fmt(s["images_per_s"]),
                  report.fmt(s["p50_ms"]), report.fmt(s["p95_ms"]), report.fmt(s["p99_ms"]),
                  f"{report.fmt(s['mean_batch'])}{'' if s['stable'] else ' (not stable)'}"] for s in data["serve"]]
        return (f"# revive-serve vs files → files\n\n{report.machine_line(data['machine'])}\n\n"
                f"Command: `{command}`\n\nModel: {info['architecture']} {info['task']}, {info['image_size']} px; "
                f"inputs: {data['settings']['inputs']}; windows of {opts.window_s:g} s, stable when the last "
                f"three agree within {opts.tolerance:.0%}.\n\n"
                + report.markdown_table(["how", "clients", "images/s", "p50 ms", "p95 ms", "p99 ms",
                                         "mean batch"], rows))

    report.write_results("serve", command, {"model": {**info, "file": model.name}, **result}, markdown,
                         out=args.out, tag=args.tag)
    return 0


def parity(args: argparse.Namespace, models: Models, command: str) -> int:
    from .parity import Thresholds, parity_markdown, run_parity

    if models.checkpoint is None and models.pipeline is None:
        raise UserError("parity compares with PyTorch FP32: give --checkpoint or --pipeline")
    names = [n for n in _names(args.backends) if n != "torch-fp32"]
    thresholds = Thresholds(args.min_psnr_fp32, args.min_psnr_fp16, args.min_psnr_bf16, args.max_dssim,
                            args.min_psnr_int8)
    info, _ = model_info(models)
    result = run_parity(models, names, args.data, args.images, args.batch_size, thresholds)
    data = report.write_results("parity", command, {"model": info, **result}, parity_markdown, out=args.out,
                                tag=args.tag)
    failed = [n for n, e in data["backends"].items() if e["status"] == "ok" and not e["passed"]]
    if failed:
        log.error("below thresholds: %s", ", ".join(failed))
        return 1
    return 0


def train_speed(args: argparse.Namespace, command: str) -> int:
    from .train_speed import TrainSpeedOptions, run_train_speed, train_markdown, train_plot

    opts = TrainSpeedOptions(models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
                             batch=args.batch, image_size=args.image_size,
                             amp=tuple(a.strip() for a in args.amp.split(",") if a.strip()),
                             channels_last=tuple(c.strip() == "on" for c in args.channels_last.split(",")),
                             compile=args.compile, steps=args.steps, warmup=args.warmup, ngf=args.ngf,
                             encoder=args.encoder, device=args.device, configs=args.configs)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        result = run_train_speed(opts)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    report.write_results("train_speed", command, result, train_markdown, out=args.out, tag=args.tag,
                         plot=train_plot)
    return 0


def restore_quality(args: argparse.Namespace, command: str) -> int:
    from .restore_quality import quality_markdown, run_restore_quality

    if (args.inputs is None) != (args.truth is None):
        raise UserError("--inputs and --truth go together (neither: the scan-like set)")
    for engine in args.engine or []:
        if not engine.startswith("builtin:") and not Path(engine).is_file():
            raise UserError(f"--engine {engine}: no such file")
    try:
        from revive.runtime.fill import DEFAULT_FILL

        result = run_restore_quality(args.inputs, args.truth, args.engine or ["builtin:restore"], args.keep_outputs,
                                     args.device, args.baseline, args.fill or DEFAULT_FILL)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    data = report.write_results("restore_quality", command, result,
                                lambda d: quality_markdown(d, report.machine_line(d["machine"])), out=args.out,
                                tag=args.tag)
    mean = data["mean"]
    log.info("%d images scored (%d not): mask IoU %.3f, damaged-region MAE %.2f -> %.2f levels, undamaged change "
             "%.3f; restorer %.2f Mpx/s", data["images_scored"], len(data["failed"]), mean["mask_iou"],
             mean["mae_damaged_input"], mean["mae_damaged_output"], mean["change_undamaged"],
             data["restore_speed"]["mpx_per_s"])
    if data.get("methods"):
        for name, m in data["methods"].items():
            log.info("  %-18s mask IoU %.3f, damaged-region MAE %.2f, undamaged change %.3f", name, m["mask_iou"],
                     m["mae_damaged_output"], m["change_undamaged"])
    return 1 if data["failed"] else 0


def damage_types(args: argparse.Namespace, command: str) -> int:
    from revive.runtime.fill import DEFAULT_FILL

    from .damage_types import damage_markdown, run_damage_types

    if not args.engine.startswith("builtin:") and not Path(args.engine).is_file():
        raise UserError(f"--engine {args.engine}: no such file")
    try:
        result = run_damage_types(args.engine, args.fill or DEFAULT_FILL, args.device, args.keep_outputs)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    data = report.write_results("damage_types", command, result,
                                lambda d: damage_markdown(d, report.machine_line(d["machine"])), out=args.out,
                                tag=args.tag)
    for kind, k in data["kinds"].items():
        log.info("%-20s found %5.1f %%, error %5.1f -> %5.1f levels, undamaged change %.3f", kind,
                 100 * k["found_share"], k["mae_input"], k["mae_output"], k["change_undamaged"])
    return 0


def flicker(args: argparse.Namespace, command: str) -> int:
    from .flicker import FlickerOptions, flicker_markdown, run_flicker

    if args.video is not None and not args.video.is_file():
        raise UserError(f"--video {args.video}: no such file")
    if len(args.engine) > 2:
        raise UserError("give one --engine, or two (restore then colorize)")
    if args.repeats < 1 or args.window < 1 or args.window % 2 == 0:
        raise UserError("--repeats must be at least 1 and --window an odd number of frames")
    size = args.size if isinstance(args.size, tuple) else (args.size, args.size)
    memory_size = args.memory_size if isinstance(args.memory_size, tuple) else (args.memory_size,) * 2
    opts = FlickerOptions(video=args.video, engines=tuple(args.engine), stand_in=args.stand_in,
                          stand_in_gain=args.stand_in_gain, size=size,
                          shot_frames=args.shot_frames, window=args.window, repeats=args.repeats,
                          batch_size=args.batch_size, workers=args.workers, device=args.device,
                          memory_minutes=args.memory_minutes, memory_size=memory_size, keep=args.keep,
                          preset=args.preset)
    try:
        result = run_flicker(opts)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    data = report.write_results("flicker", command, result,
                                lambda d: flicker_markdown(d, report.machine_line(d["machine"]), command),
                                out=args.out, tag=args.tag)
    failed = [name for name, t in data["targets"].items() if not t["passed"]]
    for name, t in data["targets"].items():
        log.info("%-20s %s %s", name, report.fmt(t["value"], 3), "pass" if t["passed"] else "FAIL")
    return 1 if failed else 0


def summary(args: argparse.Namespace) -> int:
    from .summary import write_summary

    path = write_summary(args.root or report.RESULTS_ROOT, args.output or report.RESULTS_ROOT.parent / "RESULTS.md")
    log.info("wrote %s", path)
    return 0



