"""``make demo``: a short training run, then the bundled models on the demo's pictures, with a report.

Everything runs on a fresh 2-core machine without a GPU or a download, in a few minutes:

1. training, briefly: pix2pix (Lab mode, 128 px, ``PIX2PIX_NGF`` base filters, the bundled colorizer's
   architecture) trains on crops of six scikit-image photos for a few epochs, is exported to ONNX, and
   ``runtime-infer`` colorizes the two photos held out of training at their own resolution: the whole
   train -> export -> lean runtime path, on a budget that shows it learning (its curves), not finishing.
2. the bundled models (runtime/models/, made by ``revive-train builtin``): ``runtime-infer`` with no
   ``--engine`` restores (tiles at the scan's own resolution) and colorizes scan-like copies of the same
   held-out photos (enlarged ``SCAN_SCALE``x, damaged at scan scale); mask IoU, damaged-region error, change
   of the undamaged pixels (and the classical method's error, when OpenCV is installed) are printed and
   written on the contact sheet, with the verdict against the bundled restorer's targets.

The report shows every stage beside the truth with PSNR, SSIM and colour similarity per image, next to the
score of the untouched input (the baseline a model has to beat).
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import resource
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from revive.runtime import metrics
from revive.runtime.color import rgb_to_gray
from revive.train.damage import validation_rng
from revive.train.data import discover, split_items
from revive.train.sample import sample_photo

__all__ = ["main", "run_demo"]

log = logging.getLogger("revive.demo")
VAL_FRACTION = 0.15
MAX_SIDE = 640  # held-out photos are shrunk to this long side to keep the demo quick
PIX2PIX_NGF = 16  # the bundled colorizer's width: the training part's minute shows the same network learning
SCAN_SCALE = 2  # the bundled models see the held-out photos enlarged like a scan of a small print


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (data-loader workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def _timed(timings: dict, name: str):
    """Wall seconds under ``name`` and process CPU seconds under ``name_cpu``: on a shared machine the
    CPU seconds say what the step costs, and on a quiet 2-core machine wall ~= CPU / 2."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    yield
    timings[name] = time.perf_counter() - wall
    timings[f"{name}_cpu"] = _cpu_seconds() - cpu


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


def _pix2pix_caption(row: dict) -> str:
    return (f"{row['image']}: PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.3f} "
            f"(gray input: {row['psnr_gray_input']:.2f} dB, {row['ssim_gray_input']:.3f})")


def contact_sheet(columns: list[tuple[str, Path]], names: list[str], rows: list[dict], path: Path,
                  height: int = 200, caption=_pix2pix_caption, footer: str = "") -> None:
    """One row per image, one column per stage, labelled, with the scores under the output."""
    tiles = []
    for name, row in zip(names, rows):
        images = [Image.open(folder / f"{name}.png").convert("RGB") for _, folder in columns]
        images = [im.resize((max(1, round(im.width * height / im.height)), height)) for im in images]
        tiles.append((images, row))
    width = max(sum(im.width for im in images) + 10 * (len(images) + 1) for images, _ in tiles)
    sheet = Image.new("RGB", (width, len(tiles) * (height + 44) + 24 + (20 if footer else 0)), "white")
    draw = ImageDraw.Draw(sheet)
    y = 4
    for images, row in tiles:
        x = 10
        for (label, _), im in zip(columns, images):
            draw.text((x, y), label, fill="black")
            sheet.paste(im, (x, y + 14))
            x += im.width + 10
        draw.text((10, y + 16 + height), caption(row), fill="black")
        y += height + 44
    if footer:
        draw.text((10, y), footer, fill="black")
    sheet.save(path)


