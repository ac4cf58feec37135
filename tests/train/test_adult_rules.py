"""Classifier v2 recipe pieces: fixed split files, init from a package, the adult reporting rule, normal-budget
operating points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrkit.errors import DataFormatError, ModelError
from cxrkit.train.assemble import assemble, read_split_file
from cxrkit.train.reporting import normal_budget_thresholds, select_findings


def _val(nih=None, kermany=None):
    per = {}
    if nih is not None:
        per["nih"] = {"n": 300, "positives": 50, "auroc": nih[0], "auroc_ci": [nih[1], nih[2]]}
    if kermany is not None:
        per["kermany"] = {"n": 600, "positives": 400, "auroc": kermany, "auroc_ci": [kermany - 0.01, kermany + 0.01]}
    return {"n": 900, "positives": 450, "auroc": 0.95, "auroc_ci": (0.94, 0.96), "per_source": per}


def test_adult_rule_uses_nih_only():
    sel = select_findings({
        "Effusion": _val(nih=(0.86, 0.82, 0.90)),
        "Pneumonia": _val(nih=(0.60, 0.55, 0.66), kermany=0.99),   # pediatric cannot carry it
        "No Finding": _val(nih=(0.71, 0.59, 0.80), kermany=0.99),  # CI low must be > 0.60
        "COVID-19": _val(kermany=None),
        "Mass": _val(nih=(0.70, 0.61, 0.78)),
    })
    assert sel["Effusion"][0] and "within-NIH AUROC 0.860" in sel["Effusion"][1]
    assert not sel["Pneumonia"][0] and not sel["No Finding"][0] and not sel["COVID-19"][0]
    assert sel["Mass"][0]


def test_normal_budget_limits_calls_on_normal_films(rng):
    n = 2000
    findings = ["No Finding", "A", "B", "C"]
    normal = rng.random(n) < 0.3
    y = np.zeros((n, 4), np.float32)
    y[:, 0] = normal
    for j in (1, 2, 3):
        y[~normal, j] = rng.random((~normal).sum()) < 0.4
    probs = np.clip(rng.normal(0.3, 0.15, (n, 4)) + 0.3 * y, 0, 1)
    th = normal_budget_thresholds(y, probs, findings, ["No Finding", "A", "B", "C"], budget=0.3)
    calls = sum((probs[normal, j] >= th[f]) for j, f in enumerate(findings) if f != "No Finding")
    assert calls.mean() <= 0.3 + 1e-9
    assert set(th) == set(findings)


def test_split_file_is_validated(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("image_id,split\na.png,train\nb.png,test\n")
    with pytest.raises(DataFormatError, match="'train' or 'val'"):
        read_split_file(p)
    p.write_text("image_id,split\na.png,train\na.png,val\n")
    with pytest.raises(DataFormatError, match="twice"):
        read_split_file(p)
    p.write_text("image,split\na.png,train\n")
    with pytest.raises(DataFormatError, match="image_id"):
        read_split_file(p)
    p.write_bytes(b'image_id,split\n"a.png,\x00\xff\n')  # corrupt: a clear error, not a parser traceback
    with pytest.raises(DataFormatError, match="cannot parse"):
        read_split_file(p)


def test_assemble_follows_a_fixed_split(fixtures_dir, tmp_path):
    root = fixtures_dir / "data" / "nih"
    p = tmp_path / "split.csv"
    pd.DataFrame({"image_id": ["00000072_000.png", "00000732_005.png"], "split": ["val", "train"]}).to_csv(p, index=False)
    t = assemble({"nih": str(root)}, ["Atelectasis", "Cardiomegaly"], split_files={"nih": str(p)})
    assert dict(zip(t.meta["image_id"], t.meta["split"])) == {"00000072_000.png": "val", "00000732_005.png": "train"}
    # an image the file does not list is left out, so validation cannot drift when data is added
    pd.DataFrame({"image_id": ["00000072_000.png"], "split": ["val"]}).to_csv(p, index=False)
    t = assemble({"nih": str(root)}, ["Atelectasis"], split_files={"nih": str(p)})
    assert t.meta["image_id"].tolist() == ["00000072_000.png"]


def test_init_from_shipped_package_matches_head_rows_by_name():
    torch = pytest.importorskip("torch")
    from cxrkit.models import create_model
    from cxrkit.models.classifier import default_model_path, load_classifier
    from cxrkit.train.init import init_from_package

    src = load_classifier(default_model_path().parent / "cxr-default-v1.card.json")  # v2's starting point
    ref = src.card.path
    findings = ["Effusion", "Edema"]
    m = create_model(src.card.architecture, None, num_classes=2, in_chans=1)
    kept = init_from_package(m, findings, str(ref))
    assert "Effusion" in kept and "Edema" not in kept
    sd = m.state_dict()
    assert torch.count_nonzero(sd["classifier.weight"][1]) == 0  # a new finding starts from zero
    with pytest.raises(ModelError, match="no model package"):
        init_from_package(m, findings, "no-such-model")
