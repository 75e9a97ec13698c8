"""Image quality metrics: one implementation for training, evaluation and benchmarks.

All functions take uint8 arrays (HxW gray or HxWx3 RGB) and return floats.
PSNR and SSIM are scikit-image's (imported lazily: ``runtime-infer`` never
needs them). SSIM uses scikit-image's defaults (7x7 uniform window) with
``data_range=255``; on RGB it is the mean over channels.

HSV histogram similarity, exactly: both images are converted to HSV with
``skimage.color.rgb2hsv``; a joint 2-D histogram of hue (36 bins over [0, 1),
i.e. 10 degrees each) and saturation (32 bins over [0, 1]) is built for each and
normalised to sum 1; the score is the Pearson correlation of the two flattened
histograms (OpenCV's ``HISTCMP_CORREL``): 1 for identical colour distributions,
lower as hues or saturations move, -1 at worst. Value is ignored on purpose:
brightness comes from the input's luminance, colour is what the model adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "HUE_BINS",
    "SAT_BINS",
    "ScoreWeights",
    "hsv_histogram_similarity",
    "masked_psnr",
    "masked_ssim",
    "psnr",
    "restoration_score",
    "ssim",
]

HUE_BINS = 36
SAT_BINS = 32


def psnr(truth: np.ndarray, pred: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over uint8 data; ``inf`` when identical."""
    from skimage.metrics import peak_signal_noise_ratio

    _check_pair(truth, pred)
    if np.array_equal(truth, pred):
        return float("inf")
    return float(peak_signal_noise_ratio(truth, pred, data_range=255))


def _ssim_map(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    from skimage.metrics import structural_similarity

    _check_pair(truth, pred)
    channel_axis = -1 if truth.ndim == 3 else None
    _, full = structural_similarity(truth, pred, data_range=255, channel_axis=channel_axis, full=True)
    return full.mean(axis=-1) if truth.ndim == 3 else full


def ssim(truth: np.ndarray, pred: np.ndarray) -> float:
    """Mean structural similarity over the whole image (mean over channels for RGB)."""
    return float(_ssim_map(truth, pred).mean())


def masked_ssim(truth: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> float:
    """SSIM map averaged over the pixels where ``mask`` is true (the damaged region).

    NaN when the mask is empty: there is no damaged region to score.
    """
    mask = np.asarray(mask).astype(bool)
    if mask.shape != truth.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {truth.shape[:2]}")
    if not mask.any():
        return float("nan")
    return float(_ssim_map(truth, pred)[mask].mean())


def masked_psnr(truth: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB over the pixels where ``mask`` is true; ``inf`` when they match, NaN when the mask is empty."""
    _check_pair(truth, pred)
    mask = np.asarray(mask).astype(bool)
    if mask.shape != truth.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {truth.shape[:2]}")
    if not mask.any():
        return float("nan")
    err = truth[mask].astype(np.float64) - pred[mask].astype(np.float64)
    mse = float(np.mean(err * err))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def _hs_histogram(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2hsv

    hsv = rgb2hsv(rgb)
    hist, _, _ = np.histogram2d(
        hsv[..., 0].ravel(), hsv[..., 1].ravel(), bins=(HUE_BINS, SAT_BINS), range=((0.0, 1.0), (0.0, 1.0))
    )
    return hist.ravel() / hist.sum()


def hsv_histogram_similarity(truth: np.ndarray, pred: np.ndarray) -> float:
    """Correlation of hue-saturation histograms (see the module docstring)."""
    _check_pair(truth, pred)
    if truth.ndim != 3 or truth.shape[-1] != 3:
        raise ValueError(f"colour similarity needs HxWx3 RGB images, got shape {truth.shape}")
    a, b = _hs_histogram(truth), _hs_histogram(pred)
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    if denom == 0:  # both flat histograms (single bin): identical iff equal
        return 1.0 if np.allclose(a, b) else 0.0
    return float((a * b).sum() / denom)


@dataclass(frozen=True)
class ScoreWeights:
    """Weights of the combined restoration score; they need not sum to 1 (the score divides)."""

    ssim: float = 0.4
    masked_ssim: float = 0.4
    color: float = 0.2


def restoration_score(ssim_whole: float, ssim_damaged: float, color: float,
                      weights: ScoreWeights = ScoreWeights()) -> float:
    """Weighted mean of whole-image SSIM, damaged-region SSIM and colour similarity.

    A NaN damaged-region SSIM (no damage) drops that term and renormalises.
    """
    terms = [(weights.ssim, ssim_whole), (weights.masked_ssim, ssim_damaged), (weights.color, color)]
    terms = [(w, v) for w, v in terms if w > 0 and not np.isnan(v)]
    total = sum(w for w, _ in terms)
    return float(sum(w * v for w, v in terms) / total) if total else float("nan")


def _check_pair(truth: np.ndarray, pred: np.ndarray) -> None:
    if truth.shape != pred.shape:
        raise ValueError(f"images differ in shape: {truth.shape} vs {pred.shape}")
    if truth.dtype != np.uint8 or pred.dtype != np.uint8:
        raise ValueError(f"metrics take uint8 images, got {truth.dtype} and {pred.dtype}")
