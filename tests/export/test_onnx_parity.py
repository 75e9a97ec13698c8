"""Exported ONNX graphs compute what PyTorch computes, with the card the runtime needs."""

import numpy as np
import onnx
import pytest
import torch

from revive.export.graph import ColorizeGraph
from revive.export.to_onnx import export_checkpoint, main
from revive.runtime.backends import open_backend
from revive.runtime.card import read_card
from revive.train.checkpoint import build_model, load_checkpoint


def torch_reference(ckpt, gray):
    payload = load_checkpoint(ckpt)
    graph = ColorizeGraph(build_model(payload["config"], payload["model"]), payload["config"]["color_space"])
    with torch.no_grad():
        return graph.eval()(torch.from_numpy(gray)).numpy()


def assert_uint8_close(actual, expected):
    """The foundation's tolerance: >= 99.9 % of values within 1 level, none beyond 2."""
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    assert actual.shape == expected.shape and actual.dtype == np.uint8
    assert (diff <= 1).mean() >= 0.999, f"{(diff > 1).mean():.4%} beyond 1 level"
    assert diff.max() <= 2, f"max difference {diff.max()}"


@pytest.mark.parametrize("model", ["rgb", "lab", "lab_fp16"])
@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_matches_pytorch(tiny_onnx, tiny_checkpoints, model, batch):
    gray = np.random.default_rng(batch).integers(0, 256, (batch, 1, 32, 32), dtype=np.uint8)
    with open_backend(tiny_onnx[model], device="cpu") as backend:
        out = backend.run(gray)["rgb"]
    assert_uint8_close(out, torch_reference(tiny_checkpoints[model.split("_")[0]], gray))


def test_card_describes_the_graph(tiny_onnx):
    card = read_card(tiny_onnx["lab"])
    assert (card.task, card.color_space, card.image_size, card.precision) == ("colorize", "lab", 32, "fp32")
    assert card.batch == {"min": 1, "opt": 8, "max": 8}
    assert card.input.shape == ["batch", 1, 32, 32] and card.output("rgb").shape == ["batch", 3, 32, 32]
    assert len(card.checkpoint_sha256) == 64 and card.producer["torch"] == torch.__version__
    assert read_card(tiny_onnx["lab_fp16"]).precision == "fp16"


def test_graph_io_is_uint8_with_a_dynamic_batch(tiny_onnx):
    model = onnx.load(str(tiny_onnx["rgb"]))
    onnx.checker.check_model(model, full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.type.tensor_type.elem_type == out.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert inp.type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)  # folded in eval mode


def test_cli_writes_beside_the_checkpoint_and_rejects_non_checkpoints(tiny_checkpoints, tmp_path, capsys):
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(tiny_checkpoints["rgb"].read_bytes())
    assert main([str(ckpt), "--max-batch", "4"]) == 0
    assert read_card(tmp_path / "m.onnx").batch["max"] == 4
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    assert main([str(bogus)]) == 2
    assert "not a loadable checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_full_size_unet_256_matches_pytorch(tmp_path):
    from revive.train.checkpoint import save_checkpoint
    from revive.train.models import create_model

    torch.manual_seed(0)
    kwargs = {"in_channels": 3, "out_channels": 3}
    ckpt = tmp_path / "unet256.pt"
    save_checkpoint(ckpt, create_model("pix2pix_unet", **kwargs),
                    {"task": "colorize", "architecture": "pix2pix_unet", "model_kwargs": kwargs,
                     "color_space": "rgb", "image_size": 256})
    export_checkpoint(ckpt, tmp_path / "unet256.onnx", max_batch=4)
    gray = np.random.default_rng(0).integers(0, 256, (3, 1, 256, 256), dtype=np.uint8)
    expected = torch_reference(ckpt, gray)
    with open_backend(tmp_path / "unet256.onnx", device="cpu") as backend:
        for n in (1, 3):
            assert_uint8_close(backend.run(gray[:n])["rgb"], expected[:n])


def test_export_script_runs_by_path(tiny_checkpoints, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "export" / "to_onnx.py"
    out = tmp_path / "by_path.onnx"
    subprocess.run([sys.executable, str(script), str(tiny_checkpoints["rgb"]), "-o", str(out)], check=True,
                   capture_output=True)
    assert read_card(out).task == "colorize"


@pytest.mark.parametrize("fp16", [False, True])
def test_cli_never_writes_over_its_checkpoint(tiny_checkpoints, tmp_path, capsys, fp16):
    """Finding 3 of issue 15: ``to_onnx ck.pt -o ck.pt`` exited 0 with ONNX bytes in the checkpoint."""
    ckpt = tmp_path / "last.pt"
    ckpt.write_bytes(tiny_checkpoints["rgb"].read_bytes())
    before = ckpt.read_bytes()
    args = [str(ckpt), "-o", str(ckpt)] if not fp16 else [str(ckpt), "-o", str(tmp_path / "last.onnx"), "--fp16"]
    if fp16:  # --fp16 writes NAME.fp16.onnx beside NAME.onnx: make that name the checkpoint
        ckpt.rename(tmp_path / "last.fp16.onnx")
        ckpt = tmp_path / "last.fp16.onnx"
        args[0] = str(ckpt)
    assert main(args) == 2
    err = capsys.readouterr().err
    # -o last.pt is not an ONNX name (the naming rule refuses it first); the FP16 twin over the input is a clash.
    assert ("overwrite the input" if fp16 else "ONNX models are named NAME.onnx") in err
    assert ckpt.read_bytes() == before
    assert main(["--help"]) == 0 and main(["--no-such-flag"]) == 2 and main([]) == 2


@pytest.mark.parametrize("change", ["ngf", "no_architecture", "unknown_architecture", "unknown_kwarg",
                                    "no_weights", "kwargs_string", "no_color_space", "size_string", "empty_file"])
def test_a_checkpoint_whose_config_disagrees_is_one_line(change, tiny_checkpoints, tmp_path, capsys):
    """Finding 10 of issue 15: RuntimeError/KeyError/TypeError tracebacks; now exit 2 naming the field."""
    import torch

    payload = torch.load(tiny_checkpoints["rgb"], weights_only=True)
    config = payload["config"]
    expect = {"ngf": "shape", "no_architecture": "architecture", "unknown_architecture": "architecture",
              "unknown_kwarg": "model_kwargs", "no_weights": "weights", "kwargs_string": "model_kwargs",
              "no_color_space": "color_space", "size_string": "image_size", "empty_file": "empty"}[change]
    if change == "ngf":
        config["model_kwargs"]["ngf"] = 16
    elif change == "no_architecture":
        del config["architecture"]
    elif change == "unknown_architecture":
        config["architecture"] = "resnet9000"
    elif change == "unknown_kwarg":
        config["model_kwargs"]["wings"] = 2
    elif change == "no_weights":
        del payload["model"]
    elif change == "kwargs_string":
        config["model_kwargs"] = "ngf=8"
    elif change == "no_color_space":
        del config["color_space"]
    elif change == "size_string":
        config["image_size"] = "32"
    ckpt = tmp_path / "odd.pt"
    if change == "empty_file":
        ckpt.write_bytes(b"")
    else:
        torch.save(payload, ckpt)
    assert main([str(ckpt), "-o", str(tmp_path / "odd.onnx")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert str(ckpt) in err and expect in err, err
    assert not (tmp_path / "odd.onnx").exists()
