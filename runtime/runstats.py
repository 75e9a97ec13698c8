"""A run's figures and the statuses of its jobs: what runtime-infer prints, --summary writes and benchmarks read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .inputs import Job

__all__ = ["RunStats"]


@dataclass
class RunStats:
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=lambda: {"decode": 0.0, "infer": 0.0, "encode": 0.0})
    batches: int = 0
    rows: int = 0  # model rows run (whole views and tiles), padding not counted
    tiles: int = 0  # of which restorer tiles
    pixels: int = 0  # native pixels of the pictures written
    high_water: dict[str, int] = field(default_factory=dict)
    bounds: dict[str, int] = field(default_factory=dict)
    pixel_budget: int = 0
    pixels_high_water: int = 0  # above the budget only when one picture alone is larger
    jobs: list[Job] = field(default_factory=list, repr=False)  # every job of the run, with its status
    summary_error: str = ""  # why the --summary report could not be written ('' if it was, or none asked)

    @property
    def counts(self) -> dict[str, int]:
        """Pictures (a page of a multi-page file counts as one) by status."""
        counts = dict.fromkeys(("written", "skipped", "failed", "pending"), 0)
        for job in self.jobs:
            for status, n in job.picture_counts().items():
                counts[status] += n
        return counts

    @property
    def file_counts(self) -> dict[str, int]:
        """Input files by status (a file with one failed page is failed)."""
        return {s: sum(j.status == s for j in self.jobs) for s in ("written", "skipped", "failed", "pending")}

    @property
    def figures(self) -> dict[str, int]:
        """What jobs of a kind add to the throughput (``Job.figures``: a film's frames), summed over the run."""
        total: dict[str, int] = {}
        for job in self.jobs:
            for name, n in job.figures().items():
                total[name] = total.get(name, 0) + n
        return total

    def summary(self) -> dict[str, Any]:
        counts = self.counts
        per_s = (lambda n: round(n / self.wall_s, 2)) if self.wall_s else (lambda n: 0.0)
        figures = {k: v for name, n in self.figures.items() for k, v in ((name, n), (f"{name}_per_s", per_s(n)))}
        return {
            "counts": counts,
            "file_counts": self.file_counts,
            "timings": {"wall_s": round(self.wall_s, 3),
                        **{f"{k}_thread_s": round(v, 3) for k, v in self.stage_s.items()}},
            "throughput": {"images_per_s": per_s(counts["written"]), "batches": self.batches, "rows": self.rows,
                           "tiles": self.tiles, "tiles_per_s": per_s(self.tiles),
                           "mpx_per_s": per_s(self.pixels / 1e6), **figures},
            "queues": {"high_water": self.high_water, "bounds": self.bounds},
            "pixels_in_flight": {"high_water": self.pixels_high_water, "budget": self.pixel_budget},
        }
