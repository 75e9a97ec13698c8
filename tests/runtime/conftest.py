"""Fixtures for the runtime tests (the tiny pix2pix models come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from .helpers import make_restore_onnx


@pytest.fixture(scope="session")
def restore_onnx(tmp_path_factory):
    return make_restore_onnx(tmp_path_factory.mktemp("restore") / "fake_restore.onnx")


@pytest.fixture(scope="session")
def smoothing_onnx(tmp_path_factory):
    """32-px and 256-px restore models whose network is a fixed 3 x 3 box filter inside RestoreGraph."""
    from revive.benchmarks.scan_memory import make_box_filter_restore

    folder = tmp_path_factory.mktemp("smoothing")
    return {size: make_box_filter_restore(folder / f"box_{size}.onnx", size) for size in (32, 256)}
