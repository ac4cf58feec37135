"""Similar-case retrieval: "show me prior films like this one".

* :mod:`~cxrkit.retrieval.embed` — images → unit vectors (the classifier's pooled features) and the
  :class:`EmbeddingSpec` naming the embedding;
* :mod:`~cxrkit.retrieval.index` — :class:`RetrievalIndex`: vectors + metadata table, add, opt-out delete,
  filtered search, atomic save / load;
* :mod:`~cxrkit.retrieval.ann` — the approximate (HNSW) search used for large archives;
* :mod:`~cxrkit.retrieval.metadata` — the metadata table and :class:`SearchFilter`;
* :mod:`~cxrkit.retrieval.query` — one radiograph → its neighbours (CLI and REST share it);
* :mod:`~cxrkit.retrieval.evaluate` — precision@k, mAP@k, random baseline, kNN label vote;
* :mod:`~cxrkit.retrieval.files` — embedding image files, with a cache.

Similar appearance is not a diagnosis; the labels shown come from the archive.
"""

from typing import Any

from cxrkit.retrieval.embed import Embedder, EmbeddingSpec, embed, load_embedder
from cxrkit.retrieval.errors import (
    CorruptIndexError,
    EmbeddingMismatchError,
    EmptyIndexError,
    IndexNotLoadedError,
    OptedOutPatientError,
    RetrievalError,
)


def __getattr__(name: str) -> Any:  # the index and its table need pandas (the `data` extra): imported on use
    if name == "RetrievalIndex":
        from cxrkit.retrieval.index import RetrievalIndex

        return RetrievalIndex
    if name == "SearchFilter":
        from cxrkit.retrieval.metadata import SearchFilter

        return SearchFilter
    raise AttributeError(f"module 'cxrkit.retrieval' has no attribute {name!r}")


__all__ = ["EmbeddingSpec", "Embedder", "embed", "load_embedder", "RetrievalIndex", "SearchFilter",
           "RetrievalError", "EmbeddingMismatchError", "EmptyIndexError", "CorruptIndexError",
           "OptedOutPatientError", "IndexNotLoadedError"]
