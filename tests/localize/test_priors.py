"""Localization priors: fitting, JSON round trip, the shipped files."""

from __future__ import annotations

import json

import pytest

from cxrkit.errors import DataFormatError, UnknownNameError
from cxrkit.localize.anatomy import STRATEGIES
from cxrkit.localize.evaluate import BOX_FINDINGS
from cxrkit.localize.priors import (
    FindingPrior,
    LocalizationPriors,
    fit_finding_prior,
    load_priors,
    prior_names,
)


def test_fit_in_lung_field_coordinates():
    field = (100.0, 50.0, 300.0, 250.0)  # r0, c0, r1, c1: 200 x 200
    boxes = [((60.0, 240.0, 100.0, 280.0), field), ((200.0, 240.0, 240.0, 280.0), field)]  # mirror pair, low
    p = fit_finding_prior("pleural effusion", boxes, strategy="both_sides")
    assert p.finding == "Effusion" and p.n_boxes == 2
    assert p.width == pytest.approx(0.2) and p.height == pytest.approx(0.2)
    assert p.cy == pytest.approx(0.8) and p.dx == pytest.approx(0.35) and p.sx == pytest.approx(0.0)
    h = fit_finding_prior("Cardiomegaly", boxes, heart_boxes=[((0, 0, 110, 130), (0, 0, 100, 100))])
    assert h.heart_scale == (1.1, 1.3)
    with pytest.raises(DataFormatError):
        fit_finding_prior("Effusion", [])


def test_json_round_trip(tmp_path):
    p = FindingPrior("Nodule", "cam_prior", 0.1, 0.1, 0.5, 0.3, 0.1, 0.2, n_boxes=3)
    pri = LocalizationPriors("toy", {"Nodule": p}, {"data": "synthetic"})
    path = pri.save(tmp_path / "toy.json")
    back = load_priors(path)
    assert back == pri and back.get("nodule") == p
    bad = json.loads(path.read_text())
    bad["findings"]["Nodule"]["strategy"] = "guess"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(UnknownNameError):
        load_priors(tmp_path / "bad.json")


def test_unknown_model_lists_the_shipped_ones():
    with pytest.raises(UnknownNameError, match="cxr-default-v1"):
        load_priors("no-such-model")


@pytest.mark.parametrize("model", prior_names())
def test_shipped_priors_cover_the_8_findings_and_record_their_fit(model):
    pri = load_priors(model)
    assert pri.model == model and set(pri.findings) == set(BOX_FINDINGS)
    for p in pri.findings.values():
        assert p.strategy in STRATEGIES and 0 < p.width <= 1 and 0 < p.height <= 1 and p.n_boxes > 0
    assert "train" in pri.fitted["data"] and "cross-validation" in pri.fitted["selection"]
    assert pri.findings["Cardiomegaly"].strategy in ("heart", "both_sides", "cam_prior", "side_prior")
