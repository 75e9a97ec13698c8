"""Atomic writes: whole files only, with the permissions open() would give (issue 15, finding 12)."""

from __future__ import annotations

import os
import stat

import pytest

from revive.runtime.files import write_atomic


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_new_files_honour_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        write_atomic(tmp_path / "a.png", b"data")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == 0o666 & ~umask
    assert not list(tmp_path.glob(".*.part"))


def test_a_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("{}")
    target.chmod(0o640)
    write_atomic(target, b"{\"new\": 1}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_bytes() == b"{\"new\": 1}"
