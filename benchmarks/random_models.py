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

import argparse
import sys
from pathlib import Path

from revive.train.families import get_family, list_families

__all__ = ["main", "make_random", "random_model_names"]


def random_model_names() -> list[str]:
    """The ``--model`` names: every registered family that makes a random-weight checkpoint."""
    return [get_family(n).model_name for n in list_families() if get_family(n).random_checkpoint]


def make_random(kind: str, workdir: Path, image_size: int = 256, small: bool = False) -> Path | tuple[Path, Path]:
    """A checkpoint (or a restore/colorize pair for ``pipeline``) with random weights in ``workdir``; ``small``:
    the family's slim variant (pix2pix: ngf 8, as deep as the size allows; two-stage: a slim decoder)."""
    if kind not in random_model_names():
        raise ValueError(f"--model {kind!r}: choose {', '.join(random_model_names())}")
    workdir.mkdir(parents=True, exist_ok=True)
    return get_family(kind).random_checkpoint(workdir, image_size, small)


def main(argv: list[str] | None = None) -> int:
    """``python -m revive.benchmarks.random_models MODEL FOLDER``: write the checkpoint(s), print their paths."""
    p = argparse.ArgumentParser(prog="random_models", description="a random-weight checkpoint to benchmark")
    p.add_argument("model", choices=random_model_names())
    p.add_argument("folder", type=Path)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--small", action="store_true", help="the slim variant (rehearsals on a CPU)")
    args = p.parse_args(argv)
    made = make_random(args.model, args.folder, args.image_size, args.small)
    print(*(made if isinstance(made, tuple) else (made,)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
