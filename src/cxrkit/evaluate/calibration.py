"""Calibration: expected calibration error, reliability curves, temperature scaling.

Probabilities should mean what they say: among images given 0.7, about 70% should have the finding.
:func:`expected_calibration_error` measures the gap (equal-width bins, weighted by bin size);
:func:`fit_temperature` finds the single temperature ``T`` that makes ``sigmoid(logit(p) / T)`` best
calibrated on labelled data (maximum likelihood, Guo et al. 2017), per finding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit

from cxrkit.errors import DataFormatError
from cxrkit.evaluate._inputs import paired_finite

__all__ = ["ReliabilityCurve", "reliability_curve", "expected_calibration_error", "fit_temperature",
           "apply_temperature"]

_EPS = 1e-7




@dataclass(frozen=True)
class ReliabilityCurve:
    """Per-bin mean predicted probability, observed frequency and count (bins with no rows are NaN / 0)."""

    edges: np.ndarray
    mean_predicted: np.ndarray
    observed: np.ndarray
    counts: np.ndarray


def reliability_curve(y_true: np.ndarray, y_prob: np.ndarray, *, n_bins: int = 10) -> ReliabilityCurve:
    """Equal-width reliability bins on [0, 1]."""
    if n_bins < 1:
        raise DataFormatError(f"n_bins must be >= 1, got {n_bins}")
    y, p = paired_finite(y_true, y_prob, probabilities=True)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(idx, weights=p, minlength=n_bins) / counts
        obs = np.bincount(idx, weights=y, minlength=n_bins) / counts
    return ReliabilityCurve(edges, mean_p, obs, counts)


def expected_calibration_error(y_true: np.ndarray, y_prob: np.ndarray, *, n_bins: int = 10) -> float:
    """ECE: sum over bins of (bin size / N) * |observed - mean predicted|; NaN with a warning if no rows."""
    curve = reliability_curve(y_true, y_prob, n_bins=n_bins)
    n = curve.counts.sum()
    if n == 0:
        warnings.warn("ECE undefined: no labelled rows; returning NaN", UserWarning, stacklevel=2)
        return float("nan")
    ok = curve.counts > 0
    return float(np.sum(curve.counts[ok] / n * np.abs(curve.observed[ok] - curve.mean_predicted[ok])))


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, _EPS, 1 - _EPS))


def apply_temperature(y_prob: np.ndarray, temperature: float | np.ndarray) -> np.ndarray:
    """``sigmoid(logit(p) / T)`` (T > 0; broadcast over the last axis for per-finding temperatures)."""
    t = np.asarray(temperature, dtype=np.float64)
    if np.any(~(t > 0)):
        raise DataFormatError(f"temperature must be > 0, got {temperature}")
    z = _logit(np.asarray(y_prob, dtype=np.float64)) / t
    return expit(z).astype(np.float32)


def fit_temperature(y_true: np.ndarray, y_prob: np.ndarray, *, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising the binary log-loss of ``sigmoid(logit(p) / T)``.

    Returns 1.0 (no change) with a warning when only one class is present.
    """
    y, p = paired_finite(y_true, y_prob, probabilities=True)
    if len(y) == 0 or np.all(y == y[0]):
        warnings.warn("temperature undefined with one class only; returning 1.0", UserWarning, stacklevel=2)
        return 1.0
    z = _logit(p)

    def nll(t: float) -> float:
        q = np.clip(expit(z / t), _EPS, 1 - _EPS)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))

    res = minimize_scalar(nll, bounds=bounds, method="bounded", options={"xatol": 1e-4})
    return float(res.x)
