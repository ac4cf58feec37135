"""AUROC + bootstrap CI, AUPRC, operating points, calibration, recalibration; degenerate inputs give NaN."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from cxrkit.errors import DataFormatError, UnknownNameError
from cxrkit.evaluate.calibration import apply_temperature, expected_calibration_error, fit_temperature
from cxrkit.evaluate.classification import auprc, auroc, bootstrap_auroc, classification_metrics
from cxrkit.evaluate.operating_points import choose_threshold, operating_points, recalibrate_thresholds


@pytest.fixture
def scored(rng):
    y = (rng.random(400) < 0.3).astype(float)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    return y, s


def test_auroc_auprc_match_sklearn_and_skip_nan(scored):
    y, s = scored
    y2 = y.copy()
    y2[:10] = np.nan
    assert auroc(y2, s) == pytest.approx(roc_auc_score(y[10:], s[10:]))
    assert auprc(y2, s) == pytest.approx(average_precision_score(y[10:], s[10:]))


def test_bootstrap_ci_is_seeded_and_matches_explicit_resampling(scored):
    y, s = scored
    a, lo, hi = bootstrap_auroc(y, s, n_boot=1000, seed=7)
    assert (a, lo, hi) == bootstrap_auroc(y, s, n_boot=1000, seed=7)
    assert lo < a < hi
    g = np.random.default_rng(0)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    reps = [roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))],
                          np.r_[s[g.choice(pos, len(pos))], s[g.choice(neg, len(neg))]]) for _ in range(300)]
    ref_lo, ref_hi = np.quantile(reps, [0.025, 0.975])
    assert lo == pytest.approx(ref_lo, abs=0.02) and hi == pytest.approx(ref_hi, abs=0.02)


def test_one_class_gives_nan_and_warning_not_a_crash():
    with pytest.warns(UserWarning, match="0 positives"):
        assert np.isnan(auroc(np.zeros(5), np.arange(5.0)))
    with pytest.warns(UserWarning):
        res = classification_metrics(np.array([[1.0, 0], [1, 1]]), np.array([[0.2, 0.1], [0.4, 0.9]]), ["A", "B"],
                                     n_boot=50)
    assert np.isnan(res[0].auroc) and np.isnan(res[0].auroc_lo) and res[1].auroc == 1.0
    with pytest.warns(UserWarning):
        op = choose_threshold(np.ones(4), np.arange(4.0), "youden")
    assert np.isnan(op.threshold)


def test_bad_label_values_and_shapes():
    with pytest.raises(DataFormatError, match="1, 0 or NaN"):
        auroc(np.array([1, -1, 0]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(DataFormatError, match="differ in length"):
        auroc(np.array([1, 0]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(DataFormatError, match="no rows"):
        classification_metrics(np.zeros((0, 1)), np.zeros((0, 1)), ["A"])


def test_operating_points(scored):
    y, s = scored
    yo = choose_threshold(y, s, "youden")
    grid = [(np.mean(s[y == 1] >= t) + np.mean(s[y == 0] < t) - 1) for t in np.unique(s)]
    assert yo.sensitivity + yo.specificity - 1 == pytest.approx(max(grid))
    se = choose_threshold(y, s, "sensitivity", target=0.9)
    assert se.sensitivity >= 0.9
    assert np.mean(s[y == 1] >= np.nextafter(se.threshold, 2)) < 0.9  # the highest such threshold
    pv = choose_threshold(y, s, "ppv", target=0.8)
    assert pv.ppv >= 0.8
    with pytest.warns(UserWarning, match="never reached"):
        assert np.isnan(choose_threshold(y, np.full_like(s, 0.5), "ppv", target=0.99).threshold)
    with pytest.raises(UnknownNameError):
        choose_threshold(y, s, "youdn")
    pts = operating_points(y[:, None], s[:, None], ["A"])
    assert set(pts["A"]) == {"youden", "sensitivity>=0.9", "ppv>=0.8"}


def test_recalibration_keeps_sensitivity_at_a_shifted_site(scored, rng):
    y, s = scored
    ref = choose_threshold(y, s, "sensitivity", target=0.85)
    shifted = np.clip(s * 0.6, 0, 1)  # a new site whose scores run lower
    assert choose_threshold(y, shifted, "youden").threshold < ref.threshold
    new = recalibrate_thresholds(y[:, None], shifted[:, None], ["A"], {"A": {"sensitivity": ref.sensitivity}})
    assert new["A"].sensitivity >= ref.sensitivity and new["A"].threshold < ref.threshold
    spec = recalibrate_thresholds(y[:, None], shifted[:, None], ["A"], {"A": {"specificity": 0.8}}, keep="specificity")
    assert spec["A"].specificity >= 0.8


def test_calibration_and_temperature(rng):
    z = rng.normal(0, 2, 20000)
    y = (rng.random(z.size) < 1 / (1 + np.exp(-z))).astype(float)
    calibrated = 1 / (1 + np.exp(-z))
    over = 1 / (1 + np.exp(-2 * z))  # overconfident by a factor 2 in logit space
    assert expected_calibration_error(y, calibrated) < 0.02
    assert expected_calibration_error(y, over) > 0.05
    t = fit_temperature(y, over)
    assert t == pytest.approx(2.0, rel=0.1)
    assert expected_calibration_error(y, apply_temperature(over, t)) < 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fit_temperature(np.ones(4), np.full(4, 0.7)) == 1.0


def test_evaluate_cli_with_anatomy_scores_the_fused_cardiomegaly(fixtures_dir, tmp_path, capsys):
    """``--with-anatomy`` scores Cardiomegaly as the pipeline does (classifier + CTR); the protocol says so."""
    import pandas as pd

    from cxrkit.service.cli import main

    root = fixtures_dir / "data" / "nih"
    for flag, out in (([], tmp_path / "plain"), (["--with-anatomy"], tmp_path / "fused")):
        assert main(["evaluate", "classification", "--dataset", "nih", "--root", str(root), "--findings",
                     "Cardiomegaly", "--n-boot", "50", "--out", str(out), *flag]) == 0
    plain = pd.read_csv(tmp_path / "plain" / "predictions.csv")["Cardiomegaly"]
    fused = pd.read_csv(tmp_path / "fused" / "predictions.csv")["Cardiomegaly"]
    assert len(plain) == 2 and not np.allclose(plain, fused)
    assert "classifier+CTR fusion" in (tmp_path / "fused" / "report.md").read_text()
