"""Exported models -> a model repository for the official Triton Inference Server container.

Run as ``python export/to_triton.py MODEL... -o REPO`` or ``python -m revive.export.to_triton``.

Everything comes from each model's card: per model ``REPO/NAME/config.pbtxt`` (platform
``onnxruntime_onnx`` for ``.onnx``, ``tensorrt_plan`` for ``.engine``/``.plan``; ``max_batch_size`` and the
tensors' names and dims; ``dynamic_batching`` with the card's opt and max batch as preferred sizes;
``instance_group``), the model as ``REPO/NAME/1/model.onnx`` or ``model.plan``, and its card beside it as
``model.card.json`` (so ``revive-serve --engine REPO/NAME/1/model.plan`` reads it too). NAME is the card's
task (restore, colorize, pipeline) unless ``--names`` says otherwise. A restore model and a colorize model of
the same size also get ``REPO/ENSEMBLE`` (``--ensemble``, default restore_colorize): input ``gray``, the
restorer's ``restored`` fed to the colorizer, outputs ``restored``, ``mask`` and ``rgb``. The graphs do
the per-pixel work; a client still decodes, resizes to S x S and composites (revive-serve does all that).

Each config is written from tritonclient's own schema (``tritonclient.grpc.model_config_pb2``) and parsed
back with ``google.protobuf.text_format`` before anything is written.

Exit status: 0 written; 2 a user error (bad model, card, name clash, an existing folder without
``--force``, tritonclient missing), one line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from revive.runtime.backends import BackendError
from revive.runtime.card import CardError, ModelCard, read_card
from revive.runtime.files import write_atomic

from revive.export.formats import ExportFormat, register

__all__ = ["build_parser", "ensemble_config", "main", "model_config", "parse_config", "write_repository"]

log = logging.getLogger("revive.export.to_triton")
# Model-file suffix -> (Triton platform, file name Triton looks for in the version folder).
PLATFORMS = {".onnx": ("onnxruntime_onnx", "model.onnx"), ".engine": ("tensorrt_plan", "model.plan"),
             ".plan": ("tensorrt_plan", "model.plan")}
KINDS = {"auto": "KIND_AUTO", "cpu": "KIND_CPU", "gpu": "KIND_GPU"}

# The repository goes where -o says, one folder per model (NAME = the card's task unless --names).
register(ExportFormat(key="triton", title="Triton model repository", precision=None,
                      path=lambda a: Path("REPO") / "TASK" / "1" / "model.{onnx,plan}", module="revive.export.to_triton",
                      command="python export/to_triton.py MODEL... -o REPO",
                      runs_on="Triton Inference Server; revive-serve"))


class RepositoryError(ValueError):
    """Models or options that cannot make a repository: the message is the reason shown to the user."""


def _schema():
    try:
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        raise RepositoryError("tritonclient is not installed: pip install 'revive[serve]'") from None
    return model_config_pb2


def _dims(shape: list) -> list[int]:
    return [int(d) for d in shape[1:]]  # without the batch dimension: Triton adds it (max_batch_size > 0)


def model_config(name: str, card: ModelCard, platform: str, *, max_batch: int | None, delay_us: int,
                 instances: int, kind: str):
    """The ``ModelConfig`` message of one model, from its card."""
    pb = _schema()
    if card.batch["min"] > 1:
        raise RepositoryError(f"{name}: built for batches {card.batch['min']}..{card.batch['max']}; Triton sends "
                              "batches from 1 up: rebuild it with --min-batch 1")
    if platform == "tensorrt_plan" and kind == "cpu":
        raise RepositoryError(f"{name}: a TensorRT engine runs on a GPU only (--kind gpu or auto)")
    top = min(card.batch["max"], max_batch or card.batch["max"])
    config = pb.ModelConfig(name=name, platform=platform, max_batch_size=top)
    for spec in card.inputs:
        config.input.add(name=spec.name, data_type=pb.TYPE_UINT8, dims=_dims(spec.shape))
    for spec in card.outputs:
        config.output.add(name=spec.name, data_type=pb.TYPE_UINT8, dims=_dims(spec.shape))
    preferred = sorted({min(card.batch["opt"], top), top})
    config.dynamic_batching.preferred_batch_size.extend(preferred)
    config.dynamic_batching.max_queue_delay_microseconds = delay_us
    group_kind = "KIND_GPU" if platform == "tensorrt_plan" else KINDS[kind]
    config.instance_group.add(count=instances, kind=getattr(pb.ModelInstanceGroup, group_kind))
    return config


def ensemble_config(name: str, models: dict[str, ModelCard]):
    """Restore then colorize: the restorer's ``restored`` output is the colorizer's input."""
    pb = _schema()
    (restore_name, restore), (colorize_name, colorize) = models.items()
    if restore.image_size != colorize.image_size:
        raise RepositoryError(f"{name}: the restorer is {restore.image_size} px and the colorizer "
                              f"{colorize.image_size} px; an ensemble cannot resize between them "
                              "(revive-serve can: it serves any pair)")
    config = pb.ModelConfig(name=name, platform="ensemble",
                            max_batch_size=min(restore.batch["max"], colorize.batch["max"]))
    gray = restore.input
    config.input.add(name="gray", data_type=pb.TYPE_UINT8, dims=_dims(gray.shape))
    for role, card in (("restored", restore), ("mask", restore), ("rgb", colorize)):
        config.output.add(name=role, data_type=pb.TYPE_UINT8, dims=_dims(card.output(role).shape))
    first = config.ensemble_scheduling.step.add(model_name=restore_name, model_version=-1)
    first.input_map[gray.name] = "gray"
    first.output_map[restore.output("restored").name] = "restored"
    first.output_map[restore.output("mask").name] = "mask"
    second = config.ensemble_scheduling.step.add(model_name=colorize_name, model_version=-1)
    second.input_map[colorize.input.name] = "restored"
    second.output_map[colorize.output("rgb").name] = "rgb"
    return config


def parse_config(text: str):
    """Parse ``config.pbtxt`` text with tritonclient's schema (raises on any unknown or malformed field)."""
    from google.protobuf import text_format

    return text_format.Parse(text, _schema().ModelConfig())


