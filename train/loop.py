"""The training loop every model family shares: epochs, precision, devices, checkpoints, curves.

A family supplies a ``TrainTask`` (its networks, optimisers, one training step
and one evaluation step); this module supplies the rest: data loaders with
reproducible sampling, mixed precision, channels-last, torch.compile,
DistributedDataParallel under torchrun, learning-rate schedules, validation
reduced across ranks, resumable checkpoints (only rank 0 writes) and curves.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import deque
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from revive.runtime.card import DEFAULT_BATCH_SIZE
from revive.runtime.system import cpu_count
from revive.runtime.errors import UsageError

from .batch_norm import recalibrate_batch_norm
from .checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint, unwrap
from .datasets import EpochSampler
from .distributed import World, reduce_sums
from .history import write_history

__all__ = ["LoopOptions", "Precision", "TrainTask", "check_run_folder", "fit", "unwrap"]

log = logging.getLogger(__name__)


@dataclass
class LoopOptions:
    out_dir: str = "runs/train"
    epochs: int = 10
    epochs_decay: int = 0  # linear schedule: the last N epochs decay the rate to 0
    lr_schedule: str = "linear"  # linear | cosine | cyclic
    cycle_epochs: int = 10  # cyclic: period of the cosine restarts
    batch_size: int = DEFAULT_BATCH_SIZE
    max_steps: int = 0  # stop after this many optimisation steps (0 = no limit)
    seed: int = 0
    amp: str = "auto"  # auto | bf16 | fp16 | off
    channels_last: bool | None = None  # None = on for CUDA
    compile: bool = False
    workers: int = -1  # -1 = min(4, CPUs) on CUDA, min(2, CPUs) on CPU
    sync_bn: bool = False
    resume: str = ""
    overwrite: bool = False  # a fresh run may replace the checkpoints of an earlier run in out_dir
    val_batch_size: int = 0  # 0 = batch_size
    bn_recal: int = 0  # before each validation, recompute BatchNorm statistics over the epoch's last N batches
    val_every: int = 1  # validate (and choose best.pt) every N epochs and after the last one

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Precision:
    """Autocast and gradient scaling for one resolved mode: bf16, fp16 or fp32."""

    def __init__(self, requested: str, device: torch.device) -> None:
        self.mode = self.resolve(requested, device)
        self.device = device
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.mode)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.mode == "fp16")

    @staticmethod
    def resolve(requested: str, device: torch.device) -> str:
        if requested not in ("auto", "bf16", "fp16", "off"):
            raise UsageError(f"--amp {requested!r}: choose auto, bf16, fp16 or off")
        if requested == "auto":
            if device.type == "cuda":
                return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            return "off"  # CPU autocast is slower than FP32 for these convolutions
        if requested == "fp16" and device.type != "cuda":
            raise UsageError("--amp fp16 needs CUDA (use bf16 or off on the CPU)")
        return "off" if requested == "off" else requested

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.step(optimizer)

    def update(self) -> None:
        self.scaler.update()


@dataclass
class TrainTask:
    """What a model family hands the loop. Subclasses implement the two steps and ``config``."""

    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    primary: str = "generator"  # the network stored as the checkpoint's "model"
    best_metric: str = "val_psnr"  # higher is better
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    memory_format: torch.memory_format = torch.contiguous_format

    def train_step(self, batch: dict[str, torch.Tensor], precision: Precision) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached scalar losses."""
        raise NotImplementedError

    def eval_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Metric sums over a validation batch, with ``count`` = images scored."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """Plain data that rebuilds the primary network (see train/checkpoint.py)."""
        raise NotImplementedError

    def primary_input(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """What the primary network is fed for ``batch`` (None: the task cannot say, so no ``--bn-recal``)."""
        return None

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for key, value in batch.items():
            value = value.to(self.device, non_blocking=True)
            if value.is_floating_point() and value.ndim == 4:
                value = value.contiguous(memory_format=self.memory_format)
            out[key] = value
        return out


def _make_scheduler(optimizer: torch.optim.Optimizer, opts: LoopOptions):
    sched = opts.lr_schedule
    if sched == "linear":
        constant = max(0, opts.epochs - opts.epochs_decay)
        decay = max(1, opts.epochs_decay)

        def factor(epoch: int) -> float:  # the official pix2pix rule, epoch counted from 0
            return 1.0 - max(0, epoch + 1 - constant) / float(decay + 1) if opts.epochs_decay else 1.0

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if sched == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, opts.epochs))
    if sched == "cyclic":
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=max(1, opts.cycle_epochs))
    raise UsageError(f"--lr-schedule {sched!r}: choose linear, cosine or cyclic")


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [int(x) if not isinstance(x, np.ndarray) else torch.from_numpy(x.astype(np.int64))
                       for x in np.random.get_state()[1:]]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _default_workers(device: torch.device) -> int:
    cpus = cpu_count()
    return min(4 if device.type == "cuda" else 2, cpus)


def _loader(dataset: Dataset, sampler: EpochSampler, batch_size: int, workers: int, device: torch.device,
            drop_last: bool) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=device.type == "cuda", persistent_workers=workers > 0, drop_last=drop_last,
                      prefetch_factor=4 if workers > 0 else None)


def _prepare_nets(task: TrainTask, opts: LoopOptions, world: World) -> None:
    channels_last = opts.channels_last if opts.channels_last is not None else world.device.type == "cuda"
    task.memory_format = torch.channels_last if channels_last else torch.contiguous_format
    task.device = world.device
    if world.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    sync_bn = opts.sync_bn and world.distributed
    if sync_bn and world.device.type != "cuda":
        log.warning("--sync-bn ignored: SyncBatchNorm needs CUDA (each CPU process keeps its own statistics)")
        sync_bn = False
    for name, net in list(task.nets.items()):
        if sync_bn:
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = net.to(world.device, memory_format=task.memory_format)
        if world.distributed:
            ids = [world.device.index] if world.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        if opts.compile:
            net = torch.compile(net)
        task.nets[name] = net


def _save(path: Path, task: TrainTask, opts: LoopOptions, schedulers: dict, precision: Precision,
          epoch: int, step: int, history: list[dict], best: float) -> None:
    config = {**task.config(), "train": opts.to_dict(), "metrics": history[-1] if history else {},
              "epoch": epoch, "step": step}
    state = {
        "nets": {name: unwrap(net).state_dict() for name, net in task.nets.items() if name != task.primary},
        "optimizers": {name: opt.state_dict() for name, opt in task.optimizers.items()},
        "schedulers": {name: s.state_dict() for name, s in schedulers.items()},
        "scaler": precision.scaler.state_dict(),
        "epoch": epoch, "step": step, "history": history, "best": best, "rng": _rng_state(),
    }
    save_checkpoint(path, unwrap(task.nets[task.primary]), config, state)


def _resume(path: str, task: TrainTask, schedulers: dict, precision: Precision) -> tuple[int, int, list, float]:
    payload = load_checkpoint(path, map_location="cpu")
    state = payload.get("state") or {}
    if "optimizers" not in state:
        raise CheckpointError(f"{path}: holds no training state to resume from")
    want, have = task.config().get("architecture"), payload["config"].get("architecture")
    if want != have:
        raise CheckpointError(f"{path}: a {have} checkpoint cannot resume a {want} run")
    wanted, had = task.config().get("model_kwargs", {}), payload["config"].get("model_kwargs", {})
    if wanted != had:
        fields = sorted(k for k in {*wanted, *had} if wanted.get(k) != had.get(k))
        raise CheckpointError(f"{path}: the checkpoint's model_kwargs differ from this run's in "
                              f"{', '.join(f'{k} ({had.get(k)!r} there, {wanted.get(k)!r} here)' for k in fields)}; "
                              "resume with the flags the run was started with")
    load_weights(unwrap(task.nets[task.primary]), payload["model"], path, f"{want} {wanted}")
    for name, sd in state["nets"].items():
        if name not in task.nets:
            raise CheckpointError(f"{path}: holds a {name!r} network this run does not train")
        load_weights(unwrap(task.nets[name]), sd, path, f"network {name!r}")
    for name, sd in state["optimizers"].items():
        task.optimizers[name].load_state_dict(sd)
    for name, sd in state["schedulers"].items():
        schedulers[name].load_state_dict(sd)
    precision.scaler.load_state_dict(state["scaler"])
    _set_rng_state(state["rng"])
    log.info("resumed from %s at epoch %d, step %d", path, state["epoch"], state["step"])
    return state["epoch"], state["step"], list(state["history"]), float(state["best"])


def check_run_folder(out_dir: str | Path, resume: str = "", overwrite: bool = False) -> None:
    """Refuse to start a fresh run in a folder that holds another run's checkpoints.

    The default run folder (``runs/<family>``) is the same for every run of a family, so a
    second run would silently replace the first one's ``best.pt`` and ``last.pt``.
    """
    if resume or overwrite:
        return
    folder = Path(out_dir)
    found = sorted(folder.rglob("*.pt")) if folder.is_dir() else []
    if found:
        raise CheckpointError(f"{folder}: already holds a run ({found[0]}); continue it with --resume "
                              f"{found[0].parent / 'last.pt'}, replace it with --overwrite (revive-train builtin: "
                              "rerun it, reusing the stages whose recipe is unchanged), or give a new --out folder")


def fit(task: TrainTask, train_set: Dataset, val_set: Dataset | None, opts: LoopOptions,
        world: World) -> dict[str, Any]:
    """Train until ``opts.epochs`` (or ``opts.max_steps``); returns the last history row."""
    from tqdm import tqdm

    out_dir = Path(opts.out_dir)
    check_run_folder(out_dir, opts.resume, opts.overwrite)
    if world.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(opts.seed + world.rank)
    precision = Precision(opts.amp, world.device)
    _prepare_nets(task, opts, world)
    schedulers = {name: _make_scheduler(opt, opts) for name, opt in task.optimizers.items()}
    epoch0, step, history, best = 0, 0, [], -math.inf
    if opts.resume:
        epoch0, step, history, best = _resume(opts.resume, task, schedulers, precision)
    workers = opts.workers if opts.workers >= 0 else _default_workers(world.device)
    train_sampler = EpochSampler(len(train_set), True, opts.seed, world.rank, world.world_size)
    drop_last = len(train_set) >= opts.batch_size * world.world_size
    train_loader = _loader(train_set, train_sampler, opts.batch_size, workers, world.device, drop_last)
    val_loader = None
    if val_set is not None and len(val_set):
        val_sampler = EpochSampler(len(val_set), False, opts.seed, world.rank, world.world_size)
        val_loader = _loader(val_set, val_sampler, opts.val_batch_size or opts.batch_size, workers,
                             world.device, False)
    log.info("training on %s: %d train / %d val images, batch %d x %d process(es), precision %s, %s",
             world.device, len(train_set), len(val_set) if val_set is not None else 0, opts.batch_size,
             world.world_size, precision.mode,
             "channels-last" if task.memory_format == torch.channels_last else "contiguous")
    row: dict[str, Any] = history[-1] if history else {}
    recent = _recal_buffer(task, opts)
    for epoch in range(epoch0, opts.epochs):
        if opts.max_steps and step >= opts.max_steps:
            break
        train_sampler.set_epoch(epoch)
        for net in task.nets.values():
            net.train()
        sums: dict[str, torch.Tensor] = {}
        n_steps, images, t0 = 0, 0, time.perf_counter()
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{opts.epochs}", disable=not world.is_main,
                   leave=False, dynamic_ncols=True)
        for batch in bar:
            batch = task.to_device(batch)
            losses = task.train_step(batch, precision)
            precision.update()
            if recent is not None:
                recent.append(batch)  # the network's input is derived only when recalibrating
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            n_steps += 1
            step += 1
            images += len(batch["input"]) * world.world_size
            if opts.max_steps and step >= opts.max_steps:
                break
        seconds = time.perf_counter() - t0
        for sched in schedulers.values():
            sched.step()
        losses = reduce_sums({k: float(v) / max(1, n_steps) for k, v in sums.items()}, world)
        row = {"epoch": epoch + 1, "step": step,
               **{f"train_{k}": v / world.world_size for k, v in losses.items()},
               **{f"lr_{k}": opt.param_groups[0]["lr"] for k, opt in task.optimizers.items()},
               "images_per_s": images / seconds if seconds else 0.0}
        last = epoch + 1 == opts.epochs or bool(opts.max_steps and step >= opts.max_steps)
        validate = val_loader is not None and (last or (epoch + 1) % max(1, opts.val_every) == 0)
        if recent and (validate or last):
            with precision.autocast():
                recalibrate_batch_norm(unwrap(task.nets[task.primary]), (task.primary_input(b) for b in recent))
        if validate:
            row.update(_validate(task, val_loader, world))
        history.append(row)
        score = row.get(task.best_metric, -math.inf)
        improved = score > best
        best = max(best, score)
        if world.is_main:
            _save(out_dir / "last.pt", task, opts, schedulers, precision, epoch + 1, step, history, best)
            if improved:
                _save(out_dir / "best.pt", task, opts, schedulers, precision, epoch + 1, step, history, best)
            write_history(history, out_dir, plot=validate or last)  # the curves move with validation
            log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                                                           if isinstance(v, float)))
        if world.distributed:
            torch.distributed.barrier()
    return row


def _recal_buffer(task: TrainTask, opts: LoopOptions) -> deque | None:
    """The last ``--bn-recal`` batches, or None when off or the task cannot say what its network is fed."""
    if opts.bn_recal <= 0:
        return None
    if type(task).primary_input is TrainTask.primary_input:
        log.warning("--bn-recal ignored: the %s task does not say what its network is fed", task.primary)
        return None
    return deque(maxlen=opts.bn_recal)


@torch.no_grad()
def _validate(task: TrainTask, loader: DataLoader, world: World) -> dict[str, float]:
    for net in task.nets.values():
        net.eval()
    sums: dict[str, float] = {}
    for batch in loader:
        for key, value in task.eval_step(task.to_device(batch)).items():
            sums[key] = sums.get(key, 0.0) + value
    sums = reduce_sums(sums, world)
    count = sums.pop("count", 0.0)
    return {f"val_{k}": v / count for k, v in sums.items()} if count else {}
