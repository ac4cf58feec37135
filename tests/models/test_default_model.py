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
    assert "Pneumonia" in clf.findings
    assert set(card.validation) == set(card.labels)  # every finding tried is listed with its AUROC
    for f in clf.findings:
        v = card.validation[f]
        assert v.reported and v.auroc >= 0.70 and v.auroc_ci[0] > 0.60, f
        assert 0 < clf.thresholds[f] < 1
    for f in set(card.labels) - set(clf.findings):
        assert not card.validation[f].reported
    folder = default_model_path().parent
    size = sum(p.stat().st_size for p in folder.glob(f"{card.name}.*"))
    assert size <= 25 * 2**20
    assert card.reproduce.startswith("cxrkit train --config configs/default_classifier.yaml")
    assert card.training_data and card.limits and "not a diagnosis" in card.intended_use.lower()
    assert ModelCard.load(default_model_path()).weights_sha256 == card.weights_sha256


def test_predict_real_radiograph_onnx_matches_torch(clf, fixtures_dir):
    img = read_image(fixtures_dir / "classifier" / "00000002_000.png")
    p = clf.predict([img.pixels])
    assert p.shape == (1, len(clf.findings)) and np.all((p >= 0) & (p <= 1))
    with torch.no_grad():
        ref = torch.sigmoid(clf.torch_model()(torch.from_numpy(clf.preprocess([img.pixels])))).numpy()
    # Both hold float16 weights, but the ONNX export folds BatchNorm into the convolutions before rounding.
    np.testing.assert_allclose(clf.predict_all([img.pixels]), ref, atol=1e-2)
    assert np.abs(clf.predict_all([img.pixels]) - ref).mean() < 2e-3


def test_classify_cli_default_model(tmp_path, fixtures_dir, clf):
    out = tmp_path / "out.csv"
    assert main(["classify", str(fixtures_dir / "classifier"), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["path", *clf.findings, "error"] and len(df) == 1
