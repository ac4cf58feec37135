"""Clean predicted anatomy masks: connected components, holes, overlaps, and left/right plausibility.

Side convention: mask names use the PATIENT's side. On a PA (or AP) frontal film viewed in the standard
orientation the patient's RIGHT lung and clavicle are on the IMAGE LEFT (small column indices), the patient's
LEFT lung, the clavicle and most of the heart on the IMAGE RIGHT.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["keep_components", "clean_masks", "side_consistency"]

_LUNGS = ("right_lung", "left_lung")


def keep_components(mask: np.ndarray, *, min_fraction: float = 1.0, fill_holes: bool = True) -> np.ndarray:
    """Keep the largest 8-connected component (and any other at least ``min_fraction`` of its size).

    Parameters
    ----------
    mask:
        boolean ``(H, W)``.
    min_fraction:
        components smaller than this fraction of the largest are removed; 1.0 keeps only the largest.
    fill_holes:
        fill enclosed holes after the selection.

    Returns
    -------
    numpy.ndarray
        boolean ``(H, W)``; all False when ``mask`` is empty.
    """
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return np.zeros_like(mask)
    cols = np.flatnonzero(mask.any(axis=0))
    # components never leave the mask's bounding box: label only that (same result, less work)
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    labels, n = ndimage.label(mask[box], structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= min_fraction * sizes.max()) + 1
    out = np.zeros_like(mask)
    out[box] = labels == keep[0] if keep.size == 1 else np.isin(labels, keep)
    if fill_holes:
        out = _fill_holes(out)
    return out


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image border (as ``binary_fill_holes``, ~10x faster).

    Works on the mask's bounding box plus a one-pixel frame: background 4-connected components that do not
    touch the frame are holes.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return mask
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box = np.pad(mask[r0:r1, c0:c1], 1, constant_values=False)
    labels, n = ndimage.label(~box)
    if n <= 1:
        return mask
    outside = labels[0, 0]  # the frame is one background component
    holes = (labels > 0) & (labels != outside)
    out = mask.copy()
    out[r0:r1, c0:c1] |= holes[1:-1, 1:-1]
    return out


def clean_masks(
    masks: dict[str, np.ndarray], probabilities: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Post-process raw thresholded masks of the five structures.

    Lungs keep components of at least 30 % of their largest one (a lung split by an opacity stays whole);
    heart and clavicles keep their largest component; holes are filled; a pixel claimed by both lungs goes
    to the lung with the higher probability (or stays with the larger lung without probabilities).

    Parameters
    ----------
    masks:
        structure name -> boolean ``(H, W)``; unknown names pass through the component step only.
    probabilities:
        optional structure name -> float ``(H, W)`` in [0, 1], same shape as the masks.

    Returns
    -------
    dict
        structure name -> cleaned boolean ``(H, W)``.
    """
    out = {}
    for name, m in masks.items():
        out[name] = keep_components(m, min_fraction=0.3 if name in _LUNGS else 1.0)
    if all(k in out for k in _LUNGS):
        both = out["right_lung"] & out["left_lung"]
        if both.any():
            if probabilities is not None:
                to_right = probabilities["right_lung"] >= probabilities["left_lung"]
            else:
                to_right = np.full(both.shape, out["right_lung"].sum() >= out["left_lung"].sum())
            out["left_lung"] = out["left_lung"] & ~(both & to_right)
            out["right_lung"] = out["right_lung"] & ~(both & ~to_right)
    return out


def _centroid_col(mask: np.ndarray) -> float | None:
    counts = np.count_nonzero(mask, axis=0)
    n = int(counts.sum())
    # exact integer sum of the column indices / n: the same float as np.nonzero(mask)[1].mean()
    return float(int(counts @ np.arange(counts.size)) / n) if n else None


def side_consistency(masks: dict[str, np.ndarray]) -> bool | None:
    """Whether the patient's right structures lie on the image left of the left ones (standard frontal view).

    Returns True when consistent, False when swapped (a horizontally flipped image, or a wrong prediction),
    None when the lungs are missing.
    """
    r = _centroid_col(masks.get("right_lung", np.zeros((1, 1), bool)))
    left = _centroid_col(masks.get("left_lung", np.zeros((1, 1), bool)))
    if r is None or left is None:
        return None
    return r < left
