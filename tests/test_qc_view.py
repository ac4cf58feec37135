"""cxrkit.qc_view / cxrkit.qc_train: the learned frontal-vs-lateral/not-chest check, its shipped model and its
training code (a tiny model on seeded synthetic data; CI never trains the shipped one)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cxrkit.errors import ModelError
from cxrkit.io import read_image
from cxrkit.qc import check_quality
from cxrkit.qc_train import (
    augment,
    choose_thresholds,
    fit_view_model,
    synthetic_non_radiographs,
    wilson,
)
from cxrkit.qc_view import FEATURE_VERSION, load_view_model, view_features
from cxrkit.synthetic import synthetic_chest
from cxrkit.types import Image

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FRONTAL = FIXTURES / "classifier" / "00000002_000.png"  # NIH, validation split (held out)
# a real lateral film of a held-out patient (covid-ieee8023 patient 28). Its license (CC BY-NC-SA, Radiopaedia) does
# not let the repository ship it, so these tests read it from ../shared/data and are marked shared_data.
LATERAL = Path("covid-ieee8023") / "images" / "pneumocystis-pneumonia-2-L.jpg"  # under the shared_data fixture


def test_shipped_model_loads_and_matches_its_card():
    model = load_view_model()
    card = model.card
    assert card.feature_version == FEATURE_VERSION and card.n_features == model.n_features
    assert 0 < card.t_flag <= card.t_refuse < 1
    assert len(view_features(read_image(FRONTAL).pixels)) == model.n_features
    held = card.validation["heldout"]
    assert held["all frontal"]["n"] > 1000 and held["all lateral"]["n"] >= 10


def test_checksum_mismatch_is_refused(tmp_path):
    from importlib import resources

    shipped = Path(str(resources.files("cxrkit").joinpath("qc_weights")))
    shutil.copytree(shipped, tmp_path / "m")
    load_view_model(tmp_path / "m")
    with open(tmp_path / "m" / "view_model.npz", "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ModelError, match="checksum"):
        load_view_model(tmp_path / "m")
    with pytest.raises(ModelError, match="not found"):
        load_view_model(tmp_path / "missing")


def test_nih_frontal_fixture_is_accepted_without_flag():
    q = check_quality(read_image(FRONTAL))
    assert q.usable, q.reasons
    assert q.checks["frontal_view"]["passed"] is True
    assert not any("lateral" in w for w in q.warnings)


@pytest.mark.shared_data
def test_lateral_fixture_is_refused_or_flagged(shared_data):
    q = check_quality(read_image(shared_data / LATERAL))
    assert (not q.usable and "lateral" in q.reasons[0]) or any("possibly a lateral" in w for w in q.warnings)
    assert q.checks["frontal_view"]["passed"] is not True
    assert q.checks["frontal_view"]["value"]["p_not_frontal"] >= q.checks["frontal_view"]["value"]["t_flag"]


@pytest.mark.shared_data
def test_lateral_fixture_mirrored_is_still_caught(shared_data):
    img = read_image(shared_data / LATERAL)
    q = check_quality(Image(img.pixels[:, ::-1].copy(), img.meta))
    assert q.checks["frontal_view"]["passed"] is not True


def test_dicom_lateral_tag_still_refuses_a_frontal_image():
    img = read_image(FRONTAL)
    q = check_quality(Image(img.pixels, replace(img.meta, view="LL")))
    assert not q.usable and any("lateral view (LL)" in r for r in q.reasons)
    assert q.checks["frontal_view"]["passed"] is True  # the pixels look frontal; the tag decides


def test_layout_cues_alone_never_refuse(monkeypatch):
    """All three hand-tuned layout cues firing, with the learned check saying frontal: usable, no warning."""
    import cxrkit.qc as qc

    monkeypatch.setattr(qc, "layout_features", lambda px: {"symmetry": 0.0, "imbalance": 0.5, "dark_fraction": 0.5})
    q = qc.check_quality(read_image(FRONTAL))
    assert q.checks["frontal_layout"]["passed"] is False
    assert q.usable and q.checks["frontal_view"]["passed"] is True and not q.warnings


def _lateral_like(rng, size=128):
    """A crude synthetic 'lateral': one tilted body outline, bright spine band near one side."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    body = ((xx - 0.5) ** 2 / 0.12 + (yy - 0.55) ** 2 / 0.25) < 1
    a = np.where(body, 0.55, 0.05) + 0.35 * np.exp(-((xx - rng.uniform(0.72, 0.8)) ** 2) / 0.002)
    a = a - 0.25 * np.exp(-((xx - 0.45) ** 2 + (yy - 0.4) ** 2) / 0.02)
    return np.clip(a + rng.normal(0, 0.02, a.shape), 0, 1).astype(np.float32)


def test_tiny_model_trains_on_synthetic_data(tmp_path):
    rng = np.random.default_rng(0)
    frontal = [np.asarray(synthetic_chest((128, 128), seed=i), np.float32) for i in range(24)]
    lateral = [_lateral_like(rng) for _ in range(24)]
    other = synthetic_non_radiographs(12, seed=1, size=128)
    x = np.stack([view_features(p) for p in frontal + lateral + other]
                 + [view_features(augment(p, rng)) for p in lateral])
    y = np.r_[np.zeros(len(frontal)), np.ones(len(lateral) + len(other) + len(lateral))].astype(int)
    model = fit_view_model(x, y, c=0.1)
    p = model.predict_proba(x)
    assert p[: len(frontal)].max() < 0.5 < p[len(frontal):].min()
    t_flag, t_refuse = choose_thresholds(p[: len(frontal)], p[len(frontal): len(frontal) + len(lateral)])
    assert 0.05 <= t_flag <= t_refuse and t_refuse >= 0.5
    card = model.save(tmp_path, {"name": "tiny", "version": "test", "feature_version": FEATURE_VERSION,
                                 "architecture": "standardize + logistic regression", "t_flag": t_flag,
                                 "t_refuse": t_refuse})
    loaded = load_view_model(tmp_path)
    assert loaded.card == card
    np.testing.assert_allclose(loaded.predict_proba(x), p, atol=1e-4)
    assert json.loads((tmp_path / "view_model.json").read_text())["sha256"] == card.sha256


def test_training_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        fit_view_model(np.random.default_rng(0).random((5, 3)), np.zeros(5, int))


@pytest.mark.parametrize("k, n, lo, hi", [(0, 100, 0.0, 0.037), (15, 16, 0.717, 0.989), (1, 3282, 0.0, 0.0018)])
def test_wilson_interval(k, n, lo, hi):
    a, b = wilson(k, n)
    assert a == pytest.approx(lo, abs=2e-3) and b == pytest.approx(hi, abs=2e-3)
