"""Training speed: images/s of the real ``TrainTask.train_step`` on synthetic batches.

For each model family with a training task (train/families/: ``pix2pix``: unet_256
generator + 70x70 PatchGAN, D step then G step; ``restore``/``colorize``: the
two-stage EfficientNet-B3 U-Nets) and each
configuration (precision x channels-last x optionally ``torch.compile``), the
task is built fresh, prepared exactly as ``revive.train.loop.fit`` prepares it
(device, memory format, cudnn autotune and TF32 on CUDA, compile), and
``train_step`` runs ``warmup`` untimed then ``steps`` timed steps on one
synthetic batch already on the device (data loading excluded). On CUDA each
step is bracketed by CUDA events; on the CPU by the wall clock.

Reported per configuration: images/s, median step time, peak memory
(``torch.cuda.max_memory_allocated`` or the process RSS high-water), the
speed-up over the model's FP32 eager configuration, and achieved TFLOP/s from
the FLOPs of one step (forward + backward of every network, counted once per
model with ``FlopCounterMode`` during an untimed FP32 step).
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from revive.runtime.card import DEFAULT_BATCH_SIZE
from revive.train.families import get_family, list_families

if TYPE_CHECKING:
    import torch

__all__ = ["TrainSpeedOptions", "build_task", "run_train_speed", "synthetic_batch", "train_speed_models"]

log = logging.getLogger(__name__)


def train_speed_models() -> list[str]:
    """Every registered model family with a single training task (its ``speed_task``)."""
    return [get_family(n).model_name for n in list_families() if get_family(n).speed_task]


@dataclass
class TrainSpeedOptions:
    models: tuple[str, ...] = field(default_factory=lambda: tuple(train_speed_models()))
    batch: int = DEFAULT_BATCH_SIZE
    image_size: int = 256
    amp: tuple[str, ...] = ("fp32", "bf16")
    channels_last: tuple[bool, ...] = (False, True)
    compile: bool = False
    steps: int = 10
    warmup: int = 3
    ngf: int = 64
    encoder: str | None = None
    device: str = "auto"
    configs: str | None = None  # "fp32,bf16+channels_last+compile": replaces the grid


def parse_config(text: str) -> dict[str, Any]:
    """``bf16+channels_last+compile`` -> {"amp": "bf16", "channels_last": True, "compile": True}."""
    parts = [p.strip() for p in text.split("+") if p.strip()]
    if not parts or parts[0] not in ("fp32", "bf16", "fp16") or set(parts[1:]) - {"channels_last", "compile"}:
        raise ValueError(f"--configs entry {text!r}: PRECISION[+channels_last][+compile], PRECISION one of "
                         "fp32, bf16, fp16")
    return {"amp": parts[0], "channels_last": "channels_last" in parts, "compile": "compile" in parts}


def build_task(model: str, image_size: int, ngf: int = 64, encoder: str | None = None):
    """A fresh TrainTask for ``model`` (random weights, nothing downloaded)."""
    if model not in train_speed_models():
        raise ValueError(f"--models {model!r}: choose from {', '.join(train_speed_models())}")
    return get_family(model).speed_task(image_size, {"ngf": ngf, "encoder": encoder})


def synthetic_batch(model: str, n: int, size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The keys the family's ``train_step`` reads, with plausible values (RGB colour space)."""
    return get_family(model).speed_batch(n, size, seed)


def _configs(opts: TrainSpeedOptions) -> list[dict[str, Any]]:
    if opts.configs:
        return [parse_config(c) for c in opts.configs.split(",") if c.strip()]
    configs = [{"amp": amp, "channels_last": cl, "compile": False} for amp in opts.amp for cl in opts.channels_last]
    if opts.compile:
        configs += [{**c, "compile": True} for c in list(configs)]
    return configs


def _label(c: dict[str, Any]) -> str:
    return "+".join([c["amp"], *(["channels_last"] if c["channels_last"] else []),
                     *(["compile"] if c["compile"] else [])])


def _measure(model: str, config: dict[str, Any], opts: TrainSpeedOptions, device: torch.device,
             count_flops: bool) -> dict[str, Any]:
    import numpy as np
    import torch

    from revive.train.distributed import World
    from revive.train.loop import LoopOptions, Precision, _prepare_nets

    from .flops import count_flops as counter
    from .speed import _reset_hwm, _rss_hwm_mb, _Timer

    torch.manual_seed(0)
    task = build_task(model, opts.image_size, opts.ngf, opts.encoder)
    world = World(rank=0, world_size=1, local_rank=device.index or 0, device=device)
    _prepare_nets(task, LoopOptions(channels_last=config["channels_last"], compile=config["compile"]), world)
    for net in task.nets.values():
        net.train()
    amp = "off" if config["amp"] == "fp32" else config["amp"]
    precision = Precision(amp, device)
    batch = task.to_device(synthetic_batch(model, opts.batch, opts.image_size))
    cuda = device.type == "cuda"

    def step() -> None:
        task.train_step(batch, precision)
        precision.update()

    flops = None
    if count_flops:
        flops = counter(step)
    warmup = opts.warmup + (2 if config["compile"] else 0)
    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        _reset_hwm()
    timed = _Timer(cuda).time
    times = [timed(step) for _ in range(opts.steps)]
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else _rss_hwm_mb()
    total = float(np.sum(times))
    result = {"config": _label(config), **config, "precision_mode": precision.mode, "steps": len(times),
              "images_per_s": opts.batch * len(times) / total, "step_ms_p50": float(np.median(times)) * 1000,
              "step_ms_min": float(np.min(times)) * 1000, "peak_memory_mb": peak,
              "memory_kind": "torch.cuda.max_memory_allocated" if cuda else "process RSS high-water (VmHWM)"}
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return result | ({"flops_per_step": flops} if flops else {})


