"""The models that ship inside the package, named ``builtin:NAME`` wherever a model path is accepted.

``pip install revive`` carries a restorer and a colorizer (ONNX files with their cards, package data
beside this module), so a user can point ``runtime-infer`` at a folder of photos before training
anything. ``resolve_model`` is the one place a model argument becomes a file: ``builtin:restore`` ->
the bundled file, anything else -> ``Path(spec)`` unchanged. The backends call it (through
``check_model_path``), so ``--engine``, revive-serve and ``--ray`` all accept the names.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError

__all__ = ["BUILTIN_PREFIX", "DEFAULT_ROUTE", "BuiltinModelError", "builtin_names", "builtin_path", "default_models",
           "describe_builtin", "is_builtin", "resolve_model"]

BUILTIN_PREFIX = "builtin:"
# name -> file beside this module
_FILES = {"restore": "restore.onnx", "colorize": "colorize.onnx"}
# What runtime-infer runs when no --engine is given: restore, then colorize.
DEFAULT_ROUTE = ("restore", "colorize")
_HERE = Path(__file__).resolve().parent


class BuiltinModelError(UserError, ValueError):
    """A ``builtin:`` name that is unknown, or whose file is missing from this installation."""


def builtin_names() -> list[str]:
    return list(_FILES)


def is_builtin(spec: str | Path) -> bool:
    return str(spec).startswith(BUILTIN_PREFIX)


def builtin_path(name: str) -> Path:
    """The bundled file for ``name`` (``restore``, ``colorize``); BuiltinModelError when it is not there."""
    if name not in _FILES:
        raise BuiltinModelError(f"{BUILTIN_PREFIX}{name}: no such bundled model (bundled: "
                                f"{', '.join(BUILTIN_PREFIX + n for n in _FILES)})")
    path = _HERE / _FILES[name]
    if not path.is_file():
        raise BuiltinModelError(f"{BUILTIN_PREFIX}{name}: the bundled file {path} is missing from this "
                                "installation; reinstall revive, or give a model file with --engine")
    return path


def resolve_model(spec: str | Path) -> Path:
    """A model argument as a file path: ``builtin:NAME`` -> the bundled file; anything else as given."""
    if is_builtin(spec):
        return builtin_path(str(spec)[len(BUILTIN_PREFIX):])
    return Path(spec)


def default_models() -> list[Path]:
    """The bundled restore and colorize files, in the order runtime-infer runs them without --engine."""
    return [builtin_path(name) for name in DEFAULT_ROUTE]


def _figure_lines(name: str, figures: dict) -> list[str]:
    """The measured figures a card's provenance carries, as the lines ``--list-models`` prints."""
    if name == "restore":
        lines = []
        fill, other = figures.get("fill", "model"), figures.get("other_fill", "classical")
        for key, label in (("revive", f"network mask, --fill {fill} (the default)"),
                           ("revive_other_fill", f"network mask, --fill {other}"),
                           ("classical", "classical (median difference + Telea)"),
                           ("revive_mask_telea", "network mask + Telea fill")):
            if key in figures:
                f = figures[key]
                lines.append(f"{label}: mask IoU {f['mask_iou']:.3f}, damaged-region MAE {f['mae_damaged_output']:.2f} "
                             f"levels (input {f['mae_damaged_input']:.2f}), undamaged change {f['change_undamaged']:.3f}")
        if "mae_vs_classical" in figures:
            lines.append(f"damaged-region MAE {figures['mae_vs_classical']:.2f}x the classical method's")
        per_cpu = f", {figures['mpx_per_cpu_s']} Mpx per CPU-second" if "mpx_per_cpu_s" in figures else ""
        lines.append(f"speed through runtime-infer: {figures.get('mpx_per_s')} Mpx/s of input{per_cpu} (tiles, on "
                     "the recipe's machine as loaded then)")
        return [f"{figures.get('set', '')}, {figures.get('images')} scans, {figures.get('megapixels')} Mpx:", *lines]
    return [f"held-out photos: PSNR {figures['psnr']:.2f} dB (gray input {figures['psnr_gray']:.2f}), "
            f"colour similarity {figures['color_similarity']:.3f} (gray input {figures['color_similarity_gray']:.3f})"]


def _stage_order(item: tuple[str, dict]) -> tuple[int, str]:
    """Stages in the order they were trained (a card's JSON keeps its keys sorted)."""
    order = ("restore", "precision", "colorize")
    return (order.index(item[0]) if item[0] in order else len(order), item[0])


def _resumed(made: dict) -> str:
    if "resumed_from" in made:
        return f" ({made['wall_s_note']}: resumed from {made['resumed_from']})"
    return f" ({made['wall_s_note']})" if "wall_s_note" in made else ""


def describe_builtin() -> list[str]:
    """What ``runtime-infer --list-models`` prints: each bundled model, its card's facts and measured figures."""
    from ..card import CardError, read_card

    lines = []
    for name in _FILES:
        try:
            path = builtin_path(name)
            card = read_card(path)
        except (BuiltinModelError, CardError) as exc:
            lines += [f"{BUILTIN_PREFIX}{name}: not available ({exc})", ""]
            continue
        made = card.provenance
        lines += [f"{BUILTIN_PREFIX}{name}  {path} ({path.stat().st_size / 1e6:.1f} MB)",
                  f"  {card.task} model, {card.architecture}, {card.image_size} px {card.color_space if name == 'colorize' else 'tiles'}, "
                  f"{card.precision}, batch {card.batch['min']}..{card.batch['max']}, opset {card.opset}"]
        if made:
            lines += [f"  made by: {made.get('command')} at commit {made.get('commit')} ({made.get('made')})",
                      f"  data: {made.get('data')}",
                      f"  {made.get('steps')} steps, {made.get('wall_s')} s wall, {made.get('cpu_s')} CPU s on "
                      f"{made.get('machine', {}).get('cpus')} x {made.get('machine', {}).get('cpu')}"
                      + _resumed(made)]
            if made.get("stages"):
                stages = sorted(made["stages"].items(), key=_stage_order)
                lines.append("  stages: " + "; ".join(f"{stage} {done.get('steps')} steps, {done.get('wall_s')} s"
                                                       + _resumed(done) for stage, done in stages))
            lines += [f"  {line}" for line in _figure_lines(name, made.get("figures", {}))]
        lines.append("")
    return lines
