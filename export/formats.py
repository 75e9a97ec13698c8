"""The table of export formats: what each stage writes, under which name, and what runs it.

Each stage module registers its row when imported (``register(ExportFormat(...))``);
``export_formats()`` imports every module in ``STAGE_MODULES`` and returns the
table. ``python -m revive.export.formats`` prints it.

Adding a stage (the hook): write ``export/to_NAME.py`` with a ``main(argv)``,
call ``register(...)`` at its top level, and add ``"revive.export.to_NAME"`` to
``STAGE_MODULES``. A module listed there but not present is skipped.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from revive.runtime.card import ModelCard
from revive.runtime.errors import UserError, parse_args, report

from revive.export.naming import Artifacts, artifacts, precision_tag

__all__ = ["FORMATS", "STAGE_MODULES", "ExportFormat", "StageError", "export_formats", "main", "register",
           "run_stage"]

log = logging.getLogger(__name__)

STAGE_MODULES = (
    "revive.export.to_onnx",
    "revive.export.to_fp16",
    "revive.export.to_int8",
    "revive.export.to_trt",
    "revive.export.to_triton",  # the Triton model repository (#13), when present
)


class StageError(UserError, ValueError):
    """A user-facing problem with a stage's input or output (wrong file, wrong name): one line, exit 2."""


@dataclass(frozen=True)
class ExportFormat:
    key: str  # short name: onnx, fp16, int8, tensorrt, triton
    title: str
    precision: str | None  # the card precision it writes (None: not one model, e.g. a repository)
    path: Callable[[Artifacts], Path]  # where it goes, by the naming rule
    module: str  # the stage module, with main(argv)
    command: str  # how a user runs the stage
    runs_on: str  # what executes it


FORMATS: dict[str, ExportFormat] = {}


def register(fmt: ExportFormat) -> ExportFormat:
    """Add (or replace: a module imported twice, as a script and as a package) a format row."""
    FORMATS[fmt.key] = fmt
    return fmt


def export_formats() -> dict[str, ExportFormat]:
    """Every stage's row, in ``STAGE_MODULES`` order (importing the stage modules)."""
    for module in STAGE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    order = {m: i for i, m in enumerate(STAGE_MODULES)}
    return dict(sorted(FORMATS.items(), key=lambda kv: order.get(kv[1].module, len(order))))


def markdown_table(name: str = "NAME") -> str:
    lines = ["| format | writes | precision | stage | runs on |", "|---|---|---|---|---|"]
    example = artifacts(Path(name + ".pt"))
    for fmt in export_formats().values():
        lines.append(f"| {fmt.title} | `{fmt.path(example)}` | {fmt.precision or '-'} | `{fmt.command}` "
                     f"| {fmt.runs_on} |")
    return "\n".join(lines)


def run_stage(prog: str, parser: argparse.ArgumentParser, argv: list[str] | None, tag: str,
              write: Callable[[argparse.Namespace, Path], ModelCard]) -> int:
    """The ``main`` of a one-model stage (NAME.onnx -> NAME.TAG.onnx): parse, name the output by the
    naming rule, ``write(args, out)``, and turn user errors into one line and exit 2."""
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = args.output or artifacts(args.onnx).onnx(tag)
    if precision_tag(out) not in (tag, None):
        return report(prog, StageError(f"-o {out}: name the {tag.upper()} model NAME.{tag}.onnx"))
    try:
        card = write(args, out)
    except UserError as exc:
        return report(prog, exc)
    log.info("wrote %s (%s %s, %s)", out, card.task, card.architecture, card.precision)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Print the format table (markdown)."""
    del argv
    from revive.export import formats  # the registry the stages fill (not __main__'s copy under python -m)

    print(formats.markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
