"""cxrkit.qc: the input quality check on real radiographs, DICOM tags and degenerate images."""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from cxrkit.io import read_image
from cxrkit.qc import check_quality, layout_features
from cxrkit.types import Image

EXAMPLES = Path(str(resources.files("cxrkit").joinpath("examples")))


@pytest.fixture(scope="module")
def siim() -> Image:
    return read_image(EXAMPLES / "siim_pa_chest.dcm")


@pytest.mark.parametrize("name", ["00000002_000.png", "00000377_004.png", "00001437_012.png", "siim_pa_chest.dcm"])
def test_real_frontal_radiographs_are_usable(name):
    q = check_quality(read_image(EXAMPLES / name))
    assert q.usable, q.reasons
    assert q.checks["frontal_layout"]["passed"]


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"modality": "CT"}, "modality CT"),
        ({"modality": "MR"}, "modality MR"),
        ({"body_part": "KNEE"}, "KNEE"),
        ({"view": "LL"}, "lateral"),
        ({"view": "LATERAL"}, "lateral"),
    ],
)
def test_metadata_makes_image_unusable(siim, change, fragment):
    q = check_quality(Image(siim.pixels, replace(siim.meta, **change)))
    assert not q.usable and any(fragment in r for r in q.reasons)


def test_ap_view_and_pediatric_age_are_warnings(siim):
    meta = replace(siim.meta, view="AP", dicom={**siim.meta.dicom, "PatientAge": "006Y"})
    q = check_quality(Image(siim.pixels, meta))
    assert q.usable
    assert any("AP view" in w for w in q.warnings) and any("pediatric" in w for w in q.warnings)


def test_degenerate_images(rng):
    flat = Image(np.full((300, 300), 0.4, np.float32))
    assert "uniform" in check_quality(flat).reasons[0]
    binary = Image((rng.random((300, 300)) > 0.5).astype(np.float32))
    assert any("binary" in r for r in check_quality(binary).reasons)
    strip = Image(rng.random((100, 400), dtype=np.float32))
    assert any("aspect ratio" in r for r in check_quality(strip).reasons)
    tiny = Image(rng.random((40, 40), dtype=np.float32))
    assert any("too small" in r for r in check_quality(tiny).reasons)


def test_non_chest_photograph_is_refused():
    """A real photograph (matplotlib's sample portrait, kept out of the view model's training) is not a chest
    film: the learned view check refuses it; the layout cues still read atypical but do not decide."""
    from matplotlib import cbook
    from PIL import Image as PILImage

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        gray = np.asarray(PILImage.open(fh).convert("L"), dtype=np.float32) / 255.0
    q = check_quality(Image(gray))
    assert not q.usable and "not a frontal chest radiograph" in q.reasons[0]
    assert q.checks["frontal_view"]["passed"] is False
    assert q.checks["frontal_layout"]["passed"] is False


def test_mirrored_layout_features_are_symmetric(siim):
    a = layout_features(siim.pixels)
    b = layout_features(siim.pixels[:, ::-1].copy())
    assert a["symmetry"] == pytest.approx(b["symmetry"], abs=1e-3)
    assert a["imbalance"] == pytest.approx(b["imbalance"], abs=1e-3)


def test_lung_masks_check(siim):
    h, w = siim.shape
    right = np.zeros((h, w), bool)
    left = np.zeros((h, w), bool)
    right[200:800, 150:450] = True  # patient's right lung on the image's left
    left[200:800, 574:874] = True
    assert check_quality(siim, {"left_lung": left, "right_lung": right}).usable
    q = check_quality(siim, {"left_lung": right, "right_lung": left})
    assert not q.usable and "opposite sides" in q.reasons[-1]
    # one lung field missing (white-out, effusion): still read, with a warning
    q = check_quality(siim, {"left_lung": np.zeros((h, w), bool), "right_lung": right})
    assert q.usable and any("left lung field is missing" in w for w in q.warnings)
    q = check_quality(siim, {"left_lung": np.zeros((h, w), bool), "right_lung": np.zeros((h, w), bool)})
    assert not q.usable and "lung fields cover 0.0%" in q.reasons[-1]


def test_noise_is_refused(rng):
    q = check_quality(Image(rng.random((400, 400), dtype=np.float32)))
    assert not q.usable and any("noise" in r for r in q.reasons)
    assert q.checks["structure"]["passed"] is False


def test_no_heart_with_low_confidence_is_a_warning(siim):
    h, w = siim.shape
    right = np.zeros((h, w), bool)
    left = np.zeros((h, w), bool)
    right[200:800, 150:450] = True
    left[200:800, 574:874] = True
    no_heart = {"left_lung": left, "right_lung": right, "heart": np.zeros((h, w), bool)}
    q = check_quality(siim, no_heart, {"left_lung": 0.6, "right_lung": 0.7, "heart": 0.3})
    assert q.usable and any("no clear heart shadow" in w for w in q.warnings)  # alone: a warning
    q = check_quality(siim, no_heart, {"left_lung": 0.95, "right_lung": 0.95, "heart": 0.9})
    assert q.usable  # a confident segmentation without heart is not refused on that cue alone
    heart = np.zeros((h, w), bool)
    heart[500:750, 380:700] = True
    q = check_quality(siim, {**no_heart, "heart": heart}, {"left_lung": 0.6, "right_lung": 0.6, "heart": 0.6})
    assert q.usable and q.checks["frontal_anatomy"]["passed"]


def test_low_contrast_real_film_is_read_with_a_warning():
    """A frontal film stored with squeezed contrast (like six JSRT copies: std ~0.014, values 0.94-1.0) is not
    "nearly uniform": the anatomy is there once stretched."""
    film = read_image(EXAMPLES / "00000002_000.png")
    squeezed = Image((0.94 + 0.06 * film.pixels).astype(np.float32), film.meta)
    q = check_quality(squeezed)
    assert q.usable, q.reasons
    assert any("very low contrast" in w for w in q.warnings)
