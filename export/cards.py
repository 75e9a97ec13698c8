"""Model cards for exported graphs: what the runtime needs to feed and read a model.

Also what every ONNX stage does with a card: set it on a model and save the model (checked, atomically) with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from revive.runtime.card import CARD_KEY, DEFAULT_BATCH_SIZE, ModelCard, TensorSpec

if TYPE_CHECKING:
    import onnx

__all__ = ["OUTPUT_CHANNELS", "batch_range", "make_card", "producer_versions", "save_onnx", "set_card"]

# Output name == role; channels per role.
OUTPUT_CHANNELS = {"rgb": 3, "restored": 1, "mask": 1}
INPUT_NAME = "gray"


def producer_versions() -> dict[str, str]:
    import onnx
    import torch

    from importlib.metadata import PackageNotFoundError, version

    try:
        revive_version = version("revive")
    except PackageNotFoundError:
        revive_version = "unknown"
    return {"revive": revive_version, "torch": torch.__version__, "onnx": onnx.__version__}


def batch_range(max_batch: int) -> dict[str, int]:
    """The card's batch range for a dynamic-batch graph: 1 .. max, tuned for the default batch."""
    return {"min": 1, "opt": min(DEFAULT_BATCH_SIZE, max_batch), "max": max_batch}


def make_card(*, task: str, architecture: str, color_space: str, image_size: int, output_roles: list[str],
              batch: dict[str, int], precision: str, opset: int, checkpoint_sha256: str | dict[str, str],
              build: dict[str, Any] | None = None) -> ModelCard:
    s = image_size
    return ModelCard(
        task=task,
        architecture=architecture,
        color_space=color_space,
        image_size=s,
        inputs=[TensorSpec(INPUT_NAME, "gray", "uint8", ["batch", 1, s, s])],
        outputs=[TensorSpec(role, role, "uint8", ["batch", OUTPUT_CHANNELS[role], s, s]) for role in output_roles],
        batch=batch,
        precision=precision,
        opset=opset,
        checkpoint_sha256=checkpoint_sha256,
        producer=producer_versions(),
        build=build or {},
    )


def set_card(model: onnx.ModelProto, card: ModelCard) -> None:
    for prop in list(model.metadata_props):
        if prop.key == CARD_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_KEY, card.to_json()


def save_onnx(model: onnx.ModelProto, card: ModelCard, out: str | Path) -> Path:
    """Set ``card`` on ``model``, check the model fully and write it atomically to ``out``."""
    import onnx

    from revive.runtime.files import write_atomic

    set_card(model, card)
    onnx.checker.check_model(model, full_check=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, model.SerializeToString())
    return out
