"""What a colorization network sees and predicts, in numpy (the data loaders' side).

The export graph (export/graph.py) does the same maths in PyTorch inside the
ONNX model; a test holds the two together.

- ``rgb``: input gray/127.5 - 1 replicated to 3 channels; target RGB/127.5 - 1.
- ``lab``: input L/50 - 1 with L the lightness of the gray pixel; target ab/110.
"""

from __future__ import annotations

import numpy as np

from revive.runtime.color import AB_SCALE, L_SCALE, gray_to_lightness, lab_to_rgb, rgb_to_lab

__all__ = ["CHANNELS", "decode_output", "encode_input", "encode_target"]

# (input channels, output channels) per colour space.
CHANNELS = {"rgb": (3, 3), "lab": (1, 2)}


def encode_input(gray: np.ndarray, color_space: str) -> np.ndarray:
    """uint8 HxW -> float32 CxHxW."""
    if color_space == "rgb":
        return np.repeat((gray.astype(np.float32) / 127.5 - 1.0)[None], 3, axis=0)
    return (gray_to_lightness(gray) / L_SCALE - 1.0).astype(np.float32)[None]


def encode_target(color: np.ndarray, color_space: str) -> np.ndarray:
    """uint8 HxWx3 -> float32 CxHxW."""
    if color_space == "rgb":
        return (color.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)
    return (rgb_to_lab(color)[..., 1:] / AB_SCALE).astype(np.float32).transpose(2, 0, 1)


def decode_output(output: np.ndarray, gray: np.ndarray, color_space: str) -> np.ndarray:
    """Network output CxHxW (float) and its uint8 gray input -> uint8 RGB HxWx3."""
    output = np.asarray(output, dtype=np.float64)
    if color_space == "rgb":
        rgb255 = (output.transpose(1, 2, 0) + 1.0) * 127.5
    else:
        lab = np.concatenate([gray_to_lightness(gray)[..., None], output.transpose(1, 2, 0) * AB_SCALE], axis=-1)
        rgb255 = lab_to_rgb(lab) * 255.0
    return np.clip(np.round(rgb255), 0, 255).astype(np.uint8)
