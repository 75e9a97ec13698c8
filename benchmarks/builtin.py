"""``revive-train builtin``'s second half: export the two trained models, score them, write it into their cards.

The recipe trains (train/builtin.py); this module, in the layer that may import every other, turns the
checkpoints into what ships:

1. ``OUT/restore.onnx`` and ``OUT/colorize.onnx`` (export/to_onnx.py, FP32, dynamic batch up to ``MAX_BATCH``);
2. the restorer scored on the scan-like set beside the classical method (benchmarks/restore_quality.py, with
   its speed through runtime-infer), the colorizer on the held-out photos at their own size against their
   gray (PSNR and HSV colour similarity, revive.runtime.metrics);
3. each card's ``provenance``: the recipe, the data, the steps, wall and CPU seconds, the commit, the machine
   and the figures of step 2, which ``runtime-infer --list-models`` shows; ``OUT/builtin.json`` holds the same;
4. with ``--bundle``, both files copied into this installation's ``revive/runtime/models/``.

A stage whose checkpoint the same recipe already wrote into OUT is not trained again (rerun the command to
finish an interrupted run); its wall and CPU seconds are those recorded when it was trained.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from revive.runtime.errors import UsageError
from revive.runtime.files import write_atomic

__all__ = ["MAX_BATCH", "colorizer_figures", "recipe_command", "run"]

log = logging.getLogger(__name__)
MAX_BATCH = 32
STAGES = ("restore", "precision", "colorize")  # in training order (train/builtin.py)
_ROOT = Path(__file__).resolve().parents[1]


# revive-train builtin's flags for the recipe fields it sets
_FLAGS = {"restore_steps": "--restore-steps", "precision_steps": "--precision-steps",
          "precision_fill_cost": "--precision-fill-cost", "precision_pos_weight": "--precision-pos-weight",
          "precision_long_scratches": "--precision-long-scratches", "color_epochs": "--colorize-epochs",
          "seed": "--seed"}


def recipe_command(out: Path, recipe) -> str:
    """The ``revive-train builtin`` command line that trains ``recipe`` (flags for what differs from the
    default recipe), as the cards record it."""
    from revive.train.builtin import Recipe

    default = Recipe()
    flags = [f"{flag} {getattr(recipe, field)}" for field, flag in _FLAGS.items()
             if getattr(recipe, field) != getattr(default, field)]
    return " ".join(["revive-train builtin --out", str(out), *flags])


def _commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head + (" (with uncommitted changes)" if dirty else "")


def _stage(folder: Path, recipe: dict, train) -> dict[str, Any]:
    """Train a stage into ``folder`` unless the same recipe already did; its record (timings, last row)."""
    record_path = folder / "stage.json"
    recipe = json.loads(json.dumps(recipe))  # as the record holds it (tuples are lists there)
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        held = record.get("recipe") or {}
        if {k: held.get(k) for k in recipe} == recipe:  # the fields this stage is made from (Recipe.stage_dict)
            log.info("%s: trained earlier with this recipe (%s s wall); reused", folder, record["wall_s"])
            return record
    record = {"recipe": recipe, **train()}
    write_atomic(record_path, json.dumps(record, indent=1).encode())
    return record


def _resume_stage(out: Path, resume: str) -> tuple[str, str]:
    """(stage, checkpoint) for ``--resume``: an interrupted builtin run continues in the stage it stopped in."""
    if not resume:
        return "", ""
    stage = Path(resume).resolve().parent
    for name in STAGES:
        if stage == (out / name).resolve():
            return name, resume
    raise UsageError(f"{resume}: not a stage checkpoint of {out}; resume a builtin run with --resume "
                     + " or ".join(str(out / name / "last.pt") for name in STAGES))


def colorizer_figures(model: Path, folder: Path) -> dict[str, Any]:
    """The colorizer on the held-out photos (gray, own size) through runtime-infer: PSNR and colour similarity
    against the colour truth, beside the gray input's."""
    from revive.runtime import metrics
    from revive.runtime.color import rgb_to_gray
    from revive.runtime.infer import InferOptions, infer_files
    from revive.train.sample import sample_photo
    from revive.train.scan_data import HELD_OUT

    (folder / "inputs").mkdir(parents=True, exist_ok=True)
    for name in HELD_OUT:
        Image.fromarray(rgb_to_gray(sample_photo(name))).save(folder / "inputs" / f"{name}.png")
    infer_files([model], [folder / "inputs"], folder / "outputs", InferOptions(overwrite=True, progress=False))
    rows = []
    for name in HELD_OUT:
        truth = sample_photo(name)
        out = np.asarray(Image.open(folder / "outputs" / f"{name}.png").convert("RGB"))
        gray = np.repeat(rgb_to_gray(truth)[..., None], 3, axis=-1)
        rows.append({"image": name, "size": f"{truth.shape[1]}x{truth.shape[0]}",
                     "psnr": metrics.psnr(truth, out), "psnr_gray": metrics.psnr(truth, gray),
                     "color_similarity": metrics.hsv_histogram_similarity(truth, out),
                     "color_similarity_gray": metrics.hsv_histogram_similarity(truth, gray)})
    keys = ("psnr", "psnr_gray", "color_similarity", "color_similarity_gray")
    return {"images": rows, "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys}}


def _restore_figures(model: Path, folder: Path, baseline: bool) -> dict[str, Any]:
    from .restore_quality import run_restore_quality

    data = run_restore_quality(None, None, [model], folder, device="cpu", baseline="classical" if baseline else None)
    keys = ("mask_iou", "mae_damaged_input", "mae_damaged_output", "change_undamaged")
    figures = {"set": "scan-like (benchmarks/scan_set.py)", "images": len(data["images"]),
               "megapixels": round(sum(int(r["size"].split("x")[0]) * int(r["size"].split("x")[1])
                                       for r in data["images"]) / 1e6, 2),
               "fill": data["fill"], "revive": {k: round(data["mean"][k], 4) for k in keys},
               "mpx_per_s": data["restore_speed"]["mpx_per_s"],
               "mpx_per_cpu_s": data["restore_speed"]["mpx_per_cpu_s"]}
    if baseline:
        figures["detector"] = data["detector"]
        for method in ("classical", "revive_mask_telea", "revive_other_fill"):
            figures[method] = {k: round(data["methods"][method][k], 4) for k in keys}
        figures["other_fill"] = data["other_fill"]
        figures["mae_vs_classical"] = round(figures["revive"]["mae_damaged_output"]
                                            / figures["classical"]["mae_damaged_output"], 3)
    return figures


def _set_provenance(path: Path, provenance: dict[str, Any]) -> None:
    import onnx

    from revive.export.cards import save_onnx
    from revive.runtime.card import read_onnx_card

    model = onnx.load(str(path))
    save_onnx(model, read_onnx_card(model).replace(provenance=provenance), path)


def _machine() -> dict[str, Any]:
    import os

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").is_file() \
        else platform.processor()
    return {"cpu": model, "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}


def run(args, loop, world) -> str:
    """Train (or reuse) both stages, export, score, card, and optionally bundle; the summary line."""
    from revive.export.to_onnx import export_checkpoint, quiet_exporter_logs
    from revive.train.builtin import Recipe, train_colorizer, train_precision, train_restorer
    from revive.train.checkpoint import best_or_last

    quiet_exporter_logs()
    started, commit = time.perf_counter(), _commit()  # the code that trains, before anything else is edited
    out = Path(loop.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recipe = Recipe(restore_steps=args.restore_steps, precision_steps=args.precision_steps,
                    precision_fill_cost=args.precision_fill_cost, precision_pos_weight=args.precision_pos_weight,
                    precision_long_scratches=args.precision_long_scratches, color_epochs=args.colorize_epochs,
                    seed=args.seed)
    resume = _resume_stage(out, loop.resume)
    loop = replace(loop, overwrite=True, resume="")  # the stages' own folders; OUT was checked by revive-train
    trainers = {"restore": lambda lp: train_restorer(out / "restore", recipe, lp, world),
                "precision": lambda lp: train_precision(out / "precision", best_or_last(out / "restore"), recipe,
                                                        lp, world),
                "colorize": lambda lp: train_colorizer(out / "colorize", recipe, lp, world)}
    if not recipe.precision_steps:
        del trainers["precision"]
    stages = {}
    for name, train in trainers.items():
        stage_loop, resumed = (replace(loop, resume=resume[1]), resume[1]) if resume[0] == name else (loop, "")
        stages[name] = _stage(out / name, recipe.stage_dict(name),
                              lambda: {**train(stage_loop),
                                       **({"resumed_from": resumed, "wall_s_note": "this sitting only"}
                                          if resumed else {})})
    # the precision stage ships where its schedule ends: its validation scores the network's own fill, not
    # the classical fill the product uses (README "Bundled models" has both checkpoints' figures)
    sources = {"restore": "precision" if "precision" in stages else "restore", "colorize": "colorize"}
    models = {model: out / f"{model}.onnx" for model in sources}
    for model, stage in sources.items():
        checkpoint = out / stage / "last.pt" if stage == "precision" else best_or_last(out / stage)
        export_checkpoint(checkpoint, models[model], max_batch=MAX_BATCH)
    figures = {"restore": _restore_figures(models["restore"], out / "eval_restore", not args.no_baseline),
               "colorize": colorizer_figures(models["colorize"], out / "eval_colorize")}
    from revive.train.scan_data import HELD_OUT, restorer_photos

    common = {"command": recipe_command(out, recipe), "recipe": recipe.to_dict(), "commit": commit,
              "machine": _machine(), "made": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "held_out": list(HELD_OUT)}
    restore_stages = [name for name in ("restore", "precision") if name in stages]
    restore, colorize = stages[sources["restore"]], stages["colorize"]
    provenance = {
        "restore": {**common, "data": f"scikit-image photos at scan scale: {', '.join(restorer_photos())} "
                                      "(train/scan_data.py), damage of train/scan_damage.py",
                    "steps": sum(stages[n]["last"].get("step", 0) for n in restore_stages),
                    "wall_s": round(sum(stages[n]["wall_s"] for n in restore_stages), 1),
                    "cpu_s": round(sum(stages[n]["cpu_s"] for n in restore_stages), 1),
                    **({"wall_s_note": "this run's sittings only (stages: which resumed)"}
                       if any("resumed_from" in stages[n] for n in restore_stages) else {}),
                    "stages": {n: {"steps": stages[n]["last"].get("step"), "wall_s": stages[n]["wall_s"],
                                   **{k: stages[n][k] for k in ("resumed_from", "wall_s_note") if k in stages[n]}}
                               for n in restore_stages},
                    "validation": {k: v for k, v in restore["last"].items() if k.startswith("val_")},
                    "figures": figures["restore"]},
        "colorize": {**common, "data": "the scikit-image 'sample' crops (train/sample.py), Lab targets",
                     "steps": colorize["last"].get("step"), "wall_s": colorize["wall_s"],
                     **{k: colorize[k] for k in ("resumed_from", "wall_s_note") if k in colorize},
                     "cpu_s": colorize["cpu_s"],
                     "validation": {k: v for k, v in colorize["last"].items() if k.startswith("val_")},
                     "figures": figures["colorize"]["mean"]},
    }
    for stage, path in models.items():
        _set_provenance(path, provenance[stage])
    report = {**provenance, "colorize_images": figures["colorize"]["images"],
              "total_wall_s": round(time.perf_counter() - started, 1)}
    write_atomic(out / "builtin.json", json.dumps(report, indent=1).encode())
    if args.bundle:
        from revive.runtime import models as bundled

        target = Path(bundled.__file__).parent
        for stage, path in models.items():
            shutil.copyfile(path, target / path.name)
        log.info("bundled into %s", target)
    r = figures["restore"]["revive"]
    return (f"{out}: restore.onnx (mask IoU {r['mask_iou']:.3f}, damaged MAE {r['mae_damaged_output']:.2f} levels"
            + (f" = {figures['restore']['mae_vs_classical']:.2f}x classical" if not args.no_baseline else "")
            + f", undamaged change {r['change_undamaged']:.3f}, {figures['restore']['mpx_per_s']} Mpx/s), "
            f"colorize.onnx (PSNR {figures['colorize']['mean']['psnr']:.2f} dB vs gray "
            f"{figures['colorize']['mean']['psnr_gray']:.2f})")
