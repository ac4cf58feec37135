"""Every DICOM display path, on pydicom-written synthetic files (cxrkit.synthetic.synthetic_dicom)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut, apply_voi, apply_windowing

from cxrkit.io import read_header, read_image
from cxrkit.io.dicom import window_to_unit
from cxrkit.synthetic import synthetic_chest, synthetic_dicom

SHAPE = (96, 80)
REF = synthetic_chest(SHAPE, seed=7)


def minmax(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return (a - a.min()) / (a.max() - a.min())


def write(tmp_path: Path, name: str = "x.dcm", **kw) -> Path:
    return synthetic_dicom(tmp_path / name, pixels=REF, **kw)


@pytest.mark.parametrize(
    "kw",
    [
        pytest.param({}, id="explicit-12bit"),
        pytest.param({"transfer_syntax": "implicit"}, id="implicit"),
        pytest.param({"transfer_syntax": "rle"}, id="rle"),
        pytest.param({"transfer_syntax": "jpeg2000"}, id="jpeg2000-lossless"),
        pytest.param({"transfer_syntax": "jpegls"}, id="jpegls-lossless"),
        pytest.param({"bits_stored": 15}, id="15bit"),
        pytest.param({"bits_stored": 16}, id="16bit"),
        pytest.param({"bits_stored": 10}, id="10bit"),
        pytest.param({"signed": True}, id="signed"),
        pytest.param({"high_bit_garbage": True}, id="garbage-above-bits-stored"),
        pytest.param({"rescale": (2.0, -1000.0)}, id="rescale"),
        pytest.param({"modality_lut": True}, id="modality-lut-sequence"),
        pytest.param({"preamble": False}, id="no-preamble-explicit"),
        pytest.param({"preamble": False, "transfer_syntax": "implicit"}, id="no-preamble-implicit"),
        pytest.param({"modality": "CR"}, id="CR"),
        pytest.param({"presentation_intent": "FOR PRESENTATION"}, id="DX-for-presentation"),
    ],
)
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_lossless_variants_show_the_same_picture(tmp_path: Path, kw: dict, photometric: str) -> None:
    """No window: min-max of the stored data, so every lossless encoding shows the min-max of the source."""
    path = write(tmp_path, photometric=photometric, **kw)
    image = read_image(path)
    assert image.shape == SHAPE and image.pixels.dtype == np.float32
    np.testing.assert_allclose(image.pixels, minmax(REF), atol=2.0 / (2 ** kw.get("bits_stored", 12) - 1) + 1e-5)
    inverted = any("MONOCHROME1 inverted" in n for n in image.meta.notes)
    assert inverted == (photometric == "MONOCHROME1")


def test_8bit_jpeg_baseline_is_close(tmp_path: Path) -> None:
    image = read_image(write(tmp_path, bits_stored=8, transfer_syntax="jpeg"))
    assert image.meta.dicom["TransferSyntaxUID"] == "1.2.840.10008.1.2.4.50"
    assert float(np.abs(image.pixels - REF).mean()) < 0.01  # lossy; 8-bit data is shown as stored/255


def test_high_bits_are_ignored(tmp_path: Path) -> None:
    clean = read_image(write(tmp_path, "a.dcm")).pixels
    dirty = read_image(write(tmp_path, "b.dcm", high_bit_garbage=True)).pixels
    np.testing.assert_array_equal(clean, dirty)


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize("rescale", [None, (0.5, 100.0)])
def test_window_matches_pydicom(tmp_path: Path, function: str, rescale) -> None:
    center, width = 1200.0, 1500.0
    path = write(tmp_path, window=[(center, width), (3000.0, 10.0)], voi_lut_function=function, rescale=rescale)
    image = read_image(path)
    ds = pydicom.dcmread(path)
    ref = apply_windowing(apply_modality_lut(ds.pixel_array, ds), ds, index=0)
    bits = 12
    y_min, y_max = 0.0, 2.0**bits - 1
    if rescale:
        y_min, y_max = y_min * rescale[0] + rescale[1], y_max * rescale[0] + rescale[1]
    np.testing.assert_allclose(image.pixels, (ref - y_min) / (y_max - y_min), atol=2e-5)
    assert any(f"({function}) (first of 2)" in n for n in image.meta.notes)


def test_window_to_unit_linear_edges() -> None:
    x = np.array([0, 99, 100, 101, 200, 1000], dtype=np.uint16)
    out = window_to_unit(x, 100.5, 2.0, "LINEAR")  # c-0.5=100, w-1=1: x<=99.5 -> 0, x>100.5 -> 1
    np.testing.assert_array_equal(out, [0, 0, 0.5, 1, 1, 1])
    assert window_to_unit(x, 100.0, 1.0, "LINEAR").tolist() == [0, 0, 1, 1, 1, 1]  # x <= 99.5 -> 0


def test_voi_lut_sequence_matches_pydicom_and_wins_over_window(tmp_path: Path) -> None:
    path = write(tmp_path, voi_lut=True, window=(10.0, 5.0), photometric="MONOCHROME1")
    image = read_image(path)
    ds = pydicom.dcmread(path)
    np.testing.assert_allclose(image.pixels, 1.0 - apply_voi(ds.pixel_array, ds) / 4095.0, atol=1e-6)
    assert any("VOI LUT Sequence" in n for n in image.meta.notes)


def test_window_outside_the_data_falls_back_to_minmax(tmp_path: Path) -> None:
    image = read_image(write(tmp_path, window=(60000.0, 10.0)))
    np.testing.assert_allclose(image.pixels, minmax(REF), atol=1e-3)
    assert any("fell back to min-max" in n for n in image.meta.notes)


@pytest.mark.parametrize("window", [(100.0, 0.0), (float("nan"), 100.0)])
def test_invalid_window_is_ignored_with_a_note(tmp_path: Path, window) -> None:
    image = read_image(write(tmp_path, window=window))
    np.testing.assert_allclose(image.pixels, minmax(REF), atol=1e-3)
    assert any("invalid window" in n for n in image.meta.notes)


def test_rgb_dicom_becomes_gray(tmp_path: Path) -> None:
    image = read_image(write(tmp_path, photometric="RGB", bits_stored=8))
    np.testing.assert_allclose(image.pixels, REF, atol=1 / 255 + 1e-6)
    assert any("identical channels" in n for n in image.meta.notes)


@pytest.mark.parametrize(
    ("kw", "expected", "note"),
    [
        ({"spacing": (0.14, 0.15)}, (0.14, 0.15), "from PixelSpacing"),
        ({"spacing": None, "imager_spacing": (0.2, 0.2)}, (0.2, 0.2), "from ImagerPixelSpacing"),
        ({"spacing": (0.0, 0.0), "imager_spacing": (0.2, 0.2)}, (0.2, 0.2), "from ImagerPixelSpacing"),
        ({"spacing": None, "imager_spacing": (0.22, 0.22),
          "extra": {"EstimatedRadiographicMagnificationFactor": 1.1}}, (0.2, 0.2), "Magnification"),
        ({"spacing": (0.0, 0.0)}, None, "ignored"),
        ({"spacing": None}, None, None),
        ({"spacing": (0.2,)}, None, "ignored"),
        ({"spacing": (-0.2, 0.2)}, None, "ignored"),
    ],
)
def test_pixel_spacing(tmp_path: Path, kw: dict, expected, note) -> None:
    meta = read_header(write(tmp_path, **kw))
    if expected is None:
        assert meta.pixel_spacing_mm is None
    else:
        assert meta.pixel_spacing_mm == pytest.approx(expected)
    if note:
        assert any(note in n for n in meta.notes), meta.notes


def _code(meaning: str):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "X", "SCT", meaning
    return [item]


@pytest.mark.parametrize(
    ("kw", "view"),
    [
        ({"view": "AP"}, "AP"),
        ({"view": "LL"}, "LL"),
        ({"view": None}, None),
        ({"view": None, "extra": {"ViewCodeSequence": _code("postero-anterior")}}, "PA"),
        ({"view": None, "extra": {"ViewCodeSequence": _code("antero-posterior")}}, "AP"),
        ({"view": None, "extra": {"ViewCodeSequence": _code("left lateral")}}, "LL"),
        ({"view": None, "extra": {"PatientOrientation": ["P", "F"]}}, "LATERAL"),
        ({"view": None, "extra": {"PatientOrientation": ["L", "F"]}}, None),
        ({"view": None, "extra": {"SeriesDescription": "CHEST PA"}}, "PA"),
        ({"view": None, "extra": {"ProtocolName": "Thorax ap liegend"}}, "AP"),
        ({"view": None, "extra": {"SeriesDescription": "Chest lat."}}, "LATERAL"),
        ({"view": None, "extra": {"SeriesDescription": "CHEST PA AND LAT"}}, None),
        ({"view": None, "extra": {"SeriesDescription": "CAPACITY"}}, None),  # whole words only
    ],
)
def test_view(tmp_path: Path, kw: dict, view) -> None:
    assert read_header(write(tmp_path, **kw)).view == view


def test_identifiers_and_modality_notes(tmp_path: Path) -> None:
    path = write(tmp_path, modality="OT", extra={"AccessionNumber": "A123", "PatientID": "P9"})
    image = read_image(path)
    ds = pydicom.dcmread(path)
    for key in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientID", "AccessionNumber",
                "StudyDate", "Manufacturer"):
        assert image.meta.dicom[key] == str(ds[key].value)
    assert image.meta.dicom["AccessionNumber"] == "A123"
    assert image.meta.modality == "OT" and any("modality OT" in n for n in image.meta.notes)


def test_for_processing_is_read_with_a_warning_note(tmp_path: Path) -> None:
    image = read_image(write(tmp_path, presentation_intent="FOR PROCESSING"))
    assert any("FOR PROCESSING" in n for n in image.meta.notes)
    assert image.meta.dicom["PresentationIntentType"] == "FOR PROCESSING"


def test_palette_color_dicom_becomes_gray(tmp_path: Path) -> None:
    ramp = (np.arange(256) * 257).astype("<u2").tobytes()  # a gray palette, 16-bit entries
    palette = {f"{c}PaletteColorLookupTableDescriptor": [256, 0, 16] for c in ("Red", "Green", "Blue")}
    palette |= {f"{c}PaletteColorLookupTableData": ramp for c in ("Red", "Green", "Blue")}
    path = write(tmp_path, bits_stored=8, extra={"PhotometricInterpretation": "PALETTE COLOR", **palette})
    image = read_image(path)
    np.testing.assert_allclose(image.pixels, REF, atol=1 / 255 + 1e-6)
    assert any("PALETTE COLOR expanded" in n for n in image.meta.notes)


def test_pixel_padding_is_left_out_of_the_minmax_range(tmp_path: Path) -> None:
    padded = REF.copy()
    padded[:, :10] = 1.0  # a bright collimator band stored as padding
    path = synthetic_dicom(tmp_path / "pad.dcm", pixels=padded, extra={"PixelPaddingValue": 4095})
    image = read_image(path)
    content = image.pixels[:, 10:]
    np.testing.assert_allclose(content, minmax(REF[:, 10:]), atol=2 / 4095)
    assert any("padding pixels" in n for n in image.meta.notes)
    no_pad = read_image(synthetic_dicom(tmp_path / "nopad.dcm", pixels=padded))
    assert float(no_pad.pixels[:, 10:].max()) < 0.99  # without the tag the band takes the top of the range