def _config_text(config) -> str:
    from google.protobuf import text_format

    text = text_format.MessageToString(config)
    if parse_config(text) != config:
        raise RuntimeError(f"{config.name}: config.pbtxt does not parse back to the same config")
    return text


def write_repository(models: list[Path], repo: Path, *, names: list[str] | None = None, max_batch: int | None = None,
                     delay_us: int = 2000, instances: int = 1, kind: str = "auto", ensemble: str = "restore_colorize",
                     force: bool = False) -> list[str]:
    """Write the repository; returns the model names written (the ensemble last)."""
    cards = [read_card(path) for path in models]
    names = names or [card.task for card in cards]
    if len(names) != len(models):
        raise RepositoryError(f"--names gives {len(names)} names for {len(models)} models")
    if len(set(names)) != len(names):
        raise RepositoryError(f"two models would both be named {sorted(n for n in names if names.count(n) > 1)[0]!r}; "
                              "give --names")
    files: dict[Path, bytes | Path] = {}
    for path, card, name in zip(models, cards, names):
        if path.suffix not in PLATFORMS:
            raise RepositoryError(f"{path}: unknown model type {path.suffix!r}; expected .onnx, .engine or .plan")
        platform, filename = PLATFORMS[path.suffix]
        config = model_config(name, card, platform, max_batch=max_batch, delay_us=delay_us, instances=instances,
                              kind=kind)
        files[repo / name / "config.pbtxt"] = _config_text(config).encode()
        files[repo / name / "1" / filename] = path
        files[repo / name / "1" / "model.card.json"] = card.to_json().encode()
    tasks = [card.task for card in cards]
    if "restore" in tasks and "colorize" in tasks:
        pair = {names[tasks.index(t)]: cards[tasks.index(t)] for t in ("restore", "colorize")}
        if ensemble in names:
            raise RepositoryError(f"the ensemble's name {ensemble!r} is a model's name too; give --ensemble")
        files[repo / ensemble / "config.pbtxt"] = _config_text(ensemble_config(ensemble, pair)).encode()
        names = [*names, ensemble]
    existing = [repo / name for name in names if (repo / name).exists()]
    if existing and not force:
        raise RepositoryError(f"{existing[0]} exists; pass --force to replace it")
    for name in names:
        shutil.rmtree(repo / name, ignore_errors=True)
        (repo / name / "1").mkdir(parents=True)  # an ensemble needs its (empty) version folder too
    for target, content in files.items():
        if isinstance(content, Path):
            _copy_atomic(content, target)
        else:
            write_atomic(target, content)
    return names


def _copy_atomic(source: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="to_triton", description=__doc__.splitlines()[0],
                                epilog=__doc__.split("\n\n", 1)[1].split("\n\nExit")[0])
    p.add_argument("models", nargs="+", type=Path, metavar="MODEL", help=".onnx, .engine or .plan with a card")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="REPO", help="model repository folder")
    p.add_argument("--names", help="comma-separated model names, one per MODEL (default: each card's task)")
    p.add_argument("--ensemble", default="restore_colorize", help="name of the restore+colorize ensemble "
                                                                   "(default %(default)s)")
    p.add_argument("--max-batch", type=int, help="max_batch_size (default: the card's max batch)")
    p.add_argument("--max-queue-delay-us", type=int, default=2000, help="dynamic batcher delay (default %(default)s)")
    p.add_argument("--instances", type=int, default=1, help="instance_group count (default %(default)s)")
    p.add_argument("--kind", choices=tuple(KINDS), default="auto",
                   help="instance kind of ONNX models; engines are always GPU (default %(default)s)")
    p.add_argument("--force", action="store_true", help="replace the models' folders when they exist")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for flag, value in (("max-batch", args.max_batch or 1), ("instances", args.instances),
                        ("max-queue-delay-us", args.max_queue_delay_us + 1)):
        if value < 1:
            print(f"to_triton: --{flag} is too small", file=sys.stderr)
            return 2
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    try:
        for path in args.models:
            if not path.is_file():
                raise RepositoryError(f"{path}: no such model file")
        written = write_repository(args.models, args.output, names=names, max_batch=args.max_batch,
                                   delay_us=args.max_queue_delay_us, instances=args.instances, kind=args.kind,
                                   ensemble=args.ensemble, force=args.force)
    except (RepositoryError, CardError, BackendError) as exc:
        print(f"to_triton: {exc}", file=sys.stderr)
        return 2
    log.info("wrote %s: %s", args.output, ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
