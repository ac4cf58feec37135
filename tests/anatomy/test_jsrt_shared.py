"""on the real JSRT/SCR folder (shared data): the documented split and held-out quality on a few test images."""

from __future__ import annotations

import pytest

from cxrkit.anatomy.evaluation import evaluate_jsrt
from cxrkit.anatomy.jsrt import list_ids, split_ids
from cxrkit.anatomy.segment import load_segmenter

pytestmark = pytest.mark.shared_data


def test_split_is_the_documented_one(shared_data):
    split = split_ids(list_ids(shared_data / "jsrt-scr"))
    assert {k: len(v) for k, v in split.items()} == {"train": 142, "val": 14, "test": 41}
    assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))


def test_heldout_images_segmented_well(shared_data):
    root = shared_data / "jsrt-scr"
    test_ids = split_ids(list_ids(root))["test"][:3]
    res = evaluate_jsrt(root, load_segmenter(threads=1), ids=test_ids)
    s = res["summary"]
    assert s["n_images"] == 3
    assert s["groups"]["lungs"]["dice"]["mean"] > 0.95
    assert s["structures"]["heart"]["dice"]["mean"] > 0.88
    assert s["ctr_abs_error"]["mean"] < 0.04


@pytest.mark.slow
def test_evaluate_cli_nih_and_covid_small(shared_data, tmp_path, capsys):
    import json

    from cxrkit.service.cli import main

    rc = main(["evaluate", "segmentation", "--cardiomegaly-nih", str(shared_data / "nih-cxr14"), "--covid-lungs",
               str(shared_data / "covid-ieee8023"), "--limit", "4", "--no-classifier", "--threads", "1",
               "--out", str(tmp_path)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "AUROC" in text and "V7 Labs" in text
    nih = json.loads((tmp_path / "cardiomegaly_nih.json").read_text())
    assert nih["protocol"]["n_images"] == 4 and all(r["ctr"] is None or 0 < r["ctr"] < 1 for r in nih["rows"])
    covid = json.loads((tmp_path / "covid_lungs.json").read_text())
    assert covid["groups"]["all frontal"]["n"] == 4
    assert 0.3 < covid["groups"]["all frontal"]["dice"]["mean"] <= 1.0
