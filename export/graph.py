"""The graphs revive exports: uint8 gray in, uint8 pictures out, all per-pixel work inside.

A wrapper holds the trained network(s) as submodules (named in its
``network_scopes``: ``net``, or ``restorer``/``colorizer``) and does normalisation, channel replication, the
Lab->RGB tail and rounding in its own ``forward``. Families name their wrapper in the registry
(train/families/); ``from_checkpoint(net, config)`` builds it and ``output_roles``
are the card's outputs. The FP16 converter relies on
that split: only nodes exported from inside a network submodule are turned to
FP16; the wrapper's own arithmetic stays FP32 (export/fp16.py).

The colour maths is ``revive.train.color_torch``, the PyTorch twin of
``revive.runtime.color``; the tests hold the two together.
"""

from __future__ import annotations

import torch
from torch import nn

from revive.runtime.color import AB_SCALE, L_SCALE
from revive.train.color_torch import gray_to_lightness, lab_to_rgb
from revive.train.models.smp_unet import restore_outputs

__all__ = ["ColorizeGraph", "PipelineGraph", "RestoreGraph", "colorize", "colorizer_in_channels", "gray_to_lightness",
           "lab_to_rgb", "network_scopes", "to_uint8"]


def network_scopes() -> set[str]:
    """Submodule names whose nodes make up the networks proper (converted to FP16): the
    ``network_scopes`` of every registered family's graph wrapper."""
    from revive.train.families import get_family, list_families, load_hook

    return {scope for name in list_families() if get_family(name).graph
            for scope in load_hook(get_family(name).graph).network_scopes}


def colorizer_in_channels(config: dict) -> int:
    """What a colorization network's first layer takes: model_kwargs say, else the pix2pix rule."""
    kwargs = config.get("model_kwargs", {})
    return int(kwargs.get("in_channels", 3 if config["color_space"] == "rgb" else 1))


def to_uint8(x255: torch.Tensor) -> torch.Tensor:
    """Values on a 0..255 scale -> uint8, rounded half to even and clipped."""
    return torch.round(x255).clamp(0.0, 255.0).to(torch.uint8)


def colorize(net: nn.Module, g: torch.Tensor, color_space: str, in_channels: int) -> torch.Tensor:
    """Float gray 0..255 N x 1 x S x S -> uint8 RGB through a colorization network.

    ``rgb`` networks see gray/127.5 - 1 (replicated to ``in_channels``: 3 for
    pix2pix, 1 for the EfficientNet U-Net) and return RGB in [-1, 1]; ``lab``
    networks see L/50 - 1 and return ab/110.
    """
    if color_space == "rgb":
        x = g / 127.5 - 1.0
        if in_channels != 1:
            x = x.expand(-1, in_channels, -1, -1)
        return to_uint8((net(x).float() + 1.0) * 127.5)
    lightness = gray_to_lightness(g / 255.0)
    ab = net(lightness / L_SCALE - 1.0).float() * AB_SCALE
    return to_uint8(lab_to_rgb(torch.cat([lightness, ab], 1)) * 255.0)


class ColorizeGraph(nn.Module):
    """uint8 gray N x 1 x S x S -> uint8 RGB N x 3 x S x S around a colorization network.

    ``in_channels`` is what the network's first layer takes (3 for the pix2pix
    RGB model, which sees the gray replicated; 1 otherwise).
    """

    network_scopes = ("net",)
    output_roles = ("rgb",)

    @classmethod
    def from_checkpoint(cls, net: nn.Module, config: dict) -> "ColorizeGraph":
        return cls(net, config["color_space"], colorizer_in_channels(config))

    def __init__(self, net: nn.Module, color_space: str, in_channels: int | None = None) -> None:
        super().__init__()
        if color_space not in ("rgb", "lab"):
            raise ValueError(f"color_space must be 'rgb' or 'lab', not {color_space!r}")
        self.net = net
        self.color_space = color_space
        self.in_channels = in_channels if in_channels is not None else (3 if color_space == "rgb" else 1)

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        return colorize(self.net, gray.float(), self.color_space, self.in_channels)


class RestoreGraph(nn.Module):
    """uint8 damaged gray -> (restored uint8 N x 1 x S x S, mask uint8 N x 1 x S x S).

    mask = round(sigmoid(logit) x 255); restored = round(input + w x (reconstruction - input)),
    w the soft ramp of the mask (``restore_outputs``, shared with training;
    ``revive.runtime.composite.mask_weight`` is its numpy twin): the input exactly
    where the mask probability is at most ``SOFT_LOW``, the reconstruction from ``SOFT_HIGH``. The
    composite is part of the contract: the runtime feeds ``restored`` to a colorize
    model, so restore + colorize chained and the fused pipeline produce the same picture.
    """

    network_scopes = ("restorer",)
    output_roles = ("restored", "mask")

    @classmethod
    def from_checkpoint(cls, net: nn.Module, config: dict) -> "RestoreGraph":
        return cls(net)

    def __init__(self, restorer: nn.Module) -> None:
        super().__init__()
        self.restorer = restorer

    def forward(self, gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = gray.float()
        restored, mask = restore_outputs(self.restorer(g / 127.5 - 1.0), g)
        return restored.to(torch.uint8), mask.to(torch.uint8)


class PipelineGraph(nn.Module):
    """uint8 damaged gray -> (rgb, restored, mask): restore then colorize in one graph.

    The colorizer gets the restored picture as the float of the same 0..255
    integers a separate colorize model would receive as uint8.
    """

    network_scopes = ("restorer", "colorizer")
    output_roles = ("rgb", "restored", "mask")

    @classmethod
    def from_checkpoints(cls, restorer: nn.Module, colorizer: nn.Module, colorize_config: dict) -> "PipelineGraph":
        return cls(restorer, colorizer, colorize_config["color_space"], colorizer_in_channels(colorize_config))

    def __init__(self, restorer: nn.Module, colorizer: nn.Module, color_space: str, in_channels: int = 1) -> None:
        super().__init__()
        self.restorer = restorer
        self.colorizer = colorizer
        self.color_space = color_space
        self.in_channels = in_channels

    def forward(self, gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = gray.float()
        restored, mask = restore_outputs(self.restorer(g / 127.5 - 1.0), g)
        rgb = colorize(self.colorizer, restored, self.color_space, self.in_channels)
        return rgb, restored.to(torch.uint8), mask.to(torch.uint8)
