"""The model-family registry: one entry says how a family trains, exports and is benchmarked.

A family is what ``revive-train NAME`` trains. Its entry holds plain callables for
the training side (CLI options, extra checks, the run itself, a random-weight
checkpoint, a task for the training-speed benchmark) and, for the export side,
only the *module path* of its graph wrapper (``"revive.export.graph:ColorizeGraph"``):
the training package never imports the export package (DESIGN.md's layers), so
``revive.export`` resolves that path itself with ``load_hook``. The runtime knows
nothing of families: it reads the card's task (``colorize``, ``restore``,
``pipeline``), which every family's checkpoints declare.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from revive.runtime.card import DEFAULT_BATCH_SIZE
from revive.runtime.errors import UsageError

if TYPE_CHECKING:
    from ..distributed import World
    from ..loop import LoopOptions, TrainTask

__all__ = ["Family", "UnknownFamilyError", "family_of_checkpoint", "get_family", "list_families", "load_hook",
           "register_family"]


def _no_checks(args: argparse.Namespace) -> list[tuple[bool, str]]:
    return []


@dataclass(frozen=True)
class Family:
    """Everything revive needs to know about one model family.

    ``train(args, loop, world)`` runs the family on the parsed arguments and returns
    the summary logged after ``done:``. ``checks(args)`` gives ``(ok, message)``
    pairs for ranges argparse cannot say. ``checkpoint`` is the ``(family, task)``
    pair written into the config of the checkpoints it trains, which is how export
    finds the entry of a checkpoint; ``graph`` names the export wrapper class
    (``from_checkpoint(net, config)``, ``network_scopes``, ``output_roles``).
    ``random_checkpoint(workdir, image_size, small)`` writes a random-weight
    checkpoint (or a restore/colorize pair) for benchmarks and the model tests;
    ``speed_task(image_size, options)`` and ``speed_batch(n, size, seed)`` feed
    ``revive-bench train-speed``.
    """

    name: str
    help: str
    add_options: Callable[[argparse.ArgumentParser], None]
    train: Callable[[argparse.Namespace, LoopOptions, World], str]
    checks: Callable[[argparse.Namespace], list[tuple[bool, str]]] = _no_checks
    default_batch: int = DEFAULT_BATCH_SIZE
    checkpoint: tuple[str, str] | None = None
    graph: str = ""
    random_checkpoint: Callable[[Path, int, bool], Path | tuple[Path, Path]] | None = None
    bench_name: str = ""  # revive-bench --model NAME (default: name)
    speed_task: Callable[[int, dict[str, Any]], TrainTask] | None = None
    speed_batch: Callable[[int, int, int], dict[str, Any]] | None = None
    onednn_on_cpu: bool = True  # False: train with oneDNN off on the CPU (train/two_stage.py: cpu_convolutions)

    @property
    def model_name(self) -> str:
        return self.bench_name or self.name

    @property
    def run_folder(self) -> str:
        """Default ``--out``: ``runs/<name>`` with dashes as underscores."""
        return f"runs/{self.name.replace('-', '_')}"


_FAMILIES: dict[str, Family] = {}


class UnknownFamilyError(UsageError):
    """A family name nobody registered."""


def register_family(family: Family) -> Family:
    """Add a family (revive-train lists families in the order they are registered)."""
    if family.name in _FAMILIES:
        raise ValueError(f"model family {family.name!r} is registered twice")
    _FAMILIES[family.name] = family
    return family


def list_families() -> list[str]:
    return list(_FAMILIES)


def get_family(name: str) -> Family:
    """The family called ``name`` (its ``revive-train`` or ``revive-bench --model`` name)."""
    found = _FAMILIES.get(name) or next((f for f in _FAMILIES.values() if f.model_name == name), None)
    if found is None:
        raise UnknownFamilyError(f"unknown model family {name!r}; choose one of: {', '.join(_FAMILIES)}")
    return found


def family_of_checkpoint(config: dict[str, Any]) -> Family | None:
    """The family that exports a checkpoint: its ``(family, task)``, else the first one of the same task
    (checkpoints written before configs named their family)."""
    key = (config.get("family"), config.get("task", "colorize"))
    exporting = [f for f in _FAMILIES.values() if f.checkpoint is not None and f.graph]
    return (next((f for f in exporting if f.checkpoint == key), None)
            or next((f for f in exporting if f.checkpoint[1] == key[1]), None))


def load_hook(ref: str) -> Any:
    """``"package.module:attr"`` -> the attribute, importing the module now (hooks of upper layers)."""
    module, _, attr = ref.partition(":")
    if not module or not attr:
        raise ValueError(f"hook {ref!r}: expected 'package.module:attribute'")
    return getattr(importlib.import_module(module), attr)
