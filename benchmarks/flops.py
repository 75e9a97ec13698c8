"""Model FLOPs, counted by PyTorch itself (``torch.utils.flop_counter.FlopCounterMode``).

The counter sees every convolution, transposed convolution and matmul the graph
dispatches and counts 2 FLOPs per multiply-add; element-wise work (activations,
normalisation, the colour tail) is not counted, so "achieved TFLOP/s" means the
network's dense arithmetic per second, the figure GPU peak ratings quote.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["count_flops", "graph_flops_per_image", "tflops"]


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of everything ``fn`` dispatches (forward and, if it runs one, backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def graph_flops_per_image(graph: torch.nn.Module, image_size: int, device: str | torch.device = "cpu") -> int:
    """Forward FLOPs of an export graph (uint8 N x 1 x S x S in) for one image."""
    x = torch.zeros(1, 1, image_size, image_size, dtype=torch.uint8, device=device)
    with torch.inference_mode():
        return count_flops(lambda: graph(x))


def tflops(flops_per_image: int | None, images_per_s: float | None) -> float | None:
    if not flops_per_image or not images_per_s:
        return None
    return flops_per_image * images_per_s / 1e12
