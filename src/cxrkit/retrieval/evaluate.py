"""Retrieval quality: precision@k, mAP@k per finding, random baseline, kNN label voting (pure arrays).

Given index vectors with labels and held-out query vectors with labels (disjoint patients):

* ``share@k``: fraction of the ``k`` neighbours sharing at least one label with the query (``No Finding`` counts
  as a label, so a normal query is matched by normal films);
* ``share_abn@k``: on abnormal queries only, fraction of neighbours sharing at least one *finding*;
* ``exact@k``: fraction of neighbours with exactly the query's label set;
* ``AP@k`` of finding f on queries positive for f: ``sum_i P@i rel_i / min(k, R_f)`` with ``R_f`` the index's
  positives for f; ``mAP@k`` its mean over those queries;
* random baseline: the same metrics for ``k`` films drawn uniformly from the index (mean of ``n_random`` seeded
  draws per query);
* kNN vote: score of f = similarity-weighted fraction of the ``k`` neighbours positive for f (an AUROC per finding).

Confidence intervals: percentile bootstrap over queries (paired, so differences between methods on the same
queries get their own CI).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cxrkit.errors import DataFormatError

__all__ = ["neighbor_metrics", "random_neighbors", "knn_vote", "bootstrap_mean_ci", "RetrievalScores",
           "score_retrieval", "NO_FINDING"]

NO_FINDING = "No Finding"


def neighbor_metrics(q_lab: np.ndarray, nb_lab: np.ndarray, no_finding: int | None) -> dict[str, np.ndarray]:
    """Per-query precision metrics.

    Args:
        q_lab: ``(Q, F)`` bool, query labels.
        nb_lab: ``(Q, k, F)`` bool, neighbour labels.
        no_finding: column of ``No Finding`` in F (None if absent).

    Returns:
        ``share``, ``exact`` (``(Q,)`` float in [0, 1]) and ``share_abn`` (``(Q,)``, NaN for normal queries).
    """
    q = q_lab[:, None, :]
    share = (q & nb_lab).any(axis=2).mean(axis=1)
    exact = (q == nb_lab).all(axis=2).mean(axis=1)
    abn_cols = np.ones(q_lab.shape[1], bool)
    if no_finding is not None:
        abn_cols[no_finding] = False
    qa = q_lab[:, abn_cols]
    share_abn = (qa[:, None, :] & nb_lab[:, :, abn_cols]).any(axis=2).mean(axis=1)
    share_abn = np.where(qa.any(axis=1), share_abn, np.nan)
    return {"share": share, "exact": exact, "share_abn": share_abn}


def ap_at_k(rel: np.ndarray, n_rel: int) -> np.ndarray:
    """AP@k per query: ``rel (Q, k)`` bool, ``n_rel`` relevant items in the index → ``(Q,)``."""
    if n_rel <= 0:
        return np.full(len(rel), np.nan)
    k = rel.shape[1]
    prec = np.cumsum(rel, axis=1) / np.arange(1, k + 1)
    return (prec * rel).sum(axis=1) / min(k, n_rel)


def random_neighbors(n_index: int, n_query: int, k: int, n_draws: int, seed: int = 0) -> np.ndarray:
    """Random baseline neighbours: ``(n_draws, Q, k)`` index rows, each row of k drawn without replacement."""
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n_draws, n_query, n_index), dtype=np.float32), axis=2)[:, :, :k] if n_index <= 4096 else \
        np.stack([np.stack([rng.choice(n_index, k, replace=False) for _ in range(n_query)]) for _ in range(n_draws)])


def knn_vote(sims: np.ndarray, nb_lab: np.ndarray) -> np.ndarray:
    """Similarity-weighted label vote: ``sims (Q, k)``, ``nb_lab (Q, k, F)`` → scores ``(Q, F)`` in [0, 1]."""
    w = np.clip(np.nan_to_num(sims, nan=0.0), 1e-6, None)[:, :, None]
    return (w * nb_lab).sum(axis=1) / w.sum(axis=1)


def bootstrap_mean_ci(values: np.ndarray, *, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
                      ) -> tuple[float, float, float]:
    """Mean of finite ``values`` and its percentile bootstrap CI (resampling the values)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for s in range(0, n_boot, 200):
        b = min(200, n_boot - s)
        means[s:s + b] = v[rng.integers(0, len(v), (b, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(v.mean()), float(lo), float(hi)


@dataclass
class RetrievalScores:
    """What :func:`score_retrieval` measured for one embedding (and the random baseline)."""

    name: str
    k: int
    n_index: int
    n_query: int
    precision: dict[str, tuple[float, float, float]]          # metric -> (mean, lo, hi)
    random: dict[str, tuple[float, float, float]]
    vs_random: dict[str, tuple[float, float, float]]          # paired difference
    map_at_k: dict[str, tuple[int, float, float]] = field(default_factory=dict)  # finding -> (n queries, mAP, random)
    knn_scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (Q, F) vote scores


def score_retrieval(index_vecs: np.ndarray, index_lab: np.ndarray, query_vecs: np.ndarray, query_lab: np.ndarray,
                    findings: Sequence[str], *, name: str, k: int = 10, n_boot: int = 2000, n_random: int = 50,
                    seed: int = 0) -> RetrievalScores:
    """Exact cosine retrieval of every query in the index, scored against labels.

    Args:
        index_vecs: ``(N, D)`` unit vectors; index_lab: ``(N, F)`` bool.
        query_vecs: ``(Q, D)`` unit vectors; query_lab: ``(Q, F)`` bool (patients disjoint from the index).
        findings: the F label names (``No Finding`` included if present).
        k: neighbours.

    Raises:
        DataFormatError: shapes disagree or k is larger than the index.
    """
    index_lab = np.asarray(index_lab, bool)
    query_lab = np.asarray(query_lab, bool)
    if index_vecs.shape[0] != index_lab.shape[0] or query_vecs.shape[0] != query_lab.shape[0]:
        raise DataFormatError("vectors and label rows differ in number")
    if not 1 <= k <= len(index_vecs):
        raise DataFormatError(f"k={k} must be between 1 and the index size {len(index_vecs)}")
    nf = list(findings).index(NO_FINDING) if NO_FINDING in findings else None
    sims = query_vecs @ index_vecs.T
    nb = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    nb_sims = np.take_along_axis(sims, nb, 1)
    nb_lab = index_lab[nb]
    ours = neighbor_metrics(query_lab, nb_lab, nf)
    draws = random_neighbors(len(index_vecs), len(query_vecs), k, n_random, seed)
    rnd = {m: np.mean([neighbor_metrics(query_lab, index_lab[d], nf)[m] for d in draws], axis=0) for m in ours}
    precision, random, diff = {}, {}, {}
    for m in ours:
        precision[m] = bootstrap_mean_ci(ours[m], n_boot=n_boot, seed=seed)
        random[m] = bootstrap_mean_ci(rnd[m], n_boot=n_boot, seed=seed)
        diff[m] = bootstrap_mean_ci(ours[m] - rnd[m], n_boot=n_boot, seed=seed)
    maps = {}
    for j, f in enumerate(findings):
        qpos = query_lab[:, j]
        n_rel = int(index_lab[:, j].sum())
        if not qpos.any() or n_rel == 0:
            continue
        ap = ap_at_k(nb_lab[qpos, :, j], n_rel)
        ap_r = np.mean([ap_at_k(index_lab[d[qpos]][:, :, j], n_rel) for d in draws], axis=0)
        maps[f] = (int(qpos.sum()), float(np.mean(ap)), float(np.mean(ap_r)))
    return RetrievalScores(name=name, k=k, n_index=len(index_vecs), n_query=len(query_vecs), precision=precision,
                           random=random, vs_random=diff, map_at_k=maps, knn_scores=knn_vote(nb_sims, nb_lab))
