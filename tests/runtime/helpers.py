"""Shared helpers for the runtime tests: awkward image files and a fake restore model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32


def noise(h: int, w: int, channels: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (h, w, channels) if channels else (h, w)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def smooth(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB picture (compresses like a photo, unlike noise)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 6.28, 3)
    rgb = [127 + 120 * np.sin(x / max(w, 1) * 6 + y / max(h, 1) * 4 + p) for p in phases]
    return np.stack(rgb, -1).astype(np.uint8)


def make_restore_onnx(path: Path, size: int = SIZE, *, max_batch: int = 8) -> Path:
    """A fake restore model: restored = 255 - gray, mask = 255 on the left half, 0 elsewhere."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from revive.export.cards import make_card
    from revive.export.cards import set_card

    mask = np.zeros((1, 1, size, size), np.float32)
    mask[..., : size // 2] = 255.0
    nodes = [
        helper.make_node("Cast", ["gray"], ["g"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["c255", "g"], ["inv"]),
        helper.make_node("Cast", ["inv"], ["restored"], to=TensorProto.UINT8),
        helper.make_node("Mul", ["g", "zero"], ["g0"]),
        helper.make_node("Add", ["g0", "maskc"], ["m"]),
        helper.make_node("Cast", ["m"], ["mask"], to=TensorProto.UINT8),
    ]
    inits = [numpy_helper.from_array(np.array(255.0, np.float32), "c255"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(mask, "maskc")]
    io = lambda name: helper.make_tensor_value_info(name, TensorProto.UINT8, ["batch", 1, size, size])  # noqa: E731
    graph = helper.make_graph(nodes, "fake_restore", [io("gray")], [io("restored"), io("mask")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    card = make_card(task="restore", architecture="fake_restore", color_space="rgb", image_size=size,
                     output_roles=["restored", "mask"], batch={"min": 1, "opt": 4, "max": max_batch},
                     precision="fp32", opset=18, checkpoint_sha256="")
    set_card(model, card)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def gray_of(path: Path) -> np.ndarray:
    """The input's gray at its own size, as the runtime reads it."""
    from revive.runtime.images import decode_gray

    return np.asarray(decode_gray(path, SIZE, max_pixels=None).native)


def luma(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def box_filter(gray: np.ndarray) -> np.ndarray:
    """What the smoothing model computes, on the whole picture at once (valid for pixels off the border)."""
    x = gray.astype(np.float64) / 127.5 - 1.0
    p = np.pad(x, 1, mode="edge")
    h, w = gray.shape
    y = sum(p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9.0
    return np.clip(np.rint((y + 1.0) * 127.5), 0, 255).astype(np.uint8)
