"""Random-weight, full-size checkpoints so every benchmark runs anywhere without a trained model.

One per registered model family (train/families/), by its ``revive-bench --model``
name: ``pix2pix`` (the paper's unet_256, 54M parameters, ``rgb`` mode),
``restore``/``colorize`` (the two-stage EfficientNet-B3 U-Nets with the configs
their training tasks write; random encoder: nothing is downloaded) and
``pipeline`` (both, for the fused graph). Speed does not depend on the weights;
parity with random weights checks the numerics of the exported graphs, not the
quality of a trained model.
"""

from __future__ import annotations

from pathlib import Path

from revive.train.families import get_family, list_families

__all__ = ["make_random", "random_model_names"]


def random_model_names() -> list[str]:
    """The ``--model`` names: every registered family that makes a random-weight checkpoint."""
    return [get_family(n).model_name for n in list_families() if get_family(n).random_checkpoint]


def make_random(kind: str, workdir: Path, image_size: int = 256) -> Path | tuple[Path, Path]:
    """A checkpoint (or a restore/colorize pair for ``pipeline``) with random weights in ``workdir``."""
    if kind not in random_model_names():
        raise ValueError(f"--model {kind!r}: choose {', '.join(random_model_names())}")
    workdir.mkdir(parents=True, exist_ok=True)
    return get_family(kind).random_checkpoint(workdir, image_size)
