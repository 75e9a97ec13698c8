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
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from revive.runtime.errors import UserError, describe
from revive.runtime.files import write_atomic

from .models import create_model

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "build_model", "file_sha256", "load_checkpoint", "load_weights",
           "save_checkpoint"]

CHECKPOINT_FORMAT = "revive-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(UserError, ValueError):
    """A file is not a revive checkpoint, or one this version cannot read."""


def save_checkpoint(path: str | Path, model: nn.Module, config: dict[str, Any],
                    state: dict[str, Any] | None = None) -> None:
    """Write atomically: an interrupted save never leaves a truncated checkpoint behind."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config,
               "model": unwrap(model).state_dict(), "state": state or {}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(Path(path), buffer.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    from revive.runtime.files import not_a_regular_file

    path = Path(path)
    if not os.path.lexists(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    problem = not_a_regular_file(path)
    if problem:
        raise CheckpointError(f"{path}: not a checkpoint file ({problem})")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise CheckpointError(f"{path}: not a loadable checkpoint ({describe(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a revive checkpoint (no '{CHECKPOINT_FORMAT}' header)")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')}, "
                              f"this revive reads version {CHECKPOINT_VERSION}")
    config = payload.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: the checkpoint has no config")
    if not isinstance(payload.get("model"), dict):
        raise CheckpointError(f"{path}: the checkpoint has no model weights")
    return payload


def build_model(config: dict[str, Any], state_dict: dict[str, torch.Tensor] | None = None,
                path: str | Path = "checkpoint") -> nn.Module:
    """Rebuild the network a checkpoint's config describes, with its weights when given.

    A config that names no known architecture, passes arguments it does not take, or does
    not match the weights raises CheckpointError naming the field that disagrees.
    """
    from .models import list_models

    arch, kwargs = config.get("architecture"), config.get("model_kwargs", {})
    if not isinstance(arch, str) or arch not in list_models():
        raise CheckpointError(f"{path}: config architecture {arch!r} is not one of {', '.join(list_models())}")
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{path}: config model_kwargs is {type(kwargs).__name__}, not an object")
    try:
        model = create_model(arch, **kwargs)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: config model_kwargs {kwargs} cannot build {arch}: {describe(exc)}") from None
    if state_dict is not None:
        load_weights(model, state_dict, path, f"architecture {arch}, model_kwargs {kwargs}")
    return model


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], path: str | Path, what: str) -> None:
    """``model.load_state_dict`` with a one-line CheckpointError saying which weights disagree."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unknown = [k for k in state_dict if k not in own]
    wrong = [k for k in own if k in state_dict and getattr(state_dict[k], "shape", None) != own[k].shape]
    problems = []
    if wrong:
        k = wrong[0]
        problems.append(f"{len(wrong)} tensors differ in shape (first: {k} is "
                        f"{tuple(getattr(state_dict[k], 'shape', ()))} in the file, {tuple(own[k].shape)} in the model)")
    if missing:
        problems.append(f"{len(missing)} tensors missing (first: {missing[0]})")
    if unknown:
        problems.append(f"{len(unknown)} unknown tensors (first: {unknown[0]})")
    if problems:
        raise CheckpointError(f"{path}: the weights do not match the config ({what}): {'; '.join(problems)}")
    model.load_state_dict(state_dict)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module under DistributedDataParallel or torch.compile wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def best_or_last(run_dir: str | Path) -> Path:
    """The checkpoint a finished run hands on: ``best.pt`` (best validation), else ``last.pt``.

    A run without validation (or stopped before its first) writes only ``last.pt``.
    """
    run_dir = Path(run_dir)
    return run_dir / "best.pt" if (run_dir / "best.pt").is_file() else run_dir / "last.pt"
