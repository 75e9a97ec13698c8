"""The scan-like evaluation set ``revive-bench restore-quality`` builds when it is given no ``--inputs``.

Old prints reach an archive as scans of 1-11 Mpx whose damage is drawn at a few pixels, not as 256-px
thumbnails. This set is made like that from the photos the bundled restorer never trained on
(``revive.train.scan_data.HELD_OUT``): each one enlarged 2x, 3x and 4x with Lanczos (a scan of a small print
is an enlarged soft picture), then faded and grained or not, and damaged at scan scale with the
``EVALUATION`` draws of train/scan_damage.py (longer scratches, more opaque marks, another density than
training) from ``SCAN_SEED``, a seed no training run uses. Writes ``inputs/NAME.png`` (the damaged gray) and
``truth/NAME.png`` (the print before local damage, faded and grained like the input), and returns what it
wrote; the same arguments give the same files on every machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from revive.runtime.files import write_atomic
from revive.runtime.encode import encode
from revive.train.scan_damage import EVALUATION, draw_scan_damage
from revive.train.scan_data import HELD_OUT, photo_gray

__all__ = ["SCALES", "SCAN_SEED", "build_scan_set", "enlarged", "save_gray"]

SCAN_SEED = 2027
SCALES = (2, 3, 4)


def save_gray(path: Path, gray: np.ndarray) -> None:
    """A uint8 H x W gray as a PNG, written atomically (its folder made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, encode(Image.fromarray(gray, "L"), "png"))


def enlarged(gray: np.ndarray, scale: int) -> np.ndarray:
    """``gray`` enlarged ``scale`` times with Lanczos, as a scan of a small print."""
    return np.asarray(Image.fromarray(gray).resize((gray.shape[1] * scale, gray.shape[0] * scale),
                                                   Image.Resampling.LANCZOS))


def build_scan_set(folder: Path, photos: tuple[str, ...] = HELD_OUT, scales: tuple[int, ...] = SCALES,
                   seed: int = SCAN_SEED) -> list[dict]:
    """Write the set under ``folder`` (``inputs/``, ``truth/``); one row per scan: name, size, damaged share."""
    rows = []
    for photo in photos:
        gray = photo_gray(photo)
        for scale in scales:
            name = f"{photo}_x{scale}"
            big = enlarged(gray, scale)
            rng = np.random.default_rng([seed, sum(map(ord, photo)), scale])
            drawn = draw_scan_damage(big, rng, EVALUATION)
            save_gray(folder / "inputs" / f"{name}.png", drawn.damaged)
            save_gray(folder / "truth" / f"{name}.png", drawn.base)
            rows.append({"image": name, "size": f"{big.shape[1]}x{big.shape[0]}",
                         "damaged_share": float(drawn.mask.mean())})
    return rows
