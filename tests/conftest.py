"""Tiny model fixtures made by the tests themselves: a few-kilobyte pix2pix per colour space."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_SIZE = 32
TINY_KWARGS = {"num_downs": 5, "ngf": 8}


def make_tiny_checkpoint(path: Path, color_space: str, seed: int = 0) -> Path:
    import torch

    from revive.train.checkpoint import save_checkpoint
    from revive.train.models import create_model

    torch.manual_seed(seed)
    channels = {"rgb": (3, 3), "lab": (1, 2)}[color_space]
    kwargs = {"in_channels": channels[0], "out_channels": channels[1], **TINY_KWARGS}
    net = create_model("pix2pix_unet", **kwargs)
    config = {"task": "colorize", "family": "pix2pix", "architecture": "pix2pix_unet", "model_kwargs": kwargs,
              "color_space": color_space, "image_size": TINY_SIZE, "train": {}, "metrics": {}}
    save_checkpoint(path, net, config)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ckpt")
    return {cs: make_tiny_checkpoint(folder / f"tiny_{cs}.pt", cs) for cs in ("rgb", "lab")}


@pytest.fixture(scope="session")
def tiny_onnx(tiny_checkpoints, tmp_path_factory) -> dict[str, Path]:
    """FP32 ONNX per colour space, plus ``lab_fp16``, all with dynamic batch 1..8."""
    from revive.export.to_fp16 import write_fp16
    from revive.export.to_onnx import export_checkpoint

    folder = tmp_path_factory.mktemp("onnx")
    models = {}
    for cs, ckpt in tiny_checkpoints.items():
        models[cs] = folder / f"tiny_{cs}.onnx"
        export_checkpoint(ckpt, models[cs], max_batch=8)
    models["lab_fp16"] = folder / "tiny_lab.fp16.onnx"
    write_fp16(models["lab"], models["lab_fp16"])
    return models


@pytest.fixture(scope="module")
def no_onednn():
    """As revive-train does on the CPU (train/two_stage.py: cpu_convolutions): ~30x faster U-Net steps.

    Modules that train or export the two-stage U-Nets ask for it with
    ``pytestmark = pytest.mark.usefixtures("no_onednn")``; the rest keep torch's default.
    """
    import torch

    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = before


@pytest.fixture(scope="session")
def two_stage_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A tiny restorer and colorizer checkpoint (tests/tiny_unets.py)."""
    from tiny_unets import make_checkpoint

    folder = tmp_path_factory.mktemp("two_stage_ckpt")
    return {"restore": make_checkpoint(folder / "restore.pt", "restore"),
            "colorize": make_checkpoint(folder / "colorize.pt", "colorize", "rgb", seed=1)}


@pytest.fixture(scope="session")
def two_stage_onnx(two_stage_checkpoints, tmp_path_factory) -> dict[str, Path]:
    """restore.onnx, colorize.onnx and the fused pipeline.onnx, dynamic batch 1..4."""
    from revive.export.to_onnx import export_checkpoint, export_pipeline

    folder = tmp_path_factory.mktemp("two_stage_onnx")
    ck = two_stage_checkpoints
    out = {"restore": folder / "restore.onnx", "colorize": folder / "colorize.onnx",
           "pipeline": folder / "pipeline.onnx"}
    export_checkpoint(ck["restore"], out["restore"], max_batch=4)
    export_checkpoint(ck["colorize"], out["colorize"], max_batch=4)
    export_pipeline(ck["restore"], ck["colorize"], out["pipeline"], max_batch=4)
    return out
