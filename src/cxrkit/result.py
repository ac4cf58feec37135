"""The typed result of :func:`cxrkit.pipeline.analyze` and its versioned JSON form.

One :class:`AnalysisResult` per image. ``to_json()`` gives the document written as ``result.json`` by
``cxrkit analyze`` and returned by ``POST /v1/analyze``; its layout is defined once, by the pydantic models
of :mod:`cxrkit.result_document` (every document is checked against them), from which the JSON Schema shipped
in ``cxrkit/schemas/result-1.json`` (schema id ``"cxrkit.result/1"``) is generated. Arrays (heatmaps, masks)
stay on the Python object and are never put into the JSON document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from cxrkit import __version__
from cxrkit.errors import DataFormatError
from cxrkit.result_document import SCHEMA_ID, UID_KEYS, ResultDocument
from cxrkit.types import Box, Finding, ImageMeta, Measurement

__all__ = [
    "SCHEMA_ID",
    "DISCLAIMER",
    "Quality",
    "ModelInfo",
    "Component",
    "ReportSentence",
    "DraftReport",
    "AnalysisResult",
    "result_schema",
    "validate_result",
    "box_id",
]

DISCLAIMER = (
    "Research software output, not a diagnosis. Probabilities are model outputs, not clinical certainty; "
    "every result must be reviewed by a qualified radiologist."
)


def box_id(finding: str, index: int) -> str:
    """Stable id of the ``index``-th (0-based) box of ``finding``, e.g. ``"Effusion#1"``."""
    return f"{finding}#{index + 1}"


@dataclass(frozen=True)
class Quality:
    """Input quality check of one image (see :mod:`cxrkit.qc`).

    Attributes:
        usable: True when the image is a frontal chest radiograph the models may be run on.
        reasons: why it is not usable (empty when usable).
        warnings: usable, but with caveats (AP view, pediatric age, unusual aspect ratio...).
        checks: each check's name → ``{"passed": bool | None, "value": ..., "detail": str}``;
            ``passed`` is None when the check could not be run (e.g. no segmenter).
    """

    usable: bool
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "usable": self.usable,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "checks": {k: dict(v) for k, v in self.checks.items()},
        }


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced the findings: name, version and the checksum recorded in its card."""

    name: str
    version: str
    checksum: str | None = None
    findings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "checksum": self.checksum, "findings": list(self.findings)}


@dataclass(frozen=True)
class Component:
    """What happened to one pipeline stage: ``status`` is "ran", "skipped" (not needed or disabled),
    "absent" (no model available) or "failed" (error recorded in ``detail``)."""

    name: str
    status: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class ReportSentence:
    """One sentence of the draft report with the evidence it rests on.

    ``evidence`` holds e.g. ``{"finding": "Effusion", "probability": 0.81, "threshold": 0.42,
    "boxes": ["Effusion#1"]}`` or ``{"measurement": "cardiothoracic_ratio", "value": 0.56}``.
    """

    text: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "evidence": dict(self.evidence)}


@dataclass(frozen=True)
class DraftReport:
    """A draft report: sentences with evidence plus the mandatory disclaimer line."""

    sentences: tuple[ReportSentence, ...]
    disclaimer: str

    @property
    def text(self) -> str:
        """Plain text: one sentence per line, then the disclaimer."""
        return "\n".join([s.text for s in self.sentences] + [self.disclaimer])

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "sentences": [s.to_dict() for s in self.sentences], "disclaimer": self.disclaimer}


@dataclass
class AnalysisResult:
    """Everything :func:`cxrkit.pipeline.analyze` found for one image.

    Attributes:
        image: metadata of the analyzed image.
        quality: the input quality check; when ``quality.usable`` is False ``findings`` is empty.
        findings: one per validated finding of the model (empty without a classifier or usable image).
        measurements: anatomy measurements (cardiothoracic ratio, lung areas...) when a segmenter ran.
        report: the draft report.
        model: the classifier that produced the findings, or None.
        components: status of each stage (classifier, explain, localize, segmenter, measure).
        heatmaps: finding → float32 ``(H, W)`` in [0, 1] at the image's resolution (not in the JSON).
        masks: structure → bool ``(H, W)`` at the image's resolution (not in the JSON).
        anatomy: the raw :func:`cxrkit.anatomy.measure.measure` dict (width lines for drawing, flag
            details; not in the JSON), or None.
        timings_ms: stage → wall time in milliseconds.
    """

    image: ImageMeta
    quality: Quality
    findings: list[Finding] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    report: DraftReport | None = None
    model: ModelInfo | None = None
    components: list[Component] = field(default_factory=list)
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    masks: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    anatomy: dict[str, Any] | None = field(default=None, repr=False)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def positive_findings(self) -> list[Finding]:
        """Findings whose probability reached their operating point."""
        return [f for f in self.findings if f.positive]

    def measurement(self, name: str) -> Measurement | None:
        """The measurement called ``name`` or None."""
        return next((m for m in self.measurements if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready document (schema ``cxrkit.result/1``), checked against
        :class:`~cxrkit.result_document.ResultDocument`.

        Raises:
            pydantic.ValidationError: the result breaks the document's rules (a probability outside [0, 1],
                an unknown component status...): a bug upstream, never written out.
        """
        meta = self.image.to_dict()
        meta["dicom"] = {k: v for k, v in (self.image.dicom or {}).items() if k in UID_KEYS}
        doc = {
            "schema": SCHEMA_ID,
            "cxrkit_version": __version__,
            "disclaimer": DISCLAIMER,
            "image": meta,
            "quality": self.quality.to_dict(),
            "findings": [_finding_dict(f) for f in self.findings],
            "measurements": [_measurement_dict(m) for m in self.measurements],
            "report": self.report.to_dict() if self.report else None,
            "model": self.model.to_dict() if self.model else None,
            "components": [c.to_dict() for c in self.components],
            "timings_ms": {k: round(float(v), 2) for k, v in self.timings_ms.items()},
        }
        ResultDocument.model_validate(doc)  # the document's one definition; the dict itself is returned as built
        return doc

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` serialized as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "name": f.name,
        "probability": round(float(f.probability), 6),
        "threshold": round(float(f.threshold), 6),
        "positive": bool(f.positive),
        "boxes": [_box_dict(f.name, i, b) for i, b in enumerate(f.boxes)],
        "basis": f.basis,
    }


def _box_dict(finding: str, i: int, b: Box) -> dict[str, Any]:
    return {
        "id": box_id(finding, i),
        "x_min": float(b.x_min),
        "y_min": float(b.y_min),
        "x_max": float(b.x_max),
        "y_max": float(b.y_max),
        "score": None if b.score is None else float(b.score),
    }


def _measurement_dict(m: Measurement) -> dict[str, Any]:
    value = None if m.value is None or not np.isfinite(m.value) else float(m.value)
    return {"name": m.name, "value": value, "unit": m.unit, "reliable": bool(m.reliable), "flags": list(m.flags)}


@lru_cache(maxsize=1)
def result_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``result.json``, loaded from the package (generated from
    :class:`~cxrkit.result_document.ResultDocument` by ``scripts/make_schemas.py``)."""
    text = resources.files("cxrkit").joinpath("schemas/result-1.json").read_text(encoding="utf-8")
    return json.loads(text)


def validate_result(doc: dict[str, Any]) -> None:
    """Check a ``result.json`` document against :func:`result_schema`.

    Raises:
        DataFormatError: naming the first offending field and why.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(result_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(document)"
        raise DataFormatError(f"result document does not match {SCHEMA_ID} at {where}: {e.message}")
