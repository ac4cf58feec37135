"""Small statistics shared by the audit sections: AUROC with CI as a dict, rate CIs, CIs of differences.

All CIs are 95% percentile bootstrap intervals with seeded local generators. AUROC replicates are stratified
(:func:`cxrkit.evaluate.classification.auroc_replicates`); a rate ``k / n`` is drawn from its Jeffreys
``Beta(k + 1/2, n - k + 1/2)``; a difference between two independent groups subtracts independent replicates;
a paired difference (two scores of the same images) resamples the same images for both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cxrkit.evaluate.classification import auroc_replicates

__all__ = ["MIN_CLASS", "auroc_stats", "rate_stats", "diff_ci", "paired_auroc_diff", "fin"]

#: Fewest positives and negatives for an AUROC to be estimated (fewer: reported as not estimable).
MIN_CLASS = 5


def fin(v: Any) -> float | None:
    """JSON-safe float (None for NaN / inf / None)."""
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def _ci(rep: np.ndarray) -> tuple[float, float]:
    lo, hi = np.nanquantile(rep, [0.025, 0.975])
    return float(lo), float(hi)


def auroc_stats(y: np.ndarray, s: np.ndarray, *, n_boot: int = 1000, seed: int = 0,
                min_class: int = MIN_CLASS) -> tuple[dict[str, Any], np.ndarray | None]:
    """``({n, positives, auroc, lo, hi, note}, replicates or None)`` for labels 1 / 0 / NaN and scores."""
    y = np.asarray(y, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(s)
    y, s = y[ok], s[ok]
    npos = int(np.sum(y == 1))
    nneg = int(len(y) - npos)
    out: dict[str, Any] = {"n": int(len(y)), "positives": npos, "auroc": None, "lo": None, "hi": None, "note": ""}
    if npos < min_class or nneg < min_class:
        out["note"] = f"not estimable: {npos} positives, {nneg} negatives (needs >= {min_class} of each)"
        return out, None
    point, rep = auroc_replicates(y, s, n_boot=n_boot, seed=seed)
    lo, hi = _ci(rep)
    out.update(auroc=point, lo=lo, hi=hi)
    return out, rep


def rate_stats(k: int, n: int, *, n_boot: int = 1000, rng: np.random.Generator) -> tuple[dict[str, Any], np.ndarray | None]:
    """A proportion ``k / n`` with a 95% interval from ``n_boot`` draws of its Jeffreys posterior
    ``Beta(k + 1/2, n - k + 1/2)`` (well-behaved at 0 / n, unlike a binomial bootstrap):
    ``({value, lo, hi, k, n}, draws or None)``."""
    if n == 0:
        return {"value": None, "lo": None, "hi": None, "k": int(k), "n": 0}, None
    p = k / n
    rep = rng.beta(k + 0.5, n - k + 0.5, size=n_boot)
    lo, hi = _ci(rep)
    lo, hi = (0.0 if k == 0 else lo), (1.0 if k == n else hi)  # Jeffreys interval's usual boundary rule
    return {"value": p, "lo": lo, "hi": hi, "k": int(k), "n": int(n)}, rep


def diff_ci(point: float, rep_a: np.ndarray, rep_b: np.ndarray) -> dict[str, Any]:
    """Difference ``a - b`` of two independent estimates: point, CI and whether the CI excludes zero."""
    lo, hi = _ci(rep_a - rep_b)
    return {"diff": float(point), "lo": lo, "hi": hi, "significant": bool(lo > 0 or hi < 0)}


def _auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(np.concatenate([pos, neg]))
    n_p, n_n = len(pos), len(neg)
    return float((r[:n_p].sum() - n_p * (n_p + 1) / 2) / (n_p * n_n))


def paired_auroc_diff(y: np.ndarray, s1: np.ndarray, s2: np.ndarray, *, n_boot: int = 500,
                      seed: int = 0) -> dict[str, Any] | None:
    """AUROC(s1) - AUROC(s2) on the same images, stratified paired bootstrap; None with one class only."""
    y = np.asarray(y, dtype=np.float64)
    s1 = np.asarray(s1, dtype=np.float64)
    s2 = np.asarray(s2, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(s1) & np.isfinite(s2)
    y, s1, s2 = y[ok], s1[ok], s2[ok]
    pi, ni = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if len(pi) < MIN_CLASS or len(ni) < MIN_CLASS:
        return None
    from scipy.stats import rankdata

    point = _auc_from_counts(s1[pi], s1[ni]) - _auc_from_counts(s2[pi], s2[ni])
    rng = np.random.default_rng(seed)
    n_p, n_n = len(pi), len(ni)
    idx = np.concatenate([rng.choice(pi, (n_boot, n_p)), rng.choice(ni, (n_boot, n_n))], axis=1)

    def aucs(s: np.ndarray) -> np.ndarray:  # one AUROC per replicate row (ties: average ranks)
        r = rankdata(s[idx], axis=1)
        return (r[:, :n_p].sum(axis=1) - n_p * (n_p + 1) / 2) / (n_p * n_n)

    rep = aucs(s1) - aucs(s2)
    lo, hi = _ci(rep)
    return {"diff": float(point), "lo": lo, "hi": hi, "significant": bool(lo > 0 or hi < 0)}
