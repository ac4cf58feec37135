"""Approximate nearest neighbours for large archives: usearch HNSW on PCA-reduced vectors.

Why this configuration (measured in ``benchmarks/retrieval_scale_bench.py``, figures in ``docs/retrieval.md``):
1280-d float32 vectors need 5.1 GB per million films, so the ANN structure holds each vector projected on the
first ``dim`` principal directions of the archive (uncentred, so inner products in the reduced space approximate
the full cosine) and stores it as int8; the candidates it returns are re-ranked exactly on the full vectors by
:class:`cxrkit.retrieval.index.RetrievalIndex`. usearch was picked over faiss and hnswlib: the same recall, the
smallest footprint (with faiss; hnswlib stores float32 only), and it removes vectors in place (opt-out; faiss's HNSW
cannot) and saves one file. Build times were within 2x of each other and varied with the machine's load.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cxrkit.errors import DataFormatError

__all__ = ["AnnIndex", "install_hint"]

install_hint = "pip install 'cxrkit[retrieval]' (usearch) for approximate search of large indexes"


def _usearch():
    try:
        from usearch.index import Index
    except ImportError as exc:  # pragma: no cover - the optional extra is absent
        raise ImportError(f"approximate search needs usearch: {install_hint}") from exc
    return Index


class AnnIndex:
    """HNSW graph over reduced vectors, keyed by the index's int64 keys.

    Args:
        projection: ``(D, dim)`` float32, full → reduced.
        dtype: usearch storage type of the reduced vectors ("f16", "i8", "f32").
        connectivity / expansion_add / expansion_search: HNSW parameters (M, efConstruction, efSearch).
        rerank: candidates handed back for exact re-ranking.
    """

    def __init__(self, projection: np.ndarray, *, dtype: str = "i8", connectivity: int = 16,
                 expansion_add: int = 128, expansion_search: int = 96, rerank: int = 40) -> None:
        self.projection = np.ascontiguousarray(projection, dtype=np.float32)
        self.dtype = dtype
        self.rerank = int(rerank)
        self.params = {"connectivity": int(connectivity), "expansion_add": int(expansion_add),
                       "expansion_search": int(expansion_search)}
        Index = _usearch()
        self.index = Index(ndim=self.projection.shape[1], metric="ip", dtype=dtype, **self.params)

    @staticmethod
    def fit_projection(vectors: np.ndarray, dim: int = 256, *, sample: int = 20_000, seed: int = 0) -> np.ndarray:
        """First ``dim`` right singular vectors (uncentred) of up to ``sample`` rows: ``(D, dim)`` float32."""
        if len(vectors) > sample:
            rows = np.sort(np.random.default_rng(seed).choice(len(vectors), sample, replace=False))
            v = np.asarray(vectors[rows], np.float32)
        else:
            v = np.asarray(vectors, np.float32)
        _, _, vt = np.linalg.svd(v, full_matrices=False)
        d = min(dim, vt.shape[0])
        return np.ascontiguousarray(vt[:d].T)

    @classmethod
    def build(cls, vectors: np.ndarray, keys: np.ndarray, *, dim: int = 256, **kw) -> AnnIndex:
        """Fit the projection on ``vectors (N, D)`` and add them under ``keys (N,)``."""
        ann = cls(cls.fit_projection(vectors, dim), **kw)
        for s in range(0, len(vectors), 50_000):
            ann.add(np.asarray(vectors[s:s + 50_000], np.float32), keys[s:s + 50_000])
        return ann

    def __len__(self) -> int:
        return len(self.index)

    def reduce(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(x, np.float32) @ self.projection)

    def add(self, vectors: np.ndarray, keys: np.ndarray) -> None:
        if len(keys):
            self.index.add(np.asarray(keys, np.uint64), self.reduce(vectors), threads=0)

    def remove(self, keys: np.ndarray) -> None:
        if len(keys):
            self.index.remove(np.asarray(keys, np.uint64))

    def search(self, q: np.ndarray, count: int) -> np.ndarray:
        """Keys of about ``count`` nearest vectors of one query ``(D,)`` (reduced-space inner product)."""
        m = self.index.search(self.reduce(np.asarray(q, np.float32)[None])[0], int(count), threads=1)
        return np.asarray(m.keys, dtype=np.int64)

    def save(self, folder: Path, stem: str) -> list[str]:
        """Write ``<stem>.usearch`` and ``<stem>.npz`` into ``folder`` atomically; returns the file names."""
        from cxrkit.fs import atomic_path, atomic_write_bytes

        graph, extra = f"{stem}.usearch", f"{stem}.npz"
        with atomic_path(folder / graph) as tmp:
            self.index.save(str(tmp))
        buf = io.BytesIO()
        np.savez(buf, projection=self.projection, dtype=np.array(self.dtype), rerank=np.array(self.rerank),
                 connectivity=np.array(self.params["connectivity"]), expansion_add=np.array(self.params["expansion_add"]),
                 expansion_search=np.array(self.params["expansion_search"]))
        atomic_write_bytes(folder / extra, buf.getvalue())
        return [graph, extra]

    @classmethod
    def load(cls, folder: Path, stem: str) -> AnnIndex:
        """Read what :meth:`save` wrote (the graph is loaded into RAM)."""
        try:
            with np.load(folder / f"{stem}.npz", allow_pickle=False) as z:
                ann = cls(z["projection"], dtype=str(z["dtype"]), rerank=int(z["rerank"]),
                          connectivity=int(z["connectivity"]), expansion_add=int(z["expansion_add"]),
                          expansion_search=int(z["expansion_search"]))
            ann.index.load(str(folder / f"{stem}.usearch"))
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise DataFormatError(f"{folder}: unreadable approximate index {stem} ({exc})") from None
        return ann
