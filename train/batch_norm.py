"""Recompute BatchNorm running statistics for the weights a run ends with ("precise BN").

Running statistics are an exponential average (momentum 0.1) over the last few
dozen batches, taken while the weights were still moving. With a short run at a
high learning rate they describe older weights than the ones saved, and the
exported model (which always runs in eval mode) sees activations normalised
with stale means and variances: measured on the demo's restorer, the eval-mode
mask IoU lagged the train-mode one by 0.05-0.10
(benchmarks/results/cpu-2core/restorer_experiments.md). A forward pass over a
few training batches with cumulative averaging fixes that at the cost of
those forwards, without touching a weight.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["recalibrate_batch_norm"]


@torch.no_grad()
def recalibrate_batch_norm(net: nn.Module, inputs: Iterable[torch.Tensor]) -> int:
    """Reset every BatchNorm's running mean and variance to the plain average over ``inputs``.

    Returns the number of batches seen (0 leaves the statistics as they were). The
    net is left in the mode it was in, and each layer's momentum as it was.
    """
    layers = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    batches = list(inputs)
    if not layers or not batches:
        return 0
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch counts the same
    was_training = net.training
    net.train()
    for x in batches:
        net(x)
    for m, momentum in zip(layers, momenta):
        m.momentum = momentum
    net.train(was_training)
    return len(batches)
