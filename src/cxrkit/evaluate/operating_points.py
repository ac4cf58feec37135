"""Operating points: thresholds on a probability chosen on labelled data, and what they give.

Methods (:func:`choose_threshold`):

* ``"youden"`` — maximises sensitivity + specificity - 1 on the ROC curve;
* ``"sensitivity"`` — the highest threshold whose sensitivity is at least ``target`` (e.g. 0.90);
* ``"ppv"`` — the lowest threshold whose PPV is at least ``target`` (e.g. 0.80); NaN when never reached.

:func:`recalibrate_thresholds` moves a model's operating points to a new site: it keeps each point's
*sensitivity* (or specificity) from the original validation and finds the threshold that reproduces it on
the new site's labelled sample.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_curve

from cxrkit.errors import DataFormatError, unknown_name
from cxrkit.evaluate._inputs import paired_finite

__all__ = ["OperatingPointResult", "rates_at", "choose_threshold", "operating_points", "recalibrate_thresholds",
           "METHODS"]

METHODS = ("youden", "sensitivity", "ppv")


@dataclass(frozen=True)
class OperatingPointResult:
    """A threshold and the rates it gives (NaN where undefined)."""

    method: str
    target: float | None
    threshold: float
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    tp: int
    fp: int
    tn: int
    fn: int

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}




def rates_at(y_true: np.ndarray, y_score: np.ndarray, threshold: float, *, method: str = "fixed",
             target: float | None = None) -> OperatingPointResult:
    """Confusion counts and rates when calling ``score >= threshold`` positive."""
    y, s = paired_finite(y_true, y_score)
    pred = s >= threshold
    pos = y == 1
    tp, fp = int(np.sum(pred & pos)), int(np.sum(pred & ~pos))
    fn, tn = int(np.sum(~pred & pos)), int(np.sum(~pred & ~pos))

    def div(a: int, b: int) -> float:
        return a / b if b else float("nan")

    return OperatingPointResult(method, target, float(threshold), div(tp, tp + fn), div(tn, tn + fp),
                                div(tp, tp + fp), div(tn, tn + fn), tp, fp, tn, fn)


def choose_threshold(y_true: np.ndarray, y_score: np.ndarray, method: str = "youden", *,
                     target: float | None = None) -> OperatingPointResult:
    """Pick a threshold by ``method`` on labelled scores.

    Args:
        y_true: ``(N,)`` 1 / 0 / NaN.
        y_score: ``(N,)`` probabilities.
        method: "youden", "sensitivity" (needs ``target``) or "ppv" (needs ``target``).
        target: the wanted sensitivity or PPV in (0, 1].

    Returns:
        :class:`OperatingPointResult`; threshold NaN (with a warning) when one class only or when the PPV
        target is never reached.
    """
    if method not in METHODS:
        raise unknown_name("operating point method", method, METHODS)
    if method != "youden" and (target is None or not 0 < float(target) <= 1):
        raise DataFormatError(f"method {method!r} needs a target in (0, 1], got {target}")
    y, s = paired_finite(y_true, y_score)
    npos = int(np.sum(y == 1))
    if npos == 0 or npos == len(y):
        warnings.warn(f"operating point undefined: {npos} positives of {len(y)}; threshold NaN", UserWarning,
                      stacklevel=2)
        return rates_at(y, s, float("nan"), method=method, target=target)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    thr = np.minimum(thr, 1.0)  # sklearn puts +inf first
    if method == "youden":
        k = int(np.argmax(tpr - fpr))
        return rates_at(y, s, float(thr[k]), method=method, target=target)
    assert target is not None  # checked above for every method but youden
    if method == "sensitivity":
        ok = np.flatnonzero(tpr >= float(target))
        return rates_at(y, s, float(thr[ok[0]]), method=method, target=target)  # highest such threshold
    # ppv: scan thresholds from low to high, first whose PPV reaches the target
    tp = tpr * npos
    fp = fpr * (len(y) - npos)
    with np.errstate(invalid="ignore", divide="ignore"):
        ppv = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
    ok = np.flatnonzero((ppv >= float(target)) & (tp > 0))
    if not len(ok):
        warnings.warn(f"PPV {target} is never reached; threshold NaN", UserWarning, stacklevel=2)
        return rates_at(y, s, float("nan"), method=method, target=target)
    return rates_at(y, s, float(thr[ok[-1]]), method=method, target=target)


def operating_points(labels: np.ndarray, probs: np.ndarray, findings: Sequence[str], *,
                     sensitivity_target: float = 0.9, ppv_target: float = 0.8) -> dict[str, dict[str, OperatingPointResult]]:
    """Youden, target-sensitivity and target-PPV points for every finding: ``{finding: {name: result}}``."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2 or y.shape[1] != len(findings):
        raise DataFormatError(f"labels {y.shape} and probabilities {p.shape} must both be (N, {len(findings)})")
    out = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for j, f in enumerate(findings):
            out[f] = {
                "youden": choose_threshold(y[:, j], p[:, j], "youden"),
                f"sensitivity>={sensitivity_target:g}": choose_threshold(y[:, j], p[:, j], "sensitivity",
                                                                        target=sensitivity_target),
                f"ppv>={ppv_target:g}": choose_threshold(y[:, j], p[:, j], "ppv", target=ppv_target),
            }
    for w in {str(c.message) for c in caught}:
        warnings.warn(w, UserWarning, stacklevel=2)
    return out


def recalibrate_thresholds(labels: np.ndarray, probs: np.ndarray, findings: Sequence[str],
                           reference: Mapping[str, Mapping[str, float]], *,
                           keep: str = "sensitivity") -> dict[str, OperatingPointResult]:
    """New-site thresholds that keep each finding's reference sensitivity (or specificity).

    Args:
        labels / probs: the new site's labelled sample, ``(N, K)``.
        findings: K names.
        reference: finding → ``{"sensitivity": ..., "specificity": ...}`` from the original validation
            (e.g. the model card's operating points).
        keep: "sensitivity" or "specificity".

    Returns:
        finding → :class:`OperatingPointResult` on the new site (findings absent from ``reference`` skipped).
    """
    if keep not in ("sensitivity", "specificity"):
        raise unknown_name("recalibration target", keep, ("sensitivity", "specificity"))
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2 or y.shape[1] != len(findings):
        raise DataFormatError(f"labels {y.shape} and probabilities {p.shape} must both be (N, {len(findings)})")
    out = {}
    for j, f in enumerate(findings):
        ref = reference.get(f)
        if not ref or ref.get(keep) is None:
            continue
        t = float(ref[keep])
        if keep == "sensitivity":
            out[f] = choose_threshold(y[:, j], p[:, j], "sensitivity", target=t)
            out[f] = OperatingPointResult(**{**asdict(out[f]), "method": "recalibrated:sensitivity"})
        else:
            yj, pj = paired_finite(y[:, j], p[:, j])
            neg = np.sort(pj[yj == 0])
            if not len(neg) or not np.any(yj == 1):
                warnings.warn(f"{f}: one class only at the new site; threshold NaN", UserWarning, stacklevel=2)
                out[f] = rates_at(yj, pj, float("nan"), method="recalibrated:specificity", target=t)
                continue
            k = min(len(neg) - 1, int(np.ceil(t * len(neg))) - 1)
            thr = float(np.nextafter(neg[max(k, 0)], np.inf))
            out[f] = rates_at(yj, pj, thr, method="recalibrated:specificity", target=t)
    return out
