"""DICOM SR (TID 1500) and secondary capture outputs, re-read with pydicom and highdicom (and checked with
dciodvfy from Debian's dicom3tools when installed)."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import replace
from importlib import resources
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from cxrkit.deliver.dicom_out import CXRKIT_SCHEME, write_dicom_outputs
from cxrkit.pipeline import Analyzer
from cxrkit.report.overlay import compose_overlay
from cxrkit.types import Box, Measurement

EXAMPLES = Path(str(resources.files("cxrkit").joinpath("examples")))
SIIM = EXAMPLES / "siim_pa_chest.dcm"
PNG = EXAMPLES / "00001437_012.png"


class StubClassifier:
    """Fixed probabilities standing in for the classifier dependency (the DICOM writer is under test)."""

    findings = ("Effusion", "Cardiomegaly")
    thresholds = {"Effusion": 0.4, "Cardiomegaly": 0.5}

    def predict(self, pixels_list):
        return np.array([[0.8, 0.2]])


def _analysis(src):
    result, image = Analyzer(StubClassifier(), None, localize=False).analyze_with_image(src)
    result.findings[0] = replace(result.findings[0], boxes=(Box(10.0, 20.0, 100.0, 200.0, 0.9),))
    result.measurements = [Measurement("cardiothoracic_ratio", 0.55, "ratio", False, ("AP view",))]
    boxes = [("Effusion#1", result.findings[0].boxes[0])]
    return result, image, compose_overlay(image.pixels, boxes=boxes)


def _roundtrip(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _sr_values(sr: hd.sr.ComprehensiveSR):
    """finding → (probability, operating point, Present/Absent) from the re-read SR."""
    out = {}
    for g in sr.content.get_image_measurement_groups():
        name = g.finding_type.value
        ms = {m.name.value: m.value for m in g.get_measurements()}
        ev = {e.name.meaning: e.value.meaning for e in g.get_qualitative_evaluations()}
        out[name] = (ms, ev)
    return out


def test_sr_and_sc_go_into_the_source_study(tmp_path):
    result, image, overlay = _analysis(SIIM)
    outputs = write_dicom_outputs(result, image, source=SIIM, overlay=overlay)
    assert set(outputs) == {"sr.dcm", "sc.dcm"}
    src = pydicom.dcmread(SIIM, stop_before_pixels=True)
    sr = hd.sr.srread(io.BytesIO(_roundtrip(outputs["sr.dcm"])))
    sc = pydicom.dcmread(io.BytesIO(_roundtrip(outputs["sc.dcm"])))
    for ds in (sr, sc):
        assert ds.StudyInstanceUID == src.StudyInstanceUID and ds.PatientID == src.PatientID
        assert ds.SeriesInstanceUID not in (src.SeriesInstanceUID,) and ds.SOPInstanceUID != src.SOPInstanceUID
    assert sr.SeriesInstanceUID != sc.SeriesInstanceUID
    assert sr.SOPClassUID == pydicom.uid.ComprehensiveSRStorage and sr.Manufacturer == "cxrkit"
    # the SR references the source instance as evidence and in its measurement groups
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    values = _sr_values(sr)
    ms, ev = values["Effusion"]
    assert ms["probability"] == pytest.approx(0.8) and ms["operating_point"] == pytest.approx(0.4)
    decision = "Decision at operating point"
    assert ev[decision] == "Present" and values["Cardiomegaly"][1][decision] == "Absent"
    assert values["input_quality"][1] == {"Usable frontal chest radiograph": "Present"}
    ms, ev = values["anatomy_measurements"]
    assert ms["cardiothoracic_ratio"] == pytest.approx(0.55) and ev["cardiothoracic_ratio reliable"] == "Absent"
    rois = sr.content.get_planar_roi_measurement_groups()
    assert len(rois) == 1 and rois[0].finding_type.scheme_designator == CXRKIT_SCHEME
    region = rois[0].roi
    assert region.value.tolist()[0] == [10.0, 20.0]
    assert region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    # the secondary capture carries the overlay pixels and points at its source
    assert sc.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage and sc.PhotometricInterpretation == "RGB"
    np.testing.assert_array_equal(sc.pixel_array, overlay)
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert "not a diagnosis" in sc.DerivationDescription


def test_non_dicom_input_gets_a_new_study():
    result, image, overlay = _analysis(PNG)
    outputs = write_dicom_outputs(result, image, overlay=overlay)
    sr = hd.sr.srread(io.BytesIO(_roundtrip(outputs["sr.dcm"])))
    sc = pydicom.dcmread(io.BytesIO(_roundtrip(outputs["sc.dcm"])))
    assert sr.StudyInstanceUID == sc.StudyInstanceUID and sr.PatientID == sc.PatientID.startswith("CXRKIT-") * sr.PatientID
    assert "non-DICOM" in sc.ImageComments and "new study" in sr.ImageComments
    ev = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert ev.ReferencedSOPInstanceUID == sc.SOPInstanceUID


def test_analyze_cli_dicom_out(tmp_path):
    from cxrkit.service.cli import main

    assert main(["analyze", str(SIIM), "--out", str(tmp_path), "--dicom-out", "--no-segment", "--no-localize"]) == 0
    from cxrkit.deliver.batch import output_name

    folder = tmp_path / output_name(SIIM)
    assert {"sr.dcm", "sc.dcm", "result.json", "report.md", "overlay.png"} <= {p.name for p in folder.iterdir()}
    assert pydicom.dcmread(folder / "sr.dcm").Modality == "SR"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian dicom3tools) not installed")
def test_dciodvfy_finds_no_errors(tmp_path):
    result, image, overlay = _analysis(SIIM)
    h, w = image.shape
    masks = {k: np.zeros((h, w), bool) for k in ("right_lung", "left_lung", "heart")}
    masks["right_lung"][200:800, 150:450] = True
    masks["left_lung"][200:800, 574:874] = True
    masks["heart"][500:750, 380:700] = True
    result.masks = masks  # the SEG (engineer "anatomy"'s writer) is validated too when available
    for name, ds in write_dicom_outputs(result, image, source=SIIM, overlay=overlay).items():
        path = tmp_path / name
        ds.save_as(path, enforce_file_format=True)
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
        assert not errors, f"{name}: {errors}"


def test_outputs_of_an_image_reduced_while_decoding_are_on_the_source_grid(tmp_path):
    """Was: an image over the decoder's pixel bound (reduced 2x to bound memory) got SR boxes in the reduced grid
    while referencing the full-size source, and no SEG (its frames did not fit the source)."""
    from cxrkit.io import read_image

    src = SIIM
    full = read_image(src)
    small = read_image(src, max_output_pixels=(full.pixels.shape[0] // 2) * (full.pixels.shape[1] // 2))
    assert small.pixels.shape[0] < full.pixels.shape[0]
    result, image = Analyzer(StubClassifier(), None, localize=False).analyze_with_image(small)
    h, w = image.pixels.shape
    result.findings[0] = replace(result.findings[0], boxes=(Box(10.0, 20.0, 100.0, 200.0, 0.9),))
    result.masks = {"right_lung": np.zeros((h, w), bool), "left_lung": np.zeros((h, w), bool),
                    "heart": np.zeros((h, w), bool)}
    result.masks["heart"][h // 3: h // 2, w // 3: w // 2] = True
    out = write_dicom_outputs(result, image, source=src, overlay=compose_overlay(image.pixels))
    ref = pydicom.dcmread(src, stop_before_pixels=True)
    sy, sx = ref.Rows / h, ref.Columns / w
    sr = hd.sr.ComprehensiveSR.from_dataset(pydicom.dcmread(io.BytesIO(_roundtrip(out["sr.dcm"]))))
    regions = [r for g in sr.content.get_planar_roi_measurement_groups() for r in [g.roi] if r is not None]
    xy = np.asarray(regions[0].value, dtype=float)
    assert xy[:, 0].min() == pytest.approx(10.0 * sx, rel=1e-4) and xy[:, 1].max() == pytest.approx(200.0 * sy, rel=1e-4)
    seg = out["seg.dcm"]
    assert (seg.Rows, seg.Columns) == (ref.Rows, ref.Columns)
