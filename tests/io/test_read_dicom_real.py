"""Real DICOM radiographs: polarity, windowing, metadata (committed fixtures + ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest

from cxrkit.io import read_header, read_image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "io"
SIIM = FIXTURES / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"
FAKE_M1 = FIXTURES / "Fake_MONOHR1.dcm"
RG1_J2KI = FIXTURES / "RG1_J2KI"
NIH_PNGS = (FIXTURES / "00010805_049.png", FIXTURES / "00013249_052.png")
NIH_RGBA = FIXTURES / "00011322_006.png"
# same rule as tests/conftest.py (CXRKIT_SHARED_DATA, else ../shared/data); tests using it are marked shared_data
_DEFAULT_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SHARED = Path(os.environ.get("CXRKIT_SHARED_DATA", _DEFAULT_SHARED)) / "dicom-samples"


def lung_and_mediastinum(pixels: np.ndarray) -> tuple[float, float]:
    """Medians of two lateral lung-field boxes and of the central mediastinum/spine box (mid-thorax rows)."""
    h, w = pixels.shape
    rows = slice(int(0.30 * h), int(0.55 * h))
    lungs = np.concatenate(
        [pixels[rows, int(0.18 * w) : int(0.32 * w)].ravel(), pixels[rows, int(0.68 * w) : int(0.82 * w)].ravel()]
    )
    return float(np.median(lungs)), float(np.median(pixels[rows, int(0.46 * w) : int(0.54 * w)]))


# (path, is it a genuine radiograph whose lungs must come out dark)
REAL = [
    pytest.param(SIIM, id="siim-fixture"),
    pytest.param(RG1_J2KI, id="rg1-j2ki-fixture"),
    pytest.param(NIH_PNGS[0], id="nih-png-1"),
    pytest.param(NIH_PNGS[1], id="nih-png-2"),
    pytest.param(NIH_RGBA, id="nih-rgba"),
    pytest.param(SHARED / "nema_wg04" / "RG1_JLSN", id="rg1-jlsn-shared", marks=pytest.mark.shared_data),
    pytest.param(SHARED / "rsna" / "c64d5667-a776-4f95-9e21-bfabafb07740.dcm", id="rsna-shared",
                 marks=pytest.mark.shared_data),
    pytest.param(SHARED / "siim" / SIIM.name, id="siim-shared", marks=pytest.mark.shared_data),
    pytest.param(SHARED / "nema_wg04" / "RG1_J2KI", id="rg1-j2ki-shared", marks=pytest.mark.shared_data),
]


@pytest.mark.parametrize("path", REAL)
def test_real_radiographs_have_dark_lungs(path: Path, read_cached) -> None:
    image = read_cached(str(path))
    assert image.pixels.dtype == np.float32 and image.pixels.ndim == 2
    assert image.pixels.flags["C_CONTIGUOUS"]
    assert float(image.pixels.min()) >= 0.0 and float(image.pixels.max()) <= 1.0
    lung, mediastinum = lung_and_mediastinum(image.pixels)
    assert lung + 0.05 < mediastinum, f"lungs ({lung:.3f}) should be darker than the mediastinum ({mediastinum:.3f})"


@pytest.mark.parametrize(
    "fake",
    [pytest.param(FAKE_M1, id="fixture"),
     pytest.param(SHARED / "siim" / "Fake_MONOHR1.dcm", id="shared", marks=pytest.mark.shared_data)],
)
def test_fake_monochrome1_is_the_inverse_of_the_original(fake: Path, read_cached) -> None:
    original = read_cached(str(SIIM))
    flipped = read_cached(str(fake))
    np.testing.assert_allclose(flipped.pixels, 1.0 - original.pixels, atol=1e-6)
    assert any("MONOCHROME1 inverted" in n for n in flipped.meta.notes)
    assert not any("MONOCHROME1" in n for n in original.meta.notes)
    # the flag was flipped on data stored as MONOCHROME2, so honoring it makes the lungs bright
    lung, mediastinum = lung_and_mediastinum(flipped.pixels)
    assert lung > mediastinum


def test_siim_8bit_is_stored_values_over_255(read_cached) -> None:
    ds = pydicom.dcmread(SIIM)
    image = read_cached(str(SIIM))
    np.testing.assert_allclose(image.pixels, ds.pixel_array.astype(np.float32) / 255.0, atol=1e-6)
    meta = image.meta
    assert meta.format == "dicom" and meta.modality == "CR" and meta.view == "PA"
    assert meta.pixel_spacing_mm == pytest.approx((0.168, 0.168))
    assert meta.photometric == "MONOCHROME2" and meta.bits_stored == 8 and meta.body_part == "CHEST"
    assert meta.dicom["SOPInstanceUID"] == str(ds.SOPInstanceUID)
    assert meta.dicom["StudyInstanceUID"] == str(ds.StudyInstanceUID)
    assert meta.dicom["TransferSyntaxUID"] == "1.2.840.10008.1.2.4.50"
    assert meta.original_size == (1024, 1024)


def test_rg1_window_and_inversion_match_pydicom_reference(read_cached) -> None:
    """RG1: 15-bit MONOCHROME1 JPEG 2000 with window 15000/30000 and PixelSpacing [0, 0]."""
    from pydicom.pixels import apply_voi_lut

    ds = pydicom.dcmread(RG1_J2KI)
    image = read_cached(str(RG1_J2KI))
    windowed = apply_voi_lut(ds.pixel_array, ds)  # float64 in [0, 2**15 - 1]
    expected = 1.0 - windowed / (2**15 - 1)
    np.testing.assert_allclose(image.pixels, expected, atol=1e-5)
    meta = image.meta
    assert meta.photometric == "MONOCHROME1" and meta.bits_stored == 15 and meta.view == "PA"
    assert meta.pixel_spacing_mm is None
    assert any("PixelSpacing" in n and "ignored" in n for n in meta.notes)
    assert any("window center 15000 / width 30000" in n for n in meta.notes)


def test_read_header_does_not_need_pixels() -> None:
    meta = read_header(RG1_J2KI)
    assert meta.original_size == (1955, 1841) and meta.modality == "CR" and meta.photometric == "MONOCHROME1"


@pytest.mark.shared_data
def test_jpegls_and_j2k_copies_of_rg1_agree(read_cached) -> None:
    a = read_cached(str(SHARED / "nema_wg04" / "RG1_JLSN")).pixels
    b = read_cached(str(RG1_J2KI)).pixels
    assert a.shape == b.shape
    assert float(np.abs(a - b).mean()) < 0.01  # lossy vs near-lossless codecs of the same image


def test_bytes_input_equals_path_input(read_cached) -> None:
    from_bytes = read_image(SIIM.read_bytes())
    np.testing.assert_array_equal(from_bytes.pixels, read_cached(str(SIIM)).pixels)
    assert from_bytes.meta.source == "<bytes>"
