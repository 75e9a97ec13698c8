"""revive-train against a hostile user (issue 15): nothing of theirs replaced, bad input gets one line and exit 2."""

from __future__ import annotations

import pytest

from revive.train import cli
from revive.train.checkpoint import CheckpointError
from revive.train.loop import check_run_folder

TINY = ["--data", "sample", "--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "4",
        "--max-steps", "1", "--workers", "0"]


def test_a_new_run_never_replaces_an_earlier_runs_checkpoints(tmp_path, capsys):
    """Finding 4: a second run into the same (default) folder silently replaced best.pt and last.pt."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"the first run's weights")
    (run / "best.pt").write_bytes(b"the first run's best weights")
    assert cli.main(["pix2pix", *TINY, "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err and "Traceback" not in err
    assert (run / "last.pt").read_bytes() == b"the first run's weights"
    assert (run / "best.pt").read_bytes() == b"the first run's best weights"
    nested = tmp_path / "two" / "restore"  # two-stage runs keep their checkpoints one level down
    nested.mkdir(parents=True)
    (nested / "last.pt").write_bytes(b"x")
    with pytest.raises(CheckpointError):
        check_run_folder(tmp_path / "two")
    check_run_folder(tmp_path / "two", resume=str(nested / "last.pt"))
    check_run_folder(tmp_path / "two", overwrite=True)
    check_run_folder(tmp_path / "new")


def test_overwrite_starts_afresh(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"old")
    assert cli.main(["pix2pix", *TINY, "--out", str(run), "--overwrite"]) == 0
    assert (run / "last.pt").read_bytes() != b"old"
