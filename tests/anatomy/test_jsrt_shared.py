"""on the real JSRT/SCR folder (shared data): the documented split and held-out quality on a few test images."""

from __future__ import annotations

import pytest

from cxrkit.anatomy.evaluation import evaluate_jsrt
from cxrkit.anatomy.segment import load_segmenter
from cxrkit.data import load_dataset
from cxrkit.data.adapters.jsrt import anatomy_split

pytestmark = pytest.mark.shared_data


def _ids(root):
    return [str(c) for c in load_dataset("jsrt", root=root, require_masks=True).meta["image_id"]]


def test_split_is_the_documented_one(shared_data):
    ds = load_dataset("jsrt", root=shared_data / "jsrt-scr", require_masks=True)
    split = anatomy_split(list(ds.meta["image_id"]))
    assert {k: len(v) for k, v in split.items()} == {"train": 142, "val": 14, "test": 41}
    assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))
    assert ds.meta["anatomy_split"].value_counts().to_dict() == {"train": 142, "test": 41, "val": 14}
    assert len(load_dataset("jsrt", root=shared_data / "jsrt-scr")) == 197  # all images, masks or not


def test_heldout_images_segmented_well(shared_data):
    root = shared_data / "jsrt-scr"
    test_ids = anatomy_split(_ids(root))["test"][:3]
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
