"""cxrkit.pipeline: the analyze() flow on real bundled radiographs (NIH PNGs, SIIM DICOM) and bad inputs."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from cxrkit.pipeline import Analyzer
from cxrkit.result import DISCLAIMER, SCHEMA_ID, validate_result
from cxrkit.types import Image, ImageMeta

EXAMPLES = Path(str(resources.files("cxrkit").joinpath("examples")))
NIH = EXAMPLES / "00001437_012.png"
SIIM = EXAMPLES / "siim_pa_chest.dcm"


class StubClassifier:
    """Stands in for the classifier dependency (fixed probabilities) so the pipeline's own logic — decisions
    at operating points, what is reported, the report — is checked exactly. The real model is tested below."""

    findings = ("Effusion", "Cardiomegaly", "Pneumonia")
    thresholds = {"Effusion": 0.4, "Cardiomegaly": 0.5, "Pneumonia": 0.3}

    class card:  # noqa: N801 - mimics a ModelCard's fields
        name, version, checksum = "stub", "0", "sha256:00"

    def __init__(self, probs=(0.8, 0.2, 0.3)):
        self.probs = np.asarray([probs], dtype=np.float32)
        self.calls = 0

    def predict(self, pixels_list):
        self.calls += 1
        assert len(pixels_list) == 1 and pixels_list[0].ndim == 2
        return self.probs


def test_analyze_without_components_runs_qc_and_says_so():
    result = Analyzer(classifier=None, segmenter=None).analyze(NIH)
    doc = result.to_dict()
    validate_result(doc)
    assert doc["schema"] == SCHEMA_ID and doc["disclaimer"] == DISCLAIMER
    assert result.quality.usable and result.findings == []
    status = {c["name"]: c["status"] for c in doc["components"]}
    assert status == {"segmenter": "absent", "classifier": "absent"}
    assert "No classifier was available" in doc["report"]["text"]
    assert "not a diagnosis" in doc["report"]["text"]


def test_decisions_follow_the_operating_points_and_report_points_to_evidence():
    clf = StubClassifier((0.8, 0.2, 0.3))
    result = Analyzer(classifier=clf, segmenter=None, localize=False).analyze(NIH)
    got = {f.name: (f.positive, f.threshold) for f in result.findings}
    # 0.3 >= 0.3 is positive: the decision is probability >= operating point
    assert got == {"Effusion": (True, 0.4), "Cardiomegaly": (False, 0.5), "Pneumonia": (True, 0.3)}
    sentences = result.report.sentences
    assert [s.evidence.get("finding") for s in sentences[:2]] == ["Effusion", "Pneumonia"]
    assert sentences[0].evidence["probability"] == pytest.approx(0.8) and sentences[0].evidence["threshold"] == 0.4
    assert "Cardiomegaly" not in result.report.text and "cardiomegaly" not in result.report.text
    doc = json.loads(result.to_json())
    validate_result(doc)
    assert doc["model"]["name"] == "stub" and doc["model"]["checksum"] == "sha256:00"
    assert {c["name"]: c["status"] for c in doc["components"]}["localize"] == "skipped"


def test_user_thresholds_override_the_card():
    result = Analyzer(classifier=StubClassifier(), segmenter=None, localize=False,
                      thresholds={"Effusion": 0.9}).analyze(NIH)
    assert not next(f for f in result.findings if f.name == "Effusion").positive


def test_components_are_loaded_once_and_reused():
    clf = StubClassifier()
    analyzer = Analyzer(classifier=clf, segmenter=None, localize=False)
    for _ in range(3):
        analyzer.analyze(NIH)
    assert clf.calls == 3


def test_dicom_input_keeps_study_uids_but_no_patient_identifiers():
    result = Analyzer(classifier=StubClassifier(), segmenter=None, localize=False).analyze(SIIM)
    doc = result.to_dict()
    validate_result(doc)
    assert doc["image"]["modality"] == "CR" and doc["image"]["view"] == "PA"
    assert set(doc["image"]["dicom"]) <= {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"}
    assert doc["image"]["dicom"]["SOPInstanceUID"].endswith("850819")
    assert "PatientID" not in json.dumps(doc)


def test_ct_dicom_is_not_analyzed_and_has_no_findings():
    from pydicom.data import get_testdata_file

    clf = StubClassifier()
    result = Analyzer(classifier=clf, segmenter=None).analyze(get_testdata_file("CT_small.dcm"))
    validate_result(result.to_dict())
    assert not result.quality.usable and "CT" in result.quality.reasons[0]
    assert result.findings == [] and clf.calls == 0
    assert result.report.text.startswith("Image not analyzed")


def test_lateral_view_tag_is_refused_without_findings():
    from cxrkit.io import read_image

    img = read_image(SIIM)
    lateral = Image(img.pixels, ImageMeta(**{**img.meta.__dict__, "view": "LL"}))
    clf = StubClassifier()
    result = Analyzer(classifier=clf, segmenter=None).analyze(lateral)
    assert not result.quality.usable and any("lateral" in r for r in result.quality.reasons)
    assert result.findings == [] and clf.calls == 0 and result.model is None


def test_array_input_and_unreadable_file(tmp_path):
    from cxrkit.errors import InvalidImageError

    rng = np.random.default_rng(0)
    uniform = np.full((256, 256), 0.5, dtype=np.float32) + rng.normal(0, 0.001, (256, 256)).astype(np.float32)
    result = Analyzer(classifier=StubClassifier(), segmenter=None).analyze(np.clip(uniform, 0, 1))
    assert not result.quality.usable and "uniform" in result.quality.reasons[0]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage")
    with pytest.raises(InvalidImageError):
        Analyzer(classifier=None, segmenter=None).analyze(bad)


@pytest.fixture(scope="module")
def real_classifier():
    """The shipped classifier, loaded once for this module."""
    from cxrkit.models.classifier import load_classifier

    return load_classifier(None)


def test_shipped_classifier_end_to_end_with_boxes(real_classifier, tmp_path):
    """The real runtime (ONNX Runtime probabilities, CAM heatmaps on the PyTorch module, boxes) with the
    operating points overridden so that exactly one finding is positive: only it gets a heatmap and boxes
    (a finding whose localization is validated, src/cxrkit/localize/validated.json)."""
    from cxrkit.deliver.batch import write_outputs
    from cxrkit.localize.validation import localization_validated

    clf = real_classifier
    target = next((f for f in clf.findings if f != "No Finding" and localization_validated(clf.card.name, f)), None)
    if target is None:
        pytest.skip(f"no finding of {clf.card.name} has validated localization (src/cxrkit/localize/validated.json)")
    thresholds = {f: (0.0 if f == target else 1.0) for f in clf.findings}
    # the shipped segmenter: validated anatomy boxes are placed in its lung field (none without it)
    result, image = Analyzer(clf, "default", thresholds=thresholds).analyze_with_image(NIH)
    doc = result.to_dict()
    validate_result(doc)
    assert [f["name"] for f in doc["findings"]] == list(clf.findings)  # validated findings only, card order
    for f in doc["findings"]:
        assert 0.0 <= f["probability"] <= 1.0 and f["positive"] == (f["probability"] >= f["threshold"])
        assert f["positive"] == (f["name"] == target) or f["probability"] == 1.0
        if not f["positive"]:
            assert f["boxes"] == []
    boxes = next(f for f in doc["findings"] if f["name"] == target)["boxes"]
    assert 1 <= len(boxes) <= 3
    for b in boxes:
        assert 0 <= b["x_min"] < b["x_max"] <= 512 and 0 <= b["y_min"] < b["y_max"] <= 512
    assert set(result.heatmaps) == {target} and result.heatmaps[target].shape == (512, 512)
    assert doc["model"]["name"] == clf.card.name and len(doc["model"]["checksum"]) == 64
    assert doc["report"]["sentences"][0]["evidence"]["boxes"] == [b["id"] for b in boxes]
    assert f"heatmap_{target.replace(' ', '_')}.png" in write_outputs(result, image, tmp_path / "out")


def test_unvalidated_localization_gets_no_region(real_classifier):
    """Issue 10.6: a positive finding whose boxes did not beat the control on held-out images is reported
    without a region, and the report says its location is not validated."""
    from cxrkit.localize.validation import localization_validated

    clf = real_classifier
    target = next((f for f in clf.findings if f != "No Finding" and not localization_validated(clf.card.name, f)),
                  None)
    if target is None:
        pytest.skip("every finding of the shipped model has validated localization")
    thresholds = {f: (0.0 if f == target else 1.0) for f in clf.findings}
    result = Analyzer(clf, None, thresholds=thresholds).analyze(NIH)
    found = next(f for f in result.findings if f.name == target)
    assert found.positive and found.boxes == ()
    sentence = result.report.sentences[0]
    assert "location not validated" in sentence.text and sentence.evidence["location"] == "location not validated"


def test_validated_anatomy_boxes_need_the_segmentation(real_classifier):
    """Anatomy boxes were validated with the segmenter's lung field: without masks no region is drawn."""
    from cxrkit.localize.validation import localization_validated, validated_box_method

    clf = real_classifier
    if validated_box_method(clf.card.name) != "anatomy":
        pytest.skip("the shipped model's verdicts are not for anatomy boxes")
    target = next((f for f in clf.findings if f != "No Finding" and localization_validated(clf.card.name, f)), None)
    if target is None:
        pytest.skip(f"no finding of {clf.card.name} has validated localization")
    thresholds = {f: (0.0 if f == target else 1.0) for f in clf.findings}
    result = Analyzer(clf, None, thresholds=thresholds).analyze(NIH)
    found = next(f for f in result.findings if f.name == target)
    assert found.positive and found.boxes == ()
    assert "no lung segmentation" in result.report.sentences[0].text


