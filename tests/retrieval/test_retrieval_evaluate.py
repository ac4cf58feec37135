"""Retrieval metrics on hand-checked cases and seeded clusters."""

import numpy as np
import pytest
from retrieval_data import make_data

from cxrkit.errors import DataFormatError
from cxrkit.retrieval.evaluate import ap_at_k, bootstrap_mean_ci, knn_vote, neighbor_metrics, score_retrieval


def test_ap_at_k_hand_cases():
    rel = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 1]], bool)
    np.testing.assert_allclose(ap_at_k(rel, 2), [(1 + 2 / 3) / 2, 0.0, (1 / 2 + 2 / 4) / 2])
    np.testing.assert_allclose(ap_at_k(rel, 10)[0], (1 + 2 / 3) / 4)  # min(k, R) = 4
    np.testing.assert_allclose(ap_at_k(np.ones((1, 4), bool), 4), [1.0])
    assert np.isnan(ap_at_k(rel, 0)).all()


def test_neighbor_metrics_hand_case():
    # findings: A, B, No Finding
    q = np.array([[1, 0, 0], [0, 0, 1]], bool)
    nb = np.array([[[1, 1, 0], [0, 1, 0]], [[0, 0, 1], [1, 0, 0]]], bool)
    m = neighbor_metrics(q, nb, no_finding=2)
    np.testing.assert_allclose(m["share"], [0.5, 0.5])
    np.testing.assert_allclose(m["exact"], [0.0, 0.5])
    assert m["share_abn"][0] == 0.5 and np.isnan(m["share_abn"][1])  # normal query: no abnormal share


def test_knn_vote_weights_by_similarity():
    sims = np.array([[0.9, 0.1]])
    nb = np.array([[[1], [0]]], bool)
    np.testing.assert_allclose(knn_vote(sims, nb), [[0.9]])


def test_score_retrieval_beats_random_on_clusters():
    v, meta, cl = make_data(400, seed=2)
    lab = np.eye(8, dtype=bool)[cl]
    s = score_retrieval(v[:300], lab[:300], v[300:], lab[300:], [f"F{i}" for i in range(8)], name="t", n_boot=200,
                        n_random=10)
    lo = s.vs_random["share"][1]
    assert lo > 0.3  # clustered vectors find their cluster; random finds it 1 time in 8
    assert abs(s.random["share"][0] - 1 / 8) < 0.05
    assert set(s.map_at_k) == {f"F{i}" for i in range(8)} and s.knn_scores.shape == (100, 8)
    with pytest.raises(DataFormatError, match="k="):
        score_retrieval(v[:5], lab[:5], v[5:7], lab[5:7], [f"F{i}" for i in range(8)], name="t", k=6)


def test_bootstrap_mean_ci_ignores_nan():
    m, lo, hi = bootstrap_mean_ci(np.array([1.0, np.nan, 3.0, 2.0]), n_boot=300)
    assert m == 2.0 and lo <= m <= hi
