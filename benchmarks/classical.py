"""The classical baseline a restorer has to beat: a median-difference detector and OpenCV's Telea inpainting.

This is what dust-and-scratch removal has done without learning for decades: a pixel is damage where it
departs from the median of its neighbourhood by more than a threshold (a scratch or a speck is thinner
than the window, so the median is the picture under it), the mask is grown by a pixel to cover the mark's
soft edge, and the hole is filled by Telea's fast-marching inpainting (A. Telea, "An image inpainting
technique based on the fast marching method", 2004), OpenCV's ``cv2.inpaint(..., INPAINT_TELEA)``.

``DETECTOR`` is the setting that gave the classical method its lowest damaged-region error on the scan-like
set (``python -m revive.benchmarks.classical --sweep`` reruns that search), so the baseline is the best this
family of methods did here, not a straw man. ``telea_fill`` is also used on the restorer's own mask, to
tell the network's fill apart from its detection.

OpenCV is a benchmark dependency only (``pip install 'revive[bench]'``); the runtime never imports it.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["DETECTOR", "Detector", "classical_restore", "median_difference_mask", "telea_fill"]


@dataclass(frozen=True)
class Detector:
    window: int = 21  # median window (odd), px: wider than the widest mark it should find
    threshold: int = 20  # gray levels from the median that make a pixel damage
    grow: int = 1  # px the mask is dilated by
    radius: int = 3  # Telea's neighbourhood, px


DETECTOR = Detector()


def _cv2():
    try:
        import cv2
    except ModuleNotFoundError:
        from revive.runtime.errors import UserError

        raise UserError("the classical baseline needs OpenCV: pip install 'revive[bench]' "
                        "(opencv-python-headless)") from None
    return cv2


def median_difference_mask(gray: np.ndarray, detector: Detector = DETECTOR) -> np.ndarray:
    """bool H x W: where ``gray`` departs from its ``window`` median by more than ``threshold``, grown."""
    cv2 = _cv2()
    median = cv2.medianBlur(gray, detector.window)
    mask = (np.abs(gray.astype(np.int16) - median.astype(np.int16)) > detector.threshold).astype(np.uint8)
    if detector.grow:
        mask = cv2.dilate(mask, np.ones((2 * detector.grow + 1,) * 2, np.uint8))
    return mask.astype(bool)


def telea_fill(gray: np.ndarray, mask: np.ndarray, radius: int = DETECTOR.radius) -> np.ndarray:
    """``gray`` with the ``mask`` pixels inpainted by Telea's method (uint8)."""
    cv2 = _cv2()
    return cv2.inpaint(gray, mask.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)


def classical_restore(gray: np.ndarray, detector: Detector = DETECTOR) -> np.ndarray:
    return telea_fill(gray, median_difference_mask(gray, detector), detector.radius)


def grow_mask(mask: np.ndarray, px: int) -> np.ndarray:
    cv2 = _cv2()
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1,) * 2, np.uint8)).astype(bool) if px else mask


def sweep(folder: Path) -> list[dict]:
    """Every detector setting of a small grid on a scan set (``inputs/``, ``truth/``): mean figures each."""
    from PIL import Image

    from .restore_quality import score_pair

    pairs = [(np.asarray(Image.open(p).convert("L")), np.asarray(Image.open(folder / "truth" / p.name).convert("L")))
             for p in sorted((folder / "inputs").glob("*.png"))]
    rows = []
    for window, threshold in itertools.product((7, 11, 15, 21), (12, 20, 30, 45)):
        det = Detector(window=window, threshold=threshold)
        scores = [score_pair(d, classical_restore(d, det), t) for d, t in pairs]
        rows.append({**asdict(det), **{k: float(np.mean([s[k] for s in scores]))
                                       for k in ("mae_damaged_output", "mask_iou", "change_undamaged")}})
    return sorted(rows, key=lambda r: r["mae_damaged_output"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m revive.benchmarks.classical", description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, metavar="FOLDER", required=True,
                        help="a scan set folder (inputs/, truth/), e.g. one revive-bench restore-quality kept")
    args = parser.parse_args(argv)
    for row in sweep(args.sweep):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
