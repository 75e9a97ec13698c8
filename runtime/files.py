"""Writing files so that a crash never leaves a half-written output behind, nor replaces a user's file."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["AtomicFile", "check_report_path", "clash", "not_a_regular_file", "write_atomic"]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    The rename is atomic on POSIX file systems, so readers (and a resumed run)
    see either no file or the whole file. The file gets the permissions ``open()``
    would give it: a replaced file keeps its mode, a new one is ``0666 & ~umask``,
    so a team sharing an output folder can read each other's results.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600 files: give the mode open() would have given
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AtomicFile:
    """``write_atomic`` for a file written in pieces (a multi-page TIFF page by page, a film frame by frame): a
    temporary file beside ``path``, renamed into place by ``commit``; ``discard`` (or an error before ``commit``)
    removes it.

    ``handle`` is the temporary file opened for writing; ``opened=False`` leaves it to a writer that opens the
    file by name itself (FFmpeg, which reopens an MP4 to move its index to the front) and sets ``handle`` to None.
    ``temporary`` is its name: ``.NAME.XXXXXXXX.part``, the name ``inputs.remove_stale_parts`` clears after a
    killed run.
    """

    def __init__(self, path: Path, *, opened: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        self.temporary = Path(tmp)
        self.handle = None
        try:
            os.fchmod(fd, _mode_for(path))
            if opened:
                self.handle = open(tmp, "r+b")  # by name: writers such as tifffile want a named file
        finally:
            os.close(fd)

    def commit(self) -> None:
        if self.handle is not None:
            self.handle.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.temporary.unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it (os.umask sets it, a race with writer threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _UMASK_AT_IMPORT


def _read_umask_once() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _read_umask_once()  # import time: before any writer thread exists


def check_report_path(path: Path, protected: Iterable[Path], flag: str = "--summary") -> None:
    """Refuse, before any work, a report path that would replace a file of the run or cannot be written.

    ``protected``: the run's inputs, models and outputs. An existing file is replaced only when it
    looks like an earlier report (empty, or JSON text starting with ``{``), so a mistyped name never
    costs a user a photo or a model. Disk-full can only show at the end; the caller handles that.
    """
    from .inputs import InputError

    target = _resolved(path)
    if any(_resolved(p) == target for p in protected):
        raise InputError(f"{path}: {flag} names a file this run reads or writes; give a file of its own")
    if os.path.lexists(path):
        try:
            st = os.stat(path)
        except OSError as exc:
            raise InputError(f"{path}: {flag} cannot be used: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path}: {flag} is {'a folder' if stat.S_ISDIR(st.st_mode) else 'not a regular file'}")
        if st.st_size and not _starts_like_json(path):
            raise InputError(f"{path}: {flag} would replace a file that is not a JSON report; give a new name")
    parent = next((p for p in target.parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{path}: {flag} cannot be written (folder {parent} is not writable)")
    if target.parent.exists() and os.path.exists(path) and not os.access(path, os.W_OK):
        raise InputError(f"{path}: {flag} cannot be written (read-only file)")


def clash(outputs: Iterable[Path], inputs: Iterable[Path]) -> tuple[Path, Path] | None:
    """The first (output, input) pair naming one file (after resolving links), or None."""
    sources = {_resolved(Path(p)): Path(p) for p in inputs}
    for out in outputs:
        found = sources.get(_resolved(Path(out)))
        if found is not None:
            return Path(out), found
    return None


def not_a_regular_file(path: Path) -> str:
    """Why ``path`` cannot be read as a picture without risk ('' when it can).

    Opening a FIFO blocks until a writer comes, a device never ends: only regular files
    (after following links) are read.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if os.path.islink(path):
            return "broken symlink"
        return f"cannot read: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return ""
    kinds = {stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
             stat.S_ISSOCK: "a socket", stat.S_ISDIR: "a folder"}
    kind = next((name for test, name in kinds.items() if test(mode)), "a special file")
    return f"not a regular file: {kind}"


def _starts_like_json(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(64).lstrip()[:1] == b"{"
    except OSError:
        return False


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return Path(path).absolute()
