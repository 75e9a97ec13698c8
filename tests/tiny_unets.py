"""Tiny two-stage models: EfficientNet-B3 U-Nets with slim decoders at 64 x 64, made by the tests.

Shared by tests/train (training, rebuilding) and tests/export (graphs, parity); the session
fixtures that build them live in tests/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

SIZE = 64
DECODER = (32, 16, 16, 8, 8)  # slim decoder: the encoder stays the real EfficientNet-B3


def make_checkpoint(path: Path, stage: str, color_space: str = "rgb", seed: int = 0) -> Path:
    """A randomly initialised restorer or colorizer checkpoint, as the tasks write them.

    The restorer's mask head is scaled up so its damage probabilities spread over
    0..1 instead of sitting at the 0.5 threshold, which makes the composite of
    reconstruction and input visible in the outputs.
    """
    import torch

    from revive.train.checkpoint import save_checkpoint
    from revive.train.colorize_task import ColorizeOptions, ColorizeTask
    from revive.train.restore_task import RestoreOptions, RestoreTask

    torch.manual_seed(seed)
    if stage == "restore":
        task = RestoreTask(RestoreOptions(image_size=SIZE, encoder_weights=None, decoder_channels=DECODER))
        head = task.nets["restorer"].unet.segmentation_head[0]
        with torch.no_grad():
            head.weight[1] *= 40.0
            head.bias[1] = 0.0
    else:
        task = ColorizeTask(ColorizeOptions(image_size=SIZE, color_space=color_space, encoder_weights=None,
                                            decoder_channels=DECODER))
    net = task.nets[task.primary].eval()
    with torch.no_grad():  # settle BatchNorm running statistics away from their init values
        net.train()
        for _ in range(2):
            net(torch.rand(4, 1, SIZE, SIZE) * 2 - 1)
        net.eval()
    save_checkpoint(path, net, {**task.config(), "train": {}, "metrics": {}})
    return path
