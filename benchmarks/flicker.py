"""``revive-bench flicker``: how steady a film's colour is with temporal smoothing, what it costs, and its memory.

On ``--video FILE`` (any film) or a synthetic old film made here (synthetic_film.py: static shots, hard cuts,
grain, flicker, dust, a persistent scratch, a sound track), the same models run through ``runtime-infer``'s
library entry point (``infer_files``) four ways:

1. **per frame** (``--temporal off``) and **smoothed** (``--temporal auto``), both written as FFV1, lossless,
   so the figures see exactly the runtime's pixels. From the two films, frame by frame (streamed: any length):
   - *chroma flicker*: the mean frame-to-frame change of Cb and Cr (8-bit levels, Pillow's YCbCr, the planes
     the runtime lays on the luminance), over consecutive frames inside a shot;
   - *colourfulness*: Hasler and Suesstrunk's M (2003), the mean over frames;
   - *colour across a cut*: at the first frame of each shot after the first, the mean |chroma smoothed -
     chroma per frame|; nothing carried over from the shot before reads 0;
   - *luminance*: the largest |luma smoothed - luma per frame| (smoothing must never touch it);
   - on the synthetic film with a restorer: the damage left at the dust specks (new every frame) and at the
     persistent scratch, as the mean |luma - the frame without that damage|, against the input's.
   Shots are the synthetic film's own (the cuts it was made with; the detector's cuts are reported beside
   them), or on ``--video`` the cuts the runtime's detector found.
2. **throughput**: the film with runtime-infer's defaults for films (H.264, smoothing on) against the same
   frames as a folder of gray PNGs (the photo path, PNG out), alternating ``--repeats`` times; frames/s and
   Mpx/s of the pipeline's wall time, medians.
3. with ``--memory-minutes M``: a synthetic film that long through ``runtime-infer`` in a fresh process,
   its resident memory (``VmRSS``) sampled four times a second; flat means the last quarter of the run peaks
   within 10 % (or 20 MiB) of the first quarter.

Models: ``--engine MODEL`` (once, or twice: restore then colorize), default the bundled ``builtin:restore``
and ``builtin:colorize``. ``--stand-in`` adds (as the colorizer) a slim pix2pix with random weights whose output
layer is scaled x20 (``--stand-in-gain``): revive's random-weight colorizers answer near-neutral gray
(|Cb-128| + |Cr-128| ~ 1 level), which cannot show colourfulness; this one gives saturated, content-dependent
colours that change with grain, flicker and dust as a trained colorizer's do. Its figures measure the
runtime's smoothing, not colour quality.
"""

from __future__ import annotations

import logging
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from .synthetic_film import FilmTruth, make_film

__all__ = ["FlickerOptions", "chroma_flicker", "colourfulness", "flicker_markdown", "run_flicker"]

log = logging.getLogger(__name__)

TARGETS = {"flicker_ratio_max": 0.5, "colourfulness_ratio_min": 0.9, "cut_error_max": 2.0,
           "throughput_ratio_min": 0.9}


@dataclass
class FlickerOptions:
    video: Path | None = None
    engines: tuple[str, ...] = ()
    stand_in: bool = False
    stand_in_gain: float = 20.0
    size: tuple[int, int] = (320, 240)
    shot_frames: tuple[int, ...] = (48, 48, 48)
    window: int = 9
    repeats: int = 2
    batch_size: int = 8
    workers: int = 2
    device: str = "auto"
    memory_minutes: float = 0.0
    memory_size: tuple[int, int] = (160, 120)
    keep: Path | None = None
    preset: str = ""  # the throughput film's x264 preset; "" runtime-infer's default


