"""The model card: the contract between export and runtime.

Every exported artifact carries one: inside an ONNX file as ``metadata_props``
(key ``revive.card``), beside an engine as ``<name>.card.json``. The runtime
reads it and needs no other flag to run a model correctly, so anything that
changes how pixels must be fed or read back belongs here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError

__all__ = [
    "CARD_FORMAT",
    "CARD_KEY",
    "CARD_VERSION",
    "DEFAULT_BATCH_SIZE",
    "CardError",
    "ModelCard",
    "TensorSpec",
    "card_from_onnx_metadata",
    "card_path_for_engine",
    "read_card",
    "read_onnx_card",
    "write_card_json",
]

CARD_FORMAT = "revive-model-card"
CARD_VERSION = 1
CARD_KEY = "revive.card"
TASKS = ("restore", "colorize", "pipeline")
COLOR_SPACES = ("rgb", "lab")
PRECISIONS = ("fp32", "fp16", "int8")
# The batch a model is tuned for (its card's "opt") and runs at unless told otherwise: large enough to
# fill a GPU with a 256-px U-Net, small enough for the host to keep up.
DEFAULT_BATCH_SIZE = 32
# What the runtime does with each output, by role, and the channels each role has.
OUTPUT_ROLES = ("rgb", "restored", "mask")
ROLE_CHANNELS = {"gray": 1, "rgb": 3, "restored": 1, "mask": 1}
# Bounds that keep a hostile or corrupt card from asking for absurd memory (S x S x batch buffers).
MAX_IMAGE_SIZE = 8192
MAX_BATCH = 4096


class CardError(UserError, ValueError):
    """A model card is missing, unreadable, or says something the runtime cannot honour."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    role: str  # "gray" for the input; one of OUTPUT_ROLES for outputs
    dtype: str  # always "uint8" for revive graphs
    shape: list[int | str]  # NCHW, the batch dimension symbolic ("batch")

    @property
    def channels(self) -> int:
        return int(self.shape[1])


