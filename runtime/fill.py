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

__all__ = ["DEFAULT_FILL", "FILLS", "classical_fill", "push_pull"]

FILLS = ("model", "classical")
DEFAULT_FILL = "classical"  # README "Bundled models" has the figures that chose it
SOURCE_POWER = 3  # measured: README "Bundled models"
_MIN_SIDE = 2  # the pyramid stops when a level is this small


def push_pull(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """float32 H x W: ``values`` where ``valid``, elsewhere interpolated from the valid pixels (docstring).

    ``valid`` is boolean or a float trust in [0, 1]: a pixel of trust t keeps t of its own value and takes the
    rest from the coarser estimate, so the result moves smoothly with the trust (a mask that changes by a
    rounding error cannot swing the fill)."""
    trust0 = valid.astype(np.float32)
    sums = [(values * trust0).astype(np.float32)]
    counts = [trust0]
    while min(sums[-1].shape) > _MIN_SIDE and counts[-1].min() == 0.0:
        s, c = sums[-1], counts[-1]
        h, w = s.shape
        ph, pw = h % 2, w % 2
        if ph or pw:  # odd sides: the last row or column counts once more, as its own neighbour
            s, c = np.pad(s, ((0, ph), (0, pw)), mode="edge"), np.pad(c, ((0, ph), (0, pw)), mode="edge")
        sums.append(s.reshape(s.shape[0] // 2, 2, s.shape[1] // 2, 2).sum(axis=(1, 3)))
        counts.append(c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).sum(axis=(1, 3)))
    coarse = sums[-1] / np.maximum(counts[-1], 1e-6)
    if counts[-1].max() == 0.0:  # nothing valid at all: nothing to carry in
        return values.astype(np.float32)
    coarse[counts[-1] == 0] = float(coarse[counts[-1] > 0].mean())
    for s, c in zip(reversed(sums[:-1]), reversed(counts[:-1])):
        h, w = s.shape
        up = np.asarray(Image.fromarray(coarse, "F").resize((w, h), Image.Resampling.BILINEAR))
        trust = np.minimum(c, 1.0)
        own = s / np.maximum(c, 1e-6)
        coarse = trust * own + (1.0 - trust) * up
    return coarse


def classical_fill(gray: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 gray (what the restorer saw) and its uint8 mask, same size -> (restored, mask), uint8.

    ``restored`` is already the soft composite of the push-pull fill (pixels of weight 0 keep their level
    exactly), so the runtime's composite of composite.py takes it as a network's blended output.
    """
    weight = mask_weight(mask)
    if not (weight > 0.0).any():
        return gray, mask
    # the pyramid trusts a pixel by (1 - w) ** SOURCE_POWER (a mark's soft rim, itself part damaged, hardly
    # feeds the fill) and the result is laid on by w: both move smoothly with the mask
    base = gray.astype(np.float32)
    trust = (1.0 - weight) ** SOURCE_POWER
    filled = push_pull(base, trust)
    around = np.where(trust < 1.0, (filled - trust * base) / np.maximum(1.0 - trust, 1e-6), base)
    return np.clip(np.rint(base + weight * (around - base)), 0, 255).astype(np.uint8), mask
