"""``revive-bench summary``: benchmarks/RESULTS.md from every ``benchmarks/results/<machine>/`` folder.

Per machine: the machine line of its newest result (GPU, versions, date, load
average), its ``NOTES.md`` if there is one (hand-written context), then every
``*.md`` table the subcommands wrote, with the plots beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

from .report import machine_line

__all__ = ["write_summary"]

HEADER = """# Benchmark results

Written by `revive-bench summary` from `benchmarks/results/<machine>/`; each machine's
folder holds the JSON (full figures, settings, versions, load average), the markdown
tables and the plots. Reproduce a table with the command printed above it. On a GPU
machine `benchmarks/gpu_suite.sh` runs the whole set in one go.

CPU figures on a shared machine are noisy: the load average when they were taken is
recorded with them.
"""


def _demote(text: str) -> str:
    return "\n".join("###" + line[1:] if line.startswith("# ") else line for line in text.splitlines())


def write_summary(root: Path, output: Path) -> Path:
    parts = [HEADER]
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        machines = []  # (mtime, machine record) of the results revive-bench wrote (others' JSON is skipped)
        for path in folder.glob("*.json"):
            try:
                record = json.loads(path.read_text()).get("machine")
            except (ValueError, AttributeError):
                continue
            if isinstance(record, dict) and "slug" in record:
                machines.append((path.stat().st_mtime, record))
        if not machines:
            continue
        machine = max(machines, key=lambda m: m[0])[1]
        parts.append(f"## {folder.name}\n")
        if machine:
            parts.append(f"Latest: {machine_line(machine)}\n")
        notes = folder / "NOTES.md"
        if notes.is_file():
            parts.append(notes.read_text().strip() + "\n")
        for md in sorted(folder.glob("*.md")):
            if md.name == "NOTES.md":
                continue
            parts.append(_demote(md.read_text()).strip() + "\n")
            png = md.with_suffix(".png")
            if png.is_file():
                parts.append(f"![{png.stem}]({png.relative_to(output.parent).as_posix()})\n"
                             if png.is_relative_to(output.parent) else f"Plot: `{png}`\n")
    output.write_text("\n".join(parts))
    return output
