"""Multi-label losses for radiograph classification.

:func:`masked_weighted_bce` is ChestX-ray8's weighted cross-entropy (Wang et al. 2017, eq. 1) with NaN
labels masked out: positives are weighted by ``beta_P = (|P| + |N|) / |P|`` and negatives by
``beta_N = (|P| + |N|) / |N|`` (here halved, so that a balanced class gets weight 1), per finding.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cxrkit.errors import DataFormatError

__all__ = ["class_balance_weights", "masked_weighted_bce", "batch_balance_weights"]


def class_balance_weights(labels: np.ndarray, *, max_weight: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-finding positive / negative weights from a label matrix.

    Args:
        labels: float ``(N, K)`` with 1 / 0 / NaN.
        max_weight: clip for very rare classes.

    Returns:
        ``(w_pos, w_neg)``, float32 ``(K,)`` each: ``(P + N) / (2 P)`` and ``(P + N) / (2 N)``; a finding
        with no positives (or no negatives) gets weight 1 for the missing side (unused) and 0.5 for the side it has.
    """
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 2:
        raise DataFormatError(f"labels must be (N, K), got shape {y.shape}")
    pos = np.nansum(y == 1, axis=0).astype(np.float64)
    neg = np.nansum(y == 0, axis=0).astype(np.float64)
    total = pos + neg
    with np.errstate(divide="ignore", invalid="ignore"):
        w_pos = np.where(pos > 0, total / (2 * pos), 1.0)
        w_neg = np.where(neg > 0, total / (2 * neg), 1.0)
    return (np.clip(w_pos, 0, max_weight).astype(np.float32), np.clip(w_neg, 0, max_weight).astype(np.float32))


def batch_balance_weights(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's per-batch ``beta_P, beta_N`` (halved) for a ``(B, K)`` target batch with NaNs."""
    valid = ~torch.isnan(targets)
    pos = ((targets == 1) & valid).sum(0).float()
    neg = ((targets == 0) & valid).sum(0).float()
    total = pos + neg
    w_pos = torch.where(pos > 0, total / (2 * pos.clamp(min=1)), torch.ones_like(pos))
    w_neg = torch.where(neg > 0, total / (2 * neg.clamp(min=1)), torch.ones_like(neg))
    return w_pos, w_neg


def masked_weighted_bce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    w_pos: torch.Tensor | None = None,
    w_neg: torch.Tensor | None = None,
) -> torch.Tensor:
    """Class-weighted binary cross-entropy over the labelled entries only.

    Args:
        logits: float ``(B, K)`` raw scores.
        targets: float ``(B, K)`` with 1 / 0 / NaN (NaN = unknown, excluded from the loss).
        w_pos, w_neg: ``(K,)`` weights of positive and negative entries (default 1).

    Returns:
        Scalar: weighted sum of per-entry losses over labelled entries, divided by their count (0 when the
        batch has no labelled entry, still differentiable).
    """
    if logits.shape != targets.shape:
        raise DataFormatError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ in shape")
    valid = ~torch.isnan(targets)
    y = torch.where(valid, targets, torch.zeros_like(targets))
    loss = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    k = logits.shape[1]
    wp = torch.ones(k, device=logits.device) if w_pos is None else w_pos.to(logits.device, logits.dtype)
    wn = torch.ones(k, device=logits.device) if w_neg is None else w_neg.to(logits.device, logits.dtype)
    weight = torch.where(y > 0.5, wp.expand_as(y), wn.expand_as(y)) * valid
    n = valid.sum()
    return (loss * weight).sum() / n.clamp(min=1)
