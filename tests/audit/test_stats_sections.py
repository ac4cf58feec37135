"""Audit sections on seeded synthetic scores: planted shortcuts and gaps are flagged, null ones are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrkit.audit.crosssite import cross_site
from cxrkit.audit.probes import occlusion_probe, source_probe
from cxrkit.audit.subgroups import subgroup_audit


def _scores(y: np.ndarray, auc_shift: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities whose AUROC grows with ``auc_shift`` (0 = chance)."""
    z = rng.normal(size=len(y)) + auc_shift * y
    return 1.0 / (1.0 + np.exp(-z))


def test_planted_site_shortcut_is_flagged(rng):
    # site A: all positives, high scores; site B: all negatives, low scores; site C has both classes but the
    # model cannot separate them there -> pooled AUROC high, within-source at chance.
    n = 150
    y = np.concatenate([np.ones(n), np.zeros(n), rng.integers(0, 2, n)]).astype(float)
    s = np.concatenate([rng.uniform(0.7, 1.0, n), rng.uniform(0.0, 0.3, n), rng.uniform(0.3, 0.7, n)])
    src = np.array(["A"] * n + ["B"] * n + ["C"] * n)
    res = cross_site(y[:, None], s[:, None], ["COVID-19"], src, n_boot=300)
    e = res[0]
    assert e["verdict"] == "shortcut"
    assert "SHORTCUT" in e["message"]
    assert e["pooled"]["auroc"] > 0.85 and abs(e["per_source"]["C"]["auroc"] - 0.5) < 0.12
    assert e["per_source"]["A"]["auroc"] is None and "not estimable" in e["per_source"]["A"]["note"]


def test_real_discrimination_is_not_flagged(rng):
    n = 200
    y = rng.integers(0, 2, 2 * n).astype(float)
    s = _scores(y, 2.0, rng)
    src = np.array(["A"] * n + ["B"] * n)
    e = cross_site(y[:, None], s[:, None], ["Effusion"], src, n_boot=300)[0]
    assert e["verdict"] == "consistent"


def test_untestable_when_no_source_has_both_classes(rng):
    y = np.concatenate([np.ones(50), np.zeros(50)])
    s = np.concatenate([rng.uniform(0.6, 1, 50), rng.uniform(0, 0.4, 50)])
    src = np.array(["A"] * 50 + ["B"] * 50)
    e = cross_site(y[:, None], s[:, None], ["COVID-19"], src, n_boot=200)[0]
    assert e["verdict"] == "untestable"


def _subgroup_data(rng, shift_f: float, shift_m: float, n: int = 300):
    y = rng.integers(0, 2, 2 * n).astype(float)
    s = np.concatenate([_scores(y[:n], shift_f, rng), _scores(y[n:], shift_m, rng)])
    meta = pd.DataFrame({"source": "site", "sex": ["F"] * n + ["M"] * n, "age_years": np.nan, "view": None})
    return y[:, None], s[:, None], meta


def test_planted_subgroup_gap_is_flagged(rng):
    y, s, meta = _subgroup_data(rng, 3.0, 0.0)
    res = subgroup_audit(y, s, ["Effusion"], meta, thresholds={"Effusion": 0.5}, n_boot=500)
    gap = next(g for g in res["gaps"] if g["metric"] == "auroc" and g["column"] == "sex")
    assert gap["significant"] and gap["diff"] > 0.3 and gap["lo"] > 0
    assert {r["level"] for r in res["rows"]} == {"F", "M"}
    assert all(r["sensitivity"]["lo"] <= r["sensitivity"]["value"] <= r["sensitivity"]["hi"] for r in res["rows"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_null_subgroup_gap_is_not_flagged(seed):
    rng = np.random.default_rng(100 + seed)
    y, s, meta = _subgroup_data(rng, 1.5, 1.5)
    res = subgroup_audit(y, s, ["Effusion"], meta, thresholds={"Effusion": 0.5}, n_boot=500, seed=seed)
    auc_gap = next(g for g in res["gaps"] if g["metric"] == "auroc")
    assert not auc_gap["significant"]
    assert auc_gap["lo"] < 0 < auc_gap["hi"]


def test_small_subgroup_is_named_and_skipped(rng):
    y = rng.integers(0, 2, 60).astype(float)[:, None]
    s = rng.uniform(size=(60, 1))
    meta = pd.DataFrame({"source": "site", "sex": ["F"] * 55 + ["M"] * 5, "age_years": np.nan, "view": None,
                         "scanner": ["x"] * 30 + ["y"] * 30})
    res = subgroup_audit(y, s, ["Nodule"], meta, extra=["scanner"], n_boot=100)
    assert any("sex=M has 5 images" in n for n in res["notes"])
    assert {r["column"] for r in res["rows"]} == {"scanner"}


def test_occlusion_probe_verdicts(rng):
    n = 300
    y = rng.integers(0, 2, n).astype(float)[:, None]
    full = _scores(y[:, 0], 3.0, rng)[:, None]
    scores = {"full": full, "lungs_only": full + rng.normal(0, 0.01, full.shape),
              "lungs_out": full + rng.normal(0, 0.02, full.shape),   # keeps everything: reads outside the lungs
              "border": _scores(y[:, 0], 0.5, rng)[:, None]}         # loses AUROC without the border
    e = occlusion_probe(y, scores, ["Pneumonia"], np.array(["A"] * n), n_boot=200)[0]
    text = " ".join(e["verdicts"])
    assert "outside the lungs (shortcut risk)" in text
    assert "uses the image border" in text


def test_source_probe_detects_a_collection_signature(rng):
    n = 120
    emb = np.concatenate([rng.normal(0, 1, (n, 16)), rng.normal(0, 1, (n, 16)) + 2.0])
    src = np.array(["A"] * n + ["B"] * n)
    res = source_probe(emb, src, np.arange(2 * n), seed=0)
    assert res["balanced_accuracy"] > 0.9 and "almost perfectly" in res["verdict"]
    null = source_probe(rng.normal(0, 1, (2 * n, 16)), src, np.arange(2 * n), seed=0)
    assert null["balanced_accuracy"] < 0.7


def test_cross_site_drop_is_flagged_as_site_dependent(rng):
    n = 300
    y = rng.integers(0, 2, 2 * n).astype(float)
    s = np.concatenate([_scores(y[:n], 4.0, rng), _scores(y[n:], 0.2, rng)])  # works at A, not at B
    src = np.array(["A"] * n + ["B"] * n)
    e = cross_site(y[:, None], s[:, None], ["Pneumonia"], src, n_boot=300)[0]
    assert e["verdict"] == "site_dependent" and "SITE-DEPENDENT" in e["message"]
