"""A similar-case index: unit vectors of one embedding + the metadata table, with opt-out deletes and filters.

>>> idx = RetrievalIndex(spec)                                   # doctest: +SKIP
>>> idx.add(vectors, meta, spec=spec)                            # (N, D) unit vectors + one row each
>>> hits = idx.search(q, k=10, spec=spec, flt=SearchFilter.make(exclude_patients=["p1"]))   # list of tables
>>> idx.delete_patient("p7"); idx.save("archive.idx")           # opt-out: gone now and after reload

Search is exact (cosine, one matrix product) below ``ann_threshold`` films and approximate above it (HNSW of
:mod:`cxrkit.retrieval.ann` on PCA-reduced vectors, candidates re-ranked exactly); see ``docs/retrieval.md``.

On disk an index is a folder: ``manifest.json`` (format, embedding, generation, opted-out patients, SHA-256 of
each part) + ``vectors.<gen>.npy`` (float16) + ``meta.<gen>.parquet`` [+ ``ann.<gen>.*``]. :meth:`save` writes a
new generation and then replaces the manifest atomically, so a crash leaves the previous index whole.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.errors import DataFormatError
from cxrkit.retrieval.embed import EmbeddingSpec
from cxrkit.retrieval.errors import CorruptIndexError, EmbeddingMismatchError, EmptyIndexError, OptedOutPatientError
from cxrkit.retrieval.metadata import META_COLUMNS, SearchFilter, filter_mask, normalize_meta

__all__ = ["RetrievalIndex", "INDEX_FORMAT", "RESULT_COLUMNS"]

log = logging.getLogger(__name__)

INDEX_FORMAT = "cxrkit.retrieval-index/1"
RESULT_COLUMNS = ("rank", "similarity", "distance", *META_COLUMNS)
DEFAULT_ANN_THRESHOLD = 50_000


class RetrievalIndex:
    """Vectors of one embedding and their metadata.

    Args:
        spec: the embedding every vector must come from.
        ann_threshold: at or above this many films, searches go through the approximate index.
    """

    def __init__(self, spec: EmbeddingSpec, *, ann_threshold: int = DEFAULT_ANN_THRESHOLD) -> None:
        self.spec = spec
        self.ann_threshold = int(ann_threshold)
        self._vectors = np.zeros((0, spec.dim), np.float32)
        self._keys = np.zeros(0, np.int64)
        self._meta = pd.DataFrame({c: pd.Series(dtype=object) for c in META_COLUMNS})
        self._opted_out: set[str] = set()
        self._next_key = 0
        self._ann: Any = None  # cxrkit.retrieval.ann.AnnIndex, built lazily
        self._generation = 0

    # ------------------------------------------------------------------ content
    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"RetrievalIndex({len(self)} films, {self.spec.label})"

    @property
    def meta(self) -> pd.DataFrame:
        """The metadata table (a copy), one row per film in index order."""
        return self._meta.copy()

    @property
    def opted_out(self) -> frozenset[str]:
        """Patient ids deleted by opt-out (never indexed or returned again)."""
        return frozenset(self._opted_out)

    def vectors(self) -> np.ndarray:
        """The stored unit vectors ``(N, D)`` float32."""
        return np.asarray(self._vectors, dtype=np.float32)

    def has_image(self, image_id: str) -> bool:
        return bool((self._meta["image_id"] == str(image_id)).any())

    def add(self, vectors: np.ndarray, meta: pd.DataFrame, *, spec: EmbeddingSpec) -> int:
        """Add films: ``vectors (N, D)`` (unit norm) with one metadata row each; returns the new total.

        Raises:
            EmbeddingMismatchError: ``spec`` is not the index's embedding, or the dimension differs.
            OptedOutPatientError: a row belongs to an opted-out patient.
            DataFormatError: row counts differ, non-finite vectors, or image ids already in the index.
        """
        self.spec.check_same(spec, "new vectors")
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != self.spec.dim:
            raise EmbeddingMismatchError(f"vectors have shape {v.shape}; this index holds (N, {self.spec.dim})")
        m = normalize_meta(meta)
        if len(m) != len(v):
            raise DataFormatError(f"{len(v)} vectors but {len(m)} metadata rows")
        if not np.all(np.isfinite(v)):
            raise DataFormatError("vectors contain NaN or infinite values")
        bad = sorted(set(m["patient_id"]) & self._opted_out)
        if bad:
            raise OptedOutPatientError(f"patient(s) {bad[:5]} opted out of this index; their films are not added")
        dup = sorted(set(m["image_id"]) & set(self._meta["image_id"]))
        if dup:
            raise DataFormatError(f"image id(s) already in the index: {dup[:5]} (delete them first to replace)")
        keys = np.arange(self._next_key, self._next_key + len(v), dtype=np.int64)
        self._next_key += len(v)
        self._vectors = np.concatenate([self._vectors, v.astype(self._vectors.dtype)])
        self._keys = np.concatenate([self._keys, keys])
        self._meta = pd.concat([self._meta, m], ignore_index=True)
        if self._ann is not None:
            self._ann.add(v, keys)
        return len(self)

    def delete_patient(self, patient_id: str) -> int:
        """Opt-out: remove every film of ``patient_id`` now and refuse them from then on; returns films removed.

        The opt-out is recorded even when no film of the patient is in the index yet. Call :meth:`save` to make
        it persistent.

        Raises:
            DataFormatError: an empty patient id.
        """
        pid = str(patient_id).strip()
        if not pid:
            raise DataFormatError("patient id to delete is empty")
        self._opted_out.add(pid)
        gone = (self._meta["patient_id"] == pid).to_numpy()
        if gone.any():
            if self._ann is not None:
                self._ann.remove(self._keys[gone])
            keep = ~gone
            self._vectors = self._vectors[keep]
            self._keys = self._keys[keep]
            self._meta = self._meta[keep].reset_index(drop=True)
        return int(gone.sum())

    def lookup(self, image_id: str) -> tuple[np.ndarray, pd.Series]:
        """The stored vector ``(D,)`` and metadata row of an indexed film.

        Raises:
            OptedOutPatientError: the film's patient opted out (it was deleted).
            UnknownNameError: no such image id.
        """
        hit = np.flatnonzero((self._meta["image_id"] == str(image_id)).to_numpy())
        if not len(hit):
            from cxrkit.errors import UnknownNameError

            raise UnknownNameError(f"image id {image_id!r} is not in the index ({len(self)} films)")
        row = self._meta.iloc[hit[0]]
        if row["patient_id"] in self._opted_out:  # pragma: no cover - deleted rows are gone
            raise OptedOutPatientError(f"patient {row['patient_id']!r} opted out")
        return np.asarray(self._vectors[hit[0]], np.float32), row

    # ------------------------------------------------------------------ search
    def _check_query(self, queries: np.ndarray, spec: EmbeddingSpec) -> np.ndarray:
        self.spec.check_same(spec, "query")
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None]
        if q.ndim != 2 or q.shape[1] != self.spec.dim:
            raise EmbeddingMismatchError(f"query has shape {np.shape(queries)}; this index holds {self.spec.dim}-d "
                                         f"vectors of {self.spec.label}")
        if not np.all(np.isfinite(q)):
            raise DataFormatError("query vector contains NaN or infinite values")
        if len(self) == 0:
            raise EmptyIndexError("the index holds no films" + (
                f" ({len(self._opted_out)} patient(s) deleted by opt-out)" if self._opted_out else "")
                + "; add films with `cxrkit index add` or build it with `cxrkit index build`")
        return q

    def search_arrays(self, queries: np.ndarray, k: int = 10, *, spec: EmbeddingSpec,
                      mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest films by cosine similarity: ``(similarities (Q, k) float32, rows (Q, k) int64)``.

        Rows index :attr:`meta`; where fewer than ``k`` films are allowed, rows are -1 and similarities NaN.

        Args:
            queries: ``(Q, D)`` or ``(D,)`` unit vectors of ``spec``.
            k: neighbours per query (>= 1).
            spec: the embedding of the queries (must be the index's).
            mask: bool ``(N,)``, films allowed (None: all).

        Raises:
            EmbeddingMismatchError, EmptyIndexError, DataFormatError.
        """
        if isinstance(k, bool) or int(k) < 1:
            raise DataFormatError(f"k must be a positive integer, got {k!r}")
        k = int(k)
        q = self._check_query(queries, spec)
        n = len(self)
        allowed = np.ones(n, bool) if mask is None else np.asarray(mask, bool)
        if allowed.shape != (n,):
            raise DataFormatError(f"mask has shape {allowed.shape}; expected ({n},)")
        sims = np.full((len(q), k), np.nan, np.float32)
        rows = np.full((len(q), k), -1, np.int64)
        cand_all = np.flatnonzero(allowed)
        if not len(cand_all):
            return sims, rows
        use_ann = n >= self.ann_threshold and len(cand_all) >= self.ann_threshold
        for i, qi in enumerate(q):
            cand = self._ann_candidates(qi, k, allowed) if use_ann else cand_all
            s = np.asarray(self._vectors[cand], np.float32) @ qi
            top = np.argsort(-s, kind="stable")[:k]
            sims[i, :len(top)] = s[top]
            rows[i, :len(top)] = cand[top]
        return sims, rows

    def _ann_candidates(self, q: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray:
        from cxrkit.retrieval.ann import AnnIndex

        if self._ann is None:
            self._ann = AnnIndex.build(self._vectors, self._keys)
        want = max(self._ann.rerank, 4 * k)
        while True:
            keys = self._ann.search(q, want)
            rows = np.searchsorted(self._keys, keys)
            ok = (rows < len(self._keys)) & (self._keys[np.minimum(rows, len(self._keys) - 1)] == keys)
            rows = rows[ok]
            rows = rows[allowed[rows]]
            if len(rows) >= k or want >= len(self._keys):
                return rows
            want *= 4

    def search(self, queries: np.ndarray, k: int = 10, *, spec: EmbeddingSpec,
               flt: SearchFilter | None = None) -> list[pd.DataFrame]:
        """One table per query: :data:`RESULT_COLUMNS` (rank from 1, cosine similarity, distance = 1 - similarity,
        and the film's metadata), at most ``k`` rows, nearest first."""
        sims, rows = self.search_arrays(queries, k, spec=spec, mask=filter_mask(self._meta, flt))
        out = []
        for s, r in zip(sims, rows):
            ok = r >= 0
            t = self._meta.iloc[r[ok]].reset_index(drop=True)
            sim = np.clip(s[ok].astype(float), -1.0, 1.0)  # float rounding can pass 1 for a film and itself
            t.insert(0, "distance", 1.0 - sim)
            t.insert(0, "similarity", sim)
            t.insert(0, "rank", np.arange(1, ok.sum() + 1))
            out.append(t[list(RESULT_COLUMNS)])
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the index to folder ``path`` atomically (new generation, then the manifest); returns ``path``."""
        import io

        from cxrkit.fs import atomic_write_bytes, atomic_write_text
        from cxrkit.models.card import sha256_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        old = _read_manifest(folder) if (folder / "manifest.json").is_file() else None
        gen = max(self._generation, int(old.get("generation", 0)) if isinstance(old, dict) else 0) + 1
        files = {"vectors": f"vectors.{gen}.npy", "meta": f"meta.{gen}.parquet"}
        buf = io.BytesIO()
        np.save(buf, np.asarray(self._vectors, np.float32).astype(np.float16), allow_pickle=False)
        atomic_write_bytes(folder / files["vectors"], buf.getvalue())
        m = self._meta.copy()
        m["key"] = self._keys
        buf = io.BytesIO()
        m.to_parquet(buf, index=False)
        atomic_write_bytes(folder / files["meta"], buf.getvalue())
        if self._ann is not None:
            for f in self._ann.save(folder, f"ann.{gen}"):
                files[f.rsplit(".", 1)[1]] = f  # "usearch" (graph), "npz" (projection, parameters)
        manifest = {
            "format": INDEX_FORMAT, "generation": gen, "embedding": self.spec.to_dict(), "n": len(self),
            "next_key": self._next_key, "ann_threshold": self.ann_threshold,
            "opted_out_patients": sorted(self._opted_out), "files": files,
            "sha256": {k: sha256_file(folder / f) for k, f in files.items()},
        }
        atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=1))
        self._generation = gen
        keep = set(files.values()) | {"manifest.json"}
        for f in folder.iterdir():  # earlier generations (and leftovers of a crashed save)
            if f.name not in keep and f.name.lstrip(".").split(".")[0] in ("vectors", "meta", "ann") and f.is_file():
                f.unlink()
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike) -> RetrievalIndex:
        """Read an index folder written by :meth:`save`.

        Raises:
            CorruptIndexError: missing folder or parts, bad manifest, checksum or shape mismatch.
        """
        import pyarrow as pa

        from cxrkit.models.card import sha256_file

        folder = Path(path)
        if not folder.is_dir():
            raise CorruptIndexError(f"{folder}: not an index folder (build one with `cxrkit index build`)")
        man = _read_manifest(folder)
        try:
            spec = EmbeddingSpec.from_dict(man["embedding"])
            files = dict(man["files"])
            sums = dict(man["sha256"])
            n = int(man["n"])
        except (KeyError, TypeError, ValueError, DataFormatError) as exc:
            raise CorruptIndexError(f"{folder}/manifest.json: missing or bad field ({exc})") from None
        for part in [p for p in ("vectors", "meta", "usearch", "npz") if p in files or p in ("vectors", "meta")]:
            f = folder / str(files.get(part, ""))
            if not f.is_file():
                raise CorruptIndexError(f"{folder}: part {part!r} ({f.name}) is missing")
            if sha256_file(f) != sums.get(part):
                raise CorruptIndexError(f"{f}: checksum does not match the manifest (file changed or truncated)")
        try:
            vec = np.load(folder / files["vectors"], allow_pickle=False, mmap_mode="r")  # float16 on disk
            meta = pd.read_parquet(folder / files["meta"])
        except (ValueError, OSError, EOFError, pa.ArrowException) as exc:
            raise CorruptIndexError(f"{folder}: unreadable part ({exc})") from None
        if vec.ndim != 2 or vec.shape != (n, spec.dim) or len(meta) != n or "key" not in meta.columns:
            raise CorruptIndexError(f"{folder}: parts disagree (vectors {vec.shape}, {len(meta)} metadata rows, "
                                    f"manifest n={n}, dim={spec.dim})")
        idx = cls(spec, ann_threshold=int(man.get("ann_threshold", DEFAULT_ANN_THRESHOLD)))
        # small indexes in RAM as float32; large ones stay memory-mapped (only re-ranked rows are read)
        idx._vectors = vec.astype(np.float32) if n < idx.ann_threshold else vec
        if "usearch" in files:
            from cxrkit.retrieval.ann import AnnIndex

            try:
                idx._ann = AnnIndex.load(folder, files["usearch"].rsplit(".", 1)[0])
            except DataFormatError as exc:
                raise CorruptIndexError(str(exc)) from None
            if len(idx._ann) != n:
                raise CorruptIndexError(f"{folder}: approximate index holds {len(idx._ann)} vectors, the index {n}")
        idx._keys = meta["key"].to_numpy(np.int64)
        idx._meta = normalize_meta(meta.drop(columns=["key"]))
        idx._opted_out = {str(p) for p in man.get("opted_out_patients", [])}
        idx._next_key = int(man.get("next_key", int(idx._keys.max()) + 1 if n else 0))
        idx._generation = int(man.get("generation", 0))
        leaked = set(idx._meta["patient_id"]) & idx._opted_out
        if leaked:
            raise CorruptIndexError(f"{folder}: holds films of opted-out patient(s) {sorted(leaked)[:5]}")
        return idx


def _read_manifest(folder: Path) -> dict:
    p = folder / "manifest.json"
    if not p.is_file():
        raise CorruptIndexError(f"{folder}: no manifest.json (not an index, or its build never finished)")
    try:
        man = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptIndexError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(man, dict) or man.get("format") != INDEX_FORMAT:
        got = man.get("format") if isinstance(man, dict) else type(man).__name__
        raise CorruptIndexError(f"{p}: format {got!r}; expected {INDEX_FORMAT!r}")
    return man