@dataclass(frozen=True)
class ModelCard:
    task: str
    architecture: str
    color_space: str
    image_size: int
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    batch: dict[str, int]  # {"min", "opt", "max"}
    precision: str
    opset: int
    checkpoint_sha256: str | dict[str, str] = ""
    producer: dict[str, str] = field(default_factory=dict)
    # Backend-specific facts (TensorRT version, GPU, ONNX sha256, profile).
    build: dict[str, Any] = field(default_factory=dict)
    # How the weights were made and how good they are (the bundled models: recipe, data, steps, wall and CPU
    # time, commit, measured figures); plain data for people and --list-models, never read to run the model.
    provenance: dict[str, Any] = field(default_factory=dict)
    layout: str = "NCHW"
    format: str = CARD_FORMAT
    version: int = CARD_VERSION

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise CardError("; ".join(problems))

    @property
    def input(self) -> TensorSpec:
        return self.inputs[0]

    def output(self, role: str) -> TensorSpec | None:
        return next((o for o in self.outputs if o.role == role), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        missing = [k for k in ("task", "architecture", "color_space", "image_size", "inputs", "outputs",
                               "batch", "precision", "opset") if k not in data]
        if missing:
            raise CardError(f"model card lacks {', '.join(missing)}")
        known = set(cls.__dataclass_fields__)
        fields = {k: v for k, v in data.items() if k in known}
        for key in ("inputs", "outputs"):
            if not isinstance(data[key], list) or not all(isinstance(t, dict) for t in data[key]):
                raise CardError(f"model card: {key} must be a list of tensor objects")
        if not isinstance(data["batch"], dict):
            raise CardError("model card: batch must be an object with min, opt and max")
        try:
            fields["inputs"] = [TensorSpec(**t) for t in data["inputs"]]
            fields["outputs"] = [TensorSpec(**t) for t in data["outputs"]]
        except TypeError as exc:
            raise CardError(f"model card has a malformed tensor entry: {exc}") from None
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CardError(f"model card is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise CardError("model card is not a JSON object")
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> ModelCard:
        return ModelCard.from_dict({**self.to_dict(), **changes})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problems(card: ModelCard) -> list[str]:
    """Every way ``card`` is malformed or asks for something the runtime cannot honour (types and ranges)."""
    problems = []
    if card.format != CARD_FORMAT:
        problems.append(f"format is {card.format!r}, expected {CARD_FORMAT!r}")
    if card.version != CARD_VERSION:
        problems.append(f"card version {card.version!r} (this runtime reads version {CARD_VERSION})")
    if card.task not in TASKS:
        problems.append(f"task {card.task!r} is not one of {', '.join(TASKS)}")
    if not isinstance(card.architecture, str) or not card.architecture:
        problems.append(f"architecture {card.architecture!r} is not a name")
    if card.color_space not in COLOR_SPACES:
        problems.append(f"color_space {card.color_space!r} is not one of {', '.join(COLOR_SPACES)}")
    if card.precision not in PRECISIONS:
        problems.append(f"precision {card.precision!r} is not one of {', '.join(PRECISIONS)}")
    if card.layout != "NCHW":
        problems.append(f"layout {card.layout!r} (only NCHW is supported)")
    if not _is_int(card.opset) or not 0 <= card.opset <= 100:  # 0: not an ONNX graph (eager PyTorch)
        problems.append(f"opset {card.opset!r} is not a whole number within 0..100")
    size_ok = _is_int(card.image_size) and 8 <= card.image_size <= MAX_IMAGE_SIZE
    if not size_ok:
        problems.append(f"image_size {card.image_size!r} is not a whole number within 8..{MAX_IMAGE_SIZE}")
    for what, value in (("producer", card.producer), ("build", card.build), ("provenance", card.provenance)):
        if not isinstance(value, dict):
            problems.append(f"{what} must be an object")
    if not isinstance(card.checkpoint_sha256, (str, dict)):
        problems.append("checkpoint_sha256 must be a string or an object")
    specs_ok = True
    for spec in [*card.inputs, *card.outputs]:
        problem = _spec_problem(spec, card.image_size if size_ok else None)
        if problem:
            problems.append(problem)
            specs_ok = False
    if specs_ok:
        if len(card.inputs) != 1 or card.inputs[0].role != "gray":
            problems.append("expected exactly one input with role 'gray' and 1 channel")
        roles = [o.role for o in card.outputs]
        unknown = [r for r in roles if r not in OUTPUT_ROLES]
        if unknown:
            problems.append(f"unknown output roles {unknown} (known: {', '.join(OUTPUT_ROLES)})")
        if len(set(roles)) != len(roles):
            problems.append(f"output roles {roles} repeat")
        if card.task in ("colorize", "pipeline") and "rgb" not in roles:
            problems.append(f"a {card.task} model must have an 'rgb' output")
        if card.task in ("restore", "pipeline") and not {"restored", "mask"} <= set(roles):
            problems.append(f"a {card.task} model must have 'restored' and 'mask' outputs")
        names = [spec.name for spec in [*card.inputs, *card.outputs]]
        if len(set(names)) != len(names):
            problems.append(f"tensor names {names} repeat")
    batch = card.batch
    if not isinstance(batch, dict) or not {"min", "opt", "max"} <= set(batch):
        problems.append("batch must give min, opt and max")
    elif not all(_is_int(batch[k]) for k in ("min", "opt", "max")):
        problems.append(f"batch {batch} must hold whole numbers")
    elif not 1 <= batch["min"] <= batch["opt"] <= batch["max"] <= MAX_BATCH:
        problems.append(f"batch range {batch} is not 1 <= min <= opt <= max <= {MAX_BATCH}")
    return problems


def _spec_problem(spec: TensorSpec, image_size: int | None) -> str:
    """What is wrong with one tensor entry ('' if nothing): name, role, dtype and an N x C x S x S shape."""
    if not isinstance(spec.name, str) or not spec.name:
        return f"tensor name {spec.name!r} is not a name"
    where = f"tensor {spec.name!r}"
    if not isinstance(spec.role, str):
        return f"{where}: role {spec.role!r} is not a name"
    if spec.dtype != "uint8":
        return f"{where} has dtype {spec.dtype!r} (revive graphs use uint8 I/O)"
    shape = spec.shape
    if not isinstance(shape, list) or len(shape) != 4:
        return f"{where}: shape {shape!r} is not N x C x H x W"
    n, c, h, w = shape
    if not (isinstance(n, str) or (_is_int(n) and n >= 1)):
        return f"{where}: batch dimension {n!r} is neither a name nor a positive number"
    channels = ROLE_CHANNELS.get(spec.role)
    if not _is_int(c) or (channels is not None and c != channels):
        return f"{where}: {c!r} channels where role {spec.role!r} has {channels}"
    if image_size is not None and (h, w) != (image_size, image_size):
        return f"{where}: spatial size {h!r} x {w!r} differs from image_size {image_size}"
    return ""


def card_path_for_engine(engine_path: str | Path) -> Path:
    """``model.engine`` -> ``model.card.json`` (TensorRT engines keep their card beside them)."""
    path = Path(engine_path)
    return path.with_name(path.stem + ".card.json")


def write_card_json(card: ModelCard, path: str | Path) -> None:
    from .files import write_atomic

    write_atomic(Path(path), card.to_json().encode())


def read_card(model_path: str | Path) -> ModelCard:
    """Read the card of an ONNX file (from its metadata) or an engine (from the JSON beside it)."""
    from .files import not_a_regular_file

    path = Path(model_path)
    problem = not_a_regular_file(path)
    if problem:
        raise CardError(f"{path}: not a model file ({problem})")
    if path.suffix == ".onnx":
        return read_onnx_card(path)
    card_file = card_path_for_engine(path)
    if not_a_regular_file(card_file):
        raise CardError(f"{path}: no model card found at {card_file}; engines built by "
                        "export/to_trt.py write one beside the engine")
    try:
        return ModelCard.from_json(card_file.read_text())
    except CardError as exc:
        raise CardError(f"{card_file}: {exc}") from None


def read_onnx_card(model: str | Path | Any, path: str | Path | None = None) -> ModelCard:
    """The card of an ONNX model: a file, or an ``onnx.ModelProto`` already in memory (``path`` names it).

    A file's metadata is read without loading the model (``revive.runtime.onnx_metadata``).
    """
    if hasattr(model, "metadata_props"):
        return card_from_onnx_metadata({p.key: p.value for p in model.metadata_props}, path or "<model>")
    from .onnx_metadata import OnnxFormatError, read_metadata_props

    try:
        metadata = read_metadata_props(model)
    except OnnxFormatError as exc:
        raise CardError(f"{model}: not a readable ONNX model ({exc})") from None
    except OSError as exc:
        raise CardError(f"{model}: cannot read: {exc.strerror or exc}") from None
    return card_from_onnx_metadata(metadata, model)


def card_from_onnx_metadata(metadata: dict[str, str], path: str | Path) -> ModelCard:
    """The card stored in an ONNX model's ``metadata_props`` (as onnxruntime exposes them)."""
    text = metadata.get(CARD_KEY)
    if text is None:
        raise CardError(f"{path}: the ONNX model has no '{CARD_KEY}' metadata; export it with "
                        "export/to_onnx.py so the runtime knows how to feed it")
    try:
        return ModelCard.from_json(text)
    except CardError as exc:
        raise CardError(f"{path}: {exc}") from None
