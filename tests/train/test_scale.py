"""Training at scale, checked on CPU: two-process DDP (gloo) and exact resume."""

import json
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

from revive.train import cli
from revive.train.checkpoint import load_checkpoint

TINY = ["pix2pix", "--mode", "lab", "--data", "sample", "--image-size", "32", "--ngf", "8", "--ndf", "8",
        "--batch-size", "16", "--workers", "0", "--val-fraction", "0.15"]
TIMING_KEYS = {"images_per_s"}


def history(run):
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS}
            for row in json.loads((run / "metrics.json").read_text())]


def test_resume_reproduces_the_uninterrupted_run_step_for_step(tmp_path):
    args = TINY + ["--epochs", "3", "--epochs-decay", "2", "--seed", "5"]
    assert cli.main(args + ["--out", str(tmp_path / "straight")]) == 0
    steps_per_epoch = history(tmp_path / "straight")[0]["step"]
    assert cli.main(args + ["--out", str(tmp_path / "cut"), "--max-steps", str(steps_per_epoch)]) == 0
    assert len(history(tmp_path / "cut")) == 1
    assert cli.main(args + ["--out", str(tmp_path / "cut"), "--resume", str(tmp_path / "cut" / "last.pt")]) == 0
    straight, resumed = history(tmp_path / "straight"), history(tmp_path / "cut")
    assert len(straight) == len(resumed) == 3
    for a, b in zip(straight, resumed):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key
    assert straight[-1]["lr_generator"] < straight[0]["lr_generator"]  # the linear decay ran
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "last.pt")["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)


def test_resume_refuses_a_checkpoint_without_training_state(tmp_path, tiny_checkpoints, capsys):
    assert cli.main(TINY + ["--out", str(tmp_path), "--resume", str(tiny_checkpoints["lab"])]) == 2
    assert "no training state" in capsys.readouterr().err


RECORDING_LAUNCHER = textwrap.dedent("""
    # Runs revive-train under torchrun, recording which rank writes which file.
    import os, sys
    from pathlib import Path
    import revive.train.loop as loop
    log = Path(sys.argv[1]) / f"writes.rank{os.environ['RANK']}"
    def recorder(fn):
        def wrapped(path, *a, **k):
            with open(log, "a") as f:
                f.write(str(path) + "\\n")
            return fn(path, *a, **k)
        return wrapped
    loop.save_checkpoint = recorder(loop.save_checkpoint)
    loop.write_history = recorder(loop.write_history)
    from revive.train.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_trains_and_only_rank_0_writes(tmp_path):
    launcher = tmp_path / "launch.py"
    launcher.write_text(RECORDING_LAUNCHER)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()), str(launcher), str(tmp_path),
           *TINY, "--epochs", "1", "--max-steps", "3", "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "writes.rank0").read_text().count("last.pt") == 1
    assert not (tmp_path / "writes.rank1").exists()
    assert cli.main(TINY + ["--epochs", "1", "--max-steps", "3", "--out", str(tmp_path / "single")]) == 0
    ddp, single = load_checkpoint(out / "last.pt"), load_checkpoint(tmp_path / "single" / "last.pt")
    assert ddp["model"].keys() == single["model"].keys()
    assert ddp["state"].keys() == single["state"].keys()
    assert ddp["state"]["nets"]["discriminator"].keys() == single["state"]["nets"]["discriminator"].keys()
    assert ddp["config"].keys() == single["config"].keys()
    assert ddp["config"]["step"] == 3 and "val_psnr" in ddp["config"]["metrics"]
