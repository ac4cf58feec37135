"""cxrkit.synthetic: deterministic, chest-like geometry and polarity, valid DICOM output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from cxrkit.errors import UnknownNameError
from cxrkit.synthetic import synthetic_chest, synthetic_dicom


def test_seeded_and_deterministic() -> None:
    a = synthetic_chest((64, 64), seed=1)
    np.testing.assert_array_equal(a, synthetic_chest((64, 64), seed=1))
    assert not np.array_equal(a, synthetic_chest((64, 64), seed=2))
    assert a.dtype == np.float32 and a.shape == (64, 64) and a.min() >= 0 and a.max() <= 1


@pytest.mark.parametrize("shape", [(128, 128), (200, 160)])
def test_anatomy_and_polarity(shape) -> None:
    img, masks = synthetic_chest(shape, seed=0, return_masks=True)
    assert set(masks) == {"right_lung", "left_lung", "heart"}
    for mask in masks.values():
        assert mask.dtype == bool and mask.shape == shape and mask.any()
    cols = np.arange(shape[1])
    assert cols[masks["right_lung"].any(axis=0)].mean() < shape[1] / 2 < cols[masks["left_lung"].any(axis=0)].mean()
    assert not (masks["heart"] & (masks["left_lung"] | masks["right_lung"])).any()
    lungs = img[masks["left_lung"] | masks["right_lung"]].mean()
    assert lungs + 0.2 < img[masks["heart"]].mean()
    assert img[:, : shape[1] // 20].mean() < lungs  # air outside the body is darkest


def test_synthetic_dicom_is_valid(tmp_path: Path) -> None:
    path = synthetic_dicom(tmp_path / "x.dcm", shape=(32, 48), photometric="MONOCHROME1", bits_stored=14, seed=4)
    ds = pydicom.dcmread(path)
    assert ds.preamble is not None and ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.Rows, ds.Columns, ds.BitsStored, ds.BitsAllocated) == (32, 48, 14, 16)
    assert ds.pixel_array.max() <= 2**14 - 1
    assert synthetic_dicom(None, shape=(32, 48), photometric="MONOCHROME1", bits_stored=14, seed=4) == path.read_bytes()
    with pytest.raises(UnknownNameError, match="transfer_syntax"):
        synthetic_dicom(None, transfer_syntax="mpeg")
