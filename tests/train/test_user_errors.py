"""revive-train against a hostile user (issue 15): nothing of theirs replaced, bad input gets one line and exit 2."""

from __future__ import annotations

import re
from pathlib import Path

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
    with pytest.raises(CheckpointError, match=re.escape(f"--resume {nested / 'last.pt'}")):  # the stage's own, not OUT/last.pt
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


def test_unreadable_training_images_are_left_out_by_name(tmp_path, caplog):
    """Finding 7: one truncated PNG among good ones ended training in a traceback."""
    import io

    import numpy as np
    from PIL import Image

    from revive.train.data import DataError, discover

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(data / f"ok{i}.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).convert("CMYK").save(data / "cmyk.jpg")
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    (data / "truncated.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (data / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (data / "text.png").write_text("not a picture")
    (data / "empty.jpg").write_bytes(b"")
    with caplog.at_level("WARNING"):
        items = discover(data)
    assert sorted(it.key for it in items) == sorted([f"ok{i}.png" for i in range(6)] + ["cmyk.jpg"])
    for name in ("truncated.png", "truncated.jpg", "text.png", "empty.jpg"):
        assert name in caplog.text
    assert "4 of 11" in caplog.text
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_text("no")
    (junk / "b.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="none of its 2"):
        discover(junk)


def test_training_on_a_folder_with_a_bad_file_runs(tmp_path):
    import numpy as np
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(data / f"ok{i}.png")
    (data / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    args = ["pix2pix", "--data", str(data), "--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "2",
            "--max-steps", "1", "--workers", "0", "--out", str(tmp_path / "run")]
    assert cli.main(args) == 0
    assert (tmp_path / "run" / "last.pt").is_file()


def test_resume_with_other_model_flags_names_the_field(tmp_path, capsys):
    """Finding 10: --resume of a checkpoint whose config does not match the run ended in a RuntimeError."""
    run = tmp_path / "run"
    assert cli.main(["pix2pix", *TINY, "--out", str(run)]) == 0
    capsys.readouterr()
    other = [a if a != "8" else "16" for a in TINY]  # --ngf 16 --ndf 16
    assert cli.main(["pix2pix", *other, "--out", str(run), "--resume", str(run / "last.pt"),
                     "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "ngf" in err and "Traceback" not in err


@pytest.mark.parametrize("flags", [["--epochs", "0"], ["--epochs", "-1"], ["--image-size", "0"],
                                   ["--image-size", "-64"], ["--image-size", "48"], ["--workers", "100000"],
                                   ["--batch-size", "0"], ["--lr", "nan"], ["--val-fraction", "1"],
                                   ["--device", "tpu"], ["--epochs", "many"], ["--no-such-flag"]])
def test_out_of_range_flags_are_one_line_and_exit_two(flags, tmp_path, capsys):
    """Finding 11: --epochs 0 exited 0 with an empty run folder; --image-size 0/-64 and --workers 100000
    ended in OverflowError, NaN and thread-creation tracebacks."""
    args = [a for a in TINY if a not in ("--workers", "0")] if "--workers" in flags else TINY
    assert cli.main(["pix2pix", *args, "--out", str(tmp_path / "run"), *flags]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()
    assert not (tmp_path / "run").exists() or not list((tmp_path / "run").iterdir())


def test_help_exits_zero(capsys):
    assert cli.main(["--help"]) == 0 and cli.main(["pix2pix", "--help"]) == 0 and cli.main([]) == 2


def test_an_encoder_weights_file_that_cannot_be_used_is_an_error(tmp_path, capsys):
    """Finding 13: a missing or malicious --encoder-weights file only warned and trained from random weights."""
    import pickle

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(print))  # a pickle that is not tensors: weights_only refuses it
    for weights in (str(tmp_path / "missing.safetensors"), str(evil)):
        code = cli.main(["restore", "--data", "sample", "--image-size", "32", "--encoder-weights", weights,
                         "--batch-size", "2", "--max-steps", "1", "--workers", "0", "--out", str(tmp_path / "r")])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err and Path(weights).name in err, err
