"""Per-finding discrimination metrics: AUROC with a stratified bootstrap 95% CI, AUPRC.

Labels are 1 / 0 / NaN (NaN rows are left out per finding). A finding with one class only (no positives or
no negatives among labelled rows) gives NaN with a warning, never an exception.

The bootstrap is stratified (positives and negatives resampled separately, so every replicate has both
classes), seeded, and vectorised: each replicate's AUROC is the Mann-Whitney statistic computed from
resampling multiplicities over the sorted negatives (no re-sorting per replicate), many replicates at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from cxrkit.errors import DataFormatError
from cxrkit.evaluate._inputs import paired_finite

__all__ = ["auroc", "auprc", "bootstrap_auroc", "auroc_replicates", "FindingMetrics", "classification_metrics", "metrics_table"]




def _one_class(y: np.ndarray, what: str, warn: bool, name: str = "") -> bool:
    npos = int(np.sum(y == 1))
    if npos == 0 or npos == len(y):
        if warn:
            label = f" for {name}" if name else ""
            warnings.warn(f"{what}{label} undefined: {npos} positives and {len(y) - npos} negatives; returning NaN",
                          UserWarning, stacklevel=3)
        return True
    return False


def auroc(y_true: np.ndarray, y_score: np.ndarray, *, warn: bool = True, name: str = "") -> float:
    """Area under the ROC curve (scikit-learn), NaN with a warning when only one class is present."""
    y, s = paired_finite(y_true, y_score)
    if _one_class(y, "AUROC", warn, name):
        return float("nan")
    return float(roc_auc_score(y, s))


def auprc(y_true: np.ndarray, y_score: np.ndarray, *, warn: bool = True, name: str = "") -> float:
    """Average precision (area under the precision-recall curve), NaN when one class only."""
    y, s = paired_finite(y_true, y_score)
    if _one_class(y, "AUPRC", warn, name):
        return float("nan")
    return float(average_precision_score(y, s))


def auroc_replicates(y_true: np.ndarray, y_score: np.ndarray, *, n_boot: int = 2000,
                     seed: int = 0) -> tuple[float, np.ndarray]:
    """AUROC and its ``n_boot`` stratified bootstrap replicates (for CIs of differences between groups).

    Args:
        y_true: ``(N,)`` 1 / 0 (NaN rows dropped); both classes must be present.
        y_score: ``(N,)`` scores.

    Returns:
        ``(auroc, replicates (n_boot,))``.

    Raises:
        DataFormatError: one class only.
    """
    y, s = paired_finite(y_true, y_score)
    if _one_class(y, "AUROC", False):
        raise DataFormatError(f"AUROC replicates need both classes; got {int(np.sum(y == 1))} positives of {len(y)}")
    point = float(roc_auc_score(y, s))
    pos, neg = s[y == 1], np.sort(s[y == 0])
    n_p, n_n = len(pos), len(neg)
    # For positive i, negatives strictly below it are neg[:kl[i]], ties are neg[kl[i]:kr[i]]. A replicate
    # draws multiplicities of every positive and (sorted) negative; cumulative negative counts then give
    # each positive's Mann-Whitney contribution without re-sorting: O(n) per replicate.
    kl = np.searchsorted(neg, pos, side="left")
    kr = np.searchsorted(neg, pos, side="right")
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot, dtype=np.float64)
    chunk = max(1, int(2_000_000 // (n_p + n_n)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        rows = np.arange(b)[:, None]
        cn = np.bincount((rng.integers(0, n_n, size=(b, n_n)) + rows * n_n).ravel(), minlength=b * n_n)
        cp = np.bincount((rng.integers(0, n_p, size=(b, n_p)) + rows * n_p).ravel(), minlength=b * n_p)
        cum = np.zeros((b, n_n + 1), dtype=np.float64)
        np.cumsum(cn.reshape(b, n_n), axis=1, out=cum[:, 1:])
        score = (cum[:, kl] + cum[:, kr]) / 2.0  # (b, n_p): resampled negatives below + half the ties
        out[start : start + b] = (cp.reshape(b, n_p) * score).sum(axis=1) / (n_p * n_n)
    return point, out


def bootstrap_auroc(y_true: np.ndarray, y_score: np.ndarray, *, n_boot: int = 2000, seed: int = 0,
                    alpha: float = 0.05, warn: bool = True, name: str = "") -> tuple[float, float, float]:
    """AUROC and its stratified percentile bootstrap CI.

    Args:
        y_true: ``(N,)`` 1 / 0 / NaN.
        y_score: ``(N,)`` scores (probabilities).
        n_boot: replicates (1000-2000 is usual).
        seed: seed of the local generator.
        alpha: 0.05 for a 95% interval.

    Returns:
        ``(auroc, lower, upper)``; all NaN (with a warning) when one class only.
    """
    y, s = paired_finite(y_true, y_score)
    if _one_class(y, "AUROC", warn, name):
        return (float("nan"),) * 3
    point, out = auroc_replicates(y, s, n_boot=n_boot, seed=seed)
    lo, hi = np.quantile(out, [alpha / 2, 1 - alpha / 2])
    return point, float(lo), float(hi)


@dataclass(frozen=True)
class FindingMetrics:
    """Discrimination metrics of one finding (NaN where undefined)."""

    finding: str
    n: int
    positives: int
    auroc: float
    auroc_lo: float
    auroc_hi: float
    auprc: float
    prevalence: float

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


def classification_metrics(labels: np.ndarray, probs: np.ndarray, findings: Sequence[str], *, n_boot: int = 2000,
                           seed: int = 0) -> list[FindingMetrics]:
    """AUROC (+95% CI) and AUPRC for every column.

    Args:
        labels: ``(N, K)`` 1 / 0 / NaN.
        probs: ``(N, K)`` probabilities.
        findings: K names.
        n_boot: bootstrap replicates (0: no CI).
        seed: bootstrap seed.
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if y.ndim != 2 or y.shape != p.shape or y.shape[1] != len(findings):
        raise DataFormatError(f"labels {y.shape} and probabilities {p.shape} must both be (N, {len(findings)})")
    if y.shape[0] == 0:
        raise DataFormatError("no rows to evaluate")
    out = []
    for j, f in enumerate(findings):
        yj, pj = paired_finite(y[:, j], p[:, j])
        npos = int(np.sum(yj == 1))
        if n_boot > 0:
            a, lo, hi = bootstrap_auroc(yj, pj, n_boot=n_boot, seed=seed, name=f)
        else:
            a, lo, hi = auroc(yj, pj, name=f), float("nan"), float("nan")
        ap = auprc(yj, pj, warn=False)
        out.append(FindingMetrics(f, int(len(yj)), npos, a, lo, hi, ap, npos / len(yj) if len(yj) else float("nan")))
    return out


def metrics_table(metrics: Sequence[FindingMetrics]) -> pd.DataFrame:
    """One row per finding."""
    return pd.DataFrame([asdict(m) for m in metrics])
