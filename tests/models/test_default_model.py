"""The shipped default model: verifies, reports only validated findings (Pneumonia included), runs offline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cxrkit.io import read_image
from cxrkit.models.card import ModelCard
from cxrkit.models.classifier import default_model_path, load_classifier
from cxrkit.service.cli import main


@pytest.fixture(scope="module")
def clf():
    return load_classifier(threads=2)


def test_card_rule_and_size(clf):
    card = clf.card
    # adult findings validated within NIH (cxr-adult-v2): the core set must be there
    assert {"No Finding", "Cardiomegaly", "Effusion", "Pneumothorax"} <= set(clf.findings)
    assert "Pneumonia" not in clf.findings and "COVID-19" not in clf.findings  # adult Pneumonia failed the rule
    assert set(card.validation) == set(card.labels)  # every finding tried is listed with its AUROC
    for f in clf.findings:
        v = card.validation[f]
        nih = v.per_source["nih"]  # the adult rule: within-NIH AUROC decides, never the pooled one
        assert v.reported and nih["auroc"] >= 0.70 and nih["auroc_ci"][0] > 0.60, f
        assert 0 < clf.thresholds[f] < 1
    for f in set(card.labels) - set(clf.findings):
        assert not card.validation[f].reported
    folder = default_model_path().parent
    size = sum(p.stat().st_size for p in folder.glob(f"{card.name}.*"))
    assert size <= 25 * 2**20
    assert card.reproduce.startswith("cxrkit train --config configs/classifier_v2.yaml")
    assert set(card.fusion) == {"Cardiomegaly"} and card.fusion["Cardiomegaly"]["validation"]["adopted"]
    assert card.training_data and card.limits and "not a diagnosis" in card.intended_use.lower()
    assert ModelCard.load(default_model_path()).weights_sha256 == card.weights_sha256


def test_predict_real_radiograph_onnx_matches_torch(clf, fixtures_dir):
    img = read_image(fixtures_dir / "classifier" / "00000002_000.png")
    p = clf.predict([img.pixels])
    assert p.shape == (1, len(clf.findings)) and np.all((p >= 0) & (p <= 1))
    with torch.no_grad():
        ref = torch.sigmoid(clf.torch_model()(torch.from_numpy(clf.preprocess([img.pixels])))).numpy()
    # Both hold float16 weights, but the ONNX export folds BatchNorm into the convolutions before rounding
    # (cxr-adult-v2, fully fine-tuned: max 0.014, mean 0.0045 on this film). The card's numbers come from the ONNX.
    np.testing.assert_allclose(clf.predict_all([img.pixels]), ref, atol=2e-2)
    assert np.abs(clf.predict_all([img.pixels]) - ref).mean() < 6e-3


def test_classify_cli_default_model(tmp_path, fixtures_dir, clf):
    out = tmp_path / "out.csv"
    assert main(["classify", str(fixtures_dir / "classifier"), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["path", *clf.findings, "error"] and len(df) == 1
