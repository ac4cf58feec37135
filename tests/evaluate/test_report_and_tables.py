"""Markdown/HTML report with protocol and plots; prediction/label tables; the CLI in tables mode."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cxrkit.errors import DataFormatError, UnknownNameError
from cxrkit.evaluate.report import Protocol, evaluate_classification, write_report
from cxrkit.evaluate.tables import align
from cxrkit.service.cli import main


def _tables(tmp_path, rng, n=120):
    ids = [f"img{i:03d}.png" for i in range(n)]
    y = (rng.random((n, 2)) < 0.3).astype(float)
    p = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    pd.DataFrame({"path": [f"/data/{i}" for i in ids], "Pneumonia": p[:, 0], "Effusion": p[:, 1]}).to_csv(
        tmp_path / "pred.csv", index=False)
    lab = pd.DataFrame({"image_id": ids, "Pneumonia": y[:, 0], "Pleural Effusion": y[:, 1]})
    lab.loc[3, "Pneumonia"] = np.nan
    lab.to_csv(tmp_path / "labels.csv", index=False)
    return y, p


def test_align_by_file_name_with_synonyms(tmp_path, rng):
    y, p = _tables(tmp_path, rng)
    a = align(tmp_path / "pred.csv", tmp_path / "labels.csv")
    assert a.findings == ["Pneumonia", "Effusion"] and len(a.ids) == 120
    assert np.isnan(a.labels[3, 0]) and a.probs[5, 1] == pytest.approx(p[5, 1], abs=1e-6)


def test_unknown_finding_in_labels_is_an_error(tmp_path, rng):
    _tables(tmp_path, rng)
    pd.DataFrame({"image_id": ["a.png"], "Dragon pox": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(UnknownNameError, match="Dragon pox"):
        align(tmp_path / "pred.csv", tmp_path / "bad.csv")
    pd.DataFrame({"image_id": ["a.png"], "Pneumonia": [-1]}).to_csv(tmp_path / "unc.csv", index=False)
    with pytest.raises(DataFormatError, match="1, 0 or empty"):
        align(tmp_path / "pred.csv", tmp_path / "unc.csv")
    with pytest.raises(DataFormatError, match="not found"):
        align(tmp_path / "missing.csv", tmp_path / "unc.csv")


def test_report_files_hold_protocol_and_plots(tmp_path, rng):
    y, p = _tables(tmp_path, rng)
    y[:, 1] = 0  # a finding with no positives: NaN + warning, not a crash
    with pytest.warns(UserWarning):
        rep = evaluate_classification(y, p, ["Pneumonia", "Effusion"], Protocol(data="synthetic", split="all", n_boot=200))
    files = write_report(rep, y, p, tmp_path / "rep")
    md = files["report.md"].read_text()
    assert "Data: synthetic" in md and "| Pneumonia | 120 |" in md and "n/a" in md
    assert files["roc.png"].read_bytes()[:4] == b"\x89PNG"
    html = files["report.html"].read_text()
    assert "<table>" in html and "data:image/png;base64" in html
    d = json.loads(files["metrics.json"].read_text())
    assert d["metrics"][1]["auroc"] is None and d["warnings"]


def test_cli_tables_mode(tmp_path, rng, capsys):
    _tables(tmp_path, rng)
    rc = main(["evaluate", "classification", "--predictions", str(tmp_path / "pred.csv"), "--labels",
               str(tmp_path / "labels.csv"), "--n-boot", "200", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0 and "Protocol:" in out and "Pneumonia" in out and (tmp_path / "out" / "report.html").is_file()
    rc = main(["evaluate", "classification", "--predictions", str(tmp_path / "pred.csv")])
    assert rc == 1


def test_non_numeric_probabilities_are_an_error_not_nan(tmp_path, rng):
    _tables(tmp_path, rng)
    df = pd.read_csv(tmp_path / "pred.csv")
    df["Pneumonia"] = df["Pneumonia"].astype(object)
    df.loc[5, "Pneumonia"] = "high"
    df.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(DataFormatError, match="non-numeric.*'high'"):
        align(tmp_path / "text.csv", tmp_path / "labels.csv")
    df.loc[5, "Pneumonia"] = np.nan  # an empty cell stays a missing value
    df.to_csv(tmp_path / "empty_cell.csv", index=False)
    assert align(tmp_path / "empty_cell.csv", tmp_path / "labels.csv").probs.shape == (120, 2)


def test_unknown_prediction_columns_are_named_with_a_suggestion(tmp_path, rng):
    _tables(tmp_path, rng)
    pd.DataFrame({"path": ["a.png"], "Pnuemonia": [0.3], "Banana": [0.1]}).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(DataFormatError, match="Pnuemonia.*did you mean 'Pneumonia'"):
        align(tmp_path / "p.csv", tmp_path / "labels.csv")
    pd.DataFrame({"path": ["a.png"], "Pneumonia": [0.3], "prob_Pneumonia": [0.1]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataFormatError, match="both name the finding"):
        align(tmp_path / "d.csv", tmp_path / "labels.csv")


def test_one_class_only_report_is_clean(tmp_path, rng, capsys):
    import warnings

    y, p = _tables(tmp_path, rng)
    y[:] = 0
    with pytest.warns(UserWarning):
        rep = evaluate_classification(y, p, ["Pneumonia", "Effusion"], Protocol(data="s", split="all", n_boot=50))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no matplotlib "no artists" warning for empty plots
        files = write_report(rep, y, p, tmp_path / "rep")
    assert files["roc.png"].read_bytes()[:4] == b"\x89PNG"
    lab = pd.read_csv(tmp_path / "labels.csv")
    lab[["Pneumonia", "Pleural Effusion"]] = 0
    lab.to_csv(tmp_path / "zeros.csv", index=False)
    rc = main(["evaluate", "classification", "--predictions", str(tmp_path / "pred.csv"), "--labels",
               str(tmp_path / "zeros.csv"), "--n-boot", "50"])
    out = capsys.readouterr().out
    assert rc == 0 and "mean AUROC n/a" in out
