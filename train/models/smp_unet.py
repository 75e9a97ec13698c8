"""U-Nets with an EfficientNet-B3 encoder (segmentation-models-pytorch) for the two-stage system.

Ronneberger et al., "U-Net" (MICCAI 2015) with Tan & Le's EfficientNet-B3
(ICML 2019) as the encoder, as built by ``segmentation_models_pytorch.Unet``.

- restorer: damaged gray (1 channel, gray/127.5 - 1) -> 2 channels: the
  reconstructed gray in [-1, 1] (tanh) and a damage logit (sigmoid = probability
  that the pixel is damaged). ``restore_outputs`` turns them into the picture the
  exported graph returns (see its docstring): training, validation and export
  share that one function.
- colorizer: 1 channel (gray/127.5 - 1 in ``rgb`` mode, L/50 - 1 in ``lab`` mode;
  the encoder's first convolution takes one channel, so no replication) ->
  RGB or ab/110 in [-1, 1] (tanh).

Encoder weights: ``encoder_weights="imagenet"`` loads smp's ImageNet weights when
they are in the Hugging Face cache or the hub answers within a few seconds
(train/models/hub_weights.py); otherwise the encoder stays
randomly initialised and the log says so. A path to a ``.safetensors``/``.pth``
file of the encoder's state dict also works. For one input channel the RGB stem
filters are summed, as smp does. Checkpoints always record
``encoder_weights=None``: rebuilding for export or resume never downloads.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import torch
from torch import nn

from revive.runtime.composite import SOFT_HIGH, SOFT_LOW
from revive.runtime.errors import UserError, describe

from ._registry import register_model
from .hub_weights import hub_file

__all__ = ["DEFAULT_DECODER", "DEFAULT_ENCODER", "EncoderWeightsError", "SmpUnet", "composite_weight",
           "load_encoder_weights", "prune_unused_stages", "restore_outputs", "smp_unet_colorizer",
           "smp_unet_restorer"]

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "efficientnet-b3"
DEFAULT_DECODER = (256, 128, 64, 32, 16)
WEIGHT_FILE_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


class EncoderWeightsError(UserError, ValueError):
    """An --encoder-weights file the user named cannot be used."""


class SmpUnet(nn.Module):
    """``smp.Unet`` with tanh on the image channels and raw logits on an optional mask channel."""

    def __init__(self, in_channels: int, out_channels: int, mask_channel: bool, encoder: str = DEFAULT_ENCODER,
                 decoder_channels: tuple[int, ...] = DEFAULT_DECODER, encoder_weights: str | None = None) -> None:
        super().__init__()
        import segmentation_models_pytorch as smp

        self.in_channels, self.out_channels, self.mask_channel = in_channels, out_channels, mask_channel
        self.unet = smp.Unet(encoder_name=encoder, encoder_weights=None, in_channels=in_channels,
                             classes=out_channels + int(mask_channel), decoder_channels=tuple(decoder_channels),
                             encoder_depth=len(decoder_channels))
        if hasattr(self.unet.encoder, "set_swish"):  # older smp: the memory-efficient swish cannot export
            self.unet.encoder.set_swish(memory_efficient=False)
        # A full-depth encoder keeps every weight, as checkpoints written before pruning existed expect.
        unused = prune_unused_stages(self.unet.encoder, in_channels) if len(decoder_channels) < 5 else frozenset()
        loaded = bool(encoder_weights) and load_encoder_weights(self.unet.encoder, encoder, encoder_weights,
                                                                in_channels, unused)
        self.encoder_init = str(encoder_weights) if loaded else "random"  # recorded in checkpoints

    def init_mask_bias(self, prior: float) -> None:
        """Start the mask logit at ``log(p / (1 - p))``: the damage share, not 50 %.

        With the default bias (~0) every pixel starts at probability ~0.5, and the
        first steps are spent learning that most pixels are clean (Lin et al.,
        focal loss, 2017, initialise rare-class heads the same way).
        """
        if not self.mask_channel or not 0.0 < prior < 1.0:
            raise ValueError(f"mask prior {prior}: needs a mask channel and 0 < prior < 1")
        conv = self.unet.segmentation_head[0]
        with torch.no_grad():
            conv.bias[self.out_channels] = math.log(prior / (1.0 - prior))

    @property
    def min_size(self) -> int:
        return 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.unet(x)
        image = torch.tanh(y[:, :self.out_channels])
        return torch.cat([image, y[:, self.out_channels:]], 1) if self.mask_channel else image


def composite_weight(mask255: torch.Tensor) -> torch.Tensor:
    """Rounded mask (float 0..255) -> blend weight in [0, 1]: the torch twin of
    ``revive.runtime.composite.mask_weight``, the same float32 operations in the same order."""
    return ((mask255 / 255.0 - SOFT_LOW) / (SOFT_HIGH - SOFT_LOW)).clamp(0.0, 1.0)


def restore_outputs(net_out: torch.Tensor, gray255: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Restorer output and the damaged input (float, 0..255) -> (restored, mask), both float 0..255 integers.

    ``mask`` = round(sigmoid(logit) * 255); ``restored`` = round(input + w * (recon - input))
    with ``recon`` the rounded reconstruction and ``w = composite_weight(mask)``: the
    soft composite of ``revive.runtime.composite`` (0 up to ``SOFT_LOW``, 1 from
    ``SOFT_HIGH``, linear between), so the input is kept exactly where w = 0 and a
    small change of the mask logit (FP16, INT8) moves a pixel a little instead of
    flipping it between input and reconstruction. Everything is decided on rounded
    0..255 values, so a restore model chained into a colorize model and the fused
    pipeline graph see the very same picture.
    """
    recon = torch.round(((net_out[:, :1].float() + 1.0) * 127.5).clamp(0.0, 255.0))
    mask = torch.round(torch.sigmoid(net_out[:, 1:2].float()) * 255.0)
    return torch.round(gray255 + composite_weight(mask) * (recon - gray255)), mask


