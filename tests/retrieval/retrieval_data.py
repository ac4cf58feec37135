"""Seeded synthetic unit vectors in clusters and their metadata, for the retrieval tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrkit.retrieval.embed import EmbeddingSpec

DIM = 32


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_spec() -> EmbeddingSpec:
    return EmbeddingSpec(model="test-model", weights_sha256="ab" * 32,
                         preprocessing={"size": 64, "geometry": "resize", "intensity": "unit", "channels": 1}, dim=DIM)


def make_data(n: int, seed: int = 0, n_clusters: int = 8) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """``n`` vectors around ``n_clusters`` centres; label = the cluster's finding; 2 films per patient."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((n_clusters, DIM)))
    cl = rng.integers(0, n_clusters, n)
    v = unit(centres[cl] + 0.25 * rng.standard_normal((n, DIM)))
    views = np.array(["PA", "AP"])[rng.integers(0, 2, n)]
    days = rng.integers(1, 28, n)
    meta = pd.DataFrame({
        "image_id": [f"img{i:05d}.png" for i in range(n)], "patient_id": [f"p{i // 2:05d}" for i in range(n)],
        "study_date": [f"2020-01-{d:02d}" for d in days], "view": views,
        "labels": [f"F{c}" for c in cl], "dataset": np.where(np.arange(n) % 3 == 0, "siteB", "siteA"),
        "source_path": [f"/data/img{i:05d}.png" for i in range(n)],
    })
    return v, meta, cl
