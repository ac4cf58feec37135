"""Fitting the view model and choosing its two thresholds."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

from cxrkit.qc_train.items import SEED
from cxrkit.qc_view import ViewModel

__all__ = ["MARGIN_LOGIT", "T_FLAG_MAX", "FLAG_LATERAL_RECALL", "class_weights", "fit_view_model",
           "choose_thresholds", "wilson"]

MARGIN_LOGIT = 1.0  # t_refuse sits this far (in logit) above the highest out-of-fold frontal training film
T_FLAG_MAX = 0.5
FLAG_LATERAL_RECALL = 0.97  # t_flag: at least this share of out-of-fold training laterals is flagged or refused


def class_weights(kind: np.ndarray, shares: dict[str, float] | None = None) -> np.ndarray:
    """Per-sample weights giving each kind (frontal / lateral / non_chest) its share of the total weight."""
    shares = shares or {"frontal": 0.5, "lateral": 0.35, "non_chest": 0.15}
    kind = np.asarray(kind)
    w = np.zeros(len(kind))
    for k, share in shares.items():
        m = kind == k
        if m.any():
            w[m] = share / m.sum()
    return w * len(kind)


def fit_view_model(x: np.ndarray, y: np.ndarray, *, weights: np.ndarray | None = None, c: float = 0.05,
                   hidden: int = 0, seed: int = SEED) -> ViewModel:
    """Fit standardization + logistic regression (``hidden`` = 0) or a one-hidden-layer MLP on features ``x``
    ``(N, D)`` and labels ``y`` ``(N,)`` (1 = not frontal)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, np.float64)
    y = np.asarray(y, int)
    if len(np.unique(y)) != 2:
        raise ValueError("training data need both classes (frontal 0 and not frontal 1)")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (x - mean) / scale
    if hidden:
        from sklearn.neural_network import MLPClassifier

        mlp = MLPClassifier((hidden,), alpha=1.0 / c, max_iter=500, random_state=seed, early_stopping=False)
        mlp.fit(z, y)  # MLPClassifier has no sample weights
        layers = [(mlp.coefs_[0], mlp.intercepts_[0]), (mlp.coefs_[1], mlp.intercepts_[1])]
    else:
        lr = LogisticRegression(C=c, max_iter=5000, class_weight=None if weights is not None else "balanced")
        lr.fit(z, y, sample_weight=weights)
        layers = [(lr.coef_.T.copy(), lr.intercept_.copy())]
    return ViewModel(mean, scale, layers)


def choose_thresholds(p_frontal: np.ndarray, p_positive: np.ndarray) -> tuple[float, float]:
    """``(t_flag, t_refuse)`` from out-of-fold probabilities of training frontal films and training laterals.

    ``t_refuse``: :data:`MARGIN_LOGIT` above the highest frontal logit (no frontal training film refused, with
    margin), at least 0.5. ``t_flag``: the largest threshold flagging :data:`FLAG_LATERAL_RECALL` of laterals,
    at most :data:`T_FLAG_MAX` (more likely not frontal than frontal is always worth a flag) and ``t_refuse``,
    at least 0.05.
    """
    pf = np.clip(np.asarray(p_frontal, np.float64), 1e-9, 1 - 1e-9)
    top = float(logit(pf.max()))
    t_refuse = max(0.5, float(expit(top + MARGIN_LOGIT)))
    q = float(np.quantile(np.asarray(p_positive, np.float64), 1.0 - FLAG_LATERAL_RECALL)) if len(p_positive) else 0.5
    t_flag = float(min(max(q, 0.05), T_FLAG_MAX, t_refuse))
    return round(t_flag, 4), round(float(t_refuse), 4)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n (``(nan, nan)`` when n = 0)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)
