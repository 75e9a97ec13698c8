"""A film's restorer runs on every frame: dust that moves from frame to frame and a scratch that stays put are
both repaired, in the restored film and in the colour film's luminance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from revive.runtime.cli import main
from revive.runtime.color import rgb_to_gray

from .film_helpers import decoded_rgb, make_film

pytest.importorskip("av")
SIZE = 32
FRAMES = 12


def make_speck_remover(path: Path, size: int = SIZE) -> Path:
    """A restore model that really repairs small damage: a 9 x 9 morphological opening then closing removes
    bright and dark features narrower than 9 px; the mask marks where that changed the gray by > 30 levels."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from revive.export.cards import make_card, set_card

    pool = {"kernel_shape": [9, 9], "pads": [4, 4, 4, 4], "strides": [1, 1]}
    nodes = [
        helper.make_node("Cast", ["gray"], ["g"], to=TensorProto.FLOAT),
        helper.make_node("Neg", ["g"], ["ng"]), helper.make_node("MaxPool", ["ng"], ["e1"], **pool),
        helper.make_node("Neg", ["e1"], ["eroded"]), helper.make_node("MaxPool", ["eroded"], ["opened"], **pool),
        helper.make_node("MaxPool", ["opened"], ["dilated"], **pool), helper.make_node("Neg", ["dilated"], ["nd"]),
        helper.make_node("MaxPool", ["nd"], ["e2"], **pool), helper.make_node("Neg", ["e2"], ["closed"]),
        helper.make_node("Cast", ["closed"], ["restored"], to=TensorProto.UINT8),
        helper.make_node("Sub", ["g", "closed"], ["d"]), helper.make_node("Abs", ["d"], ["ad"]),
        helper.make_node("Greater", ["ad", "limit"], ["hit"]),
        helper.make_node("Cast", ["hit"], ["hitf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["hitf", "c255"], ["m"]),
        helper.make_node("Cast", ["m"], ["mask"], to=TensorProto.UINT8),
    ]
    inits = [numpy_helper.from_array(np.array(30.0, np.float32), "limit"),
             numpy_helper.from_array(np.array(255.0, np.float32), "c255")]
    io = lambda name: helper.make_tensor_value_info(name, TensorProto.UINT8, ["batch", 1, size, size])  # noqa: E731
    graph = helper.make_graph(nodes, "speck_remover", [io("gray")], [io("restored"), io("mask")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    set_card(model, make_card(task="restore", architecture="speck_remover", color_space="rgb", image_size=size,
                              output_roles=["restored", "mask"], batch={"min": 1, "opt": 4, "max": 8},
                              precision="fp32", opset=18, checkpoint_sha256=""))
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def _damaged_film(w: int = 96, h: int = 64):
    """A static shot with fresh dust every frame and one scratch through all of them: frames and masks."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.rint(70 + 60 * xx / w + 40 * np.sin(yy / h * 2)).astype(np.int16)  # smooth, as between dust
    rng = np.random.default_rng(5)
    frames, dust = [], []
    for _ in range(FRAMES):
        frame, specks = base.copy(), np.zeros((h, w), bool)
        for _ in range(5):
            cx, cy, r = rng.integers(8, w - 8), rng.integers(8, h - 8), rng.integers(1, 4)
            speck = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            frame[speck] = 250 if rng.random() < 0.5 else 5
            specks |= speck
        frame[:, 40:42] = 240
        frames.append(frame.astype(np.uint8))
        dust.append(specks & ~np.isin(xx, (40, 41)))
    scratch = np.zeros((h, w), bool)
    scratch[:, 40:42] = True
    return base, frames, dust, scratch & ~np.any(dust, axis=0)


def test_moving_dust_and_a_persistent_scratch_are_both_repaired(tmp_path):
    from revive.benchmarks.flicker import make_stand_in_colorizer

    restorer = make_speck_remover(tmp_path / "specks.onnx")
    colorizer = make_stand_in_colorizer(tmp_path / "vivid.onnx", size=SIZE)
    base, frames, dust, scratch = _damaged_film()
    film = make_film(tmp_path / "reel.mp4", frames, audio=None)  # lossless H.264
    out = tmp_path / "out"
    assert main([str(film), "-o", str(out), "--engine", str(restorer), "--engine", str(colorizer), "--save-restored",
                 "--video-codec", "ffv1", "--no-progress", "--fill", "model"]) == 0  # the speck remover's own fill
    restored = [f[..., 0].astype(np.int16) for f in decoded_rgb(out / "reel.restored.mkv")]
    colour_luma = [rgb_to_gray(f).astype(np.int16) for f in decoded_rgb(out / "reel.mkv")]
    assert len(restored) == len(colour_luma) == FRAMES
    for i, frame in enumerate(frames):
        for name, mask in (("dust", dust[i]), ("scratch", scratch)):
            before = np.abs(frame[mask].astype(np.int16) - base[mask]).mean()
            after = np.abs(restored[i][mask] - base[mask]).mean()
            assert before > 60 and after < 0.2 * before, (i, name, before, after)
        assert np.abs(colour_luma[i] - restored[i]).max() <= 1  # the colour film carries the repair
        far = ~_near(dust[i] | scratch, 6)
        kept = np.mean(np.abs(restored[i][far] - frame[far].astype(np.int16)) <= 1)
        assert kept > 0.98, kept  # undamaged pixels keep the input (the mask is 0 there)


def _near(mask: np.ndarray, r: int) -> np.ndarray:
    from PIL import Image, ImageFilter

    return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * r + 1))) > 0
