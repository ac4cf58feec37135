"""Heatmap → boxes: ChestX-ray8's thresholding and cxrkit's default (peak-relative threshold, scored, pruned).

Both take a heatmap on the original image grid (float ``(H, W)``, larger = more evidence) and return boxes in
pixels of that grid, ``(x_min, y_min, x_max, y_max)`` with pixel *edges* as coordinates (a region covering
columns 10..19 gives ``x_min=10, x_max=20``), each with a score in [0, 1]. A constant, all-zero or non-finite
map gives no boxes. Maps larger than :data:`WORK_SIDE` are labelled on an integer-strided subsample (box edges
then on multiples of the stride); pass ``work_side=None`` for the full grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage

from cxrkit.errors import DataFormatError, InvalidImageError, unknown_name
from cxrkit.types import Box

__all__ = ["boxes_from_heatmap", "chestxray8_boxes", "default_boxes", "nms", "BOX_METHODS", "box_method_names"]

_EIGHT = np.ones((3, 3), dtype=bool)
#: Longest side of the grid the regions are labelled on (larger maps are subsampled by an integer stride).
#: CAM maps come from a coarse feature grid (7x7 for a 224 px EfficientNet: one cell = 1/7 of the image), so a
#: 128 px grid moves box edges by at most 1/128 of the image while labelling 16-64x fewer pixels.
WORK_SIDE = 128


def _check(heatmap: np.ndarray) -> np.ndarray | None:
    """Validated float64 copy, or None when the map carries no localization (constant / empty / not finite)."""
    m = np.asarray(heatmap)
    if m.ndim != 2:
        raise InvalidImageError(f"heatmap must be 2-D (H, W), got shape {m.shape}")
    if m.size == 0:
        return None
    m = m.astype(np.float32, copy=False)
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, np.nan)
        if np.isnan(m).all():
            return None
        m = np.nan_to_num(m, nan=float(np.nanmin(m)))
    if float(m.max() - m.min()) <= 1e-12:
        return None
    return m


def _work_grid(m: np.ndarray, work_side: int | None) -> tuple[np.ndarray, int]:
    """Subsample the map by an integer stride so its longer side is at most ``work_side`` (None: keep)."""
    if not work_side or max(m.shape) <= work_side:
        return m, 1
    k = int(np.ceil(max(m.shape) / float(work_side)))
    return m[k // 2 :: k, k // 2 :: k], k


def _scale(boxes: list[Box], k: int, shape: tuple[int, int], sub_shape: tuple[int, int]) -> list[Box]:
    """Boxes found on a ``k``-strided grid → original pixel edges, clipped to the image; a box reaching the last
    sampled row/column extends to the image edge."""
    if k == 1:
        return boxes
    h, w = shape
    sh, sw = sub_shape
    return [
        Box(b.x_min * k, b.y_min * k, float(w) if b.x_max >= sw else min(float(w), b.x_max * k),
            float(h) if b.y_max >= sh else min(float(h), b.y_max * k), score=b.score)
        for b in boxes
    ]


def _region_boxes(mask: np.ndarray, score_map: np.ndarray, min_area: int = 1) -> list[tuple[Box, int]]:
    """One box per 8-connected region of ``mask``, scored by the region's peak of ``score_map``."""
    labels, n = ndimage.label(mask, structure=_EIGHT)
    if n == 0:
        return []
    out = []
    for i, sl in enumerate(ndimage.find_objects(labels)):
        if sl is None:
            continue
        region = labels[sl] == i + 1
        area = int(region.sum())
        if area < min_area:
            continue
        rows, cols = sl
        peak = float(score_map[sl][region].max())
        out.append((Box(float(cols.start), float(rows.start), float(cols.stop), float(rows.stop), score=peak), area))
    return out


def chestxray8_boxes(
    heatmap: np.ndarray, thresholds: Sequence[float] = (60.0, 180.0), *, work_side: int | None = WORK_SIDE
) -> list[Box]:
    """ChestX-ray8's B-box generation (Wang et al. 2017, section 3.2).

    The map is min-max normalized to [0, 255] and thresholded at each of ``thresholds`` separately; every
    connected region of each binary map gives one box. Boxes of different thresholds are kept (nested boxes
    are expected). Score: the region's peak of the [0, 1]-normalized map.

    Args:
        heatmap: float ``(H, W)``.
        thresholds: levels on the [0, 255] scale.
        work_side: maps whose longer side exceeds this are subsampled by an integer stride ``k`` before
            labelling and the boxes scaled back (edges then on multiples of ``k`` pixels); None = full grid.

    Returns:
        Boxes sorted by decreasing score, then by threshold.
    """
    m = _check(heatmap)
    if m is None:
        return []
    shape = m.shape
    m, k = _work_grid(m, work_side)
    lo, hi = float(m.min()), float(m.max())
    if hi - lo <= 1e-12:
        return []
    unit = (m - lo) / (hi - lo)
    scaled = unit * 255.0
    boxes: list[Box] = []
    for t in thresholds:
        boxes.extend(b for b, _ in _region_boxes(scaled >= float(t), unit))
    return _scale(sorted(boxes, key=lambda b: -(b.score or 0.0)), k, shape, m.shape)


def _iou(a: Box, b: Box) -> float:
    iw = min(a.x_max, b.x_max) - max(a.x_min, b.x_min)
    ih = min(a.y_max, b.y_max) - max(a.y_min, b.y_min)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a.x_max - a.x_min) * (a.y_max - a.y_min) + (b.x_max - b.x_min) * (b.y_max - b.y_min) - inter
    return inter / union if union > 0 else 0.0


