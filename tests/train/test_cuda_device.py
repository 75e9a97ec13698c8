"""revive-train --device cuda on a machine without a GPU: one line, exit 2, nothing written."""

from __future__ import annotations

import pytest
import torch

from revive.train import cli

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")

TINY = ["--data", "sample", "--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "2",
        "--max-steps", "1", "--workers", "0"]


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
@pytest.mark.parametrize("family", ["pix2pix", "two-stage"])
def test_device_cuda_without_a_gpu_is_one_line(tmp_path, capsys, device, family):
    args = TINY if family == "pix2pix" else [a for a in TINY if a not in ("--ngf", "--ndf", "8")]
    code = cli.main([family, *args, "--device", device, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"revive-train: --device {device}: this PyTorch build sees no CUDA device\n"
    assert not (tmp_path / "run").exists()


def test_an_unknown_device_names_the_choices(tmp_path, capsys):
    assert cli.main(["pix2pix", *TINY, "--device", "tpu", "--out", str(tmp_path / "run")]) == 2
    assert "use auto, cpu, cuda or cuda:N" in capsys.readouterr().err
