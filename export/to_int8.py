"""FP32 ONNX -> INT8 QDQ ONNX: the INT8 stage, calibrated on real images (export/int8.py does the work).

Run as ``python export/to_int8.py NAME.onnx [-o NAME.int8.onnx] [--calibration sample|DIR]
[--calibration-images N] [--calibration-method minmax|percentile] [--keep MODULE,...] [--symmetric]``
or ``python -m revive.export.to_int8``;
``export/to_onnx.py CKPT --int8`` runs it in memory on the model it has just
exported. Calibration images reach the graph the way the runtime feeds it:
8-bit gray at the model's size (folders: decoded and resized by
``revive.runtime.images.decode_gray``). For restore and pipeline models the
built-in ``sample`` photos get the validation polygon damage, since damaged
photos are what those graphs see.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from revive.runtime.card import ModelCard

from revive.export.cards import save_onnx
from revive.export.formats import ExportFormat, StageError, register, run_stage
from revive.export.naming import artifacts

__all__ = ["DEFAULT_CALIBRATION_IMAGES", "Int8Options", "add_int8_options", "calibration_images", "int8_options", "main",
           "to_int8", "write_int8"]

log = logging.getLogger(__name__)
DEFAULT_CALIBRATION_IMAGES = 32
CALIBRATION_BATCH = 8

register(ExportFormat(key="int8", title="ONNX INT8 (QDQ)", precision="int8", path=lambda a: a.onnx("int8"),
                      module="revive.export.to_int8", command="python export/to_int8.py NAME.onnx",
                      runs_on="ONNX Runtime CPU provider: pix2pix, colorize, restore and pipeline models all pass "
                              "parity; TensorRT explicit INT8 (with --symmetric)"))


@dataclass(frozen=True)
class Int8Options:
    calibration: str = "sample"  # "sample" or a folder of images
    images: int = DEFAULT_CALIBRATION_IMAGES
    symmetric: bool = False  # int8 activations, zero point 0 (TensorRT); default uint8 (ORT CPU)
    keep: tuple[str, ...] = ()  # modules kept FP32: networks (restorer) or module paths (restorer.unet.decoder)
    method: str = "minmax"  # how activation ranges are read off the calibration images (int8.CALIBRATION_METHODS)


def _sample_grays(count: int, size: int, damaged: bool) -> list[np.ndarray]:
    from revive.train.data import discover, load_item

    items = discover("sample")
    picks = [items[int(i)] for i in np.linspace(0, len(items) - 1, min(count, len(items)))]
    grays = []
    for item in picks:
        gray, _ = load_item(item, size, None)
        if damaged:
            from revive.train.damage import damage, validation_rng

            gray, _ = damage(gray, validation_rng(0, item.key))
        grays.append(gray)
    return grays


def _folder_grays(folder: Path, count: int, size: int) -> list[np.ndarray]:
    from revive.runtime.images import DecodeError, decode_gray
    from revive.runtime.inputs import DEFAULT_EXTS, find_inputs

    files = [path for path, _ in find_inputs([folder], DEFAULT_EXTS)]
    picks = [files[int(i)] for i in np.linspace(0, len(files) - 1, min(count, len(files)))] if files else []
    grays = []
    for path in picks:
        try:
            grays.append(decode_gray(path, size, keep_native=False).small)
        except DecodeError as exc:
            log.warning("calibration: skipped %s: %s", path, exc)
    return grays


def calibration_images(options: Int8Options, size: int, task: str) -> np.ndarray:
    """uint8 N x 1 x S x S calibration images; StageError when there are none."""
    if options.images < 1:
        raise StageError(f"--calibration-images {options.images}: give at least 1")
    if options.calibration == "sample":
        grays = _sample_grays(options.images, size, damaged=task in ("restore", "pipeline"))
    else:
        folder = Path(options.calibration)
        if not folder.is_dir():
            raise StageError(f"--calibration {folder}: not a folder of images (or 'sample')")
        grays = _folder_grays(folder, options.images, size)
        if not grays:
            raise StageError(f"--calibration {folder}: no readable image in it")
    log.info("INT8 calibration on %d images from %s at %d px", len(grays), options.calibration, size)
    return np.stack(grays)[:, None]


def _batches(images: np.ndarray) -> Iterator[np.ndarray]:
    for i in range(0, len(images), CALIBRATION_BATCH):
        yield images[i:i + CALIBRATION_BATCH]


def to_int8(model: onnx.ModelProto, card: ModelCard, options: Int8Options) -> tuple[onnx.ModelProto, ModelCard]:
    """The INT8 QDQ twin of an FP32 model and its card (precision int8, quantization facts under build)."""
    from revive.export.int8 import quantize_int8

    images = calibration_images(options, card.image_size, card.task)
    try:
        quantized, report = quantize_int8(model, card.input.name, _batches(images), symmetric=options.symmetric,
                                          keep=options.keep, method=options.method)
    except ValueError as exc:
        raise StageError(f"cannot quantize: {exc}") from None
    import onnxruntime

    build = {**card.build, "quantization": {**report.as_dict(), "calibration": options.calibration,
                                            "calibration_images": int(len(images)),
                                            "onnxruntime": onnxruntime.__version__}}
    return quantized, card.replace(precision="int8", build=build)


def write_int8(fp32_path: str | Path, out: str | Path | None = None, options: Int8Options = Int8Options()) -> ModelCard:
    """NAME.onnx -> NAME.int8.onnx (or ``out``); returns the INT8 card."""
    from revive.export.to_fp16 import load_fp32

    model, card = load_fp32(fp32_path)
    out = Path(out) if out else artifacts(fp32_path).onnx("int8")
    if out.resolve() == Path(fp32_path).resolve():
        raise StageError(f"-o {out}: that is the FP32 input; the INT8 model goes to NAME.int8.onnx")
    quantized, int8_card = to_int8(model, card, options)
    save_onnx(quantized, int8_card, out)
    return int8_card


def _modules(text: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(",") if m.strip())


def add_int8_options(group: argparse._ActionsContainer, symmetric_flag: str, keep_flag: str) -> None:
    """The calibration flags, shared by this stage and ``to_onnx.py --int8`` (whose symmetric and keep flags
    are ``--int8-symmetric`` and ``--int8-keep``); ``int8_options`` reads them back."""
    group.add_argument("--calibration", default="sample", metavar="sample|DIR",
                       help="calibration images: the built-in sample photos or a folder (default %(default)s)")
    group.add_argument("--calibration-images", type=int, default=DEFAULT_CALIBRATION_IMAGES, metavar="N",
                       help="how many calibration images (default %(default)s)")
    group.add_argument("--calibration-method", choices=("minmax", "percentile"), default="minmax",
                       help="activation ranges: min/max seen (default), or the 99.999th percentile (finer steps, "
                            "outliers clipped; 4-5x slower to calibrate)")
    group.add_argument(symmetric_flag, dest="int8_symmetric", action="store_true",
                       help="int8 activations with zero point 0, the form TensorRT's explicit INT8 takes "
                            "(default: uint8 activations, faster on ONNX Runtime's CPU provider)")
    group.add_argument(keep_flag, dest="int8_keep", type=_modules, default=(), metavar="MODULE,...",
                       help="keep these networks (restorer, colorizer, net) or modules inside them "
                            "(restorer.unet.decoder) in FP32")


def int8_options(args: argparse.Namespace) -> Int8Options:
    return Int8Options(calibration=args.calibration, images=args.calibration_images,
                       symmetric=args.int8_symmetric, keep=args.int8_keep, method=args.calibration_method)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="to_int8", description=__doc__.splitlines()[0])
    parser.add_argument("onnx", type=Path, help="an FP32 ONNX model exported by to_onnx.py (NAME.onnx)")
    parser.add_argument("-o", "--output", type=Path, help="output (default NAME.int8.onnx beside the input)")
    add_int8_options(parser, "--symmetric", "--keep")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_stage("to_int8", build_parser(), argv, "int8",
                     lambda args, out: write_int8(args.onnx, out, int8_options(args)))


if __name__ == "__main__":
    sys.exit(main())
