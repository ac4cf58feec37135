"""Calibration per site: ECE, reliability curve, fitted temperature and the card's operating point per source.

Uses :mod:`cxrkit.evaluate.calibration` (equal-width ECE, maximum-likelihood temperature). A temperature far
from 1 or a large ECE at one site means the probabilities mean something else there; ``cxrkit recalibrate``
fits new thresholds for that site.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cxrkit.evaluate.calibration import expected_calibration_error, fit_temperature, reliability_curve
from cxrkit.evaluate.operating_points import rates_at

__all__ = ["site_calibration"]


def site_calibration(labels: np.ndarray, probs: np.ndarray, findings: Sequence[str], sources: np.ndarray, *,
                     thresholds: Mapping[str, float] | None = None, n_bins: int = 10) -> list[dict[str, Any]]:
    """One entry per (source, finding) with labelled images: n, positives, ECE, temperature, reliability curve
    (bin mean predicted / observed / count) and sensitivity / specificity at the card's threshold."""
    src = np.asarray(sources).astype(str)
    out = []
    for s in sorted(set(src.tolist())):
        m = src == s
        for j, f in enumerate(findings):
            y, p = labels[m, j], probs[m, j]
            ok = np.isfinite(y) & np.isfinite(p)
            y, p = y[ok], np.clip(p[ok], 0.0, 1.0)
            if len(y) == 0:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                ece = expected_calibration_error(y, p, n_bins=n_bins)
                temp = fit_temperature(y, p)
                curve = reliability_curve(y, p, n_bins=n_bins)
            npos = int(np.sum(y == 1))
            e: dict[str, Any] = {
                "source": s, "finding": f, "n": int(len(y)), "positives": npos, "ece": ece,
                "temperature": temp if 0 < npos < len(y) else None,
                "mean_predicted": float(np.mean(p)), "observed_rate": float(np.mean(y)),
                "curve": {"mean_predicted": [None if not np.isfinite(v) else float(v) for v in curve.mean_predicted],
                          "observed": [None if not np.isfinite(v) else float(v) for v in curve.observed],
                          "counts": curve.counts.tolist()},
            }
            thr = (thresholds or {}).get(f)
            if thr is not None:
                r = rates_at(y, p, thr)
                e.update(threshold=thr, sensitivity=r.sensitivity if npos else None,
                         specificity=r.specificity if npos < len(y) else None)
            out.append(e)
    return out
