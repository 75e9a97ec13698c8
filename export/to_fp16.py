"""FP32 ONNX -> FP16 ONNX: the FP16 stage (networks in FP16; uint8 I/O and colour maths in FP32).

Run as ``python export/to_fp16.py NAME.onnx [-o NAME.fp16.onnx]`` or
``python -m revive.export.to_fp16``; ``export/to_onnx.py CKPT --fp16`` runs it
on the model it has just exported, in memory. The graph conversion itself is
``revive.export.fp16.convert_to_fp16``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import onnx

from revive.runtime.card import CardError, ModelCard, read_onnx_card

from revive.export.cards import save_onnx
from revive.export.formats import ExportFormat, StageError, register, run_stage
from revive.export.naming import artifacts

__all__ = ["load_fp32", "main", "to_fp16", "write_fp16"]

log = logging.getLogger(__name__)

register(ExportFormat(key="fp16", title="ONNX FP16", precision="fp16", path=lambda a: a.onnx("fp16"),
                      module="revive.export.to_fp16", command="python export/to_fp16.py NAME.onnx",
                      runs_on="ONNX Runtime CUDA provider; TensorRT builds its engine from it"))


def to_fp16(model: onnx.ModelProto, card: ModelCard) -> tuple[onnx.ModelProto, ModelCard]:
    """The FP16 twin of an FP32 model and its card; ``model`` is left as it is."""
    from revive.export.fp16 import convert_to_fp16

    source = onnx.ModelProto()
    source.CopyFrom(model)
    return convert_to_fp16(source), card.replace(precision="fp16")


def load_fp32(path: str | Path) -> tuple[onnx.ModelProto, ModelCard]:
    """An FP32 ONNX model exported by to_onnx.py and its card; StageError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise StageError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises its own DecodeError
        raise StageError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    try:
        card = read_onnx_card(model, path)
    except CardError as exc:
        raise StageError(str(exc)) from None
    if card.precision != "fp32":
        raise StageError(f"{path}: its card says precision {card.precision}; this stage starts from the "
                         "FP32 model NAME.onnx")
    return model, card


def write_fp16(fp32_path: str | Path, out: str | Path | None = None) -> ModelCard:
    """NAME.onnx -> NAME.fp16.onnx (or ``out``); returns the FP16 card."""
    model, card = load_fp32(fp32_path)
    out = Path(out) if out else artifacts(fp32_path).onnx("fp16")
    if out.resolve() == Path(fp32_path).resolve():
        raise StageError(f"-o {out}: that is the FP32 input; the FP16 model goes to NAME.fp16.onnx")
    try:
        half, half_card = to_fp16(model, card)
    except ValueError as exc:  # the converter's refusal: a graph not exported by to_onnx.py
        raise StageError(f"{fp32_path}: cannot convert to FP16: {exc}") from None
    save_onnx(half, half_card, out)
    return half_card


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="to_fp16", description=__doc__.splitlines()[0])
    parser.add_argument("onnx", type=Path, help="an FP32 ONNX model exported by to_onnx.py (NAME.onnx)")
    parser.add_argument("-o", "--output", type=Path, help="output (default NAME.fp16.onnx beside the input)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_stage("to_fp16", build_parser(), argv, "fp16", lambda args, out: write_fp16(args.onnx, out))


if __name__ == "__main__":
    sys.exit(main())
