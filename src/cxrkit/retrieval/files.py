"""Embedding image files (the I/O edge of retrieval): read, embed in batches, optional on-disk cache.

The cache (for evaluation reruns) is one ``.npz`` per (embedding, ordered file list); it is keyed by the
embedding's identity and the files' paths, sizes and modification times, so a changed file is re-embedded.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from cxrkit.retrieval.embed import Embedder

__all__ = ["embed_files"]

log = logging.getLogger(__name__)


def _key(embedder: Embedder, paths: Sequence[Path]) -> str:
    h = hashlib.sha256(json.dumps(embedder.spec.to_dict(), sort_keys=True).encode())
    for p in paths:
        st = p.stat()
        h.update(f"\n{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def embed_files(embedder: Embedder, paths: Sequence[str | Path], *, batch_size: int = 16,
                cache_dir: str | Path | None = None, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Read and embed image files → unit vectors ``(N, D)`` float32, rows in the order of ``paths``.

    Args:
        embedder: the embedding.
        paths: DICOM / PNG / JPEG files.
        batch_size: images read and embedded at a time (bounds memory).
        cache_dir: folder for a cache of the result (None: no cache).
        progress: called with the number of files just embedded (e.g. a progress bar's ``update``).

    Raises:
        InvalidImageError / UnsupportedImageError: a file is not a readable radiograph (its path is named).
    """
    from cxrkit.fs import atomic_write_bytes
    from cxrkit.io import read_image

    files = [Path(p) for p in paths]
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"embeddings-{_key(embedder, files)}.npz"
        if cache.is_file():
            with np.load(cache) as z:
                v = z["vectors"]
            if v.shape == (len(files), embedder.spec.dim):
                log.info("embeddings from cache %s", cache)
                if progress:
                    progress(len(files))
                return v.astype(np.float32, copy=False)
    out = []
    for s in range(0, len(files), batch_size):
        chunk = files[s:s + batch_size]
        out.append(embedder.embed([read_image(p) for p in chunk], batch_size=batch_size))
        if progress:
            progress(len(chunk))
    v = np.concatenate(out) if out else np.zeros((0, embedder.spec.dim), np.float32)
    if cache is not None:
        buf = io.BytesIO()
        np.savez(buf, vectors=v)
        atomic_write_bytes(cache, buf.getvalue())
    return v
