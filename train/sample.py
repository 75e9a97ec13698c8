"""``sample``: a small built-in data set cut from the colour photographs inside scikit-image.

Every command has a default that runs on a fresh machine without a download:
the photos ship inside the scikit-image wheel. Each photo gives
``CROPS_PER_PHOTO`` square crops whose size (45-95 % of the short side) and
position are drawn from a fixed seed, so the set is the same everywhere. A
photo is a split group: crops of one photo never straddle train and validation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["CROPS_PER_PHOTO", "SAMPLE_PHOTOS", "sample_crops", "sample_photo"]

# scikit-image's colour photographs that need no download (colorwheel is a chart, not a photo).
SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                 "immunohistochemistry", "retina", "stereo_motorcycle")
CROPS_PER_PHOTO = 24
_SEED = 2017


@lru_cache(maxsize=None)
def sample_photo(name: str) -> np.ndarray:
    """The named photo as uint8 HxWx3 (cached: decoding the larger ones costs ~50 ms)."""
    import skimage.data

    if name not in SAMPLE_PHOTOS:
        raise ValueError(f"unknown sample photo {name!r}; choose one of: {', '.join(SAMPLE_PHOTOS)}")
    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo_motorcycle returns (left, right, disparity)
        image = image[0]
    image = np.ascontiguousarray(image[..., :3])
    image.setflags(write=False)
    return image


def sample_crops(name: str, count: int = CROPS_PER_PHOTO) -> list[tuple[int, int, int]]:
    """Deterministic square crops ``(top, left, side)`` of one photo."""
    h, w = sample_photo(name).shape[:2]
    rng = np.random.default_rng([_SEED, SAMPLE_PHOTOS.index(name)])
    crops = []
    for _ in range(count):
        side = int(rng.uniform(0.45, 0.95) * min(h, w))
        crops.append((int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1)), side))
    return crops