def write_scans(truths: dict[str, np.ndarray], folder: Path, seed: int) -> dict[str, np.ndarray]:
    """Scan-like damaged copies of the held-out photos: enlarged ``SCAN_SCALE``x (a scan of a small print),
    damaged at scan scale (train/scan_damage.py's evaluation draws, seeded by the photo).

    Writes ``damaged/`` (gray), ``truth/`` (colour, same size) and returns the gray truths (the print before
    local damage) that the restore figures are scored against.
    """
    from revive.train.scan_damage import EVALUATION, draw_scan_damage

    grays = {}
    for sub in ("damaged", "truth"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for name, truth in truths.items():
        image = Image.fromarray(truth)
        image = image.resize((image.width * SCAN_SCALE, image.height * SCAN_SCALE), Image.LANCZOS)
        drawn = draw_scan_damage(rgb_to_gray(np.asarray(image)), validation_rng(seed, name), EVALUATION)
        grays[name] = drawn.base
        Image.fromarray(drawn.damaged).save(folder / "damaged" / f"{name}.png")
        image.save(folder / "truth" / f"{name}.png")
    return grays


def score_bundled(grays: dict[str, np.ndarray], folder: Path) -> list[dict]:
    """Restore figures against the print before damage (and the classical method's, when OpenCV is there),
    colour figures against the colour truth."""
    from .restore_quality import score_pair

    try:
        from .classical import classical_restore
        import cv2  # noqa: F401  (the bench extra)
    except ModuleNotFoundError:
        classical_restore = None
    rows = []
    for name, gray in grays.items():
        truth = np.asarray(Image.open(folder / "truth" / f"{name}.png").convert("RGB"))
        damaged = np.asarray(Image.open(folder / "damaged" / f"{name}.png"))
        restored = np.asarray(Image.open(folder / "outputs" / f"{name}.restored.png").convert("L"))
        out = np.asarray(Image.open(folder / "outputs" / f"{name}.png").convert("RGB"))
        row = {"image": name, "size": f"{truth.shape[1]}x{truth.shape[0]}", **score_pair(damaged, restored, gray),
               # the baseline is the undamaged print as gray (faded and grained like the scan, when it is)
               "psnr": metrics.psnr(truth, out), "psnr_gray_input": metrics.psnr(truth, np.repeat(gray[..., None], 3, -1)),
               "color_similarity": metrics.hsv_histogram_similarity(truth, out)}
        if classical_restore is not None:
            row["mae_damaged_classical"] = score_pair(damaged, classical_restore(damaged), gray)["mae_damaged_output"]
        rows.append(row)
    return rows


def run_runtime(models: list[Path | str], inputs: Path, outputs: Path, what: str, **options) -> None:
    """``runtime-infer`` through its library entry point; any failure ends the demo with one line."""
    from revive.runtime.backends import BackendError
    from revive.runtime.card import CardError
    from revive.runtime.infer import InferOptions, infer_files
    from revive.runtime.inputs import InputError

    try:
        stats = infer_files(models, [inputs], outputs, InferOptions(overwrite=True, **options))
    except (BackendError, CardError, InputError) as exc:
        raise SystemExit(f"demo: runtime-infer on {what} failed: {exc}") from None
    failed = [f"{j.source.name}: {j.reason}" for j in stats.jobs if j.status == "failed"]
    if failed:
        raise SystemExit(f"demo: runtime-infer on {what} failed for {len(failed)} file(s): {failed[0]}")


def _restore_caption(row: dict) -> str:
    classical = (f" (classical {row['mae_damaged_classical']:.1f})" if "mae_damaged_classical" in row else "")
    return (f"{row['image']}: mask IoU {row['mask_iou']:.2f}; damaged-region error {row['mae_damaged_input']:.1f} "
            f"-> {row['mae_damaged_output']:.1f} levels{classical}; undamaged change {row['change_undamaged']:.3f}; "
            f"colour PSNR {row['psnr']:.1f} dB (gray {row['psnr_gray_input']:.1f})")


def bundled_verdict(rows: list[dict]) -> dict:
    """Means over the held-out scans and the issue's targets (IoU >= 0.75, undamaged change <= 0.1 level, damaged
    error <= 0.8x the classical method's when OpenCV is installed)."""
    keys = ["mask_iou", "mae_damaged_input", "mae_damaged_output", "change_undamaged", "psnr", "psnr_gray_input"]
    keys += ["mae_damaged_classical"] if all("mae_damaged_classical" in r for r in rows) else []
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    passed = mean["mask_iou"] >= 0.75 and mean["change_undamaged"] <= 0.1 and (
        "mae_damaged_classical" not in mean or mean["mae_damaged_output"] <= 0.8 * mean["mae_damaged_classical"])
    return {**mean, "passed": passed}


def run_bundled(out: Path, truths: dict[str, np.ndarray], seed: int) -> tuple[list[dict], dict]:
    """The bundled restorer and colorizer (runtime-infer without --engine) on scan-like copies of the photos."""
    folder, timings = out / "bundled", {}
    grays = write_scans(truths, folder, seed)
    with _timed(timings, "bundled_runtime_infer"):
        run_runtime(default_route(), folder / "damaged", folder / "outputs", "the bundled models",
                    save_restored=True, summary=folder / "runtime_summary.json")
    rows = score_bundled(grays, folder)
    restored = folder / "restored"
    restored.mkdir(exist_ok=True)
    for name in truths:  # the contact sheet reads NAME.png from each column's folder
        (restored / f"{name}.png").write_bytes((folder / "outputs" / f"{name}.restored.png").read_bytes())
    verdict = bundled_verdict(rows)
    contact_sheet([("damaged", folder / "damaged"), ("restored", restored), ("revive", folder / "outputs"),
                   ("truth", folder / "truth")], list(truths), rows, out / "contact_sheet_bundled.png",
                  height=300, caption=_restore_caption, footer=_verdict_line(verdict))
    return rows, timings


def default_route() -> list[str]:
    from revive.runtime.models import BUILTIN_PREFIX, DEFAULT_ROUTE

    return [BUILTIN_PREFIX + name for name in DEFAULT_ROUTE]


def _verdict_line(v: dict) -> str:
    classical = (f" (classical {v['mae_damaged_classical']:.1f}: {v['mae_damaged_output'] / v['mae_damaged_classical']:.2f}x)"
                 if "mae_damaged_classical" in v else "")
    return (f"mean over the held-out scans: mask IoU {v['mask_iou']:.2f} (target 0.75), damaged-region error "
            f"{v['mae_damaged_input']:.1f} -> {v['mae_damaged_output']:.1f} levels{classical}, undamaged change "
            f"{v['change_undamaged']:.3f} (target 0.1): {'meets the targets' if v['passed'] else 'BELOW THE TARGETS'}")


def _table(rows: list[dict]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))

    keys = list(rows[0])
    body = "".join("<tr>" + "".join(f"<td>{fmt(r[k])}</td>" for k in keys) + "</tr>" for r in rows)
    return f"<table><tr>{''.join(f'<th>{k}</th>' for k in keys)}</tr>{body}</table>"


