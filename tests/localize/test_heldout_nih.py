"""The shipped priors reproduce the documented held-out localization numbers (docs/localization.md,
src/cxrkit/localize/validated.json) on the NIH ``val`` box images of ``configs/splits/nih_v2.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cxrkit.localize.validation import VALIDATED_FILE, accuracy_summary, load_validated, verdicts

ROOT = Path(__file__).resolve().parents[2]
SPLIT = ROOT / "configs" / "splits" / "nih_v2.csv"
WEIGHTS = ROOT / "src" / "cxrkit" / "models" / "weights"


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(load_validated(VALIDATED_FILE)))
def test_shipped_priors_reproduce_heldout_numbers(shared_data, model):
    if not SPLIT.is_file():
        pytest.skip(f"split file {SPLIT} not found")
    card = WEIGHTS / f"{model}.card.json"
    if not card.is_file():
        pytest.skip(f"classifier {model} not shipped in this checkout")
    documented = load_validated(VALIDATED_FILE)[model]
    from cxrkit.data import load_dataset
    from cxrkit.localize.evaluate import evaluate_localization
    from cxrkit.models.classifier import load_classifier

    clf = load_classifier(card)
    assert clf.card.name == model
    ds = load_dataset("nih", root=shared_data / "nih-cxr14", images="adult_512")
    split = pd.read_csv(SPLIT, dtype=str)
    val = set(split.loc[split["split"] == "val", "image_id"])
    ev = evaluate_localization(clf, ds, box_methods=("anatomy",), include=val, all_outputs=True, n_examples=0)
    assert ev.protocol["n_cases"] == documented["evaluation"]["n_cases"]
    got = accuracy_summary(ev, "anatomy")
    for k, v in documented["evaluation"]["class_mean_accuracy"].items():
        assert got["class_mean_accuracy"][k] == pytest.approx(v, abs=0.02), k
    for f, per in documented["evaluation"]["accuracy"].items():
        assert got["accuracy"][f]["iobb@0.5"] == pytest.approx(per["iobb@0.5"], abs=0.04), f
    v = verdicts(ev, reported=tuple(clf.findings))
    assert {f for f, r in v.items() if r["validated"]} == {
        f for f, r in documented["findings"].items() if r["validated"]}