def nms(boxes: Sequence[Box], iou_threshold: float = 0.5) -> list[Box]:
    """Greedy non-maximum suppression: keep the best-scoring box, drop those overlapping it by IoU > threshold."""
    kept: list[Box] = []
    for b in sorted(boxes, key=lambda b: -(b.score or 0.0)):
        if all(_iou(b, k) <= iou_threshold for k in kept):
            kept.append(b)
    return kept


def default_boxes(
    heatmap: np.ndarray,
    *,
    levels: Sequence[float] = (0.7,),
    min_peak: float = 0.6,
    min_area_fraction: float = 0.001,
    max_boxes: int = 2,
    iou_threshold: float = 0.3,
    work_side: int | None = WORK_SIDE,
) -> list[Box]:
    """cxrkit's default: regions above a fraction of the map's own peak, scored and pruned.

    1. Positive part of the map, divided by its maximum (so the thresholds are relative to the peak and a map
       that is flat or non-positive gives nothing).
    2. For each level in ``levels``, one box per 8-connected region of ``map >= level``.
    3. A region is kept when its own peak is at least ``min_peak`` (secondary hot spots well below the main one
       are dropped) and it covers at least ``min_area_fraction`` of the image (no specks).
    4. Score = region peak (1.0 for the region holding the global maximum); NMS at ``iou_threshold`` merges
       boxes of nested levels; at most ``max_boxes`` boxes.

    The defaults (level 0.7 of the peak, 2 boxes) were chosen by ``benchmarks/localize_box_sweep.py`` on a dev half
    of the NIH box images (rule fixed in advance: best accuracy with at most half ChestX-ray8's false positives).

    Args:
        heatmap: float ``(H, W)``, larger = more evidence.
        levels: thresholds as fractions of the peak, in (0, 1).
        min_peak: minimum region peak as a fraction of the global peak, in [0, 1].
        min_area_fraction: minimum region area as a fraction of ``H * W``.
        max_boxes: maximum number of boxes returned.
        iou_threshold: NMS overlap above which the lower-scoring box is dropped.
        work_side: as in :func:`chestxray8_boxes`.

    Returns:
        Boxes sorted by decreasing score.
    """
    m = _check(heatmap)
    if m is None:
        return []
    shape = m.shape
    m, k = _work_grid(m, work_side)
    peak = float(m.max())
    if peak <= 0:
        return []
    unit = np.clip(m, 0.0, None) / peak
    min_area = max(1, int(np.ceil(min_area_fraction * unit.size)))
    cands: list[Box] = []
    for level in levels:
        if not 0.0 < float(level) < 1.0:
            raise DataFormatError(f"levels must be in (0, 1), got {level}")
        cands.extend(b for b, _ in _region_boxes(unit >= float(level), unit, min_area) if (b.score or 0) >= min_peak)
    if not cands:  # every region was a speck: keep the one holding the peak
        cands = [b for b, _ in _region_boxes(unit >= float(max(levels)), unit) if (b.score or 0) >= 1.0 - 1e-9]
    return _scale(nms(cands, iou_threshold)[: max(1, int(max_boxes))], k, shape, m.shape)


def _anatomy(heatmap: np.ndarray, **options) -> list[Box]:
    """:func:`cxrkit.localize.anatomy.anatomy_boxes` (imported lazily: it needs ``masks=``, ``finding=``)."""
    from cxrkit.localize.anatomy import anatomy_boxes

    return anatomy_boxes(heatmap, **options)


BOX_METHODS: dict[str, Callable[..., list[Box]]] = {
    "default": default_boxes, "chestxray8": chestxray8_boxes, "anatomy": _anatomy,
}
_ALIASES = {"chestx-ray8": "chestxray8", "wang2017": "chestxray8", "cxr8": "chestxray8", "prior": "anatomy"}


def box_method_names() -> list[str]:
    """Names accepted by :func:`boxes_from_heatmap`."""
    return sorted(BOX_METHODS)


def boxes_from_heatmap(heatmap: np.ndarray, method: str = "default", *, label: str | None = None, **options) -> list[Box]:
    """Boxes around the hot regions of a heatmap.

    Args:
        heatmap: float ``(H, W)`` on the original image grid (e.g. from :func:`cxrkit.explain.heatmaps`).
        method: "default" (:func:`default_boxes`), "chestxray8" (:func:`chestxray8_boxes`) or "anatomy"
            (:func:`cxrkit.localize.anatomy.anatomy_boxes`: needs ``masks=`` and ``finding=``; learned priors).
        label: finding name stored on each box.
        **options: keyword options of the chosen method.

    Returns:
        list of :class:`~cxrkit.types.Box` in pixels ``(x_min, y_min, x_max, y_max)`` with a score in [0, 1];
        ``[]`` for a constant or all-zero map.

    Raises:
        UnknownNameError: unknown method (did-you-mean).
        InvalidImageError: the heatmap is not 2-D.

    Examples:
        >>> import numpy as np
        >>> m = np.zeros((100, 100)); m[20:40, 50:80] = 1.0
        >>> [(b.x_min, b.y_min, b.x_max, b.y_max) for b in boxes_from_heatmap(m)]
        [(50.0, 20.0, 80.0, 40.0)]
    """
    key = _ALIASES.get(str(method).strip().lower(), str(method).strip().lower())
    if key not in BOX_METHODS:
        raise unknown_name("box method", method, BOX_METHODS)
    boxes = BOX_METHODS[key](heatmap, **options)
    if label is not None:
        boxes = [Box(b.x_min, b.y_min, b.x_max, b.y_max, score=b.score, label=label) for b in boxes]
    return boxes