def run_train_speed(opts: TrainSpeedOptions) -> dict[str, Any]:
    import torch

    from revive.train.distributed import pick_device

    device = pick_device(opts.device)
    if opts.steps < 1:
        raise ValueError("--steps must be >= 1")
    amps = [c["amp"] for c in _configs(opts)]
    for amp in amps:
        if amp not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"--amp {amp!r}: choose fp32, bf16 or fp16")
        if amp == "fp16" and device.type != "cuda":
            raise ValueError("--amp fp16 needs CUDA (use bf16 on the CPU)")
    models: dict[str, Any] = {}
    for model in opts.models:
        if model not in train_speed_models():
            raise ValueError(f"--models {model!r}: choose from {', '.join(train_speed_models())}")
        rows, flops = [], None
        base = None
        for i, config in enumerate(_configs(opts)):
            want_flops = flops is None and config["amp"] == "fp32" and not config["compile"]
            # As revive-train does: the two-stage U-Nets train on the CPU with oneDNN off (train/two_stage.py).
            onednn = device.type != "cpu" or get_family(model).onednn_on_cpu
            try:
                with torch.backends.mkldnn.flags(enabled=onednn):
                    r = _measure(model, config, opts, device, count_flops=want_flops)
            except Exception as exc:  # noqa: BLE001 - e.g. compile without a toolchain: report, go on
                log.warning("%s %s failed: %s", model, _label(config), exc)
                rows.append({"config": _label(config), **config, "status": "failed",
                             "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})
                continue
            r["status"] = "ok"
            flops = r.pop("flops_per_step", None) or flops
            if config["amp"] == "fp32" and not config["channels_last"] and not config["compile"]:
                base = r["images_per_s"]
            rows.append(r)
            log.info("%-9s %-32s %8.2f images/s  step %8.1f ms", model, r["config"], r["images_per_s"],
                     r["step_ms_p50"])
        for r in rows:
            if r["status"] == "ok":
                r["speedup_vs_fp32"] = r["images_per_s"] / base if base else None
                r["achieved_tflops"] = flops / opts.batch * r["images_per_s"] / 1e12 if flops else None
        models[model] = {"flops_per_image": flops / opts.batch if flops else None, "results": rows}
    return {"device": str(device), "settings": {"batch": opts.batch, "image_size": opts.image_size,
                                                "steps": opts.steps, "warmup": opts.warmup, "ngf": opts.ngf,
                                                "encoder": opts.encoder or "efficientnet-b3"},
            "models": models}


def train_markdown(report: dict[str, Any]) -> str:
    from .report import fmt, machine_line, markdown_table

    s = report["settings"]
    rows = []
    for model, entry in report["models"].items():
        for r in entry["results"]:
            if r["status"] != "ok":
                rows.append([model, r["config"], "failed", "", "", "", "", r["reason"]])
                continue
            rows.append([model, r["config"], fmt(r["images_per_s"]), fmt(r["step_ms_p50"], 1),
                         fmt(r["speedup_vs_fp32"]) + "×" if r["speedup_vs_fp32"] else "n/a",
                         fmt(r["achieved_tflops"], 3), fmt(r["peak_memory_mb"], 0), ""])
    return "\n".join([
        f"# Training speed ({report['device']}, batch {s['batch']}, {s['image_size']}×{s['image_size']})", "",
        machine_line(report["machine"]), "",
        f"Real `TrainTask.train_step` on a synthetic batch already on the device; {s['steps']} timed steps after "
        f"{s['warmup']} warm-up steps; networks prepared as `revive-train` prepares them (on CUDA: cudnn "
        f"autotune and TF32 on, so the FP32 baseline is TF32 eager). Command: `{report['command']}`", "",
        markdown_table(["model", "configuration", "images/s", "step ms", "vs FP32 eager", "TFLOP/s", "peak MB",
                        "note"], rows)])


def train_plot(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels, values, colors = [], [], []
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (model, entry) in enumerate(report["models"].items()):
        for r in entry["results"]:
            if r["status"] == "ok":
                labels.append(f"{model}\n{r['config']}")
                values.append(r["images_per_s"])
                colors.append(palette[i % len(palette)])
    ax.bar(range(len(values)), values, color=colors)
    ax.set_xticks(range(len(values)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("training images/s")
    ax.set_title(f"Training speed on {report['machine']['slug']} (batch {report['settings']['batch']}, "
                 f"{report['settings']['image_size']} px)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
