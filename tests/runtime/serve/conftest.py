"""Inputs and runtime-infer's own outputs for them: what every serving test compares against."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ..helpers import noise, smooth


def make_inputs(folder: Path) -> list[Path]:
    """Five inputs of different formats, modes and sizes (none square, none the model's size)."""
    folder.mkdir(parents=True, exist_ok=True)
    pictures = [
        ("gray.png", Image.fromarray(smooth(40, 57, seed=1)).convert("L"), {}),
        ("photo.jpg", Image.fromarray(smooth(64, 48, seed=2)), {"quality": 90}),
        ("alpha.png", Image.fromarray(np.dstack([smooth(33, 70, seed=3), noise(33, 70, seed=4)]), "RGBA"), {}),
        ("deep.png", Image.fromarray(smooth(50, 45, seed=5)[..., 0].astype(np.uint16) * 257), {}),
        # Ends with a zero byte (row padding): a BYTES element must reach the server whole, not NUL-stripped.
        ("noise.bmp", Image.fromarray(noise(29, 31, seed=6)), {}),
    ]
    paths = []
    for name, im, options in pictures:
        im.save(folder / name, **options)
        paths.append(folder / name)
    assert paths[-1].read_bytes().endswith(b"\x00")
    return paths


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


@pytest.fixture(scope="package")
def serve_models(tiny_onnx, restore_onnx) -> list[Path]:
    """Restore then colorize: every output the server has (image and restored) is exercised."""
    return [restore_onnx, tiny_onnx["lab"]]


@pytest.fixture(scope="package")
def serve_inputs(tmp_path_factory, serve_models) -> dict[str, dict]:
    """name -> {"bytes": the input file, "image"/"restored": runtime-infer's pixels for it}."""
    from revive.runtime.cli import main

    root = tmp_path_factory.mktemp("serve")
    paths = make_inputs(root / "in")
    argv = [str(root / "in"), "-o", str(root / "out"), "--save-restored", "--no-progress", "--format", "png"]
    for model in serve_models:
        argv += ["--engine", str(model)]
    assert main(argv) == 0
    return {p.name: {"bytes": p.read_bytes(),
                     "image": pixels((root / "out" / f"{p.stem}.png").read_bytes()),
                     "restored": pixels((root / "out" / f"{p.stem}.restored.png").read_bytes())}
            for p in paths}
