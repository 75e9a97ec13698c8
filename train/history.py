"""Per-epoch records written as CSV, JSON and a PNG of curves (rank 0 only)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from revive.runtime.files import write_atomic

__all__ = ["plot_curves", "write_history"]


def write_history(rows: list[dict[str, Any]], out_dir: Path, plot: bool = True) -> None:
    """metrics.csv and metrics.json always; curves.png when ``plot`` (drawing it costs ~0.3 s on a CPU)."""
    if not rows:
        return
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out_dir / "metrics.csv", buffer.getvalue().encode())
    write_atomic(out_dir / "metrics.json", json.dumps(rows, indent=1).encode())
    if plot:
        plot_curves(rows, out_dir / "curves.png")


def _panels(columns: list[str]) -> list[tuple[str, list[str]]]:
    losses = [c for c in columns if c.startswith("train_") or c.startswith("val_loss")]
    val = [c for c in columns if c.startswith("val_") and c not in losses]
    lr = [c for c in columns if c.startswith("lr")]
    return [(title, cols) for title, cols in (("losses", losses), ("validation", val), ("learning rate", lr)) if cols]


def plot_curves(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(dict.fromkeys(k for row in rows for k in row))
    panels = _panels(columns)
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    epochs = [row["epoch"] for row in rows]
    for ax, (title, cols) in zip(axes[0], panels):
        for col in cols:
            values = [row.get(col, math.nan) for row in rows]
            ax.plot(epochs, values, marker="o", ms=3, label=col)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
