"""``make demo``: train briefly on the built-in sample, export, run ``runtime-infer``, report.

Everything runs on a fresh 2-core machine without a GPU or a download: the
pix2pix colorizer (Lab mode, 128 px, 32 base filters) trains on crops of six
scikit-image photos, is exported to ONNX, and ``runtime-infer`` colorizes the
two photos held out of training at their own resolution. The report shows
input / output / truth with PSNR and SSIM per image, beside the score of the
gray input itself (the baseline a colorizer has to beat).
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from revive.runtime import metrics
from revive.runtime.color import rgb_to_gray
from revive.train.data import discover, split_items
from revive.train.sample import sample_photo

__all__ = ["main", "run_demo"]

log = logging.getLogger("revive.demo")
VAL_FRACTION = 0.15
MAX_SIDE = 640  # held-out photos are shrunk to this long side to keep the demo quick


def held_out_photos(seed: int) -> list[str]:
    _, val = split_items(discover("sample"), VAL_FRACTION, seed)
    return sorted({item.photo for item in val})


def write_inputs(photos: list[str], folder: Path) -> dict[str, np.ndarray]:
    """Gray inputs (as a user would have them) and the colour truths, keyed by file stem."""
    truths = {}
    (folder / "inputs").mkdir(parents=True, exist_ok=True)
    for name in photos:
        image = Image.fromarray(sample_photo(name))
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
        truth = np.asarray(image)
        Image.fromarray(rgb_to_gray(truth)).save(folder / "inputs" / f"{name}.png")
        truths[name] = truth
    return truths


def score(truths: dict[str, np.ndarray], outputs: Path) -> list[dict]:
    rows = []
    for name, truth in truths.items():
        out = np.asarray(Image.open(outputs / f"{name}.png").convert("RGB"))
        gray = np.repeat(rgb_to_gray(truth)[..., None], 3, axis=-1)
        rows.append({"image": name, "size": f"{truth.shape[1]}x{truth.shape[0]}",
                     "psnr": metrics.psnr(truth, out), "ssim": metrics.ssim(truth, out),
                     "psnr_gray_input": metrics.psnr(truth, gray), "ssim_gray_input": metrics.ssim(truth, gray),
                     "color_similarity": metrics.hsv_histogram_similarity(truth, out)})
    return rows


def contact_sheet(columns: list[tuple[str, Path]], names: list[str], rows: list[dict], path: Path,
                  height: int = 200) -> None:
    """One row per image, one column per stage, labelled, with the scores under the output."""
    tiles = []
    for name, row in zip(names, rows):
        images = [Image.open(folder / f"{name}.png").convert("RGB") for _, folder in columns]
        images = [im.resize((max(1, round(im.width * height / im.height)), height)) for im in images]
        tiles.append((images, row))
    width = max(sum(im.width for im in images) + 10 * (len(images) + 1) for images, _ in tiles)
    sheet = Image.new("RGB", (width, len(tiles) * (height + 44) + 24), "white")
    draw = ImageDraw.Draw(sheet)
    y = 4
    for images, row in tiles:
        x = 10
        for (label, _), im in zip(columns, images):
            draw.text((x, y), label, fill="black")
            sheet.paste(im, (x, y + 14))
            x += im.width + 10
        draw.text((10, y + 16 + height), f"{row['image']}: PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.3f} "
                  f"(gray input: {row['psnr_gray_input']:.2f} dB, {row['ssim_gray_input']:.3f})", fill="black")
        y += height + 44
    sheet.save(path)


def write_report(out: Path, rows: list[dict], timings: dict[str, float], history: list[dict]) -> None:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))

    keys = list(rows[0])
    table = "".join("<tr>" + "".join(f"<td>{fmt(r[k])}</td>" for k in keys) + "</tr>" for r in rows)
    first, last = history[0], history[-1]
    curve = (f"validation PSNR {first.get('val_psnr', float('nan')):.2f} dB after epoch 1 &rarr; "
             f"{last.get('val_psnr', float('nan')):.2f} dB after epoch {last['epoch']} "
             f"(gray input: {last.get('val_psnr_gray', float('nan')):.2f} dB)")
    page = f"""<!doctype html><meta charset="utf-8"><title>revive demo</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}td,th{{padding:2px 8px}}
img{{max-width:100%}}</style>
<h1>revive demo</h1>
<p>pix2pix colorizer (Lab, 128 px, 32 base filters) trained on the built-in <code>sample</code> set on this
machine's CPU, exported to ONNX and run with <code>runtime-infer</code> on the photos held out of training, at
their own resolution (the model's chroma on the input's luminance).</p>
<p>Learning: {curve}.</p>
<h2>Held-out photos</h2><img src="contact_sheet.png" alt="input, output, truth">
<table><tr>{''.join(f'<th>{k}</th>' for k in keys)}</tr>{table}</table>
<h2>Training curves</h2><img src="pix2pix/curves.png" alt="training curves">
<h2>Timings (s)</h2><pre>{html.escape(json.dumps(timings, indent=1))}</pre>
"""
    (out / "report.html").write_text(page)


def run_demo(out: Path, epochs: int, seed: int = 0) -> dict:
    from revive.export.to_onnx import export_checkpoint, quiet_exporter_logs
    from revive.runtime.cli import main as runtime_infer
    from revive.train.cli import main as revive_train

    out.mkdir(parents=True, exist_ok=True)
    quiet_exporter_logs()
    timings = {}
    t = time.perf_counter()
    code = revive_train(["pix2pix", "--mode", "lab", "--data", "sample", "--image-size", "128", "--ngf", "32",
                         "--ndf", "32", "--batch-size", "8", "--epochs", str(epochs), "--val-fraction",
                         str(VAL_FRACTION), "--seed", str(seed), "--out", str(out / "pix2pix")])
    if code:
        raise SystemExit(f"demo: training failed (exit {code})")
    timings["train"] = time.perf_counter() - t
    t = time.perf_counter()
    onnx_path = out / "colorize.onnx"
    export_checkpoint(out / "pix2pix" / "best.pt", onnx_path, max_batch=16)
    timings["export"] = time.perf_counter() - t
    photos = held_out_photos(seed)
    truths = write_inputs(photos, out)
    t = time.perf_counter()
    code = runtime_infer(["--engine", str(onnx_path), str(out / "inputs"), "-o", str(out / "outputs"),
                          "--overwrite", "--summary", str(out / "runtime_summary.json")])
    timings["runtime_infer"] = time.perf_counter() - t
    if code:
        raise SystemExit(f"demo: runtime-infer failed (exit {code})")
    rows = score(truths, out / "outputs")
    (out / "truth").mkdir(exist_ok=True)
    for name, truth in truths.items():
        Image.fromarray(truth).save(out / "truth" / f"{name}.png")
    contact_sheet([("input", out / "inputs"), ("revive", out / "outputs"), ("truth", out / "truth")],
                  list(truths), rows, out / "contact_sheet.png")
    history = json.loads((out / "pix2pix" / "metrics.json").read_text())
    write_report(out, rows, timings, history)
    result = {"images": rows, "timings_s": timings, "first_epoch": history[0], "last_epoch": history[-1]}
    (out / "demo.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="revive-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo", help="output folder (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (default %(default)s, ~5 min)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    t = time.perf_counter()
    result = run_demo(Path(args.out), args.epochs, args.seed)
    log.info("demo done in %.0f s: %s/report.html", time.perf_counter() - t, args.out)
    for row in result["images"]:
        log.info("%s: PSNR %.2f dB (gray input %.2f), SSIM %.3f", row["image"], row["psnr"],
                 row["psnr_gray_input"], row["ssim"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
