"""cxrkit recalibrate's core: per-site thresholds reproduce the card's sensitivity; the new card loads and verifies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cxrkit.audit.recalibrate import fit_site, write_site_card
from cxrkit.errors import DataFormatError
from cxrkit.models.card import ModelCard
from cxrkit.models.classifier import load_classifier


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return ModelCard.load(Path(__file__).resolve().parents[2] / "src/cxrkit/models/weights/cxr-default-v1.card.json")


def _site(rng, findings, n=400):
    y = rng.integers(0, 2, (n, len(findings))).astype(float)
    z = rng.normal(size=y.shape) + 1.5 * y + 1.0  # a site where every probability runs high
    return y, 1.0 / (1.0 + np.exp(-z))


def test_recalibrated_card_loads_and_reproduces_target_sensitivity(card, rng, tmp_path):
    findings = ["Pneumonia", "Effusion", "Nodule"]
    y, p = _site(rng, findings)
    y[:, 2] = 0.0  # Nodule: no positives at this site -> kept, with the reason
    fit = fit_site(y, p, findings, card)
    assert set(fit["findings"]) == {"Pneumonia", "Effusion"}
    assert "0 positives" in fit["skipped"]["Nodule"]
    new = write_site_card(card, fit, tmp_path, site="St. Elsewhere", data="synthetic site sample")
    assert new.name == f"{card.name}-st-elsewhere-r1"
    clf = load_classifier(tmp_path / f"{new.name}.card.json")  # verifies both weight checksums
    assert clf.card.weights_sha256 == card.weights_sha256
    for j, f in enumerate(findings[:2]):
        target = card.operating_points[f].sensitivity
        thr = clf.card.operating_points[f].threshold
        sens = float(np.mean(p[y[:, j] == 1, j] >= thr))
        assert sens >= target - 1e-9 and sens - target < 0.02
        assert thr != card.operating_points[f].threshold
    assert clf.card.operating_points["Nodule"] == card.operating_points["Nodule"]
    ev = json.loads((tmp_path / f"{new.name}.card.json").read_text())["training"]["site_recalibration"]
    assert ev["site"] == "St. Elsewhere" and ev["findings"]["Pneumonia"]["temperature"] > 0
    assert ev["findings"]["Pneumonia"]["ece_after_temperature"] <= ev["findings"]["Pneumonia"]["ece_before"] + 1e-9
    again = write_site_card(card, fit, tmp_path, site="St. Elsewhere", data="synthetic site sample")
    assert again.name.endswith("-r2")


def test_nothing_to_recalibrate_is_a_clear_error(card, tmp_path):
    y = np.zeros((30, 1))
    fit = fit_site(y, np.full((30, 1), 0.3), ["Pneumonia"], card)
    with pytest.raises(DataFormatError, match="nothing to recalibrate"):
        write_site_card(card, fit, tmp_path, site="x", data="d")
