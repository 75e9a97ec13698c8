"""--bn-recal: BatchNorm statistics recomputed as a plain average for the weights a run ends with."""

import torch
from torch import nn

from revive.train.batch_norm import recalibrate_batch_norm


def test_running_stats_become_the_average_over_the_batches():
    net = nn.Sequential(nn.BatchNorm2d(2), nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2))
    net[0].running_mean.fill_(7.0)  # stale statistics from "earlier weights"
    batches = [torch.randn(4, 2, 5, 5) * s + m for s, m in ((1.0, -2.0), (3.0, 1.0), (0.5, 4.0))]
    net.eval()
    assert recalibrate_batch_norm(net, batches) == 3
    means = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    variances = torch.stack([b.var(dim=(0, 2, 3), unbiased=True) for b in batches]).mean(0)
    assert torch.allclose(net[0].running_mean, means, atol=1e-5)
    assert torch.allclose(net[0].running_var, variances, atol=1e-4)
    assert net[0].momentum == 0.1 and not net.training


def test_no_batches_leaves_the_statistics_alone():
    net = nn.Sequential(nn.BatchNorm2d(2))
    net[0].running_mean.fill_(3.0)
    assert recalibrate_batch_norm(net.train(), []) == 0
    assert torch.equal(net[0].running_mean, torch.full((2,), 3.0)) and net.training
