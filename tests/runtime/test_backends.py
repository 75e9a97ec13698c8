"""The backend template and registry: one file adds a backend; every backend's tensors are held to its card."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import onnx
import pytest
from PIL import Image

from revive.runtime import cli
from revive.runtime.backends import BackendError, backend_names, open_backend, register
from revive.runtime.card import CARD_KEY, CardError, card_path_for_engine, read_card, read_onnx_card, write_card_json
from revive.runtime.onnx_metadata import read_metadata_props

TOY_BACKEND = '''
import numpy as np

from revive.runtime.backends.base import Backend


class ToyBackend(Backend):
    """Colorizes by replicating gray into R, G and B: a backend with nothing to load."""

    name = "toy"
    suffixes = (".toy",)

    def _load(self):
        self.calls = 0

    def _tensors(self):
        return {s.name: (s.dtype, tuple(d if isinstance(d, int) else None for d in s.shape))
                for s in [*self.card.inputs, *self.card.outputs]}

    def _run(self, gray):
        self.calls += 1
        return {"rgb": np.repeat(gray, 3, axis=1)}
'''


@pytest.fixture
def toy_backend(tmp_path, monkeypatch, tiny_onnx):
    """A throwaway backend registered through the registry alone, and a model file it opens."""
    (tmp_path / "toy_backend.py").write_text(textwrap.dedent(TOY_BACKEND))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_backend", raising=False)
    from revive.runtime import backends

    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    register("toy", "toy_backend", "ToyBackend", (".toy",))
    model = tmp_path / "gray.toy"
    model.write_bytes(b"toy")
    write_card_json(read_card(tiny_onnx["rgb"]), card_path_for_engine(model))
    return model


def test_a_registered_backend_runs_end_to_end(toy_backend, tmp_path):
    assert "toy" in backend_names()
    src = tmp_path / "in"
    src.mkdir()
    gray = np.random.default_rng(0).integers(0, 256, (20, 24), dtype=np.uint8)
    Image.fromarray(gray).save(src / "a.png")
    assert cli.main(["--engine", str(toy_backend), str(src), "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    assert out.shape == (20, 24, 3)
    # Gray in R, G and B composited on the input's own luminance gives the input back.
    assert np.abs(out.astype(int) - gray[..., None]).max() <= 1


def test_backend_is_chosen_by_name_or_suffix(toy_backend, tiny_onnx):
    with open_backend(toy_backend) as backend:
        assert backend.name == "toy" and backend.card.task == "colorize"
    with pytest.raises(BackendError, match="unknown backend 'openvino'"):
        open_backend(tiny_onnx["rgb"], backend="openvino")
    with open_backend(tiny_onnx["rgb"], backend="onnxruntime", device="cpu") as backend:
        assert backend.name == "onnxruntime"


def test_model_paths_that_are_not_files_say_what_they_are(tmp_path):
    folder = tmp_path / "x.onnx"
    folder.mkdir()
    with pytest.raises(BackendError, match="is a folder, not a model file"):
        open_backend(folder)
    with pytest.raises(BackendError, match="no such model file"):
        open_backend(tmp_path / "missing.onnx")


def _with_card(src, dst, **changes):
    proto = onnx.load(str(src))
    card = read_onnx_card(proto).replace(**changes)
    for prop in proto.metadata_props:
        if prop.key == CARD_KEY:
            prop.value = card.to_json()
    onnx.save(proto, str(dst))
    return dst


def test_a_card_whose_shapes_differ_from_the_graph_is_refused(tiny_onnx, tmp_path):
    card = read_card(tiny_onnx["rgb"])
    s = 2 * card.image_size
    lying = _with_card(tiny_onnx["rgb"], tmp_path / "lying.onnx", image_size=s,
                       inputs=[{**card.inputs[0].__dict__, "shape": ["batch", 1, s, s]}],
                       outputs=[{**card.outputs[0].__dict__, "shape": ["batch", 3, s, s]}])
    with pytest.raises(BackendError, match="tensor 'gray' is N x 1 x 32 x 32 in the model, N x 1 x 64 x 64 in the card"):
        open_backend(lying, device="cpu")


def test_metadata_reader_agrees_with_onnx(tiny_onnx):
    for path in tiny_onnx.values():
        expected = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        assert read_metadata_props(path) == expected
        assert read_card(path) == read_onnx_card(onnx.load(str(path)))


@pytest.mark.parametrize("content, words", [
    (b"", "empty file"),
    (b"\xff" * 32, "not a readable ONNX model"),
    (b"PK\x03\x04 a zip, as torch.save writes", "not a readable ONNX model|no 'revive.card'"),
])
def test_files_that_are_not_onnx_are_refused_with_a_reason(tmp_path, content, words):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(CardError, match=words):
        read_card(path)


def test_a_truncated_model_is_refused(tiny_onnx, tmp_path):
    data = tiny_onnx["rgb"].read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(CardError):
        read_card(path)
