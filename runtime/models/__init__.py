"""The models that ship inside the package, named ``builtin:NAME`` wherever a model path is accepted.

``pip install revive`` carries a restorer and a colorizer (ONNX files with their cards, package data
beside this module), so a user can point ``runtime-infer`` at a folder of photos before training
anything. ``resolve_model`` is the one place a model argument becomes a file: ``builtin:restore`` ->
the bundled file, anything else -> ``Path(spec)`` unchanged. The backends call it (through
``check_model_path``), so ``--engine``, revive-serve and ``--ray`` all accept the names.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError

__all__ = ["BUILTIN_PREFIX", "DEFAULT_ROUTE", "BuiltinModelError", "builtin_names", "builtin_path", "default_models",
           "is_builtin", "resolve_model"]

BUILTIN_PREFIX = "builtin:"
# name -> file beside this module
_FILES = {"restore": "restore.onnx", "colorize": "colorize.onnx"}
# What runtime-infer runs when no --engine is given: restore, then colorize.
DEFAULT_ROUTE = ("restore", "colorize")
_HERE = Path(__file__).resolve().parent


class BuiltinModelError(UserError, ValueError):
    """A ``builtin:`` name that is unknown, or whose file is missing from this installation."""


def builtin_names() -> list[str]:
    return list(_FILES)


def is_builtin(spec: str | Path) -> bool:
    return str(spec).startswith(BUILTIN_PREFIX)


def builtin_path(name: str) -> Path:
    """The bundled file for ``name`` (``restore``, ``colorize``); BuiltinModelError when it is not there."""
    if name not in _FILES:
        raise BuiltinModelError(f"{BUILTIN_PREFIX}{name}: no such bundled model (bundled: "
                                f"{', '.join(BUILTIN_PREFIX + n for n in _FILES)})")
    path = _HERE / _FILES[name]
    if not path.is_file():
        raise BuiltinModelError(f"{BUILTIN_PREFIX}{name}: the bundled file {path} is missing from this "
                                "installation; reinstall revive, or give a model file with --engine")
    return path


def resolve_model(spec: str | Path) -> Path:
    """A model argument as a file path: ``builtin:NAME`` -> the bundled file; anything else as given."""
    if is_builtin(spec):
        return builtin_path(str(spec)[len(BUILTIN_PREFIX):])
    return Path(spec)


def default_models() -> list[Path]:
    """The bundled restore and colorize files, in the order runtime-infer runs them without --engine."""
    return [builtin_path(name) for name in DEFAULT_ROUTE]
