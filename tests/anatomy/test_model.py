"""the shipped segmenter: card + checksums, size, ONNX vs PyTorch, real predictions, bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import torch

from cxrkit.anatomy.analyze import analyze_anatomy
from cxrkit.anatomy.preprocess import to_model_input
from cxrkit.anatomy.segment import DEFAULT_CARD, WEIGHTS_DIR, load_segmenter
from cxrkit.errors import InvalidImageError, ModelError
from cxrkit.io import read_image
from cxrkit.models.card import ModelCard

NORMAL = "anatomy/00003659_015.png"        # NIH, PA, No Finding
CARDIOMEGALY = "anatomy/00000001_000.png"  # NIH, PA, Cardiomegaly
SIIM = "io/1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"


@pytest.fixture(scope="module")
def seg():
    return load_segmenter(threads=1)


def test_card_checksums_and_package_size():
    card = ModelCard.load(DEFAULT_CARD)  # verifies the SHA-256 of every listed file
    assert card.kind == "segmenter"
    assert card.labels == ["right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle"]
    total = sum((WEIGHTS_DIR / f).stat().st_size for f in (card.weights_file, card.onnx_file)) + DEFAULT_CARD.stat().st_size
    assert total <= 15 * 1024 * 1024
    assert card.metrics.get("summary", {}).get("n_images", 0) >= 30  # held-out results recorded in the card


def test_tampered_weights_are_refused(tmp_path):
    for f in WEIGHTS_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    onnx = next(tmp_path.glob("*.onnx"))
    data = bytearray(onnx.read_bytes())
    data[-10] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        load_segmenter(tmp_path)


def test_onnx_matches_pytorch_on_real_image(seg, fixtures_dir):
    pixels = read_image(fixtures_dir / NORMAL).pixels
    x = to_model_input(pixels, seg.input_size)[None]
    p_onnx = seg.probabilities(x)
    with torch.no_grad():
        p_torch = torch.sigmoid(seg.torch_model()(torch.from_numpy(x)[:, None])).numpy()
    assert np.abs(p_onnx - p_torch).max() < 1e-3


def test_real_prediction_plausible_ctr(seg, fixtures_dir):
    image = read_image(fixtures_dir / NORMAL)
    res = analyze_anatomy(image, seg)
    assert set(res.masks) == {"right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle"}
    assert all(m.shape == image.shape and m.dtype == bool for m in res.masks.values())
    ctr = res.measurements["cardiothoracic_ratio"]
    assert 0.35 <= ctr <= 0.65
    # patient right lung on the image left
    assert np.nonzero(res.masks["right_lung"])[1].mean() < image.shape[1] / 2 < np.nonzero(res.masks["left_lung"])[1].mean()
    assert res.segmentation.side_consistent is True
    big = analyze_anatomy(read_image(fixtures_dir / CARDIOMEGALY), seg).measurements["cardiothoracic_ratio"]
    assert big > ctr  # the NIH Cardiomegaly film measures a larger heart than the normal one


def test_batch_equals_single(seg, fixtures_dir):
    a = read_image(fixtures_dir / NORMAL).pixels
    b = a[::2, ::2].copy()  # different sizes in one batch
    batch = seg.predict_batch([a, b])
    assert batch[1]["heart"].shape == b.shape
    assert np.array_equal(batch[0]["heart"], seg.predict(a)["heart"])


def test_dicom_without_spacing_keeps_ctr_drops_mm(seg, fixtures_dir, tmp_path):
    src = fixtures_dir / SIIM
    with_sp = analyze_anatomy(read_image(src), seg).measurements
    assert with_sp["cardiothoracic_ratio"] is not None
    assert with_sp["heart_width_mm"] == pytest.approx(with_sp["heart_width_px"] * 0.168, abs=0.01)
    ds = pydicom.dcmread(src)
    del ds.PixelSpacing
    ds.save_as(tmp_path / "nospacing.dcm")
    no_sp = analyze_anatomy(read_image(tmp_path / "nospacing.dcm"), seg).measurements
    assert no_sp["cardiothoracic_ratio"] == with_sp["cardiothoracic_ratio"]
    assert no_sp["heart_width_mm"] is None and no_sp["thorax_width_mm"] is None and no_sp["pixel_spacing_mm"] is None


@pytest.mark.parametrize("transform", ["mirror", "upside_down", "inverted", "rotated_90"])
def test_wrongly_oriented_or_inverted_image_is_flagged(seg, fixtures_dir, transform):
    pixels = read_image(fixtures_dir / NORMAL).pixels
    assert analyze_anatomy(pixels, seg).measurements["reliable"] is True
    bad = {"mirror": pixels[:, ::-1], "upside_down": pixels[::-1], "inverted": 1.0 - pixels,
           "rotated_90": pixels.T}[transform]
    meas = analyze_anatomy(np.ascontiguousarray(bad), seg).measurements
    assert meas["reliable"] is False
    assert {"implausible_anatomy", "missing_structure"} & set(meas["flags"])


def test_tiny_and_bad_images_raise(seg):
    with pytest.raises(InvalidImageError, match="too small"):
        seg.predict(np.zeros((32, 32), np.float32))
    with pytest.raises(InvalidImageError, match="2-D"):
        seg.predict(np.zeros((100, 100, 3), np.float32))
    bad = np.zeros((100, 100), np.float32)
    bad[0, 0] = np.nan
    with pytest.raises(InvalidImageError, match="NaN"):
        seg.predict(bad)
