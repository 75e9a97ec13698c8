"""Checkpoint -> ONNX: uint8 gray in, uint8 pictures out, dynamic batch, model card inside.

Run as ``python export/to_onnx.py CKPT [-o NAME.onnx] [--fp16] [--int8 ...]`` or
``python -m revive.export.to_onnx``. The checkpoint's family (train/families/) names
the graph: a ``colorize`` checkpoint -> rgb; ``restore`` -> restored + mask. A restorer and a colorizer
fuse into one ``pipeline`` graph (rgb, restored, mask) with
``python export/to_onnx.py --pipeline RESTORE_CKPT COLORIZE_CKPT [-o NAME.onnx] [--fp16] [--int8
[--int8-keep restorer]]``.

Files follow the naming rule (export/naming.py): NAME.onnx is always the FP32
model; ``--fp16`` adds NAME.fp16.onnx and ``--int8`` NAME.int8.onnx, both made
in memory from the FP32 model just exported (export/to_fp16.py, export/to_int8.py).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import onnx
import torch

from revive.runtime.card import ModelCard
from revive.runtime.errors import UserError, parse_args, report
from revive.runtime.files import clash
from revive.train.checkpoint import CheckpointError, build_model, file_sha256, load_checkpoint
from revive.train.families import family_of_checkpoint, get_family, list_families, load_hook

from revive.export.cards import batch_range, make_card, save_onnx
from revive.export.formats import ExportFormat, StageError, register
from revive.export.graph import PipelineGraph
from revive.export.naming import Artifacts, artifacts, precision_tag
from revive.export.to_int8 import Int8Options, add_int8_options, int8_options

__all__ = ["DEFAULT_OPSET", "ExportError", "check_outputs", "export_checkpoint", "export_graph", "export_pipeline",
           "main", "onnx_model", "output_artifacts", "pipeline_graph"]

log = logging.getLogger(__name__)
DEFAULT_OPSET = 18
DEFAULT_MAX_BATCH = 64

register(ExportFormat(key="onnx", title="ONNX FP32", precision="fp32", path=lambda a: a.onnx(),
                      module="revive.export.to_onnx", command="python export/to_onnx.py CKPT",
                      runs_on="ONNX Runtime CPU or CUDA provider"))


class ExportError(UserError, ValueError):
    """An export that cannot be done as asked (an output over an input, a bad option)."""


def check_outputs(outputs: list[Path], sources: list[str | Path]) -> None:
    """Refuse outputs that would replace a source checkpoint, or that name a folder."""
    found = clash(outputs, [Path(s) for s in sources])
    if found is not None:
        raise ExportError(f"{found[0]}: the output would overwrite the input {found[1]}; give another -o")
    for out in outputs:
        if out.is_dir():
            raise ExportError(f"{out}: the output is a folder; give a file name ending in .onnx")


def _load(path: str | Path, task: str | None = None) -> tuple[torch.nn.Module, dict]:
    payload = load_checkpoint(path)
    config = payload["config"]
    if task is not None and config.get("task", "colorize") != task:
        raise CheckpointError(f"{path}: a {config.get('task', 'colorize')!r} checkpoint where a {task!r} "
                              "checkpoint is needed")
    if config.get("color_space") not in ("rgb", "lab"):
        raise CheckpointError(f"{path}: config color_space {config.get('color_space')!r} is not rgb or lab")
    size = config.get("image_size")
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 8192:
        raise CheckpointError(f"{path}: config image_size {size!r} is not a whole number within 8..8192")
    return build_model(config, payload["model"], path).eval(), config


def graph_from_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """A checkpoint's network wrapped into the export graph its family names, and the card fields it implies."""
    net, config = _load(path)
    task = config.get("task", "colorize")
    family = family_of_checkpoint(config)
    if family is None:
        known = sorted({get_family(n).checkpoint[1] for n in list_families() if get_family(n).checkpoint})
        raise CheckpointError(f"{path}: task {task!r} has no exporter (known: {', '.join(known)})")
    wrapper = load_hook(family.graph)
    graph = wrapper.from_checkpoint(net, config).eval()
    fields = dict(task=task, architecture=config["architecture"], color_space=config["color_space"],
                  image_size=int(config["image_size"]), output_roles=list(wrapper.output_roles),
                  checkpoint_sha256=file_sha256(path))
    return graph, fields


