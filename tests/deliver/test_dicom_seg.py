"""DICOM SEG of anatomy masks written with highdicom and re-read with pydicom, on the SIIM DICOM fixture."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from cxrkit.deliver.dicom_seg import write_seg
from cxrkit.errors import InvalidImageError, UnsupportedImageError

SIIM = "io/1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"
NAMES = ("right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle")


def _masks(shape):
    m = {k: np.zeros(shape, bool) for k in NAMES}
    m["right_lung"][200:800, 100:450] = True
    m["left_lung"][200:800, 560:900] = True
    m["heart"][500:700, 400:700] = True
    m["right_clavicle"][150:190, 150:450] = True
    return m


def test_write_and_reread_seg(fixtures_dir, tmp_path):
    src = fixtures_dir / SIIM
    ref = pydicom.dcmread(src)
    masks = _masks((ref.Rows, ref.Columns))
    out = tmp_path / "out" / "seg.dcm"
    write_seg(src, masks, out)
    seg = pydicom.dcmread(out)
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"  # Segmentation Storage
    assert seg.StudyInstanceUID == ref.StudyInstanceUID and seg.SeriesInstanceUID != ref.SeriesInstanceUID
    referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
    assert referenced == ref.SOPInstanceUID
    assert [s.SegmentLabel.split(" (")[0] for s in seg.SegmentSequence] == [
        "Right lung", "Left lung", "Heart", "Right clavicle", "Left clavicle"]
    codes = [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence]
    assert codes == ["3341006", "44029006", "80891009", "51299004", "51299004"]
    lat = seg.SegmentSequence[4].SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0]
    assert lat.CodeMeaning == "Left"
    frames = seg.pixel_array
    assert frames.shape == (5, ref.Rows, ref.Columns)
    for k, name in enumerate(NAMES):  # frames follow segment order (one frame per segment)
        assert np.array_equal(frames[k].astype(bool), masks[name])


def test_seg_accepts_dataset_and_returns_it(fixtures_dir):
    ref = pydicom.dcmread(fixtures_dir / SIIM)
    seg = write_seg(ref, _masks((ref.Rows, ref.Columns)))
    assert seg.NumberOfFrames == 5 and seg.Modality == "SEG"


def test_seg_rejects_non_dicom_and_bad_shapes(fixtures_dir):
    with pytest.raises(UnsupportedImageError, match="not a DICOM"):
        write_seg(fixtures_dir / "io" / "00010805_049.png", _masks((512, 512)))
    with pytest.raises(InvalidImageError, match="rows, columns"):
        write_seg(fixtures_dir / SIIM, _masks((512, 512)))
