"""Finding inputs and planning outputs: the input tree mirrored under the output folder.

- A file given by name is an input whatever its extension; folders are searched
  recursively for files with one of ``exts`` (case-insensitive), hidden files and
  folders skipped, symlinked folders not followed.
- A file ``A/B/x.tif`` found under input folder ``A`` is written to ``OUT/B/x.EXT``;
  a file given by name goes to ``OUT/x.EXT``. EXT is the output format's: with
  ``auto`` the input's own container (read from the file's first bytes, not its
  name): TIFF to TIFF, JPEG to JPEG, PNG to PNG, anything else to PNG; an input
  whose extension already names that container keeps it (``x.jpeg`` -> ``x.jpeg``).
  With ``--depth 16`` a JPEG or WebP input gets PNG (they hold 8 bits only).
- Every page of a multi-page TIFF is a picture of its job. With TIFF output the job
  writes one multi-page TIFF; otherwise ``x.p1.EXT``, ``x.p2.EXT``, ... (and
  ``x.p1.restored.EXT`` with ``--save-restored``).
- Two inputs that would share an output (``photo.tif`` and ``photo.png`` with
  ``--format png``) both keep their own extension in the name: ``photo.tif.png``
  and ``photo.png.png``. An output that still clashes (an input really called
  ``photo.tif.png``), or that resolves to an input, is refused for that file with a reason.
- Only regular files are read (after following links): a FIFO, a device, a socket, a
  broken link or a symlink loop is reported as a failed input with its reason, and the
  rest of the run goes on; reading never blocks.
- An output folder inside an input folder is never searched, so a rerun does not
  take its own outputs for inputs. Such a folder must therefore hold nothing but
  runtime-infer's outputs: a run marks the folders it writes with ``.revive-output``,
  and an existing folder inside an input folder that holds files but no mark is
  refused (its photos would otherwise be skipped as done, or replaced with
  ``--overwrite``). The output folder can never be an input folder itself.
- A job counts as done (skipped without ``--overwrite``) when every file it writes is a non-empty file.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Sequence

from .errors import UserError
from .files import not_a_regular_file
from .images import open_regular, tiff_pages

__all__ = ["DEFAULT_EXTS", "FORMATS", "OUTPUT_MARK", "Job", "InputError", "find_inputs", "mark_output_folder",
           "plan_jobs", "remove_stale_parts", "run_files"]

log = logging.getLogger(__name__)

DEFAULT_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm", ".pnm", ".pbm")
RESTORED_TAG = ".restored"
OUTPUT_MARK = ".revive-output"  # in an output folder: every image here was written by runtime-infer
FORMATS = ("auto", "png", "jpg", "tiff", "webp")
DEEP_FORMATS = ("png", "tiff")  # the output formats that hold 16 bits per sample
SUFFIXES = {"png": (".png",), "jpg": (".jpg", ".jpeg", ".jpe"), "tiff": (".tif", ".tiff"), "webp": (".webp",)}


class InputError(UserError, ValueError):
    """An input path that does not exist or names nothing usable (a usage error)."""


@dataclass
class Job:
    """One input and where its outputs go; ``status`` is pending, written, skipped or failed.

    ``pages``: the pages of the file this job reads, one picture each (``[0]`` for every single-picture
    file). ``page_reasons``: per picture index, '' once written, else why it failed.
    """

    source: Path
    output: Path
    restored: Path | None = None
    status: str = "pending"
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    fmt: str = "png"  # the output format (auto resolved)
    pages: list[int] = field(default_factory=lambda: [0])
    deep_output: bool = True  # the output format and --depth allow 16 bits
    page_reasons: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the job leaves out on purpose (TIFF thumbnails)

    picture_word: ClassVar[str] = "page"  # what the progress bar counts when a job yields several pictures

    def fail(self, reason: str) -> None:
        self.status, self.reason = "failed", reason

    @property
    def expected_pictures(self) -> int:
        """Pictures this job should yield (the progress bar's share of it)."""
        return len(self.pages)

    def picture_done(self, index: int, reason: str) -> None:
        """Picture ``index`` is written ('') or failed (``reason``); a failure gets its log line."""
        self.page_reasons[index] = reason
        if reason:
            log.warning("%s: %s", self.describe(index), reason)

    def figures(self) -> dict[str, int]:
        """Counts this kind of job adds to the run's throughput figures (a film: its frames)."""
        return {}

    @property
    def split_pages(self) -> bool:
        """Pages written as files of their own (``x.p1.png``): a multi-page input, not TIFF out."""
        return len(self.pages) > 1 and self.fmt != "tiff"

    def outputs(self, index: int) -> tuple[Path, Path | None]:
        """(output, restored output or None) that picture ``index`` goes to."""
        if not self.split_pages:
            return self.output, self.restored
        tag = f".p{index + 1}"
        out = self.output.with_name(self.output.stem + tag + self.output.suffix)
        restored = None if self.restored is None else out.with_name(out.stem + RESTORED_TAG + out.suffix)
        return out, restored

    def targets(self) -> list[Path]:
        """Every file this job writes."""
        pictures = range(len(self.pages)) if self.split_pages else range(1)
        return [p for i in pictures for p in self.outputs(i) if p is not None]

    def describe(self, index: int) -> str:
        """How the log and the summary name picture ``index``: the file, and its page if it has several."""
        return f"{self.source} page {index + 1}" if len(self.pages) > 1 else str(self.source)

    def settle(self, error: str = "") -> None:
        """Every picture is in (``error``: why the output could not be committed): set the job's status."""
        failed = {i: r for i, r in self.page_reasons.items() if r}
        if error and len(self.pages) == 1:
            self.fail(error)
        elif failed:
            self.fail(failed[0] if len(self.pages) == 1 else
                      "; ".join(f"page {i + 1}: {r}" for i, r in sorted(failed.items())))
        else:
            self.status, self.reason = "written", ""

    def picture_counts(self) -> dict[str, int]:
        """This job's pictures by status (the counts in the summary and on the progress bar)."""
        n = len(self.pages)
        if self.status == "skipped" or (self.status == "failed" and not self.page_reasons):
            return {self.status: n}
        written = sum(not r for r in self.page_reasons.values())
        return {"written": written, "failed": len(self.page_reasons) - written, "pending": n - len(self.page_reasons)}

    def record(self) -> dict:
        """The job in the --summary report."""
        entry = {"input": str(self.source), "output": str(self.output), "status": self.status,
                 **({"reason": self.reason} if self.reason else {}),
                 **({"timings": self.timings} if self.timings else {}),
                 **({"notes": self.notes} if self.notes else {})}
        if len(self.pages) > 1:
            entry["pages"] = [{"page": i + 1, **({"output": str(self.outputs(i)[0])} if self.split_pages else {}),
                               "status": ("pending" if i not in self.page_reasons else
                                          "failed" if self.page_reasons[i] else "written"),
                               **({"reason": self.page_reasons[i]} if self.page_reasons.get(i) else {})}
                              for i in range(len(self.pages))]
        return entry


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
              overwrite: bool = False, depth: str = "auto", films: Sequence[Job] = ()) -> list[Job]:
    """One job per input; refused ones come back failed, done ones skipped (unless ``overwrite``).

    ``fmt``: one of :data:`FORMATS` (``auto``: each input's own container); ``depth``: auto, 8 or 16.
    ``films``: jobs named elsewhere (film.py), whose outputs follow the same rules, checked with these.
    """
    inputs = {_resolved(src) for src, _ in found} | {_resolved(job.source) for job in films}
    jobs = []
    for src, rel in found:
        unusable = not_a_regular_file(src)
        kind, pages, thumbnails = ("", [0], []) if unusable else sniff(src)
        job_fmt = output_format(fmt, kind, depth)
        out = out_root / rel.with_suffix(_suffix(job_fmt, rel.suffix, fmt))
        job = Job(src, out, out.with_name(out.stem + RESTORED_TAG + out.suffix) if save_restored else None,
                  fmt=job_fmt, pages=pages, deep_output=job_fmt in DEEP_FORMATS and depth != "8")
        job.notes = [f"IFD {i + 1}: a reduced-resolution thumbnail of another page (TIFF NewSubfileType 1), "
                     "not processed" for i in thumbnails]
        for note in job.notes:
            log.warning("%s: %s", src, note)
        jobs.append(job)
        if unusable:
            job.fail(unusable)
    jobs += films
    renamed = _rename_shared([j for j in jobs if j.status == "pending"])
    owners: dict[Path, Path] = {}
    for job in sorted(jobs, key=lambda j: id(j) in renamed):  # a name of its own wins over a renamed clash
        if job.status != "pending":
            continue
        targets = job.targets()
        clash = next((p for p in targets if _resolved(p) in inputs), None)
        if clash is not None:
            job.fail(f"output {clash} would overwrite an input; choose another -o folder")
            continue
        owner = next((owners[_resolved(p)] for p in targets if _resolved(p) in owners), None)
        if owner is not None:
            job.fail(f"output {job.output} is also the output of {owner}; rename one of them")
            continue
        for p in targets:
            owners[_resolved(p)] = job.source
        if not overwrite and all(_is_done(p) for p in targets):
            job.status = "skipped"
    return jobs