def pipeline_graph(restore_ckpt: str | Path, colorize_ckpt: str | Path) -> tuple[torch.nn.Module, dict]:
    """A restorer and a colorizer fused into one graph, and its card fields."""
    restorer, rconfig = _load(restore_ckpt, "restore")
    colorizer, cconfig = _load(colorize_ckpt, "colorize")
    if int(rconfig["image_size"]) != int(cconfig["image_size"]):
        raise CheckpointError(f"restorer {restore_ckpt} works at {rconfig['image_size']} px and colorizer "
                              f"{colorize_ckpt} at {cconfig['image_size']} px: a fused pipeline needs one size "
                              "(export them separately and chain them with runtime-infer --engine twice)")
    graph = PipelineGraph.from_checkpoints(restorer, colorizer, cconfig).eval()
    fields = dict(task="pipeline", architecture=f"{rconfig['architecture']}+{cconfig['architecture']}",
                  color_space=cconfig["color_space"], image_size=int(cconfig["image_size"]),
                  output_roles=list(PipelineGraph.output_roles),
                  checkpoint_sha256={"restore": file_sha256(restore_ckpt), "colorize": file_sha256(colorize_ckpt)})
    return graph, fields


def onnx_model(graph: torch.nn.Module, card: ModelCard) -> onnx.ModelProto:
    """Export a uint8-in/uint8-out graph with a dynamic batch (in memory; the card is set on save)."""
    s, max_batch = card.image_size, card.batch["max"]
    example = torch.randint(0, 256, (2, 1, s, s), dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    with torch.no_grad():
        program = torch.onnx.export(
            graph, (example,), dynamo=True, input_names=[card.input.name],
            output_names=[o.name for o in card.outputs], dynamic_shapes={"gray": {0: batch}},
            opset_version=card.opset, external_data=False, verbose=False,
        )
    return program.model_proto


def export_graph(graph: torch.nn.Module, card: ModelCard, out: str | Path) -> ModelCard:
    """Export a graph and write it to ``out`` with its card."""
    save_onnx(onnx_model(graph, card), card, out)
    return card


def quiet_exporter_logs() -> None:
    """The exporter's graph passes log every deduplicated initializer at INFO: keep them out of the way."""
    for name in ("onnx_ir", "onnxscript"):
        logging.getLogger(name).setLevel(logging.WARNING)


def output_artifacts(out: str | Path, *, fp16: bool = False, int8: bool = False) -> Artifacts:
    """The artifacts ``-o`` names: NAME.onnx (or NAME.fp16.onnx with --fp16, NAME.int8.onnx with --int8)."""
    tag = precision_tag(out)
    if tag is None:
        raise StageError(f"-o {out}: ONNX models are named NAME.onnx")
    if (tag == "fp16" and not fp16) or (tag == "int8" and not int8):
        raise StageError(f"-o {out}: that is the name of the {tag} model; give the FP32 name NAME.onnx "
                         f"(--{tag} writes NAME.{tag}.onnx beside it)")
    return artifacts(out)


def export_checkpoint(ckpt: str | Path, out: str | Path, *, fp16: bool = False, int8: Int8Options | None = None,
                      opset: int = DEFAULT_OPSET, max_batch: int = DEFAULT_MAX_BATCH) -> ModelCard:
    """Checkpoint -> NAME.onnx (FP32), plus NAME.fp16.onnx and NAME.int8.onnx when asked; the FP32 card."""
    names = output_artifacts(out, fp16=fp16, int8=int8 is not None)
    graph, fields = graph_from_checkpoint(ckpt)
    return _export(graph, fields, names, fp16=fp16, int8=int8, opset=opset, max_batch=max_batch)


def export_pipeline(restore_ckpt: str | Path, colorize_ckpt: str | Path, out: str | Path, *, fp16: bool = False,
                    int8: Int8Options | None = None, opset: int = DEFAULT_OPSET,
                    max_batch: int = DEFAULT_MAX_BATCH) -> ModelCard:
    """Restorer + colorizer checkpoints -> one fused ``pipeline`` ONNX (variants as in ``export_checkpoint``)."""
    names = output_artifacts(out, fp16=fp16, int8=int8 is not None)
    graph, fields = pipeline_graph(restore_ckpt, colorize_ckpt)
    return _export(graph, fields, names, fp16=fp16, int8=int8, opset=opset, max_batch=max_batch)


def _export(graph: torch.nn.Module, fields: dict, names: Artifacts, *, fp16: bool, int8: Int8Options | None,
            opset: int, max_batch: int) -> ModelCard:
    card = make_card(**fields, batch=batch_range(max_batch), precision="fp32", opset=opset)
    model = onnx_model(graph, card)
    _wrote(save_onnx(model, card, names.onnx()), card)
    if fp16:
        from revive.export.to_fp16 import to_fp16

        half, half_card = to_fp16(model, card)
        _wrote(save_onnx(half, half_card, names.onnx("fp16")), half_card)
    if int8 is not None:
        from revive.export.to_int8 import to_int8

        quantized, int8_card = to_int8(model, card, int8)
        _wrote(save_onnx(quantized, int8_card, names.onnx("int8")), int8_card)
    return card


def _wrote(path: Path, card: ModelCard) -> None:
    log.info("wrote %s (%s %s, %s, batch %d..%d)", path, card.task, card.architecture, card.precision,
             card.batch["min"], card.batch["max"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="to_onnx", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", help="a revive checkpoint (.pt)")
    parser.add_argument("--pipeline", nargs=2, metavar=("RESTORE_CKPT", "COLORIZE_CKPT"),
                        help="fuse a restorer and a colorizer into one 'pipeline' graph (rgb, restored, mask)")
    parser.add_argument("-o", "--output", help="the FP32 model NAME.onnx (default: beside the checkpoint, named "
                                               "after it); variants go beside it as NAME.fp16.onnx, NAME.int8.onnx")
    parser.add_argument("--fp16", action="store_true",
                        help="also write NAME.fp16.onnx (networks in FP16, I/O and colour maths unchanged)")
    group = parser.add_argument_group("INT8 (export/to_int8.py)")
    group.add_argument("--int8", action="store_true",
                       help="also write NAME.int8.onnx: QDQ INT8 networks calibrated on real images "
                            "(uint8 I/O and colour maths in FP32)")
    add_int8_options(group, "--int8-symmetric", "--int8-keep")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default %(default)s)")
    parser.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                        help="largest batch the graph accepts (default %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if bool(args.checkpoint) == bool(args.pipeline):
        return report("to_onnx", ExportError("give one checkpoint, or --pipeline RESTORE_CKPT COLORIZE_CKPT"))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    quiet_exporter_logs()
    int8 = int8_options(args) if args.int8 else None
    try:
        if args.max_batch < 1:
            raise ExportError(f"--max-batch {args.max_batch}: must be at least 1")
        sources = list(args.pipeline) if args.pipeline else [args.checkpoint]
        if args.pipeline:
            restore, colorize = args.pipeline
            out = Path(args.output) if args.output else Path(colorize).with_name("pipeline.onnx")
        else:
            out = Path(args.output) if args.output else artifacts(args.checkpoint).onnx()
        names = output_artifacts(out, fp16=args.fp16, int8=int8 is not None)
        precisions = ["fp32"] + (["fp16"] if args.fp16 else []) + (["int8"] if int8 is not None else [])
        check_outputs([names.onnx(p) for p in precisions], sources)
        if args.pipeline:
            export_pipeline(restore, colorize, out, fp16=args.fp16, int8=int8, opset=args.opset,
                            max_batch=args.max_batch)
        else:
            export_checkpoint(args.checkpoint, out, fp16=args.fp16, int8=int8, opset=args.opset,
                              max_batch=args.max_batch)
    except UserError as exc:
        return report("to_onnx", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