def prune_unused_stages(encoder: nn.Module, in_channels: int) -> frozenset[str]:
    """Drop the weights of encoder modules a shallow U-Net never runs; returns their state-dict keys.

    smp builds the whole encoder and only stops its forward early, so a 3-stage
    ResNet-18 U-Net carried 11 M parameters of which 0.7 M are used: 52 MB
    checkpoints written every epoch (seconds each on the demo's CPU) and weights
    that never train. Which modules run is found by running the encoder once on a
    small input with forward hooks, so no encoder's internals are assumed.
    """
    called: set[int] = set()
    hooks = [m.register_forward_hook(lambda mod, *_: called.add(id(mod))) for m in encoder.modules()]
    try:
        with torch.no_grad():
            encoder.eval()(torch.zeros(1, in_channels, 64, 64))
    finally:
        for hook in hooks:
            hook.remove()
        encoder.train()
    before = set(encoder.state_dict())
    for parent in list(encoder.modules()):
        for name, child in list(parent._modules.items()):
            if child is not None and not any(id(m) in called for m in child.modules()):
                parent._modules[name] = nn.Identity()  # stateless: its weights leave the state dict
    return frozenset(before - set(encoder.state_dict()))


def load_encoder_weights(encoder: nn.Module, name: str, weights: str, in_channels: int,
                         unused: frozenset[str] = frozenset()) -> bool:
    """Load pretrained encoder weights if they can be had quickly; False (and a log line) if not.

    Named weights (``imagenet``) that cannot be had fall back to random weights with a warning;
    a file the user named is an explicit choice, so a file that is missing or cannot be loaded
    raises :class:`EncoderWeightsError` instead of quietly training from random weights.
    """
    path = Path(weights)
    explicit = path.suffix in WEIGHT_FILE_SUFFIXES or os.sep in weights or path.exists()
    if explicit:
        from revive.runtime.files import not_a_regular_file

        problem = not_a_regular_file(path)
        if problem:
            raise EncoderWeightsError(f"{path}: --encoder-weights file cannot be used ({problem})")
        try:
            _load_encoder_state(encoder, _read_state_dict(path), in_channels, unused)
        except Exception as exc:  # a corrupt, foreign or malicious (non-tensor pickle) file
            raise EncoderWeightsError(f"{path}: not encoder weights for {name} ({describe(exc)})") from None
        log.info("encoder %s initialised from %s", name, path)
        return True
    else:
        source = hub_file(name, weights)
        if source is None:
            return False
    try:
        _load_encoder_state(encoder, _read_state_dict(source), in_channels, unused)
    except Exception as exc:  # a corrupt or foreign file must not end a training run
        log.warning("encoder weights %s could not be loaded (%s): random initialisation", source, exc)
        return False
    log.info("encoder %s initialised from %s weights (%s)", name, weights, source)
    return True


def _load_encoder_state(encoder: nn.Module, state: dict[str, torch.Tensor], in_channels: int,
                        unused: frozenset[str] = frozenset()) -> None:
    if not isinstance(state, dict):
        raise ValueError(f"holds a {type(state).__name__}, not a state dict")
    # The classifier head and the pruned stages are not in the encoder; everything else must match.
    state = {k: v for k, v in state.items() if not k.startswith("_fc.") and k not in unused}
    stem = "_conv_stem.weight"
    if stem in state and in_channels != state[stem].shape[1]:
        if in_channels != 1:
            raise ValueError(f"cannot adapt {state[stem].shape[1]}-channel stem to {in_channels} channels")
        state[stem] = state[stem].sum(1, keepdim=True)
    encoder.load_state_dict(state)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


@register_model
def smp_unet_restorer(encoder: str = DEFAULT_ENCODER, decoder_channels: list[int] | tuple[int, ...] = DEFAULT_DECODER,
                      encoder_weights: str | None = None) -> SmpUnet:
    return SmpUnet(1, 1, True, encoder, tuple(decoder_channels), encoder_weights)


@register_model
def smp_unet_colorizer(out_channels: int = 3, encoder: str = DEFAULT_ENCODER,
                       decoder_channels: list[int] | tuple[int, ...] = DEFAULT_DECODER,
                       encoder_weights: str | None = None, in_channels: int = 1) -> SmpUnet:
    return SmpUnet(in_channels, out_channels, False, encoder, tuple(decoder_channels), encoder_weights)