def write_report(out: Path, result: dict) -> None:
    first, best = result["pix2pix_first_epoch"], result["pix2pix_best_epoch"]
    curve = (f"validation PSNR {first.get('val_psnr', float('nan')):.2f} dB after epoch 1, "
             f"{best.get('val_psnr', float('nan')):.2f} dB at best (epoch {best['epoch']}, the exported "
             f"checkpoint); the gray input itself scores {best.get('val_psnr_gray', float('nan')):.2f} dB")
    bundled = ""
    if result.get("bundled"):
        v = result["bundled_verdict"]
        bundled = f"""<h2>The bundled models: restore, then colorize</h2>
<p><code>runtime-infer damaged/ -o outputs/ --save-restored</code> with no <code>--engine</code> runs the restorer
and the colorizer that ship inside the package (<code>builtin:restore</code>, <code>builtin:colorize</code>; made by
<code>revive-train builtin</code>, see <code>runtime-infer --list-models</code>) on copies of the held-out photos
enlarged {SCAN_SCALE}x like scans of small prints and damaged at scan scale (scratches, dust, folds, stains;
<code>train/scan_damage.py</code>). The restorer works on tiles at the scan's own resolution and replaces only what
it marks as damage. Mask IoU compares the pixels it changed with the damage; the error is the mean absolute
difference from the print before damage on the damaged pixels, in gray levels.</p>
<p><b>{html.escape(_verdict_line(v))}</b></p>
<img src="contact_sheet_bundled.png" alt="damaged, restored, colorized, truth">
{_table(result['bundled'])}"""
    page = f"""<!doctype html><meta charset="utf-8"><title>revive demo</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}td,th{{padding:2px 8px}}
img{{max-width:100%}}</style>
<h1>revive demo</h1>
<h2>Training, briefly: a pix2pix colorizer</h2>
<p>Lab mode, 128 px, {PIX2PIX_NGF} base filters, trained on the built-in <code>sample</code> set on this machine's
CPU for a minute or two, exported to ONNX and run with <code>runtime-infer</code> on the photos held out of training,
at their own resolution (the model's chroma on the input's luminance). Learning: {curve}. A minute of training
gives muted colours: this shows the train, export and runtime path working.</p>
<img src="contact_sheet.png" alt="input, output, truth">
{_table(result['pix2pix'])}
<h3>Training curves</h3><img src="pix2pix/curves.png" alt="training curves">
{bundled}
<h2>Timings (s)</h2><p>Wall seconds, and <code>_cpu</code>: user + system CPU seconds of the demo process and
its data-loader workers (on a quiet 2-core machine wall is about half the CPU seconds).</p>
<pre>{html.escape(json.dumps(result['timings_s'], indent=1))}</pre>
"""
    (out / "report.html").write_text(page)


