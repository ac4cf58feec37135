"""Localization verdicts: the paired test, the rule, the verdict file the pipeline reads."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cxrkit.localize.evaluate import LocalizationEvaluation
from cxrkit.localize.validation import (
    MAX_EXTRA_FALSE_BOXES,
    VALIDATED_FILE,
    load_validated,
    localization_validated,
    mcnemar_one_sided,
    validated_box_method,
    verdicts,
    write_validated,
)
from cxrkit.types import Box


def test_mcnemar_exact():
    assert mcnemar_one_sided(0, 0) == 1.0
    assert mcnemar_one_sided(5, 0) == pytest.approx(1 / 32)
    assert mcnemar_one_sided(0, 5) == 1.0
    assert mcnemar_one_sided(6, 1) == pytest.approx(8 / 128)


def _ev(n_good: int, n: int, tiny: bool = False) -> LocalizationEvaluation:
    """Cases of one finding: the method hits ``n_good`` of ``n`` truth boxes, the control never does."""
    truth = [Box(10, 10, 50, 50)]
    good = [Box(12, 12, 14, 14)] if tiny else [Box(10, 10, 48, 48)]
    miss = [Box(60, 60, 90, 90)]
    rows = [{"finding": "Effusion", "n_truth": 1, "truth": truth, "anatomy": good if i < n_good else miss,
             "control:anatomy": miss} for i in range(n)]
    return LocalizationEvaluation(pd.DataFrame(rows), pd.DataFrame(), pd.DataFrame(),
                                  {"evaluable_findings": ["Effusion"]})


def test_verdict_rule():
    v = verdicts(_ev(6, 10), reported=("Effusion",))["Effusion"]
    assert v["iobb@0.5"]["discordant"] == [6, 0] and v["iobb@0.5"]["p_one_sided"] < 0.05
    assert v["beats_control"] and v["reported_by_card"] and v["validated"]
    assert not verdicts(_ev(6, 10), reported=())["Effusion"]["validated"]  # head the card does not report
    assert not verdicts(_ev(3, 10), reported=("Effusion",))["Effusion"]["validated"]  # p = 1/8
    # tiny boxes win IoBB but must not lose IoU against the control (here the control scores 0 too: passes)
    assert verdicts(_ev(6, 10, tiny=True), reported=("Effusion",))["Effusion"]["iou@0.25"]["accuracy"] == 0.0


def test_verdict_file_round_trip(tmp_path):
    path = tmp_path / "validated.json"
    assert load_validated(path) == {} and not localization_validated("m", "Effusion", path=path)
    v = verdicts(_ev(6, 10), reported=("Effusion",))
    write_validated("m", "anatomy", v, {"n_cases": 10}, path=path)
    write_validated("other", "anatomy", {}, {}, path=path)
    data = json.loads(path.read_text())
    assert set(data) == {"m", "other"} and data["m"]["findings"]["Effusion"]["validated"]
    assert localization_validated("m", "pleural effusion", path=path)
    assert not localization_validated("m", "Nodule", path=path) and not localization_validated(None, "Effusion")
    assert validated_box_method("m", path=path) == "anatomy" and validated_box_method("zzz", path=path) is None


def test_shipped_verdicts_are_consistent():
    data = load_validated(VALIDATED_FILE)
    for model, entry in data.items():
        assert entry["box_method"] == "anatomy" and "split" in entry["evaluation"]
        for f, v in entry["findings"].items():
            a = v["iobb@0.5"]
            fb = v["false_boxes_per_case@iobb0.5"]
            expected = (a["accuracy"] > a["control_accuracy"] and a["p_one_sided"] < 0.05
                        and v["iou@0.25"]["accuracy"] >= v["iou@0.25"]["control_accuracy"]
                        and fb["method"] <= fb["control"] + MAX_EXTRA_FALSE_BOXES and v["reported_by_card"])
            assert v["validated"] == expected, (model, f)


def test_two_boxes_per_finding_are_not_validated_by_accuracy_alone():
    """A box on each side of the chest wins on accuracy but shows a wrong-side region on most films: the false-box
    guard refuses it (Effusion / Pneumothorax with cxr-adult-v2's anatomy boxes)."""
    entry = load_validated(VALIDATED_FILE)["cxr-adult-v2"]["findings"]["Effusion"]
    assert entry["iobb@0.5"]["p_one_sided"] < 0.05  # it does beat the control on accuracy...
    fb = entry["false_boxes_per_case@iobb0.5"]
    assert fb["method"] > fb["control"] + MAX_EXTRA_FALSE_BOXES and not entry["validated"]  # ...but not on false boxes
