"""Finding inputs and planning outputs: the input tree mirrored under the output folder.

- A file given by name is an input whatever its extension; folders are searched
  recursively for files with one of ``exts`` (case-insensitive), hidden files and
  folders skipped, symlinked folders not followed.
- A file ``A/B/x.tif`` found under input folder ``A`` is written to ``OUT/B/x.png``;
  a file given by name goes to ``OUT/x.png``.
- Only regular files are read (after following links): a FIFO, a device, a socket, a
  broken link or a symlink loop is reported as a failed input with its reason, and the
  rest of the run goes on; reading never blocks.
- An output that resolves to an input, or that two inputs would share
  (``x.jpg`` and ``x.png`` in one folder), is refused for that file with a reason.
- An output folder inside an input folder is never searched, so a rerun does not
  take its own outputs for inputs. Such a folder must therefore hold nothing but
  runtime-infer's outputs: a run marks the folders it writes with ``.revive-output``,
  and an existing folder inside an input folder that holds files but no mark is
  refused (its photos would otherwise be skipped as done, or replaced with
  ``--overwrite``). The output folder can never be an input folder itself.
- An output counts as done (skipped without ``--overwrite``) when it is a non-empty file.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .files import not_a_regular_file

__all__ = ["DEFAULT_EXTS", "OUTPUT_MARK", "Job", "InputError", "find_inputs", "mark_output_folder",
           "plan_jobs", "remove_stale_parts", "run_files"]

log = logging.getLogger(__name__)

DEFAULT_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm", ".pnm", ".pbm")
RESTORED_TAG = ".restored"
OUTPUT_MARK = ".revive-output"  # in an output folder: every image here was written by runtime-infer


class InputError(UserError, ValueError):
    """An input path that does not exist or names nothing usable (a usage error)."""


@dataclass
class Job:
    """One input and where its outputs go; ``status`` is pending, written, skipped or failed."""

    source: Path
    output: Path
    restored: Path | None = None
    status: str = "pending"
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def fail(self, reason: str) -> None:
        self.status, self.reason = "failed", reason


def normalise_exts(exts: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({(e if e.startswith(".") else "." + e).lower() for e in (x.strip() for x in exts) if e}))


def find_inputs(paths: list[Path], exts: tuple[str, ...], exclude: Path | None = None) -> list[tuple[Path, Path]]:
    """(file, its path relative to the output root) for every input, in a stable order."""
    found: list[tuple[Path, Path]] = []
    excluded = _resolved(exclude) if exclude is not None else None
    for root in paths:
        if excluded is not None and root.is_dir():
            _check_output_folder(exclude, excluded, root)
        if root.is_dir():
            for folder, dirs, files in os.walk(root):
                here = Path(folder)
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and _resolved(here / d) != excluded)
                for name in sorted(files):
                    if not name.startswith(".") and os.path.splitext(name)[1].lower() in exts:
                        found.append((here / name, (here / name).relative_to(root)))
        elif os.path.lexists(root):  # a file, or something plan_jobs reports and skips (FIFO, link loop)
            found.append((root, Path(root.name)))
        else:
            raise InputError(f"{root}: no such file or folder")
    return found


def _check_output_folder(out: Path, resolved: Path, root: Path) -> None:
    """Refuse an output folder that is ``root`` or a folder inside it holding files runtime-infer did not write."""
    root_resolved = _resolved(root)
    if resolved == root_resolved:
        raise InputError(f"{out}: the output folder is the input folder {root}; give a folder of its own")
    if not resolved.is_relative_to(root_resolved) or not resolved.is_dir() or (resolved / OUTPUT_MARK).exists():
        return
    for _, _, files in os.walk(resolved):
        if any(not name.startswith(".") for name in files):
            raise InputError(f"{out}: an existing folder inside input folder {root} that holds files "
                             f"runtime-infer did not write (no {OUTPUT_MARK} mark): its photos would be taken "
                             "for outputs and skipped or replaced. Give a new or empty -o folder (if it holds "
                             f"only runtime-infer outputs, create an empty {OUTPUT_MARK} file in it)")


def mark_output_folder(out_root: Path) -> None:
    """Create the output folder with its mark, so a later run knows the images in it are outputs."""
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        mark = out_root / OUTPUT_MARK
        if not mark.exists():
            mark.write_text("Written by runtime-infer: the images in this folder are its outputs.\n")
    except FileExistsError:
        raise InputError(f"{out_root}: the output folder is a file; give a folder") from None
    except OSError as exc:
        raise InputError(f"{out_root}: cannot write to the output folder: {exc.strerror or exc}") from None


def _resolved(path: Path) -> Path:
    """``path.resolve()`` that never raises (a symlink loop resolves to the absolute path itself)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def plan_jobs(found: list[tuple[Path, Path]], out_root: Path, fmt: str, *, save_restored: bool = False,
              overwrite: bool = False) -> list[Job]:
    """One job per input; refused ones come back failed, done ones skipped (unless ``overwrite``)."""
    suffix = "." + fmt
    inputs = {_resolved(src) for src, _ in found}
    owners: dict[Path, Path] = {}
    jobs = []
    for src, rel in found:
        out = out_root / rel.with_suffix(suffix)
        restored = out.with_name(rel.stem + RESTORED_TAG + suffix) if save_restored else None
        job = Job(src, out, restored)
        jobs.append(job)
        unusable = not_a_regular_file(src)
        if unusable:
            job.fail(unusable)
            continue
        targets = [p for p in (out, restored) if p is not None]
        clash = next((p for p in targets if _resolved(p) in inputs), None)
        if clash is not None:
            job.fail(f"output {clash} would overwrite an input; choose another -o folder")
            continue
        owner = next((owners[_resolved(p)] for p in targets if _resolved(p) in owners), None)
        if owner is not None:
            job.fail(f"output {out} is also the output of {owner}; rename one of them")
            continue
        for p in targets:
            owners[_resolved(p)] = src
        if not overwrite and all(_is_done(p) for p in targets):
            job.status = "skipped"
    return jobs


def _is_done(path: Path) -> bool:
    """An output already written: a non-empty regular file (a 0-byte file is not a picture)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > 0


def run_files(jobs: list[Job], out_root: Path) -> list[Path]:
    """Every file a run reads or writes: inputs, outputs and the output folder's mark."""
    files = [out_root / OUTPUT_MARK]
    for job in jobs:
        files += [p for p in (job.source, job.output, job.restored) if p is not None]
    return files


def remove_stale_parts(jobs: list[Job]) -> int:
    """Delete temporary ``.NAME.*.part`` files a killed run left beside the outputs it owns."""
    wanted: dict[Path, set[str]] = {}
    for job in jobs:
        for p in (job.output, job.restored):
            if p is not None:
                wanted.setdefault(p.parent, set()).add(p.name)
    removed = 0
    for folder, names in wanted.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and entry.name.endswith(".part"):
                target = entry.name[1:-len(".part")].rsplit(".", 1)[0]
                if target in names:
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
    if removed:
        log.info("removed %d partial file(s) left by an interrupted run", removed)
    return removed
