"""Peak memory and speed of runtime-infer on large scans restored in tiles: one scan, then a folder of them.

Makes ``--image-size WxH`` gray scans (a scikit-image photo upscaled, so PNG costs are real), a restore model
and a colorize model, and runs ``runtime-infer --engine RESTORE --engine COLORIZE`` in a fresh process on one
scan and on ``--scans`` of them, recording each run's peak RSS, tiles/s and Mpx/s. Without ``--restore`` the
restorer is a 3 x 3 box filter inside the real export graph (``RestoreGraph``) at ``--model-size``: its
network costs next to nothing, so the figures are the runtime's own (decode, tiles, blend, composite,
encode) plus ONNX Runtime's buffers; without ``--colorize`` the colorizer is a slim pix2pix U-Net
(ngf 8, random weights) at the same size::

    python -m revive.benchmarks.scan_memory --image-size 6000x4000 --scans 10 --batch-size 16 \\
        --out benchmarks/results/cpu-2core/scan_memory.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from revive.runtime.system import cpu_count

__all__ = ["main", "make_box_filter_restore", "make_slim_colorizer"]

log = logging.getLogger(__name__)

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec, so a child of a
# big process (pytest with torch loaded) would report the parent's peak.
PEAK_RSS = """
import sys
from revive.runtime.cli import main
code = main(sys.argv[1:])
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))  # KiB
sys.exit(code)
"""


def make_box_filter_restore(path: Path, size: int, *, max_batch: int = 16) -> Path:
    """A restore model whose network is a fixed 3 x 3 box filter (mask logit +30: 'damaged' everywhere).

    Wrapped by the same ``RestoreGraph`` and exported by the same ``export_graph`` as a trained restorer, so
    it takes and returns what a real one does; tests use it as a known local operator.
    """
    import torch
    from torch import nn

    from revive.export.cards import make_card
    from revive.export.graph import RestoreGraph
    from revive.export.to_onnx import DEFAULT_OPSET, export_graph

    class BoxFilter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
            with torch.no_grad():
                self.conv.weight.fill_(1.0 / 9.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.conv(x), torch.full_like(x, 30.0)], 1)

    card = make_card(task="restore", architecture="box_filter_3x3", color_space="rgb", image_size=size,
                     output_roles=["restored", "mask"], batch={"min": 1, "opt": max_batch, "max": max_batch},
                     precision="fp32", opset=DEFAULT_OPSET, checkpoint_sha256="")
    export_graph(RestoreGraph(BoxFilter()).eval(), card, path)
    return path


def make_slim_colorizer(path: Path, size: int, *, max_batch: int = 16) -> Path:
    """A pix2pix U-Net with 8 base filters and random weights, exported at ``size`` (a power of two >= 32)."""
    from revive.export.to_onnx import export_checkpoint
    from revive.train.families import get_family

    ckpt = get_family("pix2pix").random_checkpoint(path.parent, size, True)  # small: ngf 8
    export_checkpoint(ckpt, path, max_batch=max_batch)
    return path


def make_scans(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """One scan made, the others hard links to it (the runtime reads each as a file of its own)."""
    from .sample_inputs import make_inputs

    first = make_inputs(folder, 1, size)[0]
    paths = [first]
    for i in range(1, count):
        link = folder / f"scan_{i:04d}.png"
        os.link(first, link)
        paths.append(link)
    return paths


def run_once(models: list[Path], inputs: Path, out: Path, args: argparse.Namespace) -> dict:
    summary = out.with_suffix(".json")
    argv = [*(x for m in models for x in ("--engine", str(m))), str(inputs), "-o", str(out), "--batch-size",
            str(args.batch_size), "--workers", str(args.workers), "--summary", str(summary), "--no-progress",
            "--tile", args.tile, *(["--max-side", str(args.max_side)] if args.max_side else [])]
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"runtime-infer failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    report = json.loads(summary.read_text())
    return {"scans": report["counts"]["written"], "peak_rss_mib": round(int(done.stdout.split()[-1]) / 1024, 1),
            "wall_s": report["timings"]["wall_s"], **{k: report["throughput"][k] for k in
                                                      ("images_per_s", "tiles", "tiles_per_s", "mpx_per_s")},
            "pixels_in_flight": report["pixels_in_flight"], "queues": report["queues"]}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scan_memory", description=__doc__.splitlines()[0])
    p.add_argument("--image-size", default="6000x4000", help="WxH of each scan (default %(default)s)")
    p.add_argument("--scans", type=int, default=10, help="scans in the folder run (default %(default)s)")
    p.add_argument("--model-size", type=int, default=256, help="made models' S (default %(default)s)")
    p.add_argument("--restore", type=Path, help="a restore model (default: the box filter)")
    p.add_argument("--colorize", type=Path, help="a colorize model (default: the slim pix2pix)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tile", default="auto")
    p.add_argument("--max-side", type=int)
    p.add_argument("--out", type=Path, help="write the JSON result here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    width, height = (int(v) for v in args.image_size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="scan_memory.") as tmp:
        tmp = Path(tmp)
        restore = args.restore or make_box_filter_restore(tmp / "box_filter.onnx", args.model_size,
                                                          max_batch=args.batch_size)
        colorize = args.colorize or make_slim_colorizer(tmp / "slim_pix2pix.onnx", args.model_size,
                                                        max_batch=args.batch_size)
        make_scans(tmp / "many", args.scans, (width, height))
        (tmp / "one").mkdir()
        os.link(tmp / "many" / "img_0000.png", tmp / "one" / "img_0000.png")
        runs = {}
        for name in ("one", "many"):
            runs[name] = run_once([restore, colorize], tmp / name, tmp / f"out_{name}", args)
            log.info("%s: %d scans, peak RSS %.0f MiB, %.1f tiles/s, %.2f Mpx/s", name, runs[name]["scans"],
                     runs[name]["peak_rss_mib"], runs[name]["tiles_per_s"], runs[name]["mpx_per_s"])
    report = {
        "benchmark": "scan_memory",
        "command": "python -m revive.benchmarks.scan_memory " + " ".join(argv if argv is not None else sys.argv[1:]),
        "models": {"restore": str(args.restore or f"3x3 box filter in RestoreGraph, {args.model_size} px"),
                   "colorize": str(args.colorize or f"pix2pix_unet ngf 8, random weights, {args.model_size} px")},
        "settings": {"image_size": [width, height], "batch_size": args.batch_size, "workers": args.workers,
                     "tile": args.tile, "max_side": args.max_side},
        "machine": {"cpu_count": cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "load_average_after": os.getloadavg()},
        "runs": runs,
        "growth_mib": round(runs["many"]["peak_rss_mib"] - runs["one"]["peak_rss_mib"], 1),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
