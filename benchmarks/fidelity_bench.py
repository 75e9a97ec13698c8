"""Archival fidelity's cost: ``revive-bench files`` on 8-bit PNGs, this checkout against another revision of
revive in the same run, alternating; and 16-bit TIFF scans beside them (issue 21).

    git worktree add /tmp/revive-base <REV>      # the revision to compare with (e.g. main before the change)
    python -m revive.benchmarks.fidelity_bench --base /tmp/revive-base --repeats 3

Each measurement is a ``revive-bench files`` process (the files -> files timer of ``files_bench``), run with
the base revision's code on ``PYTHONPATH`` (a ``revive`` namespace of symlinks into ``--base``) or with this
checkout's, in ABBA order so a machine whose load drifts favours neither. The model is a tiny ONNX colorizer
(a fixed tint: ``rgb = gray + (12, 0, -12)``) so that the figure is the host's own work, which is what the
change touches (decode, metadata, composite, encode, write); a real colorizer would only add the same
model time to both sides. Inputs: ``--images`` gray PNGs cut from scikit-image's photos at ``--image-size``,
and the same pictures as 16-bit gray TIFFs (x 257 plus a fine grain, so that the 16 bits are real), which
come back as 16-bit RGB TIFFs (Deflate with the predictor). Writes ``fidelity_speed.{json,md}``.

``--png-writers`` times the candidates for 16-bit RGB PNG (Pillow cannot write it) on one 3000 x 2000 photo
at 16 bits with a scanner's grain: pypng (chosen), numpngw and imagecodecs when they are importable
(``pip install numpngw imagecodecs`` to include them), Pillow's 8-bit PNG of the same picture as the
reference; best of 3 each. Writes ``fidelity_png_writers.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .report import markdown_table, write_results

__all__ = ["main", "make_tint_colorizer", "time_png_writers"]


def make_tint_colorizer(path: Path, size: int) -> Path:
    """An ONNX colorizer with a card whose RGB is the gray tinted by (12, 0, -12): nearly free to run."""
    from onnx import TensorProto, helper, numpy_helper

    from revive.export.cards import make_card, set_card

    tint = np.array([12.0, 0.0, -12.0], np.float32).reshape(1, 3, 1, 1)
    nodes = [helper.make_node("Cast", ["gray"], ["g"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["g", "tint"], ["t"]),
             helper.make_node("Clip", ["t", "lo", "hi"], ["c"]),
             helper.make_node("Cast", ["c"], ["rgb"], to=TensorProto.UINT8)]
    inits = [numpy_helper.from_array(tint, "tint"), numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
             numpy_helper.from_array(np.array(255.0, np.float32), "hi")]
    graph = helper.make_graph(nodes, "tint", [helper.make_tensor_value_info("gray", TensorProto.UINT8,
                                                                            ["batch", 1, size, size])],
                              [helper.make_tensor_value_info("rgb", TensorProto.UINT8, ["batch", 3, size, size])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    set_card(model, make_card(task="colorize", architecture="tint", color_space="rgb", image_size=size,
                              output_roles=["rgb"], batch={"min": 1, "opt": 8, "max": 32}, precision="fp32",
                              opset=18, checkpoint_sha256=""))
    path.write_bytes(model.SerializeToString())
    return path


def make_deep_tiffs(source: Path, folder: Path) -> None:
    """Each 8-bit PNG of ``source`` as a 16-bit gray TIFF at 600 dpi: x 257 plus a grain 8 bits cannot hold."""
    import tifffile
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for png in sorted(source.glob("*.png")):
        gray = np.asarray(Image.open(png), np.float64) * 257
        deep = np.clip(gray + rng.normal(0, 40, gray.shape), 0, 65535).astype(np.uint16)
        tifffile.imwrite(folder / f"{png.stem}.tif", deep, photometric="minisblack", compression="adobe_deflate",
                         resolution=(600, 600), resolutionunit="INCH")


def run_files(model: Path, inputs: Path, out: Path, tag: str, env: dict[str, str], batch: int,
              workers: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "revive.benchmarks.cli", "files", "--onnx", str(model), "--files", str(inputs),
           "--backends", "ort-cpu", "--batch-size", str(batch), "--workers", str(workers), "--out", str(out),
           "--tag", tag]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    result = json.loads((out / f"files-{tag}.json").read_text())["backends"]["ort-cpu"]
    if result.get("failed"):
        raise RuntimeError(f"{tag}: {result['failed']} inputs failed: {result['failures']}")
    return {k: result[k] for k in ("images", "wall_s", "images_per_s", "mpx_per_s", "cpu_s", "images_per_cpu_s")}


def time_png_writers(repeats: int = 3) -> dict[str, Any]:
    """Milliseconds and megabytes of each available 16-bit RGB PNG writer on one photo (module docstring)."""
    import importlib.util
    import io
    import time

    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(0)
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((3000, 2000), Image.Resampling.BICUBIC), np.float64)
    rgb = np.clip(photo * 257 + rng.normal(0, 40, photo.shape), 0, 65535).astype(np.uint16)
    h, w, _ = rgb.shape

    def pypng() -> bytes:
        import png

        buffer = io.BytesIO()
        png.Writer(w, h, greyscale=False, bitdepth=16, compression=3).write(buffer, rgb.reshape(h, w * 3))
        return buffer.getvalue()

    def numpngw() -> bytes:
        import numpngw as n

        buffer = io.BytesIO()
        n.write_png(buffer, rgb)
        return buffer.getvalue()

    def imagecodecs() -> bytes:
        import imagecodecs as ic

        return ic.png_encode(rgb, level=3)

    def pillow_8bit() -> bytes:
        buffer = io.BytesIO()
        Image.fromarray((rgb >> 8).astype(np.uint8)).save(buffer, "PNG", compress_level=3)
        return buffer.getvalue()

    writers = {"pypng (zlib 3, unfiltered)": ("png", pypng), "numpngw (default)": ("numpngw", numpngw),
               "imagecodecs png_encode (level 3)": ("imagecodecs", imagecodecs),
               "Pillow, the same picture at 8 bits (reference)": ("PIL", pillow_8bit)}
    results: dict[str, Any] = {}
    for name, (module, write) in writers.items():
        if importlib.util.find_spec(module) is None:
            results[name] = {"status": "skipped", "reason": f"{module} is not installed"}
            continue
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            blob = write()
            times.append(time.perf_counter() - start)
        results[name] = {"status": "ok", "ms": round(min(times) * 1e3), "mb": round(len(blob) / 1e6, 1)}
    return {"picture": "scikit-image astronaut, 3000 x 2000, x 257 + grain (sigma 40)", "writers": results}


def _png_writers(args: argparse.Namespace) -> int:
    body = time_png_writers()

    def markdown(data: dict[str, Any]) -> str:
        rows = [[n, r.get("ms", ""), r.get("mb", ""), r.get("reason", "")] for n, r in data["writers"].items()]
        return (f"# 16-bit RGB PNG writers\n\n{data['picture']}\n\nCommand: `{data['command']}`\n\n"
                + markdown_table(["writer", "ms (best of 3)", "MB", ""], rows) + "\n")

    data = write_results("fidelity_png_writers", "python -m revive.benchmarks.fidelity_bench --png-writers", body,
                         markdown, out=args.out)
    print(json.dumps(data["writers"], indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    from .sample_inputs import make_inputs

    p = argparse.ArgumentParser(prog="python -m revive.benchmarks.fidelity_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=Path, help="checkout of the revision to compare with")
    p.add_argument("--png-writers", action="store_true", help="time the 16-bit RGB PNG writers instead")
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--image-size", default="1600x1200", help="WxH of the inputs (default %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="ABBA rounds (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>)")
    args = p.parse_args(argv)
    if args.png_writers:
        return _png_writers(args)
    if args.base is None:
        p.error("--base is required (a checkout of the revision to compare with)")
    w, h = (int(v) for v in args.image_size.lower().split("x"))
    runs: dict[str, list[dict[str, Any]]] = {"base 8-bit PNG": [], "this 8-bit PNG": [], "this 16-bit TIFF": []}
    with tempfile.TemporaryDirectory(prefix="revive-fidelity-bench.") as tmp:
        tmp = Path(tmp)
        model = make_tint_colorizer(tmp / "tint.onnx", 256)
        make_inputs(tmp / "eight", args.images, (w, h))
        make_deep_tiffs(tmp / "eight", tmp / "sixteen")
        shim = tmp / "shim" / "revive"
        shim.mkdir(parents=True)
        for part in ("runtime", "train", "export", "benchmarks"):
            (shim / part).symlink_to(args.base.resolve() / part)
        this_env = dict(os.environ)
        base_env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(shim.parent),
                                                                             os.environ.get("PYTHONPATH")]))}
        for r in range(args.repeats):
            order = [("base", base_env), ("this", this_env)]
            for name, env in order if r % 2 == 0 else order[::-1]:
                runs[f"{name} 8-bit PNG"].append(run_files(model, tmp / "eight", tmp / "res", f"{name}{r}", env,
                                                           args.batch_size, args.workers))
            runs["this 16-bit TIFF"].append(run_files(model, tmp / "sixteen", tmp / "res", f"deep{r}", this_env,
                                                      args.batch_size, args.workers))
    medians = {name: {k: statistics.median(run[k] for run in rs) for k in ("images_per_s", "images_per_cpu_s",
                                                                           "mpx_per_s")}
               for name, rs in runs.items()}
    ratio = medians["this 8-bit PNG"]["images_per_s"] / medians["base 8-bit PNG"]["images_per_s"]
    cpu_ratio = medians["this 8-bit PNG"]["images_per_cpu_s"] / medians["base 8-bit PNG"]["images_per_cpu_s"]
    command = "python -m revive.benchmarks.fidelity_bench " + " ".join(argv if argv is not None else sys.argv[1:])
    body = {"settings": {"images": args.images, "image_size": args.image_size, "repeats": args.repeats,
                         "batch_size": args.batch_size, "workers": args.workers, "base": str(args.base),
                         "base_revision": _revision(args.base), "model": "tint colorizer (ONNX, 256 px)"},
            "runs": runs, "medians": medians, "this_over_base_8bit": round(ratio, 3),
            "this_over_base_8bit_per_cpu_s": round(cpu_ratio, 3)}

    def markdown(data: dict[str, Any]) -> str:
        rows = [[n, round(m["images_per_s"], 2), round(m["images_per_cpu_s"], 2), round(m["mpx_per_s"], 2)]
                for n, m in data["medians"].items()]
        return (f"# Archival fidelity: files -> files cost\n\nCommand: `{data['command']}`\n\n"
                + markdown_table(["inputs", "images/s (median)", "images per CPU-s", "Mpx/s"], rows)
                + f"\n\nThis checkout / base ({data['settings']['base_revision']}), 8-bit: "
                  f"{data['this_over_base_8bit']} (wall), {data['this_over_base_8bit_per_cpu_s']} (CPU)\n")

    data = write_results("fidelity_speed", command, body, markdown, out=args.out)
    print(json.dumps({"medians": data["medians"], "this_over_base_8bit": data["this_over_base_8bit"],
                      "this_over_base_8bit_per_cpu_s": data["this_over_base_8bit_per_cpu_s"]}, indent=2))
    return 0


def _revision(folder: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
