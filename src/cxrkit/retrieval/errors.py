"""Typed errors of similar-case retrieval (all :class:`cxrkit.errors.CxrkitError`)."""

from __future__ import annotations

from cxrkit.errors import CxrkitError, DataFormatError

__all__ = ["RetrievalError", "EmbeddingMismatchError", "EmptyIndexError", "CorruptIndexError",
           "OptedOutPatientError", "IndexNotLoadedError"]


class RetrievalError(CxrkitError):
    """Base class of the retrieval errors."""


class EmbeddingMismatchError(RetrievalError, ValueError):
    """A query or new vectors come from another embedding (model, weights, preprocessing or dimension)
    than the one that built the index."""


class EmptyIndexError(RetrievalError, LookupError):
    """The index holds no searchable film (nothing added yet, or every film deleted / filtered out)."""


class CorruptIndexError(RetrievalError, DataFormatError):
    """An index folder is missing files, fails its checksums or has inconsistent parts."""


class OptedOutPatientError(RetrievalError, ValueError):
    """The request names a patient who opted out (deleted): their films are never indexed or returned again."""


class IndexNotLoadedError(RetrievalError, LookupError):
    """The service was started without an index (set ``CXRKIT_INDEX`` or ``cxrkit serve --index``)."""
