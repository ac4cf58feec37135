"""``POST /v1/similar``: the indexed prior films most like an uploaded radiograph (REST side of retrieval).

The server holds an index only when started with one (``CXRKIT_INDEX=DIR`` or ``cxrkit serve --index DIR``);
otherwise the endpoint answers 409 with a message saying so. The index's embedding must be the served model's
(checked at startup: a mismatch stops the server with :class:`EmbeddingMismatchError`).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, replace
from typing import Annotated, Any

import anyio
import numpy as np
from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cxrkit.errors import DataFormatError, InvalidImageError, NotAChestXrayError, UnsupportedImageError
from cxrkit.retrieval.errors import EmptyIndexError

__all__ = ["Retrieval", "load_retrieval", "add_similar_route", "SimilarDoc", "THUMB_PX"]

log = logging.getLogger(__name__)

THUMB_PX = 160  # longer side of a neighbour's thumbnail
MAX_K = 50


@dataclass
class Retrieval:
    """A loaded index and the embedder of its embedding."""

    index: Any  # cxrkit.retrieval.index.RetrievalIndex
    embedder: Any  # cxrkit.retrieval.embed.Embedder


def load_retrieval(path: str | None, classifier: str | None) -> Retrieval | None:
    """Load the index at ``path`` (None: no index) and the embedder of ``classifier``; check they match.

    Raises:
        CorruptIndexError / EmbeddingMismatchError: a bad index, or one built with another embedding.
    """
    if not path:
        return None
    from cxrkit.retrieval.embed import load_embedder
    from cxrkit.retrieval.index import RetrievalIndex

    index = RetrievalIndex.load(path)
    embedder = load_embedder(None if classifier in (None, "default") else classifier)
    index.spec.check_same(embedder.spec, "served model's embedding")
    log.info("similar-case index loaded: %d films, %s", len(index), index.spec.label)
    return Retrieval(index, embedder)


class NeighborDoc(BaseModel):
    rank: int
    similarity: float = Field(description="cosine similarity of the embeddings (1 = identical)")
    distance: float = Field(description="1 - similarity")
    image_id: str
    patient_id: str | None = Field(None, description="only with ?identifiers=true (patient data)")
    study_date: str
    view: str
    labels: list[str] = Field(description="the archive's confirmed findings of that film")
    dataset: str
    source_path: str | None = Field(None, description="only with ?identifiers=true (paths often carry names)")
    thumbnail: str | None = Field(None, description="PNG data URI (with ?thumbnails=true), null if unreadable")


class SimilarDoc(BaseModel):
    """The nearest indexed films of the uploaded radiograph."""

    embedding: str
    index_size: int
    k: int
    returned: int
    filters: dict[str, Any]
    neighbors: list[NeighborDoc]
    note: str


def _thumbnail(path: str) -> str | None:
    from PIL import Image as PILImage

    from cxrkit.deliver.png import png_bytes
    from cxrkit.io import read_image

    try:
        px = read_image(path).pixels
    except Exception:  # noqa: BLE001 - a missing archive file only loses its thumbnail
        return None
    im = PILImage.fromarray(np.clip(px * 255.0 + 0.5, 0, 255).astype(np.uint8))
    im.thumbnail((THUMB_PX, THUMB_PX))
    return "data:image/png;base64," + base64.b64encode(png_bytes(np.asarray(im))).decode("ascii")


def add_similar_route(app: FastAPI, require_token) -> None:
    """Register ``POST /v1/similar`` on ``app`` (reads ``app.state.retrieval`` and ``app.state.limiter``)."""

    @app.post("/v1/similar", tags=["similar"], dependencies=[Depends(require_token)], response_model=SimilarDoc,
              responses={400: {}, 401: {}, 409: {"description": "no index loaded, or the index is empty"},
                         413: {}, 415: {}})
    async def similar(
        request: Request,
        file: Annotated[UploadFile, File(description="a DICOM, PNG or JPEG chest radiograph")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="neighbours")] = 10,
        patient_id: Annotated[str | None, Query(description="the query's patient (default: DICOM PatientID); "
                                                            "their films are excluded")] = None,
        include_same_patient: bool = False,
        view: Annotated[list[str] | None, Query(description="only these views")] = None,
        date_from: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
        date_to: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
        dataset: Annotated[list[str] | None, Query(description="only these datasets")] = None,
        thumbnails: bool = False,
        identifiers: Annotated[bool, Query(description="also return each film's patient_id and source_path "
                                                       "(patient data; off by default)")] = False,
    ) -> JSONResponse:
        """Similar prior films of one radiograph: rank, cosine similarity, the film's metadata and labels."""
        r: Retrieval | None = getattr(request.app.state, "retrieval", None)
        if r is None:
            raise HTTPException(409, "no similar-case index is loaded on this server; start it with "
                                     "CXRKIT_INDEX=DIR or `cxrkit serve --index DIR` (build one with `cxrkit index build`)")
        data = await file.read()
        if not data:
            raise HTTPException(415, "empty upload: expected a DICOM, PNG or JPEG file in the multipart field 'file'")
        settings = request.app.state.settings

        def work() -> dict[str, Any]:
            from cxrkit.pipeline import read_input
            from cxrkit.retrieval.query import neighbors_document, query_filter, similar_images

            image = read_input(data, max_pixels=settings.max_pixels)
            image = type(image)(image.pixels, replace(image.meta, source=""))
            flt = query_filter(r.index, image, patient_id=patient_id, include_same_patient=include_same_patient,
                               views=view, date_from=date_from, date_to=date_to, datasets=dataset)
            table = similar_images(r.index, r.embedder, image, k=k, flt=flt)
            doc = neighbors_document(table, r.index, k=k, flt=flt)
            for n in doc["neighbors"]:
                n["thumbnail"] = _thumbnail(n["source_path"]) if thumbnails else None
                if not identifiers:  # no patient data in the answer unless asked for (docs/security.md)
                    n["patient_id"] = n["source_path"] = None
            return doc

        try:
            doc = await anyio.to_thread.run_sync(work, limiter=request.app.state.limiter)
        except InvalidImageError as exc:
            raise HTTPException(415, f"not a readable image: {exc}") from None
        except (UnsupportedImageError, NotAChestXrayError) as exc:
            raise HTTPException(422, f"not an image cxrkit can search with: {exc}") from None
        except EmptyIndexError as exc:
            raise HTTPException(409, str(exc)) from None
        except DataFormatError as exc:
            raise HTTPException(400, str(exc)) from None
        return JSONResponse(doc)
