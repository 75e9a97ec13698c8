"""The one kind of error a user can fix: every CLI turns it into one line and exit status 2.

revive tells two kinds of failure apart (docs/STYLE: Polygraphy's rule). A *user error*
(a bad path, a model card or checkpoint that is not what it claims, a flag out of range, a
folder that would be overwritten) is a :class:`UserError`: its message names the file and
the reason, and ``main(argv)`` prints ``PROG: message`` and returns 2, never a traceback.
Anything else is a bug and keeps its traceback.

Each layer's errors (``CardError``, ``BackendError``, ``InputError``, ``DecodeError`` here;
``CheckpointError``, ``DataError`` in training; the exporters' errors) subclass it, so a CLI
catches one type whatever layer raised.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "UsageError", "UserError", "describe",
           "parse_args", "report"]

EXIT_OK = 0
EXIT_FAILED = 1  # some inputs failed, the rest were done
EXIT_USAGE = 2  # a user error: nothing (more) was done
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A problem the user can fix; the message (one line) names the file and the reason."""


class UsageError(UserError, ValueError):
    """A flag or argument out of its range, or a combination of them that cannot work."""


def describe(exc: BaseException) -> str:
    """A one-line reason from any exception, never empty (``MemoryError()`` has no message)."""
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def report(prog: str, exc: BaseException) -> int:
    """Print ``PROG: reason`` for a user error on stderr; returns the exit status (2)."""
    print(f"{prog}: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
    return EXIT_USAGE


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace | int:
    """``parser.parse_args`` that returns an exit status instead of raising SystemExit.

    argparse has already printed its usage line or help: 2 for a usage error, 0 for ``--help``.
    """
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
