"""Shared validation of (labels, scores) pairs for the evaluation metrics."""

from __future__ import annotations

import numpy as np

from cxrkit.errors import DataFormatError

__all__ = ["paired_finite"]


def paired_finite(y_true: np.ndarray, y_score: np.ndarray, *, probabilities: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Flatten labels and scores, check them, and drop rows where either is NaN/inf.

    Args:
        y_true: labels 1 / 0 / NaN, any shape (flattened).
        y_score: scores of the same size.
        probabilities: also require scores in [0, 1].

    Returns:
        float64 ``(n,)`` labels and scores of the rows that are finite in both.

    Raises:
        DataFormatError: sizes differ, a label is not 1 / 0 / NaN (e.g. -1 uncertain), or a probability is
            outside [0, 1].
    """
    y = np.asarray(y_true, dtype=np.float64).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise DataFormatError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    bad = set(np.unique(y[np.isfinite(y)]).tolist()) - {0.0, 1.0}
    if bad:
        raise DataFormatError(f"labels must be 1, 0 or NaN; found {sorted(bad)} (map -1 with uncertain_to_target)")
    keep = np.isfinite(y) & np.isfinite(s)
    y, s = y[keep], s[keep]
    if probabilities and np.any((s < 0) | (s > 1)):
        raise DataFormatError("probabilities must lie in [0, 1]")
    return y, s
