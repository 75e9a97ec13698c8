"""Process-group plumbing for ``torchrun``: who am I, which device, how to reduce numbers.

Launched plainly, the world is one process and every helper is a no-op; under
``torchrun --nproc-per-node N -m revive.train ...`` the environment variables
torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR...) decide. NCCL on
CUDA, gloo on CPU (which is how the tests run two processes on one machine).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

from revive.runtime.errors import UsageError
import torch.distributed as dist

__all__ = ["World", "reduce_sums", "setup_world", "teardown_world"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        log.info("CUDA is not available: training on the CPU")
        return torch.device("cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {requested}: this PyTorch build sees no CUDA device")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UsageError(f"--device {requested!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {requested!r}: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda" and device.index >= torch.cuda.device_count():
        raise UsageError(f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def setup_world(requested_device: str = "auto") -> World:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        log.info("rank %d/%d on %s (%s)", rank, world_size, device, backend)
    return World(rank, world_size, local_rank, device)


def teardown_world(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def reduce_sums(values: dict[str, float], world: World) -> dict[str, float]:
    """Sum each value over all ranks (a no-op on one process)."""
    if not world.distributed or not values:
        return dict(values)
    keys = sorted(values)
    device = world.device if world.device.type == "cuda" else torch.device("cpu")
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist()))
