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
