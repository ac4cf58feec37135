"""post-processing: components, holes, lung overlap, side consistency."""

from __future__ import annotations

import numpy as np

from cxrkit.anatomy.postprocess import clean_masks, keep_components, side_consistency


def test_keep_largest_component_and_fill_holes():
    m = np.zeros((100, 100), bool)
    m[10:60, 10:60] = True
    m[30:35, 30:35] = False  # hole
    m[80:83, 80:83] = True   # speck
    out = keep_components(m)
    assert out[32, 32] and not out[81, 81]
    assert out.sum() == 50 * 50


def test_lungs_keep_large_second_component():
    m = {"right_lung": np.zeros((100, 100), bool), "left_lung": np.zeros((100, 100), bool)}
    m["right_lung"][10:50, 10:40] = True
    m["right_lung"][60:90, 10:40] = True   # split lung: both halves kept
    m["right_lung"][95:97, 95:97] = True   # speck removed
    m["left_lung"][10:90, 60:90] = True
    out = clean_masks(m)
    assert out["right_lung"][70, 20] and not out["right_lung"][96, 96]


def test_overlap_goes_to_higher_probability():
    rl = np.zeros((50, 50), bool)
    ll = np.zeros((50, 50), bool)
    rl[10:40, 5:30] = True
    ll[10:40, 20:45] = True
    p_r = np.where(np.arange(50)[None, :] < 25, 0.9, 0.6) * np.ones((50, 1))
    p_l = np.where(np.arange(50)[None, :] < 25, 0.6, 0.9) * np.ones((50, 1))
    out = clean_masks({"right_lung": rl, "left_lung": ll}, {"right_lung": p_r, "left_lung": p_l})
    assert not (out["right_lung"] & out["left_lung"]).any()
    assert out["right_lung"][20, 22] and out["left_lung"][20, 27]


def test_side_consistency():
    rl = np.zeros((50, 50), bool)
    ll = np.zeros((50, 50), bool)
    rl[10:40, 5:20] = True
    ll[10:40, 30:45] = True
    assert side_consistency({"right_lung": rl, "left_lung": ll}) is True
    assert side_consistency({"right_lung": ll, "left_lung": rl}) is False
    assert side_consistency({"right_lung": rl, "left_lung": np.zeros_like(rl)}) is None


def test_fast_hole_filling_equals_scipy(rng):
    from scipy import ndimage

    from cxrkit.anatomy.postprocess import _fill_holes

    for _ in range(30):
        m = ndimage.binary_opening(rng.random((60, 70)) > 0.45)
        assert np.array_equal(_fill_holes(m), ndimage.binary_fill_holes(m))
    ring = np.zeros((20, 20), bool)
    ring[5:15, 5:15] = True
    ring[8:12, 8:12] = False
    assert _fill_holes(ring)[10, 10] and not _fill_holes(ring)[0, 0]