def sniff(path: Path) -> tuple[str, list[int], list[int]]:
    """(the file's container from its first bytes: tiff, jpg, png, webp or '', its pages: TIFF pages, else [0],
    the IFDs left out as thumbnails)."""
    try:
        with open_regular(path) as handle:
            head = handle.read(12)
    except (OSError, UserError):
        return "", [0], []  # decode_gray reports why, at its turn
    kind = container(head)
    if kind != "tiff":
        return kind, [0], []
    return kind, *tiff_pages(path)


def container(head: bytes) -> str:
    """The container a file's first 12 bytes announce: tiff, jpg, png, webp, or '' for anything else."""
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:3] == b"\xff\xd8\xff":
        return "jpg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return ""


def output_format(fmt: str, kind: str, depth: str) -> str:
    """``--format`` for an input of container ``kind``: ``auto`` keeps TIFF, PNG and JPEG (not with --depth 16)."""
    if fmt != "auto":
        return fmt
    if kind in ("tiff", "png") or (kind == "jpg" and depth != "16"):
        return kind
    return "png"


def _suffix(fmt: str, own: str, asked: str) -> str:
    """The output's extension: the input's own spelling when --format auto keeps its container."""
    return own if asked == "auto" and own.lower() in SUFFIXES[fmt] else SUFFIXES[fmt][0]


def _rename_shared(jobs: list[Job]) -> set[int]:
    """Inputs that would write one file (``photo.tif`` and ``photo.png`` as PNG) keep their extension in its name."""
    users: dict[Path, list[Job]] = {}
    for job in jobs:
        for p in job.targets():
            users.setdefault(_resolved(p), []).append(job)
    shared = {id(j): j for group in users.values() if len({id(j) for j in group}) > 1 for j in group}
    for job in shared.values():
        own = job.source.suffix.lstrip(".")
        if not own:
            continue  # nothing to tell it apart by: refused below with the reason
        out = job.output.with_name(f"{job.output.stem}.{own}{job.output.suffix}")
        log.info("%s: another input writes %s too; this one writes %s", job.source, job.output.name, out.name)
        job.output = out
        if job.restored is not None:
            job.restored = out.with_name(out.stem + RESTORED_TAG + out.suffix)
    return set(shared)


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
        files += [job.source, *job.targets()]
    return files


def remove_stale_parts(jobs: list[Job]) -> int:
    """Delete temporary ``.NAME.*.part`` files a killed run left beside the outputs it owns."""
    wanted: dict[Path, set[str]] = {}
    for job in jobs:
        for p in job.targets():
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
