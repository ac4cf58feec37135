"""result.json: one definition (cxrkit.result_document), the shipped JSON Schema generated from it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest

from cxrkit.errors import DataFormatError
from cxrkit.result import (
    DISCLAIMER,
    AnalysisResult,
    Component,
    DraftReport,
    ModelInfo,
    Quality,
    ReportSentence,
    result_schema,
    validate_result,
)
from cxrkit.result_document import ResultDocument, result_schema_text
from cxrkit.types import Box, Finding, ImageMeta, Measurement

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "golden" / "golden.json").read_text())


def _result(probability: float = 0.8, status: str = "ran") -> AnalysisResult:
    meta = ImageMeta(source="a.dcm", format="dicom", original_size=(512, 480), pixel_spacing_mm=(0.2, 0.2), view="PA",
                     photometric="MONOCHROME2", bits_stored=12, modality="CR", body_part="CHEST",
                     dicom={"StudyInstanceUID": "1.2.3", "PatientID": "secret"}, notes=("inverted",))
    finding = Finding("Effusion", probability, 0.42, probability >= 0.42, (Box(10.0, 20.0, 110.0, 220.0, 0.9),))
    checks = {"modality": {"passed": True, "value": "CR", "detail": "projection radiograph"}}
    return AnalysisResult(
        image=meta, quality=Quality(True, (), ("AP view",), checks), findings=[finding],
        measurements=[Measurement("cardiothoracic_ratio", 0.51, "ratio", False, ("ap_view_magnifies_heart",))],
        report=DraftReport((ReportSentence("Effusion.", {"finding": "Effusion", "boxes": ["Effusion#1"]}),),
                           DISCLAIMER),
        model=ModelInfo("stub", "1", "sha256:00", ("Effusion",)), components=[Component("classifier", status)],
        timings_ms={"total": 12.345})


def test_checked_in_schema_is_the_generated_one():
    shipped = (ROOT / "src" / "cxrkit" / "schemas" / "result-1.json").read_text(encoding="utf-8")
    assert shipped == result_schema_text(), "run: .venv/bin/python scripts/make_schemas.py"
    assert result_schema() == json.loads(shipped)
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_schemas.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_full_result_validates_and_keeps_only_uids():
    doc = _result().to_dict()
    validate_result(doc)
    assert doc["image"]["dicom"] == {"StudyInstanceUID": "1.2.3"}
    assert list(doc) == [n.alias or k for k, n in ResultDocument.model_fields.items()][:-1]  # overlays: API only
    assert json.loads(_result().to_json()) == doc


@pytest.mark.parametrize("name", sorted(GOLDEN["images"]))
def test_golden_documents_match_the_generated_schema(name):
    doc = copy.deepcopy(GOLDEN["images"][name]["result"]) | {"timings_ms": {"total": 1.0}}
    doc["image"]["source"] = name  # golden values drop the volatile path and model version
    if doc["model"] is not None:
        doc["model"]["version"] = "2"
    validate_result(doc)
    ResultDocument.model_validate(doc)


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split("/")
    node: Any = doc
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()
BAD = [
    ("findings/0/probability", 1.5),
    ("findings/0/threshold", -0.1),
    ("findings/0/basis", "gut feeling"),
    ("findings/0/boxes/0/colour", "red"),
    ("components/0/status", "crashed"),
    ("quality/usable", False),  # unusable without a reason
    ("image/dicom/PatientID", "secret"),
    ("image/original_size", [512]),
    ("image/pixel_spacing_mm", [0.0, 0.2]),
    ("disclaimer", "all fine"),
    ("report/text", "Effusion."),
    ("schema", "cxrkit.result/2"),
    ("timings_ms/total", -1.0),
    ("report", _DELETE),
    ("model/checksum", _DELETE),
    ("extra_key", 1),
    ("overlays", {"image": "http://example.org/x.png"}),
]


@pytest.mark.parametrize("path, value", BAD, ids=[p for p, _ in BAD])
def test_schema_and_model_refuse_the_same_bad_documents(path, value):
    doc = _result().to_dict()
    _set(doc, path, value)
    with pytest.raises(DataFormatError, match="does not match cxrkit.result/1"):
        validate_result(doc)
    with pytest.raises(pydantic.ValidationError):
        ResultDocument.model_validate(doc)


def test_api_overlays_are_part_of_the_document():
    doc = _result().to_dict() | {"overlays": {"image": "data:image/png;base64,AAAA", "heatmaps": {},
                                              "ctr_lines": {"heart_line": {"row": 3, "col_min": 1, "col_max": 9}}}}
    validate_result(doc)
    ResultDocument.model_validate(doc)


def test_to_dict_refuses_a_result_that_breaks_the_document():
    with pytest.raises(pydantic.ValidationError, match="probability"):
        _result(probability=1.7).to_dict()
    with pytest.raises(pydantic.ValidationError, match="status"):
        _result(status="maybe").to_dict()
