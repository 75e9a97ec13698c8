"""Fixtures for the runtime tests (the tiny pix2pix models come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from .helpers import make_restore_onnx


@pytest.fixture(scope="session")
def restore_onnx(tmp_path_factory):
    return make_restore_onnx(tmp_path_factory.mktemp("restore") / "fake_restore.onnx")
