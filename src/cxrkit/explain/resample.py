"""Feature-grid maps → original-image pixels, undoing the model card's geometry (resize, center crop, pad).

A map of ``h x w`` cells covers the model input ``S x S``; the card's :class:`~cxrkit.data.transforms.Geometry`
says where each original pixel landed in the model input. Each original pixel centre is sent to the feature grid
and sampled bilinearly (cell centres at ``(i + 0.5) * S / h``). The sampling is separable, so it is two small
matrix products per map: ``R (H x h) @ map @ C (w x W)``. Original pixels the model never saw (cut away by a
center crop) get 0: no evidence, rather than an extrapolated guess.
"""

from __future__ import annotations

import numpy as np

from cxrkit.data.transforms import TransformSpec, geometry

__all__ = ["interpolation_matrix", "to_original"]


def interpolation_matrix(n_out: int, n_cells: int, model_size: int, scale: float, offset: float) -> np.ndarray:
    """Bilinear sampling weights from a feature axis to an original-image axis.

    Args:
        n_out: number of original pixels along the axis.
        n_cells: number of feature-grid cells along the axis.
        model_size: model input side ``S`` in pixels.
        scale: model pixels per original pixel (``Geometry.scale_x`` or ``scale_y``).
        offset: model-space position of original pixel edge 0 (``Geometry.offset_x`` or ``offset_y``).

    Returns:
        float32 ``(n_out, n_cells)``; rows of pixels outside the model's field of view are all zero.
    """
    centres = (np.arange(n_out, dtype=np.float64) + 0.5) * scale + offset  # model-space coordinates
    inside = (centres >= 0.0) & (centres <= model_size)
    t = centres * (n_cells / model_size) - 0.5  # feature-grid coordinate (cell centres at integers)
    t = np.clip(t, 0.0, n_cells - 1.0)
    i0 = np.floor(t).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_cells - 1)
    w1 = t - i0
    m = np.zeros((n_out, n_cells), dtype=np.float64)
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1.0 - w1)
    np.add.at(m, (rows, i1), w1)
    m[~inside] = 0.0
    return m.astype(np.float32)


def to_original(maps: np.ndarray, original_shape: tuple[int, int], spec: TransformSpec) -> np.ndarray:
    """Resample feature-grid maps to the original image.

    Args:
        maps: float32 ``(K, h, w)`` (or ``(h, w)``) maps on the model's feature grid.
        original_shape: ``(H, W)`` of the original image in pixels.
        spec: the transform the model was fed with (size and geometry).

    Returns:
        float32 ``(K, H, W)`` (or ``(H, W)``) maps in original-image pixels.
    """
    arr = np.asarray(maps, dtype=np.float32)
    squeeze = arr.ndim == 2
    if squeeze:
        arr = arr[None]
    _, h, w = arr.shape
    g = geometry(original_shape, spec)
    ry = interpolation_matrix(int(original_shape[0]), h, spec.size, g.scale_y, g.offset_y)
    rx = interpolation_matrix(int(original_shape[1]), w, spec.size, g.scale_x, g.offset_x)
    out = np.matmul(np.matmul(ry, arr), rx.T)  # (K, H, w) then (K, H, W)
    return out[0] if squeeze else out
