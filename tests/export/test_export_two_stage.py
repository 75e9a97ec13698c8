"""Restore, colorize and fused pipeline graphs: cards, parity with PyTorch, chain == fusion."""

import numpy as np
import onnx
import pytest
import torch

from revive.export.fp16 import network_nodes
from revive.export.to_onnx import graph_from_checkpoint, pipeline_graph
from revive.runtime.backends import open_backend
from revive.runtime.card import read_card
from revive.runtime.composite import mask_weight

from tiny_unets import SIZE

pytestmark = pytest.mark.usefixtures("no_onednn")


def _batch(n, seed=0):
    rng = np.random.default_rng(seed)
    x = (np.linspace(0, 255, SIZE)[None, :] * np.ones((SIZE, 1)))[None, None].repeat(n, 0)
    return np.clip(x + rng.integers(-40, 41, x.shape), 0, 255).astype(np.uint8)


def _torch(graph, x):
    with torch.no_grad():
        out = graph(torch.from_numpy(x))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def _close(ours, reference, what):
    diff = np.abs(ours.astype(np.int16) - reference.astype(np.int16))
    assert ours.shape == reference.shape and ours.dtype == np.uint8, what
    assert (diff <= 1).mean() >= 0.999 and diff.max() <= 2, f"{what}: max diff {diff.max()}"


def test_cards_and_graph_structure(two_stage_onnx):
    cards = {name: read_card(path) for name, path in two_stage_onnx.items()}
    assert cards["restore"].task == "restore" and [o.role for o in cards["restore"].outputs] == ["restored", "mask"]
    assert cards["colorize"].task == "colorize" and cards["colorize"].architecture == "smp_unet_colorizer"
    assert cards["pipeline"].task == "pipeline"
    assert [o.role for o in cards["pipeline"].outputs] == ["rgb", "restored", "mask"]
    assert set(cards["pipeline"].checkpoint_sha256) == {"restore", "colorize"}
    model = onnx.load(str(two_stage_onnx["pipeline"]))
    onnx.checker.check_model(model, full_check=True)
    inside = network_nodes(model)  # both networks carry their scopes: FP16 conversion finds them
    scopes = {str(p.value) for n in model.graph.node if n.name in inside for p in n.metadata_props
              if p.key == "pkg.torch.onnx.name_scopes"}
    assert any("restorer" in s for s in scopes) and any("colorizer" in s for s in scopes)
    assert len(inside) < len(model.graph.node)  # the uint8 casts, composite and rounding stay outside


@pytest.fixture(scope="module")
def backends(two_stage_onnx):
    return {k: open_backend(path, device="cpu") for k, path in two_stage_onnx.items()}


@pytest.fixture(scope="module")
def torch_graphs(two_stage_checkpoints):
    ck = two_stage_checkpoints
    return {"pipeline": pipeline_graph(ck["restore"], ck["colorize"])[0],
            "restore": graph_from_checkpoint(ck["restore"])[0], "colorize": graph_from_checkpoint(ck["colorize"])[0]}


@pytest.mark.parametrize("n", [1, 3])
def test_chained_models_equal_the_fused_pipeline_and_match_pytorch(backends, torch_graphs, n):
    x = _batch(n, seed=n)
    restore, colorize, pipeline = backends["restore"], backends["colorize"], backends["pipeline"]
    chained = restore.run(x)
    chained["rgb"] = colorize.run(chained["restored"])["rgb"]
    fused = pipeline.run(x)
    for role in ("rgb", "restored", "mask"):
        assert np.array_equal(chained[role], fused[role]), role
    # The soft composite: the input exactly where the weight is 0; the tiny restorer's masks span the ramp.
    weight = mask_weight(fused["mask"])
    keep = weight == 0
    assert keep.any() and (weight == 1).any() and ((weight > 0) & (weight < 1)).any()
    assert np.array_equal(fused["restored"][keep], x[keep])
    # PyTorch parity of each graph.
    rgb, restored, mask = _torch(torch_graphs["pipeline"], x)
    _close(fused["rgb"], rgb, "pipeline rgb")
    _close(fused["restored"], restored, "pipeline restored")
    _close(fused["mask"], mask, "pipeline mask")
    restored_t, mask_t = _torch(torch_graphs["restore"], x)
    _close(chained["restored"], restored_t, "restore restored")
    _close(chained["mask"], mask_t, "restore mask")
    (rgb_t,) = _torch(torch_graphs["colorize"], chained["restored"])
    _close(chained["rgb"], rgb_t, "colorize rgb")


def test_pipeline_refuses_mismatched_checkpoints(two_stage_checkpoints):
    from revive.train.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="restore"):
        pipeline_graph(two_stage_checkpoints["colorize"], two_stage_checkpoints["colorize"])


def test_runtime_infer_pipeline_and_chain_write_identical_pictures(two_stage_onnx, tmp_path):
    cli = pytest.importorskip("revive.runtime.cli")
    from PIL import Image

    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(5)
    for name, shape in (("wide", (50, 90)), ("square", (SIZE, SIZE))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(inputs / f"{name}.png")
    for size in ("native", "model"):
        # --tile off: the chained restorer sees the whole picture at S x S, as the fused graph does; --fill
        # model: the fused graph's colorizer sees the network's own fill.
        common = [str(inputs), "--size", size, "--save-restored", "--no-progress", "--device", "cpu", "--tile", "off",
                  "--fill", "model"]
        fused, chained = tmp_path / f"fused_{size}", tmp_path / f"chained_{size}"
        assert cli.main(["--engine", str(two_stage_onnx["pipeline"]), "-o", str(fused), *common]) == 0
        assert cli.main(["--engine", str(two_stage_onnx["restore"]), "--engine", str(two_stage_onnx["colorize"]),
                         "-o", str(chained), *common]) == 0
        written = sorted(p.relative_to(fused) for p in fused.rglob("*.png"))
        assert len(written) == 4  # picture + restored gray per input
        assert written == sorted(p.relative_to(chained) for p in chained.rglob("*.png"))
        for rel in written:
            a, b = np.asarray(Image.open(fused / rel)), np.asarray(Image.open(chained / rel))
            assert np.array_equal(a, b), f"{size} {rel}"


def test_runtime_infer_refuses_to_tile_with_a_fused_pipeline(two_stage_onnx, tmp_path, capsys):
    cli = pytest.importorskip("revive.runtime.cli")
    from PIL import Image

    Image.fromarray(np.zeros((300, 400), np.uint8)).save(tmp_path / "scan.png")
    args = ["--engine", str(two_stage_onnx["pipeline"]), str(tmp_path / "scan.png"), "-o", str(tmp_path / "out"),
            "--no-progress", "--device", "cpu"]
    assert cli.main(args) == 2
    assert "two halves" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert cli.main(args + ["--tile", "off"]) == 0
