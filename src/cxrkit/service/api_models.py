"""Response models of the REST API, for its OpenAPI description (``/openapi.json``, ``/docs``).

The analysis document itself is :class:`cxrkit.result_document.ResultDocument` (schema ``cxrkit.result/1``);
the routes return it as built by :meth:`cxrkit.result.AnalysisResult.to_dict`, these models describe it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cxrkit.result_document import QualityDoc, ResultDocument

__all__ = ["ANALYZE_RESPONSES", "ErrorDoc", "HealthDoc", "RefusedDoc"]


class HealthDoc(BaseModel):
    """Liveness and which components are loaded."""

    status: str = Field(description="'ok' while the service runs")
    version: str = Field(description="cxrkit version")
    classifier: bool = Field(description="a classifier is loaded")
    segmenter: bool = Field(description="a segmenter is loaded")


class ErrorDoc(BaseModel):
    """A client or service error: what went wrong (and, for a failed analysis, the request id to quote)."""

    detail: str
    request_id: str | None = None


class RefusedDoc(BaseModel):
    """422 for an image that is not a usable frontal chest radiograph: the reasons and the whole result."""

    detail: str
    quality: QualityDoc
    result: ResultDocument


_ERROR: dict[str, Any] = {"model": ErrorDoc}
ANALYZE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": ResultDocument,
          "description": "the result.json document (cxrkit.result/1); `overlays` only with ?include=..."},
    400: _ERROR | {"description": "unknown include option or view"},
    401: _ERROR | {"description": "missing or invalid bearer token"},
    408: _ERROR | {"description": "upload too slow"},
    413: _ERROR | {"description": "upload too large"},
    415: _ERROR | {"description": "not a readable DICOM, PNG or JPEG image"},
    422: {"model": RefusedDoc | ErrorDoc,
          "description": "not a frontal chest radiograph (quality reasons and the result), or the analysis of "
                         "this upload failed (request id)"},
    503: _ERROR | {"description": "too many analyses in progress or queued"},
}
