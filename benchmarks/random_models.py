"""Random-weight, full-size checkpoints so every benchmark runs anywhere without a trained model.

``pix2pix``: the paper's unet_256 (54M parameters) in ``rgb`` mode. ``restore``/``colorize``: the two-stage
EfficientNet-B3 U-Nets with the configs their training tasks write (random
encoder: nothing is downloaded). ``pipeline``: both, for the fused graph.
Speed does not depend on the weights; parity with random weights checks the
numerics of the exported graphs, not the quality of a trained model.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RANDOM_MODELS", "make_random"]

RANDOM_MODELS = ("pix2pix", "restore", "colorize", "pipeline")


def _pix2pix(path: Path, image_size: int = 256) -> Path:
    import torch

    from revive.train.checkpoint import save_checkpoint
    from revive.train.models import create_model

    torch.manual_seed(0)
    kwargs = {"in_channels": 3, "out_channels": 3}
    net = create_model("pix2pix_unet", **kwargs)
    config = {"task": "colorize", "family": "pix2pix", "architecture": "pix2pix_unet", "model_kwargs": kwargs,
              "color_space": "rgb", "image_size": image_size, "train": {}, "metrics": {}}
    save_checkpoint(path, net, config)
    return path


def _two_stage(path: Path, task: str, image_size: int, color_space: str = "rgb") -> Path:
    import torch

    from revive.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    if task == "restore":
        from revive.train.restore_task import RestoreOptions, RestoreTask

        t = RestoreTask(RestoreOptions(image_size=image_size, encoder_weights=None))
    else:
        from revive.train.colorize_task import ColorizeOptions, ColorizeTask

        t = ColorizeTask(ColorizeOptions(image_size=image_size, encoder_weights=None, color_space=color_space))
    save_checkpoint(path, t.nets[t.primary], {**t.config(), "train": {}, "metrics": {}})
    return path


def make_random(kind: str, workdir: Path, image_size: int = 256) -> Path | tuple[Path, Path]:
    """A checkpoint (or a restore/colorize pair for ``pipeline``) with random weights in ``workdir``."""
    if kind not in RANDOM_MODELS:
        raise ValueError(f"--model {kind!r}: choose {', '.join(RANDOM_MODELS)}")
    workdir.mkdir(parents=True, exist_ok=True)
    if kind == "pix2pix":
        return _pix2pix(workdir / f"pix2pix_unet_random_{image_size}.pt", image_size)
    if kind == "pipeline":
        return (_two_stage(workdir / f"restorer_random_{image_size}.pt", "restore", image_size),
                _two_stage(workdir / f"colorizer_random_{image_size}.pt", "colorize", image_size))
    return _two_stage(workdir / f"{kind}_random_{image_size}.pt", kind, image_size)
