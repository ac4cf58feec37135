"""``cxrkit train`` end to end on a few real Kermany images, resume, then ``cxrkit export-onnx`` and ``classify``."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from cxrkit.models.card import ModelCard
from cxrkit.service.cli import main


@pytest.mark.slow
@pytest.mark.shared_data
def test_train_resume_export_classify(tmp_path, shared_data):
    cfg = {
        "data": {"roots": {"kermany": str(shared_data / "kermany-pneumonia")}, "findings": ["Pneumonia"],
                 "max_train_per_source": {"kermany": 32}, "max_val_per_source": {"kermany": 24}, "aug_views": 1},
        "model": {"size": 64, "frozen_blocks": 11, "feature_cache": True},
        "optim": {"epochs": 2, "batch_size": 16, "patience": 5},
        "run": {"out_dir": str(tmp_path / "run"), "threads": 1, "progress": False},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(path)]) == 0
    run = tmp_path / "run"
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["val_auroc"]["Pneumonia"] is not None
    assert (run / "config.yaml").is_file() and (run / "best.pt").is_file()
    data = pd.read_csv(run / "data.csv")
    assert set(data["split"]) == {"train", "val"}
    assert not set(data.loc[data.split == "train", "patient_id"]) & set(data.loc[data.split == "val", "patient_id"])
    # resume of a finished run is a no-op that keeps the history
    assert main(["train", "--config", str(path), "--resume"]) == 0
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2

    assert main(["export-onnx", "--run", str(run), "--out", str(tmp_path / "pkg"), "--name", "tiny", "--n-boot", "50"]) == 0
    card = ModelCard.load(tmp_path / "pkg" / "tiny.card.json")
    assert card.labels == ["Pneumonia"] and card.validation["Pneumonia"].n == int((data.split == "val").sum())
    assert set(card.reported_findings) <= {"Pneumonia"}
    if card.reported_findings:
        out = tmp_path / "o.csv"
        first = data.loc[data.split == "val", "path"].iloc[0]
        assert main(["classify", first, "--out", str(out), "--model", str(tmp_path / "pkg")]) == 0
        assert pd.read_csv(out)["Pneumonia"].between(0, 1).all()
