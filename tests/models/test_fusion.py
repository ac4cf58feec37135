"""Classifier + CTR fusion: the score, its card round trip, and bad entries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cxrkit.errors import ModelError
from cxrkit.models.fusion import CtrFusion
from cxrkit.train.fusion_fit import cross_validated_fusion, fit_fusion


def test_score_is_the_logistic_model():
    f = CtrFusion("Cardiomegaly", w_logit=1.0, w_ctr=10.0, bias=-0.5, threshold=0.5)
    z = math.log(0.2 / 0.8) + 10.0 * (0.6 - 0.5) - 0.5
    assert f.score(0.2, 0.6) == pytest.approx(1 / (1 + math.exp(-z)))
    assert f.score(0.2, 5.0) == f.score(0.2, 0.8)  # CTR outliers are clipped
    assert 0.0 < f.score(0.0, 0.5) < 1.0 and 0.0 < f.score(1.0, 0.5) < 1.0


def test_round_trip_and_bad_entries():
    f = CtrFusion("Cardiomegaly", 0.8, 12.0, -1.0, threshold=0.42, validation={"auroc": 0.9})
    assert CtrFusion.from_dict(f.to_dict()) == f
    with pytest.raises(ModelError, match="finite"):
        CtrFusion("Cardiomegaly", float("nan"), 1.0, 0.0, threshold=0.5)
    with pytest.raises(ModelError, match="not a probability"):
        CtrFusion("Cardiomegaly", 1.0, 1.0, 0.0, threshold=1.5)
    with pytest.raises(ModelError, match="bad fusion entry"):
        CtrFusion.from_dict({"finding": "Cardiomegaly", "w": 1})


def test_fusion_helps_when_the_ctr_carries_signal(rng):
    from sklearn.metrics import roc_auc_score

    n = 600
    y = (rng.random(n) < 0.25).astype(float)
    p = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 0.8 * y)))   # a weak classifier
    ctr = 0.45 + 0.08 * y + rng.normal(0, 0.04, n)            # an informative CTR
    ctr[:20] = np.nan                                         # not measured: the classifier's p is kept
    groups = np.arange(n) // 2
    oof = cross_validated_fusion(p, ctr, y, groups)
    assert np.array_equal(oof[:20], p[:20])
    assert roc_auc_score(y, oof) > roc_auc_score(y, p) + 0.05
    w_logit, w_ctr, _ = fit_fusion(p[20:], ctr[20:], y[20:])
    assert w_logit > 0 and w_ctr > 0


def test_usable_ctr_is_one_rule():
    from cxrkit.models.fusion import usable_ctr

    assert usable_ctr({"cardiothoracic_ratio": 0.55, "flags": ["ap_view_magnifies_heart"]}) == 0.55
    assert usable_ctr({"cardiothoracic_ratio": 0.55, "flags": ["implausible_anatomy"]}) is None
    assert usable_ctr({"cardiothoracic_ratio": None, "flags": []}) is None
    assert usable_ctr(None) is None


def test_pipeline_reports_the_fused_cardiomegaly_with_the_segmenter(fixtures_dir):
    """The shipped card's fusion replaces the classifier's Cardiomegaly when the CTR is measured, and only then."""
    from cxrkit.models.classifier import load_classifier
    from cxrkit.models.fusion import fusion_from_card
    from cxrkit.pipeline import Analyzer

    src = fixtures_dir / "classifier" / "00000002_000.png"
    clf = load_classifier()
    with_seg = Analyzer(clf, "default", localize=False).analyze(src)
    without = Analyzer(clf, None, localize=False).analyze(src)
    a = next(f for f in with_seg.findings if f.name == "Cardiomegaly")
    b = next(f for f in without.findings if f.name == "Cardiomegaly")
    ctr = next(m.value for m in with_seg.measurements if m.name == "cardiothoracic_ratio")
    fz = fusion_from_card(clf.card, "Cardiomegaly")
    assert b.basis == "classifier" and b.threshold == clf.thresholds["Cardiomegaly"]
    assert a.basis == "classifier+ctr" and a.threshold == fz.threshold
    assert a.probability == pytest.approx(fz.score(b.probability, ctr), abs=1e-6)
