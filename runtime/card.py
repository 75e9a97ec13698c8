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
PRECISIONS = ("fp32", "fp16")
# The batch a model is tuned for (its card's "opt") and runs at unless told otherwise: large enough to
# fill a GPU with a 256-px U-Net, small enough for the host to keep up.
DEFAULT_BATCH_SIZE = 32
# What the runtime does with each output, by role.
OUTPUT_ROLES = ("rgb", "restored", "mask")


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
    layout: str = "NCHW"
    format: str = CARD_FORMAT
    version: int = CARD_VERSION

    def __post_init__(self) -> None:
        problems = []
        if self.format != CARD_FORMAT:
            problems.append(f"format is {self.format!r}, expected {CARD_FORMAT!r}")
        if self.version != CARD_VERSION:
            problems.append(f"card version {self.version} (this runtime reads version {CARD_VERSION})")
        if self.task not in TASKS:
            problems.append(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.color_space not in COLOR_SPACES:
            problems.append(f"color_space {self.color_space!r} is not one of {', '.join(COLOR_SPACES)}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.layout != "NCHW":
            problems.append(f"layout {self.layout!r} (only NCHW is supported)")
        if len(self.inputs) != 1 or self.inputs[0].role != "gray" or self.inputs[0].channels != 1:
            problems.append("expected exactly one input with role 'gray' and 1 channel")
        roles = [o.role for o in self.outputs]
        unknown = [r for r in roles if r not in OUTPUT_ROLES]
        if unknown:
            problems.append(f"unknown output roles {unknown} (known: {', '.join(OUTPUT_ROLES)})")
        if self.task in ("colorize", "pipeline") and "rgb" not in roles:
            problems.append(f"a {self.task} model must have an 'rgb' output")
        if self.task in ("restore", "pipeline") and not {"restored", "mask"} <= set(roles):
            problems.append(f"a {self.task} model must have 'restored' and 'mask' outputs")
        for spec in [*self.inputs, *self.outputs]:
            if spec.dtype != "uint8":
                problems.append(f"tensor {spec.name!r} has dtype {spec.dtype} (revive graphs use uint8 I/O)")
        if not {"min", "opt", "max"} <= set(self.batch):
            problems.append("batch must give min, opt and max")
        elif not 1 <= self.batch["min"] <= self.batch["opt"] <= self.batch["max"]:
            problems.append(f"batch range {self.batch} is not 1 <= min <= opt <= max")
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


def card_path_for_engine(engine_path: str | Path) -> Path:
    """``model.engine`` -> ``model.card.json`` (TensorRT engines keep their card beside them)."""
    path = Path(engine_path)
    return path.with_name(path.stem + ".card.json")


def write_card_json(card: ModelCard, path: str | Path) -> None:
    from .files import write_atomic

    write_atomic(Path(path), card.to_json().encode())


def read_card(model_path: str | Path) -> ModelCard:
    """Read the card of an ONNX file (from its metadata) or an engine (from the JSON beside it)."""
    path = Path(model_path)
    if path.suffix == ".onnx":
        return read_onnx_card(path)
    card_file = card_path_for_engine(path)
    if not card_file.is_file():
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
