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


def to_original(
    maps: np.ndarray,
    original_shape: tuple[int, int],
    spec: TransformSpec,
    out_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Resample feature-grid maps to the original image.

    Args:
        maps: float32 ``(K, h, w)`` (or ``(h, w)``) maps on the model's feature grid.
        original_shape: ``(H, W)`` of the original image in pixels.
        spec: the transform the model was fed with (size and geometry).
        out_shape: ``(H', W')`` grid to sample on, covering the whole original image (pixel ``(i, j)`` of it
            spans original pixels ``[j * W / W', (j + 1) * W / W')`` etc.); None = the original grid itself.

    Returns:
        float32 ``(K, H', W')`` (or ``(H', W')``) maps.
    """
    arr = np.asarray(maps, dtype=np.float32)
    squeeze = arr.ndim == 2
    if squeeze:
        arr = arr[None]
    k, h, w = arr.shape
    oh, ow = (int(original_shape[0]), int(original_shape[1])) if out_shape is None else (int(out_shape[0]), int(out_shape[1]))
    g = geometry(original_shape, spec)
    fy, fx = original_shape[0] / oh, original_shape[1] / ow  # original pixels per output pixel
    ry = interpolation_matrix(oh, h, spec.size, g.scale_y * fy, g.offset_y)
    rx = interpolation_matrix(ow, w, spec.size, g.scale_x * fx, g.offset_x)
    # (K, H', h) @ (h, w) per map, then one large (K*H', w) @ (w, W') product: BLAS-friendly
    rows = np.matmul(ry, arr)
    out = (rows.reshape(-1, w) @ rx.T).reshape(k, oh, ow)
    return out[0] if squeeze else out
