"""The bounding-box / count-based mask work gives exactly what the full-image np.nonzero / label versions gave."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cxrkit.anatomy.measure import _mean_index, horizontal_extent
from cxrkit.anatomy.postprocess import _centroid_col, keep_components


def _blobs(seed: int, shape=(97, 131)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2.0) > 0.5 + 0.02 * rng.standard_normal()


def _keep_reference(mask: np.ndarray, min_fraction: float) -> np.ndarray:
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(labels.ravel())[1:]
    return np.isin(labels, np.flatnonzero(sizes >= min_fraction * sizes.max()) + 1)


def test_keep_components_matches_full_image_labelling():
    for seed in range(20):
        m = _blobs(seed)
        for frac in (1.0, 0.3, 0.0):
            got = keep_components(m, min_fraction=frac, fill_holes=False)
            assert np.array_equal(got, _keep_reference(m, frac)), (seed, frac)
    assert not keep_components(np.zeros((5, 5), bool)).any()


def test_extent_and_centroids_match_nonzero():
    for seed in range(20):
        m = _blobs(seed)
        if not m.any():
            continue
        rows, cols = np.nonzero(m)
        ext = horizontal_extent(m)
        assert ext["col_min"] == cols.min() and ext["col_max"] == cols.max()
        assert ext["row_min"] == rows.min() and ext["row_max"] == rows.max()
        r_mid = (rows[cols == cols.min()].mean() + rows[cols == cols.max()].mean()) / 2
        assert ext["row"] == int(round(r_mid))
        assert _centroid_col(m) == float(cols.mean())  # bit-identical, not approximately
        assert _mean_index(np.count_nonzero(m, axis=1)) == rows.mean()
    assert horizontal_extent(np.zeros((4, 4), bool)) is None
    assert _centroid_col(np.zeros((4, 4), bool)) is None
