"""The projection head's training on seeded synthetic clusters: label-aware, it pulls same-label films together."""

import numpy as np
import pytest

from cxrkit.retrieval.evaluate import neighbor_metrics
from cxrkit.retrieval.head import train_head

pytest.importorskip("torch")


def test_head_improves_label_retrieval_on_noisy_clusters():
    rng = np.random.default_rng(0)
    n, d, c = 240, 48, 4
    centres = rng.standard_normal((c, d)) * 0.6
    cl = rng.integers(0, c, n)
    x = centres[cl] + rng.standard_normal((n, d))  # label signal weak against the noise
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    lab = np.eye(c, dtype=bool)[cl]
    tr, te = np.arange(160), np.arange(160, n)

    def p10(v):
        nb = np.argsort(-(v[te] @ v[tr].T), axis=1)[:, :10]
        return neighbor_metrics(lab[te], lab[tr][nb], None)["share"].mean()

    w = train_head(x[tr], lab[tr], dim=8, epochs=100)
    z = x @ w
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    assert w.shape == (d, 8)
    assert p10(z) > p10(x) + 0.05
