"""Checkpoints: a state dict plus plain-data config, loadable with ``weights_only=True``.

A checkpoint is data, never code: everything in it is tensors, numbers,
strings, lists and dicts, so ``torch.load(..., weights_only=True)`` accepts it
and ``export/to_onnx.py CKPT`` rebuilds the model from the config alone.

Layout::

    {"format": "revive-checkpoint", "version": 1,
     "config": {"task", "architecture", "model_kwargs", "color_space", "image_size",
                "train": {...options...}, "metrics": {...}, "epoch", "step"},
     "model": state_dict,
     "state": {...}}   # optimisers, schedulers, discriminators, RNG: only what resuming needs
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from revive.runtime.errors import UserError
from revive.runtime.files import write_atomic

from .models import create_model

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "build_model", "file_sha256", "load_checkpoint",
           "save_checkpoint"]

CHECKPOINT_FORMAT = "revive-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(UserError, ValueError):
    """A file is not a revive checkpoint, or one this version cannot read."""


def save_checkpoint(path: str | Path, model: nn.Module, config: dict[str, Any],
                    state: dict[str, Any] | None = None) -> None:
    """Write atomically: an interrupted save never leaves a truncated checkpoint behind."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config,
               "model": _unwrap(model).state_dict(), "state": state or {}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(Path(path), buffer.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise CheckpointError(f"{path}: not a loadable checkpoint ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a revive checkpoint (no '{CHECKPOINT_FORMAT}' header)")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')}, "
                              f"this revive reads version {CHECKPOINT_VERSION}")
    return payload


def build_model(config: dict[str, Any], state_dict: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Rebuild the network a checkpoint's config describes, with its weights when given."""
    model = create_model(config["architecture"], **config.get("model_kwargs", {}))
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return model


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _unwrap(model: nn.Module) -> nn.Module:
    """The bare module under DistributedDataParallel or torch.compile wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)
