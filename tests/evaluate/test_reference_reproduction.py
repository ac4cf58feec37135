"""Reproduce the CheXNet reproduction's published test AUROCs from its predictions and the split's labels."""

from __future__ import annotations

import pandas as pd
import pytest

from cxrkit.evaluate.classification import auroc
from cxrkit.evaluate.tables import align
from cxrkit.labels import NIH_FINDINGS


@pytest.mark.shared_data
def test_reference_aurocs_are_reproduced(shared_data):
    root = shared_data / "nih-cxr14"
    ref = pd.read_csv(root / "reference_predictions" / "chexnet_repro_test_aucs.csv")
    a = align(root / "reference_predictions" / "chexnet_repro_test_preds.csv.gz",
              root / "labels" / "Data_Entry_2017_v2020.csv.gz", list(NIH_FINDINGS))
    split = pd.read_csv(root / "splits" / "chexnet_random" / "test_list.txt", sep=r"\s+", header=None)[0]
    assert len(a.ids) == len(split) == 22433 and set(a.ids) == set(split)
    for _, row in ref.iterrows():
        j = a.findings.index(row["label"])
        assert auroc(a.labels[:, j], a.probs[:, j]) == pytest.approx(row["auc"], abs=1e-9), row["label"]