# -- metrics on plain arrays -------------------------------------------------------------------------
def chroma(rgb: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 -> float32 2 x H x W (Cb, Cr), the planes the runtime lays on the luminance."""
    ycc = np.asarray(Image.fromarray(rgb, "RGB").convert("YCbCr"), np.float32)
    return ycc[..., 1:].transpose(2, 0, 1)


def chroma_flicker(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |change| of Cb and Cr between two frames' chroma planes (levels)."""
    return float(np.abs(a - b).mean())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness M of one uint8 RGB picture."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def rgb_frames(path: Path) -> Iterator[np.ndarray]:
    """A film's frames as uint8 RGB, converted with the matrix and range its frames are tagged with."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            kwargs = {} if frame.format.name.startswith(("bgr", "rgb", "gbr")) else {
                "src_color_range": "JPEG" if frame.color_range == 2 else "MPEG"}
            yield frame.to_ndarray(format="rgb24", **kwargs)


def compare(per_frame: Path, smoothed: Path, cuts: list[int], truth: FilmTruth | None) -> dict[str, Any]:
    """Every figure of part 1 of the module docstring, streamed over the two films."""
    from revive.runtime.color import rgb_to_gray

    starts = set(cuts)
    flicker = {"per_frame": [], "smoothed": []}
    colour = {"per_frame": [], "smoothed": []}
    cut_error, luma_max, frames = {}, 0, 0
    damage = _DamageScore() if truth is not None else None
    previous = None
    for i, (p, s) in enumerate(zip(rgb_frames(per_frame), rgb_frames(smoothed))):
        cp, cs = chroma(p), chroma(s)
        if previous is not None and i not in starts:
            flicker["per_frame"].append(chroma_flicker(cp, previous[0]))
            flicker["smoothed"].append(chroma_flicker(cs, previous[1]))
        if i in starts:
            cut_error[i] = chroma_flicker(cs, cp)
        colour["per_frame"].append(colourfulness(p))
        colour["smoothed"].append(colourfulness(s))
        luma_p, luma_s = rgb_to_gray(p), rgb_to_gray(s)
        luma_max = max(luma_max, int(np.abs(luma_p.astype(np.int16) - luma_s).max()))
        if damage is not None:
            damage.add(truth, i, luma_p)
        previous = (cp, cs)
        frames += 1
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
    result = {
        "frames": frames,
        "chroma_flicker": {k: mean(v) for k, v in flicker.items()},
        "colourfulness": {k: mean(v) for k, v in colour.items()},
        "cut_error": {str(k): v for k, v in cut_error.items()},
        "cut_error_max": max(cut_error.values()) if cut_error else None,
        "luma_max_diff": luma_max,
    }
    result["chroma_flicker"]["ratio"] = result["chroma_flicker"]["smoothed"] / result["chroma_flicker"]["per_frame"]
    result["colourfulness"]["ratio"] = result["colourfulness"]["smoothed"] / result["colourfulness"]["per_frame"]
    if damage is not None:
        result["damage"] = damage.result()
    return result


class _DamageScore:
    """Mean |luma - the frame without its dust / scratch| on those pixels, in the input and the output."""

    def __init__(self) -> None:
        self.sums = {k: 0.0 for k in ("dust_in", "dust_out", "scratch_in", "scratch_out")}
        self.counts = {"dust": 0, "scratch": 0}
        self._clean: tuple[int, np.ndarray] | None = None

    def add(self, truth: FilmTruth, i: int, luma: np.ndarray) -> None:
        shot = truth.shot_of(i)
        if self._clean is None or self._clean[0] != shot:
            self._clean = (shot, truth.clean(shot))
        frame = truth.frame(i, self._clean[1])
        reference = frame.undamaged.astype(np.float64)
        for name, mask in (("dust", frame.dust), ("scratch", frame.scratch)):
            self.sums[f"{name}_in"] += float(np.abs(frame.damaged[mask] - reference[mask]).sum())
            self.sums[f"{name}_out"] += float(np.abs(luma[mask] - reference[mask]).sum())
            self.counts[name] += int(mask.sum())

    def result(self) -> dict[str, float]:
        out = {k: v / max(self.counts[k.split("_")[0]], 1) for k, v in self.sums.items()}
        for name in ("dust", "scratch"):
            out[f"{name}_removed"] = 1.0 - out[f"{name}_out"] / out[f"{name}_in"] if out[f"{name}_in"] else None
        return out


# -- the runs -------------------------------------------------------------------------------------------
def _models(opts: FlickerOptions, workdir: Path) -> list[Path]:
    from revive.runtime.models import default_models, resolve_model

    models = [resolve_model(m) for m in opts.engines]
    if opts.stand_in:
        models.append(make_stand_in_colorizer(workdir / "stand_in_colorizer.onnx", gain=opts.stand_in_gain))
    return models or default_models()


def make_stand_in_colorizer(path: Path, size: int = 256, gain: float = 20.0) -> Path:
    """The ``--stand-in`` colorizer (module docstring): slim pix2pix, Lab, random weights, last layer x gain."""
    import torch

    from revive.export.to_onnx import export_checkpoint
    from revive.train.checkpoint import save_checkpoint
    from revive.train.models import create_model
    from revive.train.pix2pix_task import num_downs_for

    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "out_channels": 2, "num_downs": num_downs_for(size), "ngf": 8}
    net = create_model("pix2pix_unet", **kwargs)
    with torch.no_grad():
        for parameter in list(net.parameters())[-2:]:  # the outermost up-convolution's weight and bias
            parameter.mul_(gain)
    config = {"task": "colorize", "family": "pix2pix", "architecture": "pix2pix_unet", "model_kwargs": kwargs,
              "color_space": "lab", "image_size": size, "train": {"stand_in_output_gain": gain}, "metrics": {}}
    checkpoint = path.with_suffix(".pt")
    save_checkpoint(checkpoint, net, config)
    export_checkpoint(checkpoint, path, max_batch=16)
    return path


def _infer(backends, inputs: list[Path], out: Path, opts: FlickerOptions, **video: Any):
    from revive.runtime.film import VideoOptions
    from revive.runtime.infer import InferOptions, infer_files
    from revive.runtime.temporal import TemporalOptions

    temporal = TemporalOptions(mode=video.pop("temporal", "auto"), window=opts.window)
    options = InferOptions(batch_size=opts.batch_size, workers=opts.workers, progress=False,
                           video=VideoOptions(temporal=temporal, **video))
    shutil.rmtree(out, ignore_errors=True)
    stats = infer_files(backends, inputs, out, options)
    failed = [f"{j.source}: {j.reason}" for j in stats.jobs if j.status == "failed"]
    if failed:
        raise RuntimeError("runtime-infer failed: " + "; ".join(failed))
    return stats


def _frames_as_pngs(film: Path, folder: Path) -> int:
    """The film's gray frames, as the runtime decodes them, written as PNGs (the photo path's inputs)."""
    from revive.runtime.video import FilmReader

    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for count, (gray, _) in enumerate(FilmReader(film).frames(), 1):
        Image.fromarray(gray).save(folder / f"frame_{count:06d}.png", compress_level=1)
    return count


def throughput(backends, film: Path, frames_dir: Path, workdir: Path, opts: FlickerOptions) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"film": [], "folder": []}
    for _ in range(opts.repeats):
        for name, inputs in (("film", [film]), ("folder", [frames_dir])):
            video = {"preset": opts.preset} if opts.preset and name == "film" else {}
            stats = _infer(backends, inputs, workdir / f"speed_{name}", opts, **video)
            frames = stats.figures["frames"] if name == "film" else stats.counts["written"]
            runs[name].append({"wall_s": stats.wall_s, "frames_per_s": frames / stats.wall_s,
                               "mpx_per_s": stats.pixels / 1e6 / stats.wall_s})
    median = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    return {"runs": runs, "median": median,
            "ratio": median["film"]["frames_per_s"] / median["folder"]["frames_per_s"]}


def encoding_cost(lossless: Path, encoded: Path) -> dict[str, Any]:
    """What the throughput run's lossy film gave up: PSNR (RGB, all frames) against the same run's lossless
    (FFV1) output, and its size; the price of the --preset it was written with."""
    mse = [float(np.mean((a.astype(np.float64) - b) ** 2)) for a, b in zip(rgb_frames(lossless), rgb_frames(encoded))]
    mean = float(np.mean(mse)) if mse else float("nan")
    return {"psnr_vs_lossless": 10 * math.log10(255.0 ** 2 / mean) if mean > 0 else float("inf"),
            "bytes": encoded.stat().st_size, "frames": len(mse)}


def memory(models: list[Path], minutes: float, size: tuple[int, int], workdir: Path,
           opts: FlickerOptions) -> dict[str, Any]:
    """Part 3 of the module docstring."""
    shot = 48
    count = max(1, round(minutes * 60 * 24 / shot))
    truth = FilmTruth(size=size, shot_frames=(shot,) * count)
    film = make_film(workdir / "long_film.mp4", truth)
    command = [sys.executable, "-m", "revive.runtime.cli", str(film), "-o", str(workdir / "long_out"),
               "--no-progress", "--batch-size", str(opts.batch_size), "--workers", str(opts.workers),
               "--temporal-window", str(opts.window), "--device", opts.device]
    for model in models:
        command += ["--engine", str(model)]
    samples: list[tuple[float, int]] = []
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            rss = _rss_kib(process.pid)
            if rss:
                samples.append((time.perf_counter() - start, rss))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    stop.set()
    sampler.join()
    if process.returncode != 0 or len(samples) < 4:
        raise RuntimeError(f"the {minutes}-minute film run failed ({process.returncode}): {stderr.strip()[-300:]}")
    quarter = len(samples) // 4
    first, last = max(r for _, r in samples[:quarter]), max(r for _, r in samples[-quarter:])
    growth = (last - first) / first
    return {"minutes": minutes, "frames": truth.frames, "size": list(size), "wall_s": time.perf_counter() - start,
            "rss_mib_first_quarter_peak": first / 1024, "rss_mib_last_quarter_peak": last / 1024,
            "rss_mib_peak": max(r for _, r in samples) / 1024, "growth": growth,
            "flat": growth <= 0.10 or (last - first) <= 20 * 1024,
            "samples": [[round(t, 1), round(r / 1024, 1)] for t, r in samples[:: max(1, len(samples) // 60)]]}


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return 0


def run_flicker(opts: FlickerOptions) -> dict[str, Any]:
    from revive.runtime.backends import open_backend

    with tempfile.TemporaryDirectory(prefix="revive-bench-flicker.") as tmp:
        workdir = opts.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        truth = None if opts.video else FilmTruth(size=opts.size, shot_frames=opts.shot_frames)
        film = opts.video or make_film(workdir / "synthetic_film.mp4", truth)
        models = _models(opts, workdir)
        backends = [open_backend(m, device=opts.device, concurrency=2) for m in models]
        try:
            cards = [b.card for b in backends]
            if cards[-1].task not in ("colorize", "pipeline"):
                raise ValueError("flicker measures colour: give a colorizer (or --stand-in)")
            restores = cards[0].task in ("restore", "pipeline")
            _infer(backends, [film], workdir / "per_frame", opts, codec="ffv1", temporal="off")
            smoothed = _infer(backends, [film], workdir / "smoothed", opts, codec="ffv1")
            detected = smoothed.jobs[0].shot_starts[1:]
            cuts = truth.cuts if truth is not None else detected
            figures = compare(workdir / "per_frame" / f"{film.stem}.mkv", workdir / "smoothed" / f"{film.stem}.mkv",
                              cuts, truth if restores else None)
            frames_dir = workdir / "frames"
            _frames_as_pngs(film, frames_dir)
            speed = throughput(backends, film, frames_dir, workdir, opts)
            speed["encoding"] = encoding_cost(workdir / "smoothed" / f"{film.stem}.mkv",
                                              next((workdir / "speed_film").glob(f"{film.stem}.*")))
            width, height = Image.open(next(frames_dir.iterdir())).size
        finally:
            for backend in backends:
                backend.close()
        long_run = memory(models, opts.memory_minutes, opts.memory_size, workdir, opts) if opts.memory_minutes else None
    result = {
        "film": {"source": str(opts.video) if opts.video else "synthetic", "frames": figures["frames"],
                 "size": [width, height], "cuts": cuts, "cuts_detected": detected,
                 **({"truth": {"shot_frames": list(truth.shot_frames), "grain": truth.grain,
                               "flicker": truth.flicker, "dust_per_frame": truth.dust,
                               "scratch_column": truth.scratch}} if truth is not None else {})},
        "models": [{"path": str(m), "task": c.task, "architecture": c.architecture, "image_size": c.image_size}
                   for m, c in zip(models, cards)],
        "stand_in": opts.stand_in, **({"stand_in_gain": opts.stand_in_gain} if opts.stand_in else {}),
        "settings": {"window": opts.window, "batch_size": opts.batch_size, "workers": opts.workers,
                     "repeats": opts.repeats, "measured_as": "ffv1 (lossless)", "throughput_as": "h264 crf 18",
                     "preset": opts.preset or "runtime-infer's default"},
        **figures, "throughput": speed, **({"memory": long_run} if long_run else {}),
    }
    result["targets"] = _targets(result)
    return result


def _targets(r: dict[str, Any]) -> dict[str, Any]:
    checks = {
        "flicker_ratio": (r["chroma_flicker"]["ratio"], r["chroma_flicker"]["ratio"] <= TARGETS["flicker_ratio_max"]),
        "colourfulness_ratio": (r["colourfulness"]["ratio"],
                                r["colourfulness"]["ratio"] >= TARGETS["colourfulness_ratio_min"]),
        "throughput_ratio": (r["throughput"]["ratio"], r["throughput"]["ratio"] >= TARGETS["throughput_ratio_min"]),
        # each output's luma is its frame's own within +-1 (composite.py), so two outputs differ by at most 2
        "luma_untouched": (r["luma_max_diff"], r["luma_max_diff"] <= 2),
    }
    if r["cut_error_max"] is not None:
        checks["cut_error_max"] = (r["cut_error_max"], r["cut_error_max"] <= TARGETS["cut_error_max"])
    if "memory" in r:
        checks["memory_flat"] = (r["memory"]["growth"], r["memory"]["flat"])
    return {name: {"value": value, "passed": bool(ok)} for name, (value, ok) in checks.items()}


def flicker_markdown(data: dict[str, Any], machine_line: str, command: str) -> str:
    from .report import fmt, markdown_table

    f, c, t = data["chroma_flicker"], data["colourfulness"], data["throughput"]
    rows = [["chroma flicker inside shots (levels)", fmt(f["per_frame"], 3), fmt(f["smoothed"], 3), fmt(f["ratio"], 3)],
            ["colourfulness (Hasler-Suesstrunk M)", fmt(c["per_frame"]), fmt(c["smoothed"]), fmt(c["ratio"], 3)],
            ["frames/s (H.264 film vs PNG folder)", fmt(t["median"]["folder"]["frames_per_s"]),
             fmt(t["median"]["film"]["frames_per_s"]), fmt(t["ratio"], 3)]]
    if "encoding" in t:
        e = t["encoding"]
        rows.append(["that H.264 film: PSNR vs the lossless output (dB), MB", "",
                     f"{fmt(e['psnr_vs_lossless'])}, {e['bytes'] / 1e6:.2f}", ""])
    film = data["film"]
    stand_in = f" (stand-in colorizer: random weights, output x{data['stand_in_gain']:g})" if data["stand_in"] else ""
    text = (f"# Film colour stability\n\n{machine_line}\n\nCommand: `{command}`\n\n"
            f"Film: {film['source']}, {film['frames']} frames of {film['size'][0]}x{film['size'][1]}; cuts at "
            f"{film['cuts']} (detected: {film['cuts_detected']}); models: "
            f"{' -> '.join(m['architecture'] + ' ' + m['task'] for m in data['models'])}"
            f"{stand_in}; window "
            f"{data['settings']['window']}.\n\n"
            + markdown_table(["", "per frame / folder", "smoothed / film", "ratio"], rows)
            + f"\nColour across a cut (first frame of a shot, |smoothed - per frame|): max "
              f"{fmt(data['cut_error_max'])} levels; luminance: max |smoothed - per frame| = "
              f"{data['luma_max_diff']}.\n")
    if "damage" in data:
        d = data["damage"]
        text += (f"\nDamage left (mean |luma - undamaged|): dust {fmt(d['dust_in'])} -> {fmt(d['dust_out'])} "
                 f"levels, persistent scratch {fmt(d['scratch_in'])} -> {fmt(d['scratch_out'])}.\n")
    if "memory" in data:
        m = data["memory"]
        text += (f"\nMemory over a {m['minutes']:g}-minute film ({m['frames']} frames of {m['size'][0]}x"
                 f"{m['size'][1]}): RSS peak {fmt(m['rss_mib_first_quarter_peak'], 0)} MiB in the first quarter, "
                 f"{fmt(m['rss_mib_last_quarter_peak'], 0)} MiB in the last ({fmt(100 * m['growth'], 1)} %).\n")
    text += "\nTargets: " + ", ".join(f"{k} {fmt(v['value'], 3)} {'pass' if v['passed'] else 'FAIL'}"
                                      for k, v in data["targets"].items()) + "\n"
    return text
