"""DICOM outputs from real-world (non-conformant) source headers, and idempotent output UIDs (issue 11, items 4,
5 and 11). Every table row was a crash or an invalid object before: ``PatientSex = MALE`` made the secondary
capture builder raise, and crash-looped the PACS worker; PixelSpacing ``[0, 0]`` gave a SEG that fails dciodvfy.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from cxrkit.deliver.dicom_out import sanitize_reference, write_dicom_outputs
from cxrkit.pipeline import Analyzer
from cxrkit.report.overlay import compose_overlay
from cxrkit.synthetic import synthetic_dicom

GOOD = {"PatientName": "Doe^John", "PatientID": "123", "PatientBirthDate": "19620101", "PatientSex": "M",
        "StudyDate": "20200101", "StudyTime": "101010", "AccessionNumber": "A1", "StudyID": "1",
        "ReferringPhysicianName": ""}

# (attribute, bad value, expected value in the outputs: a repair, or "" for emptied)
HOSTILE = [
    ("PatientSex", "MALE", "M"),
    ("PatientSex", "female", "F"),
    ("PatientSex", "X", ""),
    ("PatientBirthDate", "1962-01-01", "19620101"),
    ("PatientBirthDate", "19621301", ""),
    ("PatientBirthDate", "unknown", ""),
    ("StudyDate", "2020/01/01", "20200101"),
    ("StudyTime", "25:61", ""),
    ("AccessionNumber", "A" * 40, ""),
    ("StudyID", "S" * 30, ""),
    ("PatientAge", "62", "062Y"),
    ("PatientAge", "62 years", "062Y"),
    ("PatientAge", "sixty", ""),
    ("PatientID", "x" * 80, ""),
]


def _masks(h, w):
    masks = {k: np.zeros((h, w), bool) for k in ("right_lung", "left_lung", "heart")}
    masks["right_lung"][40:200, 30:110] = True
    masks["left_lung"][40:200, 146:226] = True
    masks["heart"][120:190, 100:170] = True
    return masks


def _outputs(extra, masks=True):
    data = synthetic_dicom(None, shape=(256, 256), extra={**GOOD, **extra})
    result, image = Analyzer(None, None).analyze_with_image(data)
    if masks:
        result.masks = _masks(*image.shape)
    return data, write_dicom_outputs(result, image, source=data, overlay=compose_overlay(image.pixels))


def _reread(ds):
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize("keyword,bad,expected", HOSTILE)
def test_hostile_header_values_are_repaired_or_emptied(keyword, bad, expected):
    _, outputs = _outputs({keyword: bad})
    assert set(outputs) == {"sr.dcm", "sc.dcm", "seg.dcm"}
    seen = 0
    for name, ds in outputs.items():
        ds = _reread(ds)
        if keyword in ds:  # copied into this object: repaired or empty, never the bad value
            seen += 1
            assert str(ds.get(keyword) or "") == expected, (name, keyword, ds.get(keyword))
    assert seen, f"{keyword} was copied into no output"


def test_sanitize_reports_keywords_never_values():
    ds = pydicom.dcmread(io.BytesIO(synthetic_dicom(None, extra={**GOOD, "PatientSex": "MALE",
                                                                 "PatientBirthDate": "1962-01-01"})))
    clean, changed = sanitize_reference(ds)
    assert {"PatientBirthDate", "PatientSex"} <= set(changed)
    assert ds.PatientSex == "MALE"  # the source dataset is not modified
    assert clean.PatientSex == "M" and clean.PatientBirthDate == "19620101"


@pytest.mark.parametrize("spacing", [[0, 0], [0.0, 0.2], [-1, -1]])
def test_seg_omits_a_pixel_spacing_that_is_not_positive(spacing):
    _, outputs = _outputs({}, masks=True) if spacing is None else _outputs({"PixelSpacing": spacing})
    seg = _reread(outputs["seg.dcm"])
    for item in seg.get("SharedFunctionalGroupsSequence", []):
        for pm in item.get("PixelMeasuresSequence", []):
            assert "PixelSpacing" not in pm or all(float(v) > 0 for v in pm.PixelSpacing)
    assert "PixelSpacing" not in seg or all(float(v) > 0 for v in seg.PixelSpacing)


def test_output_uids_are_derived_from_source_and_model():
    """Was: random UIDs, so a PACS retry after a kill between STOW and recording stored a second copy."""
    data, first = _outputs({})
    _, second = _outputs({})
    for name in first:
        assert first[name].SOPInstanceUID == second[name].SOPInstanceUID
        assert first[name].SeriesInstanceUID == second[name].SeriesInstanceUID
    uids = {ds.SOPInstanceUID for ds in first.values()} | {ds.SeriesInstanceUID for ds in first.values()}
    assert len(uids) == 6  # distinct per object and series
    src = pydicom.dcmread(io.BytesIO(data))
    assert all(ds.StudyInstanceUID == src.StudyInstanceUID for ds in first.values())
    _, other = _outputs({"SOPInstanceUID": pydicom.uid.generate_uid()})
    assert other["sr.dcm"].SOPInstanceUID != first["sr.dcm"].SOPInstanceUID


def test_png_outputs_get_the_same_new_study_each_time(tmp_path):
    from importlib import resources

    png = resources.files("cxrkit").joinpath("examples/00000002_000.png")
    runs = []
    for _ in range(2):
        result, image = Analyzer(None, None).analyze_with_image(str(png))
        runs.append(write_dicom_outputs(result, image, overlay=compose_overlay(image.pixels)))
    assert runs[0]["sc.dcm"].StudyInstanceUID == runs[1]["sc.dcm"].StudyInstanceUID
    assert runs[0]["sr.dcm"].SOPInstanceUID == runs[1]["sr.dcm"].SOPInstanceUID


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian dicom3tools) not installed")
@pytest.mark.parametrize("keyword,bad", [("PatientSex", "MALE"), ("PixelSpacing", [0, 0]),
                                         ("PatientBirthDate", "1962-01-01"), ("AccessionNumber", "A" * 40)])
def test_dciodvfy_accepts_outputs_of_hostile_headers(tmp_path, keyword, bad):
    _, outputs = _outputs({keyword: bad})
    for name, ds in outputs.items():
        path = tmp_path / name
        ds.save_as(path, enforce_file_format=True)
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
        assert not errors, f"{keyword}={bad!r} -> {name}: {errors}"


def test_a_source_without_patient_and_study_attributes_still_gets_outputs():
    """Was: AttributeError ('no attribute PatientBirthDate') from highdicom for headers lacking type-2 attributes."""
    data = synthetic_dicom(None, shape=(256, 256))
    result, image = Analyzer(None, None).analyze_with_image(data)
    outputs = write_dicom_outputs(result, image, source=data, overlay=compose_overlay(image.pixels))
    assert {"sr.dcm", "sc.dcm"} <= set(outputs)