def test_classifier_package_path_in_cli_and_api(real_classifier, tmp_path, capsys):
    """--classifier / CXRKIT_CLASSIFIER load a package from a path (here the shipped one's card)."""
    from fastapi.testclient import TestClient

    from cxrkit.errors import ModelError
    from cxrkit.service.api import create_app
    from cxrkit.service.cli import main
    from cxrkit.service.settings import Settings

    clf = real_classifier
    card = clf.card.path or __import__("cxrkit.models.classifier", fromlist=["x"]).default_model_path()
    assert main(["analyze", str(NIH), "--out", str(tmp_path), "--classifier", str(card),
                 "--no-segment", "--no-localize"]) == 0
    capsys.readouterr()
    doc = json.loads(next(tmp_path.glob(f"{NIH.stem}-*/result.json")).read_text())  # <stem>-<hash>
    assert doc["model"]["name"] == clf.card.name
    with TestClient(create_app(Settings(classifier=str(card), segment=False, localize=False))) as c:
        assert c.get("/v1/models").json()["classifier_card"]["name"] == clf.card.name
    with pytest.raises(ModelError):
        Analyzer(classifier=tmp_path / "no-such-package")


class StubSegmenter:
    """Rectangular lung and heart masks standing in for the segmentation model (the real anatomy.measure,
    the QC lung check, the report and the DICOM SEG writer run on them)."""

    def predict(self, pixels):
        h, w = pixels.shape
        m = {k: np.zeros((h, w), bool) for k in ("right_lung", "left_lung", "heart")}
        m["right_lung"][h // 5: 4 * h // 5, w // 8: 7 * w // 16] = True  # image left = patient right
        m["left_lung"][h // 5: 4 * h // 5, 9 * w // 16: 7 * w // 8] = True
        m["heart"][h // 2: 3 * h // 4, 3 * w // 8: 11 * w // 16] = True
        return m


def test_segmenter_gives_ctr_measurement_report_and_seg(tmp_path):
    import pydicom

    from cxrkit.deliver.dicom_out import write_dicom_outputs
    from cxrkit.report.overlay import compose_overlay

    result, image = Analyzer(classifier=StubClassifier(), segmenter=StubSegmenter(),
                             localize=False).analyze_with_image(SIIM)
    doc = result.to_dict()
    validate_result(doc)
    assert result.quality.checks["lungs"]["passed"] is True
    ctr = result.measurement("cardiothoracic_ratio")
    # heart 3/8..11/16 of the width over lungs 1/8..7/8: (5/16) / (3/4)
    assert ctr is not None and ctr.value == pytest.approx((5 / 16) / (3 / 4), abs=0.01) and ctr.unit == "ratio"
    mm = result.measurement("heart_width_mm")
    assert mm is not None and mm.value == pytest.approx(320 * 0.168, abs=1.0) and mm.unit == "mm"
    assert result.measurement("heart_area_px").unit == "px2"
    ctr_sentence = [s for s in result.report.sentences if s.evidence.get("measurement") == "cardiothoracic_ratio"]
    assert len(ctr_sentence) == 1 and "0.42" in ctr_sentence[0].text
    outputs = write_dicom_outputs(result, image, source=SIIM, overlay=compose_overlay(image.pixels, masks=result.masks))
    assert "seg.dcm" in outputs
    path = tmp_path / "seg.dcm"
    outputs["seg.dcm"].save_as(path, enforce_file_format=True)
    seg = pydicom.dcmread(path)
    src = pydicom.dcmread(SIIM, stop_before_pixels=True)
    assert seg.Modality == "SEG" and seg.StudyInstanceUID == src.StudyInstanceUID


def test_swapped_lungs_from_the_segmenter_make_the_image_unusable():
    class Swapped(StubSegmenter):
        def predict(self, pixels):
            m = super().predict(pixels)
            m["left_lung"], m["right_lung"] = m["right_lung"], m["left_lung"]
            return m

    result = Analyzer(classifier=StubClassifier(), segmenter=Swapped(), localize=False).analyze(SIIM)
    assert not result.quality.usable and result.findings == [] and result.measurements == []


def _real_segmenter():
    from cxrkit.anatomy.segment import load_segmenter

    return load_segmenter(None)


@pytest.mark.parametrize("name", ["00000377_004.png", "siim_pa_chest.dcm"])
def test_shipped_segmenter_end_to_end(name):
    seg = _real_segmenter()
    result = Analyzer(classifier=None, segmenter=seg).analyze(EXAMPLES / name)
    validate_result(result.to_dict())
    assert result.quality.checks["lungs"]["passed"] is True, result.quality.checks["lungs"]
    ctr = result.measurement("cardiothoracic_ratio")
    assert ctr is not None and 0.3 < ctr.value < 0.75


def test_anatomy_outputs_in_batch_and_api(tmp_path):
    """With masks, analyze writes anatomy.png (drawn CTR lines) and the API returns the CTR lines."""
    from fastapi.testclient import TestClient

    from cxrkit.deliver.batch import run_batch
    from cxrkit.result import validate_result as validate
    from cxrkit.service.api import create_app
    from cxrkit.service.settings import Settings

    analyzer = Analyzer(classifier=StubClassifier(), segmenter=StubSegmenter(), localize=False)
    items = run_batch(analyzer, [NIH], tmp_path)
    assert items[0].status == "done" and "anatomy.png" in items[0].files
    with TestClient(create_app(Settings(), analyzer=analyzer)) as c:
        r = c.post("/v1/analyze", files={"file": ("x.png", NIH.read_bytes())}, params={"include": "masks"})
    doc = r.json()
    validate(doc)
    lines = doc["overlays"]["ctr_lines"]
    assert set(lines) == {"heart_line", "thorax_line"}
    width = {k: v["col_max"] - v["col_min"] for k, v in lines.items()}
    assert width["thorax_line"] > width["heart_line"]
    assert set(doc["overlays"]["masks"]) == {"right_lung", "left_lung", "heart"}
