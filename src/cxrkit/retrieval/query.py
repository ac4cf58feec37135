"""One radiograph → its nearest indexed films (what ``cxrkit similar`` and ``POST /v1/similar`` share)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.retrieval.embed import Embedder
from cxrkit.retrieval.index import RetrievalIndex
from cxrkit.retrieval.metadata import SearchFilter
from cxrkit.types import Image

__all__ = ["similar_images", "neighbors_document", "query_filter"]


def query_filter(index: RetrievalIndex, image: Image, *, patient_id: str | None = None,
                 include_same_patient: bool = False, views=None, date_from: str | None = None,
                 date_to: str | None = None, datasets=None) -> SearchFilter:
    """The filter of a query: its own patient excluded (``patient_id`` or the DICOM PatientID) unless
    ``include_same_patient``, and the query file itself never returned."""
    pid = patient_id if patient_id is not None else (image.meta.dicom or {}).get("PatientID", "")
    same: list[str] = []
    if image.meta.source:
        src = str(Path(image.meta.source).resolve()) if Path(image.meta.source).exists() else image.meta.source
        m = index.meta
        same = m.loc[m["source_path"].map(lambda s: str(Path(s).resolve()) if s else "") == src, "image_id"].tolist()
    return SearchFilter.make(exclude_patients=[] if include_same_patient or not pid else [pid], views=views,
                             date_from=date_from, date_to=date_to, datasets=datasets, exclude_images=same)


def similar_images(index: RetrievalIndex, embedder: Embedder, image: Image | np.ndarray, *, k: int = 10,
                   flt: SearchFilter | None = None, qc: bool = True) -> pd.DataFrame:
    """The ``k`` nearest indexed films of one image (table of :data:`cxrkit.retrieval.index.RESULT_COLUMNS`).

    With ``qc`` (default) an :class:`Image` must pass the quality check (:func:`cxrkit.qc.check_quality`, no
    segmentation): a lateral, non-chest or CT image would otherwise get "similar" chest films, a wrong answer.

    Raises:
        EmbeddingMismatchError: ``embedder`` is not the index's embedding.
        EmptyIndexError: the index holds no film.
        InvalidImageError: the image is not a finite 2-D array.
        NotAChestXrayError: the quality check refused the image (its reasons in the message).
    """
    index.spec.check_same(embedder.spec, "query")  # before spending time on the network
    if qc and isinstance(image, Image):
        from cxrkit.errors import NotAChestXrayError
        from cxrkit.qc import check_quality

        quality = check_quality(image)
        if not quality.usable:
            raise NotAChestXrayError("not searched: " + "; ".join(quality.reasons)
                                     + " (the similar-case index holds frontal chest films)")
    if len(index) == 0:
        index.search_arrays(np.zeros(index.spec.dim, np.float32), 1, spec=embedder.spec)  # raises EmptyIndexError
    q = embedder.embed([image])
    return index.search(q, k, spec=embedder.spec, flt=flt)[0]


def neighbors_document(table: pd.DataFrame, index: RetrievalIndex, *, k: int, flt: SearchFilter | None) -> dict[str, Any]:
    """JSON-ready answer: embedding, k, filters applied and the neighbours (labels as lists)."""
    rows = []
    for r in table.to_dict(orient="records"):
        r["labels"] = [s for s in str(r["labels"]).split("|") if s]
        r["rank"] = int(r["rank"])
        r["similarity"] = round(float(r["similarity"]), 6)
        r["distance"] = round(float(r["distance"]), 6)
        rows.append(r)
    f = flt or SearchFilter()
    return {
        "embedding": index.spec.label, "index_size": len(index), "k": int(k), "returned": len(rows),
        "filters": {"exclude_patients": len(f.exclude_patients), "views": sorted(f.views) if f.views else None,
                    "date_from": f.date_from, "date_to": f.date_to,
                    "datasets": sorted(f.datasets) if f.datasets else None},
        "neighbors": rows,
        "note": "Similar prior films by image appearance; labels are the archive's, not a diagnosis.",
    }
