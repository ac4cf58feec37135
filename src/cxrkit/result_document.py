"""The ``result.json`` document (schema ``cxrkit.result/1``) as pydantic models: the one definition of its layout.

:meth:`cxrkit.result.AnalysisResult.to_dict` checks every document it builds against :class:`ResultDocument`;
the JSON Schema shipped as ``cxrkit/schemas/result-1.json`` and the REST API's OpenAPI description are
generated from these models (``scripts/make_schemas.py``; a test keeps the checked-in file equal to the
generated one). Field order is the document's key order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_URI",
    "UID_KEYS",
    "BoxDoc",
    "ComponentDoc",
    "CtrLineDoc",
    "DraftReportDoc",
    "FindingDoc",
    "ImageDoc",
    "MeasurementDoc",
    "ModelDoc",
    "OverlaysDoc",
    "QualityCheckDoc",
    "QualityDoc",
    "ReportSentenceDoc",
    "ResultDocument",
    "result_json_schema",
    "result_schema_text",
]

SCHEMA_ID = "cxrkit.result/1"
SCHEMA_URI = "https://github.com/cxrkit/cxrkit/schemas/result-1.json"
UID_KEYS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
"""DICOM identifiers that may appear in ``result.json``: UIDs only, never patient identifiers."""

Probability = Annotated[float, Field(ge=0, le=1)]
DataUri = Annotated[str, Field(pattern=r"^data:image/png;base64,")]
UidKey = Literal["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageDoc(_Doc):
    """Metadata of the analyzed image (:class:`cxrkit.types.ImageMeta`; DICOM identifiers reduced to UIDs)."""

    source: str = Field(description="path of the file ('' for uploads and in-memory arrays)")
    format: str = Field(description="'dicom', 'png', 'jpeg' or another Pillow format name")
    original_size: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)] = Field(
        description="(rows, columns) of the stored pixel matrix")
    pixel_spacing_mm: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=2, max_length=2)] | None = (
        Field(description="(row, column) spacing in millimetres, or null when unknown"))
    view: str | None
    photometric: str | None
    bits_stored: int | None
    modality: str | None
    body_part: str | None
    dicom: dict[UidKey, str] = Field(description="UIDs only; patient identifiers are never written.")
    notes: list[str]


class QualityCheckDoc(_Doc):
    """One quality check: ``passed`` is null when the check could not be run."""

    passed: bool | None
    value: Any = None
    detail: str


class QualityDoc(_Doc):
    """The input quality check (:mod:`cxrkit.qc`); an unusable image names at least one reason."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={
        "if": {"properties": {"usable": {"const": False}}},
        "then": {"properties": {"reasons": {"minItems": 1}}},
    })

    usable: bool
    reasons: list[str]
    warnings: list[str]
    checks: dict[str, QualityCheckDoc]

    @model_validator(mode="after")
    def _unusable_has_a_reason(self) -> QualityDoc:
        if not self.usable and not self.reasons:
            raise ValueError("quality.usable is false but quality.reasons is empty")
        return self


class BoxDoc(_Doc):
    """A box in pixels of the decoded image, ``id`` like ``"Effusion#1"``."""

    id: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    score: float | None


class FindingDoc(_Doc):
    """One finding: probability, operating point, decision and boxes."""

    name: str = Field(min_length=1)
    probability: Probability
    threshold: Probability
    positive: bool
    boxes: list[BoxDoc]
    basis: Literal["classifier", "classifier+ctr"]


class MeasurementDoc(_Doc):
    """An anatomy measurement; ``value`` is null when it could not be measured."""

    name: str
    value: float | None
    unit: str
    reliable: bool
    flags: list[str]


class ReportSentenceDoc(_Doc):
    """A draft report sentence and the evidence it rests on."""

    text: str
    evidence: dict[str, Any]


class DraftReportDoc(_Doc):
    """The draft report: text (ending with the disclaimer), sentences with evidence, disclaimer."""

    text: str = Field(pattern="not a diagnosis")
    sentences: list[ReportSentenceDoc]
    disclaimer: str


class ModelDoc(_Doc):
    """The classifier that produced the findings: name, version and its card's checksum."""

    name: str
    version: str
    checksum: str | None
    findings: list[str]


class ComponentDoc(_Doc):
    """What happened to one pipeline stage."""

    name: str
    status: Literal["ran", "skipped", "absent", "failed"]
    detail: str


class CtrLineDoc(_Doc):
    """A cardiothoracic ratio width line in image pixels."""

    row: float
    col_min: float
    col_max: float


class OverlaysDoc(_Doc):
    """Only in API responses with ``?include=...``: PNG data URIs for viewers."""

    image: DataUri | SkipJsonSchema[None] = None
    overlay: DataUri | SkipJsonSchema[None] = None
    heatmaps: dict[str, DataUri] | SkipJsonSchema[None] = None
    masks: dict[str, DataUri] | SkipJsonSchema[None] = None
    ctr_lines: dict[str, CtrLineDoc] | SkipJsonSchema[None] = Field(
        default=None, description="Cardiothoracic ratio width lines in image pixels: "
                          "{heart_line|thorax_line: {row, col_min, col_max}}.")


class ResultDocument(_Doc):
    """cxrkit analysis result (cxrkit.result/1).

    One document per analyzed image, written as result.json by `cxrkit analyze` and returned by
    POST /v1/analyze. Not a diagnosis.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, title="cxrkit analysis result (cxrkit.result/1)")

    schema_: Literal["cxrkit.result/1"] = Field(alias="schema")
    cxrkit_version: str
    disclaimer: str = Field(pattern="not a diagnosis")
    image: ImageDoc
    quality: QualityDoc
    findings: list[FindingDoc]
    measurements: list[MeasurementDoc]
    report: DraftReportDoc | None
    model: ModelDoc | None
    components: list[ComponentDoc]
    timings_ms: dict[str, Annotated[float, Field(ge=0)]] = Field(description="stage -> wall time in ms")
    overlays: OverlaysDoc | SkipJsonSchema[None] = None


def result_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``result.json``, generated from :class:`ResultDocument`."""
    body = ResultDocument.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_URI, **body}


def result_schema_text() -> str:
    """:func:`result_json_schema` as the text of ``cxrkit/schemas/result-1.json`` (2-space indent, newline)."""
    import json

    return json.dumps(result_json_schema(), indent=2, ensure_ascii=False) + "\n"
