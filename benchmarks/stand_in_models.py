"""Stand-in models built from a few ONNX operators (no torch, milliseconds to make): revive-ui's tests, its
screenshot and ``benchmarks/ui_stack.py`` run the page on them.

They take and return what trained models do (uint8 N x 1 x S x S in; ``restored`` and ``mask``, or ``rgb``
out; a model card inside), and their pictures are easy to tell apart in a screenshot:

- restore: pixels brighter than 225 (white scratches) are damage (mask 255); their restoration is the mean
  of the undamaged pixels in their 9 x 9 neighbourhood, so a thin scratch is filled from its surroundings;
- colorize: a sepia tint of the gray (R, G, B = g, 0.84 g + 8, 0.62 g + 12).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["SIZE", "make_scratch_restore", "make_sepia_colorize"]

SIZE = 64


def _save(path: Path, nodes, inits, outputs: dict[str, int], card) -> Path:
    import onnx
    from onnx import TensorProto, helper

    from revive.export.cards import set_card

    s = card.image_size
    inputs = [helper.make_tensor_value_info("gray", TensorProto.UINT8, ["batch", 1, s, s])]
    outs = [helper.make_tensor_value_info(name, TensorProto.UINT8, ["batch", c, s, s]) for name, c in outputs.items()]
    graph = helper.make_graph(nodes, path.stem, inputs, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    set_card(model, card)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def make_scratch_restore(path: Path, size: int = SIZE) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    from revive.export.cards import make_card

    pool = {"kernel_shape": [9, 9], "pads": [4, 4, 4, 4], "count_include_pad": 0}
    nodes = [
        helper.make_node("Cast", ["gray"], ["g"], to=TensorProto.FLOAT),
        helper.make_node("Greater", ["g", "bright"], ["scratch"]),
        helper.make_node("Cast", ["scratch"], ["m01"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "m01"], ["keep"]),
        helper.make_node("Mul", ["g", "keep"], ["kept"]),
        helper.make_node("AveragePool", ["kept"], ["num"], **pool),
        helper.make_node("AveragePool", ["keep"], ["den"], **pool),
        helper.make_node("Max", ["den", "eps"], ["den_safe"]),
        helper.make_node("Div", ["num", "den_safe"], ["mean"]),
        helper.make_node("Greater", ["den", "eps"], ["has_kept"]),
        helper.make_node("Where", ["has_kept", "mean", "g"], ["filled"]),  # all-bright neighbourhood: as it was
        helper.make_node("Clip", ["filled", "zero", "c255"], ["clipped"]),
        helper.make_node("Cast", ["clipped"], ["restored"], to=TensorProto.UINT8),
        helper.make_node("Mul", ["m01", "c255"], ["m"]),
        helper.make_node("Cast", ["m"], ["mask"], to=TensorProto.UINT8),
    ]
    inits = [numpy_helper.from_array(np.array(v, np.float32), name)
             for name, v in (("bright", 225.0), ("c255", 255.0), ("one", 1.0), ("eps", 1e-3), ("zero", 0.0))]
    card = make_card(task="restore", architecture="fake_scratch_restore", color_space="rgb", image_size=size,
                     output_roles=["restored", "mask"], batch={"min": 1, "opt": 4, "max": 8}, precision="fp32",
                     opset=18, checkpoint_sha256="")
    return _save(path, nodes, inits, {"restored": 1, "mask": 1}, card)


def make_sepia_colorize(path: Path, size: int = SIZE) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    from revive.export.cards import make_card

    nodes = [
        helper.make_node("Cast", ["gray"], ["g"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["g", "gain"], ["scaled"]),  # N x 3 x S x S by broadcasting
        helper.make_node("Add", ["scaled", "lift"], ["lifted"]),
        helper.make_node("Clip", ["lifted", "lo", "hi"], ["clipped"]),
        helper.make_node("Cast", ["clipped"], ["rgb"], to=TensorProto.UINT8),
    ]
    inits = [numpy_helper.from_array(np.array([1.0, 0.84, 0.62], np.float32).reshape(1, 3, 1, 1), "gain"),
             numpy_helper.from_array(np.array([0.0, 8.0, 12.0], np.float32).reshape(1, 3, 1, 1), "lift"),
             numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
             numpy_helper.from_array(np.array(255.0, np.float32), "hi")]
    card = make_card(task="colorize", architecture="fake_sepia", color_space="rgb", image_size=size,
                     output_roles=["rgb"], batch={"min": 1, "opt": 4, "max": 8}, precision="fp32", opset=18,
                     checkpoint_sha256="")
    return _save(path, nodes, inits, {"rgb": 3}, card)