def run_demo(out: Path, epochs: int, bundled: bool = True, seed: int = 0) -> dict:
    from revive.export.to_onnx import export_checkpoint, quiet_exporter_logs
    from revive.train.cli import main as revive_train

    out.mkdir(parents=True, exist_ok=True)
    quiet_exporter_logs()
    timings = {}
    with _timed(timings, "pix2pix_train"):
        code = revive_train(["pix2pix", "--mode", "lab", "--data", "sample", "--image-size", "128", "--ngf",
                             str(PIX2PIX_NGF), "--ndf", str(PIX2PIX_NGF), "--batch-size", "8", "--epochs", str(epochs),
                             "--val-fraction", str(VAL_FRACTION), "--seed", str(seed), "--overwrite",
                             "--out", str(out / "pix2pix")])
    if code:
        raise SystemExit(f"demo: training failed (exit {code})")
    onnx_path = out / "colorize.onnx"
    with _timed(timings, "pix2pix_export"):
        export_checkpoint(out / "pix2pix" / "best.pt", onnx_path, max_batch=16)
    truths = write_inputs(held_out_photos(seed), out)
    with _timed(timings, "pix2pix_runtime_infer"):
        run_runtime([onnx_path], out / "inputs", out / "outputs", "the colorizer",
                    summary=out / "runtime_summary.json")
    rows = score(truths, out / "outputs")
    (out / "truth").mkdir(exist_ok=True)
    for name, truth in truths.items():
        Image.fromarray(truth).save(out / "truth" / f"{name}.png")
    contact_sheet([("input", out / "inputs"), ("revive", out / "outputs"), ("truth", out / "truth")],
                  list(truths), rows, out / "contact_sheet.png")
    history = json.loads((out / "pix2pix" / "metrics.json").read_text())
    best = max(history, key=lambda row: row.get("val_psnr", float("-inf")))
    result = {"pix2pix": rows, "pix2pix_first_epoch": history[0], "pix2pix_best_epoch": best,
              "pix2pix_last_epoch": history[-1], "timings_s": timings}
    if bundled:
        result["bundled"], bundled_timings = run_bundled(out, truths, seed)
        result["bundled_verdict"] = bundled_verdict(result["bundled"])
        timings.update(bundled_timings)
    timings["training_cpu"] = timings["pix2pix_train_cpu"]
    write_report(out, result)
    (out / "demo.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="revive-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo", help="output folder (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=6, help="pix2pix epochs (default %(default)s)")
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled models' part")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    t, cpu = time.perf_counter(), _cpu_seconds()
    result = run_demo(Path(args.out), args.epochs, not args.no_bundled, args.seed)
    result["timings_s"]["total"] = time.perf_counter() - t
    result["timings_s"]["total_cpu"] = _cpu_seconds() - cpu
    (Path(args.out) / "demo.json").write_text(json.dumps(result, indent=1))
    log.info("demo done in %.0f s wall, %.0f s CPU (training %.0f s CPU): %s/report.html",
             result["timings_s"]["total"], result["timings_s"]["total_cpu"], result["timings_s"]["training_cpu"],
             args.out)
    for row in result["pix2pix"]:
        log.info("pix2pix %s: PSNR %.2f dB (gray input %.2f), SSIM %.3f", row["image"], row["psnr"],
                 row["psnr_gray_input"], row["ssim"])
    for row in result.get("bundled", []):
        log.info("bundled %s", _restore_caption(row))
    if "bundled_verdict" in result:
        log.info("bundled %s", _verdict_line(result["bundled_verdict"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
