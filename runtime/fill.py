"""``--fill classical``: the restorer's damage mask, filled from the undamaged pixels around it (push-pull).

The bundled restorer finds scan damage (scratches, dust, folds) far better than a classical detector, but a
small network's own reconstruction of a 1-8 px hole can lose to classical inpainting, which only has to
carry the surrounding levels inward. So the runtime can keep the network's mask and fill it classically:

- the hole is where the mask's blend weight ``w`` is above 0 (``composite.mask_weight``), not grown: growing
  it by 1 px filled more undamaged texture than it saved at the marks' rims (README "Bundled models");
- nothing switches: the pyramid trusts a pixel by ``(1 - w) ** SOURCE_POWER`` and the fill is laid on by
  ``w``, so a mask that moves by a level (another batch size, FP16, INT8) moves the fill by little;
- push-pull interpolation (Gortler et al., "The Lumigraph", 1996): a pyramid of 2 x 2 sums of the valid
  pixels and of their count, down to a few pixels; then, from the coarsest level up, each level's average
  where it has valid pixels, blended with the bilinearly upsampled coarser estimate by the count (clipped
  at one). Every hole pixel gets a smooth average of the nearest valid ones at the scale the hole needs,
  in O(pixels) numpy work: no OpenCV in the runtime;
- the filled picture is the same soft composite as a network's reconstruction
  (``restored = input + w * (fill - input)``), so undamaged pixels stay exactly as they were.

It works on the gray the restorer saw (the input's own resolution with tiles, or the smaller view) and
returns a ``restored``/``mask`` pair the composites of composite.py and composite16.py take as they are.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .composite import mask_weight

__all__ = ["DEFAULT_FILL", "FILLS", "classical_fill", "surroundings"]

FILLS = ("model", "classical")
DEFAULT_FILL = "classical"  # README "Bundled models" has the figures that chose it
SOURCE_POWER = 3  # measured: README "Bundled models"
_MIN_SIDE = 2  # the pyramid stops when a level is this small


def surroundings(values: np.ndarray, trust: np.ndarray) -> np.ndarray:
    """float32 H x W: each pixel's estimate from the trusted pixels around it (push-pull, docstring), before
    its own value is blended in; ``trust`` is boolean or a float weight in [0, 1]."""
    t0 = np.asarray(trust, np.float32)
    sums, counts = [np.asarray(values, np.float32) * t0], [t0]
    while min(sums[-1].shape) > _MIN_SIDE and (len(sums) == 1 or counts[-1].min() == 0.0):
        s, c = sums[-1], counts[-1]
        h, w = s.shape
        ph, pw = h % 2, w % 2
        if ph or pw:  # odd sides: the last row or column counts once more, as its own neighbour
            s, c = np.pad(s, ((0, ph), (0, pw)), mode="edge"), np.pad(c, ((0, ph), (0, pw)), mode="edge")
        sums.append(s.reshape(s.shape[0] // 2, 2, s.shape[1] // 2, 2).sum(axis=(1, 3)))
        counts.append(c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).sum(axis=(1, 3)))
    if counts[-1].max() == 0.0:  # nothing trusted at all: nothing to carry in
        return np.asarray(values, np.float32).copy()
    coarse = sums[-1] / np.maximum(counts[-1], 1e-6)
    coarse[counts[-1] == 0] = float(coarse[counts[-1] > 0].mean())
    for level in range(len(sums) - 2, -1, -1):
        h, w = sums[level].shape
        up = np.asarray(Image.fromarray(coarse, "F").resize((w, h), Image.Resampling.BILINEAR))
        if level == 0:
            return up
        c = counts[level]
        trust_here = np.minimum(c, 1.0)
        coarse = trust_here * (sums[level] / np.maximum(c, 1e-6)) + (1.0 - trust_here) * up
    return coarse  # a picture of _MIN_SIDE px or less: its one level


def classical_fill(gray: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 gray (what the restorer saw) and its uint8 mask, same size -> (restored, mask), uint8.

    ``restored`` is already the soft composite of the push-pull fill (pixels of weight 0 keep their level
    exactly), so the runtime's composite of composite.py takes it as a network's blended output.
    """
    weight = mask_weight(mask)
    hole = weight > 0.0
    if not hole.any():
        return gray, mask
    # the pyramid trusts a pixel by (1 - w) ** SOURCE_POWER (a mark's soft rim, itself part damaged, hardly
    # feeds the fill) and the estimate is laid on by w: both move smoothly with the mask
    around = surroundings(gray, (1.0 - weight) ** SOURCE_POWER)[hole]
    w, own = weight[hole], gray[hole].astype(np.float32)
    restored = gray.copy()
    restored[hole] = np.clip(np.rint(own + w * (around - own)), 0, 255).astype(np.uint8)
    return restored, mask
