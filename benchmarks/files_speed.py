"""Files -> files speed of one pix2pix model: ONNX Runtime vs PyTorch eager through the same pipeline.

Both backends are driven by ``revive.runtime.pipeline`` with the same 256 x 256 PNG
inputs, batch size, worker threads and output settings, so the difference is the
inference engine alone. Without ``--checkpoint`` a full-size pix2pix U-Net (54M
parameters, random weights) is made. Prints and writes JSON with images/s for
each and their ratio::

    python -m revive.benchmarks.files_speed --images 64 --batch-size 8 \
        --out benchmarks/results/cpu-2core/files_speed.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


__all__ = ["main"]

log = logging.getLogger(__name__)


def make_checkpoint(path: Path, image_size: int = 256) -> Path:
    import torch

    from revive.train.checkpoint import save_checkpoint
    from revive.train.models import create_model

    torch.manual_seed(0)
    kwargs = {"in_channels": 3, "out_channels": 3}
    net = create_model("pix2pix_unet", **kwargs)
    config = {"task": "colorize", "family": "pix2pix", "architecture": "pix2pix_unet", "model_kwargs": kwargs,
              "color_space": "rgb", "image_size": image_size, "train": {}, "metrics": {}}
    save_checkpoint(path, net, config)
    return path


def make_inputs(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` gray PNGs cut from scikit-image's sample photos (real content, so PNG costs are real)."""
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.camera()]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        im = Image.fromarray(photos[i % len(photos)]).convert("L")
        w, h = im.size
        crop = min(w, h) * (8 - i // len(photos) % 4) // 8
        x, y = (w - crop) * (i % 3) // 2, (h - crop) * (i % 2)
        im = im.crop((x, y, x + crop, y + crop)).resize((size, size), Image.Resampling.BICUBIC)
        path = folder / f"img_{i:04d}.png"
        im.save(path)
        paths.append(path)
    return paths


def run_files(backend, inputs: Path, out: Path, batch: int, workers: int, inflight: int) -> dict:
    from .files_bench import time_files

    result = time_files(backend, inputs, out, batch, workers, inflight)
    if result["failed"]:
        raise RuntimeError(f"{result['failed']} inputs failed: {result['failures']}")
    return {**result, "providers": backend.providers, "batch_size": batch, "workers": workers,
            "inflight": inflight}


# (intra-op threads, batches in flight; 0 threads = all cores). One engine using every core per batch,
# or runs side by side sharing the cores out: runtime-infer's default is the latter, cores // 2 threads
# for each of 2 batches in flight ((1, 2) on 2 cores), which avoids thread-pool handoffs and spinning.
CONFIGS = ((0, 1), (0, 2), (1, 2))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="files_speed", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, help="a pix2pix checkpoint (default: full-size, random weights)")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="decode and encode threads (each)")
    p.add_argument("--repeats", type=int, default=2, help="runs per configuration, interleaved; best kept")
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--out", type=Path, help="write the JSON result here")
    p.add_argument("--workdir", type=Path, help="keep models, inputs and outputs here (default: a temp folder)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    from revive.export.to_onnx import export_checkpoint
    from revive.runtime.backends.ort import OrtBackend

    from .torch_backend import TorchBackend

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="files_speed.") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ckpt = args.checkpoint or make_checkpoint(work / "pix2pix_random.pt")
        onnx_path = work / (ckpt.stem + ".onnx")
        start = time.perf_counter()
        card = export_checkpoint(ckpt, onnx_path, max_batch=max(args.batch_size, 8))
        log.info("exported %s in %.1f s", onnx_path.name, time.perf_counter() - start)
        inputs = work / "inputs"
        make_inputs(inputs, args.images, card.image_size)

        engines = {f"onnxruntime threads={t or cores} inflight={k}": (OrtBackend(onnx_path, device="cpu", threads=t), t, k)
                   for t, k in CONFIGS}
        if not args.skip_torch:
            torch_backend = TorchBackend(ckpt, max_batch=max(args.batch_size, 8))
            engines.update({f"torch_eager threads={t or cores} inflight={k}": (torch_backend, t, k) for t, k in CONFIGS})
        runs: dict[str, list[dict]] = {name: [] for name in engines}
        for _ in range(args.repeats):
            for name, (backend, threads, inflight) in engines.items():
                if name.startswith("torch"):
                    torch.set_num_threads(threads or cores)
                result = run_files(backend, inputs, work / "out", args.batch_size, args.workers, inflight)
                runs[name].append(result)
                log.info("%s: %.2f images/s", name, result["images_per_s"])

    import onnxruntime

    results = {name: max(r, key=lambda x: x["images_per_s"]) for name, r in runs.items()}
    for name, r in results.items():
        r["all_images_per_s"] = [x["images_per_s"] for x in runs[name]]
    best = {engine: max((r for n, r in results.items() if n.startswith(engine)), key=lambda x: x["images_per_s"],
                        default=None) for engine in ("onnxruntime", "torch_eager")}
    report = {
        "benchmark": "files_speed",
        "command": "python -m revive.benchmarks.files_speed " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": {"architecture": card.architecture, "image_size": card.image_size,
                  "checkpoint": str(args.checkpoint) if args.checkpoint else "random weights (pix2pix_unet, 54M)"},
        "machine": {"cpu_count": cores, "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "onnxruntime": onnxruntime.__version__, "gpu": torch.cuda.is_available(),
                    "load_average_after": os.getloadavg()},
        "settings": {"images": args.images, "batch_size": args.batch_size, "workers": args.workers,
                     "repeats": args.repeats, "size": "native", "format": "png"},
        "results": results,
        "best_images_per_s": {k: (v["images_per_s"] if v else None) for k, v in best.items()},
    }
    if best["torch_eager"]:
        report["ratio_ort_over_torch"] = round(best["onnxruntime"]["images_per_s"]
                                               / best["torch_eager"]["images_per_s"], 3)
        report["ratio_ort_over_torch_per_cpu_s"] = round(
            max(r["images_per_cpu_s"] for n, r in results.items() if n.startswith("onnxruntime"))
            / max(r["images_per_cpu_s"] for n, r in results.items() if n.startswith("torch")), 3)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
