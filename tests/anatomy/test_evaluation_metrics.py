"""overlap, boundary distances and bootstrap CIs on known shapes."""

from __future__ import annotations

import numpy as np
import pytest

from cxrkit.anatomy.evaluation import bootstrap_ci, boundary_distances, overlap


def test_overlap_known_values():
    a = np.zeros((20, 20), bool)
    b = np.zeros((20, 20), bool)
    a[0:10, 0:10] = True
    b[0:10, 5:15] = True
    d, j = overlap(a, b)
    assert d == pytest.approx(0.5) and j == pytest.approx(50 / 150)
    assert overlap(a, a) == (1.0, 1.0)
    assert overlap(np.zeros_like(a), np.zeros_like(a)) == (1.0, 1.0)


def test_boundary_distance_of_shifted_square():
    a = np.zeros((60, 60), bool)
    a[10:40, 10:40] = True
    b = np.roll(a, 3, axis=1)
    mean_d, hd95 = boundary_distances(a, b)
    assert 0 < mean_d <= 3 and hd95 == pytest.approx(3.0)
    assert boundary_distances(a, a) == (0.0, 0.0)
    assert np.isnan(boundary_distances(a, np.zeros_like(a))[0])


def test_bootstrap_ci_brackets_mean():
    vals = np.random.default_rng(0).normal(0.9, 0.02, 50)
    m, lo, hi = bootstrap_ci(vals, seed=1)
    assert lo < m < hi and hi - lo < 0.02
    assert bootstrap_ci([0.5, np.nan, 0.5])[0] == 0.5
