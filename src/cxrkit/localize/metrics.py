"""Localization metrics as defined by ChestX-ray8 (Wang et al., CVPR 2017, section 4) plus the pointing game.

* IoU: intersection over union of a predicted and a ground-truth box.
* IoBB: intersection over the *detected* (predicted) box's area ("Intersection over the detected B-Box area
  ratio", similar to area of precision / purity). A small box inside a large finding scores 1.
* A case is one (image, finding) pair with ground-truth boxes. It is correctly localized at threshold T when at
  least one predicted box overlaps a ground-truth box of that finding with ``measure > T``.
* Its false positives at T: the predicted boxes overlapping no ground-truth box with ``measure > T``.
  Accuracy = correct cases / cases; AFP (average false positives) = false positives / cases.
* Pointing game (Zhang et al. 2016): a hit when the heatmap's maximum lies inside a ground-truth box (optionally
  within ``tolerance`` pixels of it).

Boxes are :class:`~cxrkit.types.Box` or ``(x_min, y_min, x_max, y_max)`` sequences in the same pixel space.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cxrkit.errors import DataFormatError, unknown_name
from cxrkit.types import Box

__all__ = [
    "THRESHOLDS",
    "iou",
    "iobb",
    "case_result",
    "accuracy_afp",
    "pointing_hit",
    "LocalizationScore",
]

THRESHOLDS: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)

BoxLike = Box | Sequence[float]


def _xyxy(b: BoxLike) -> tuple[float, float, float, float]:
    if isinstance(b, Box):
        return (b.x_min, b.y_min, b.x_max, b.y_max)
    x0, y0, x1, y1 = (float(v) for v in b)
    return (x0, y0, x1, y1)


def _area(b: tuple[float, float, float, float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _inter(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def iou(pred: BoxLike, truth: BoxLike) -> float:
    """Intersection over union in [0, 1]; 0 when both boxes are empty."""
    a, b = _xyxy(pred), _xyxy(truth)
    inter = _inter(a, b)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def iobb(pred: BoxLike, truth: BoxLike) -> float:
    """Intersection over the predicted (detected) box's area, in [0, 1]; 0 for an empty predicted box."""
    a, b = _xyxy(pred), _xyxy(truth)
    area = _area(a)
    return _inter(a, b) / area if area > 0 else 0.0


_MEASURES = {"iou": iou, "iobb": iobb}


def case_result(
    preds: Sequence[BoxLike], truths: Sequence[BoxLike], threshold: float, measure: str = "iobb"
) -> tuple[bool, int]:
    """One case at one threshold: ``(correct, false_positives)``.

    Args:
        preds: predicted boxes for the finding on this image.
        truths: ground-truth boxes of the finding on this image (at least one).
        threshold: T; a match needs ``measure > T``.
        measure: "iobb" or "iou".
    """
    if measure not in _MEASURES:
        raise unknown_name("localization measure", measure, _MEASURES)
    f = _MEASURES[measure]
    matched = [any(f(p, t) > threshold for t in truths) for p in preds]
    return any(matched), sum(1 for m in matched if not m)


@dataclass(frozen=True)
class LocalizationScore:
    """Accuracy and average false positives of a set of cases at one threshold."""

    measure: str
    threshold: float
    n_cases: int
    accuracy: float
    afp: float


def accuracy_afp(
    preds: Sequence[Sequence[BoxLike]],
    truths: Sequence[Sequence[BoxLike]],
    thresholds: Sequence[float] = THRESHOLDS,
    measure: str = "iobb",
) -> list[LocalizationScore]:
    """ChestX-ray8 accuracy and AFP over cases (one list of predicted and of true boxes per case).

    Returns one :class:`LocalizationScore` per threshold; with no cases accuracy and AFP are NaN (with a warning).
    """
    if len(preds) != len(truths):
        raise DataFormatError(f"{len(preds)} prediction lists but {len(truths)} ground-truth lists")
    out = []
    for t in thresholds:
        if not truths:
            warnings.warn("no cases to score: accuracy and AFP are NaN", RuntimeWarning, stacklevel=2)
            out.append(LocalizationScore(measure, float(t), 0, float("nan"), float("nan")))
            continue
        res = [case_result(p, g, t, measure) for p, g in zip(preds, truths)]
        out.append(
            LocalizationScore(
                measure, float(t), len(res), float(np.mean([c for c, _ in res])), float(np.mean([fp for _, fp in res]))
            )
        )
    return out


def pointing_hit(heatmap: np.ndarray, truths: Sequence[BoxLike], tolerance: float = 0.0) -> bool:
    """Pointing game: does the heatmap's maximum fall inside a ground-truth box (grown by ``tolerance`` px)?

    The maximum's pixel centre ``(col + 0.5, row + 0.5)`` is tested; a constant map (no maximum) is a miss.
    """
    m = np.asarray(heatmap, dtype=np.float64)
    if m.ndim != 2 or m.size == 0 or not np.isfinite(m).any():
        return False
    m = np.where(np.isfinite(m), m, -np.inf)
    if float(m.max()) - float(m[np.isfinite(m)].min()) <= 1e-12:
        return False
    r, c = np.unravel_index(int(np.argmax(m)), m.shape)
    x, y = c + 0.5, r + 0.5
    for t in truths:
        x0, y0, x1, y1 = _xyxy(t)
        if x0 - tolerance <= x <= x1 + tolerance and y0 - tolerance <= y <= y1 + tolerance:
            return True
    return False
