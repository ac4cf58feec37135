"""``cxrkit label-reports`` and ``cxrkit data from-reports`` on real Open-i fixtures (in-process)."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cxrkit.errors import DataFormatError
from cxrkit.labels import FINDINGS
from cxrkit.service.commands import data_from_reports, label_reports


def _run(argv: list[str]) -> int:
    # only these commands: the full CLI imports every command module (slow)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    label_reports.register(sub)
    data_from_reports.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def reports(tmp_path: Path, fixtures_dir: Path) -> Path:
    d = tmp_path / "reports"
    shutil.copytree(fixtures_dir / "text" / "openi", d)
    (d / "broken.xml").write_text("<eCitation><oops", encoding="utf-8")
    return d


@pytest.mark.parametrize("workers", ["1", "2"])
def test_label_reports_csv_and_explain(reports: Path, tmp_path: Path, workers: str, capsys) -> None:
    out, ev = tmp_path / "out" / "labels.csv", tmp_path / "ev.jsonl"
    assert _run(["label-reports", str(reports), "--out", str(out), "--explain", str(ev), "--workers", workers,
                 "--chunk-size", "3", "-q"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["report_id", *FINDINGS]
    by_id = {r["report_id"]: r for r in rows}
    assert len(rows) == 14 and "broken" not in by_id  # the bad record is skipped
    assert "skipped broken" in capsys.readouterr().err
    assert by_id["1"]["No Finding"] == "1" and by_id["1"]["Effusion"] == "0"
    assert by_id["1021"]["Pneumothorax"] == "1" and by_id["1303"]["Mass"] == "1"
    assert by_id["1117"]["Pneumonia"] == "-1" and by_id["1142"]["No Finding"] == ""
    lines = [json.loads(x) for x in ev.read_text().splitlines()]
    assert {x["report_id"] for x in lines} == set(by_id)
    ev1021 = next(x for x in lines if x["report_id"] == "1021")
    assert any(e["finding"] == "Pneumothorax" and e["value"] == 1 and e["sentence"] for e in ev1021["evidence"])
    assert not list(out.parent.glob("*.part"))


def test_label_reports_table_input_and_column_error(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text('acc,txt\nA1,"No pneumothorax. Mild cardiomegaly."\nA2,"  "\n', encoding="utf-8")
    out = tmp_path / "o.csv"
    assert _run(["label-reports", str(src), "--out", str(out), "--id-col", "acc", "--text-col", "txt",
                 "--workers", "1", "-q"]) == 0
    rows = {r["report_id"]: r for r in csv.DictReader(out.open())}
    assert rows["A1"]["Cardiomegaly"] == "1" and rows["A1"]["Pneumothorax"] == "0"
    assert all(v == "" for k, v in rows["A2"].items() if k != "report_id")
    with pytest.raises(DataFormatError, match="columns found: acc, txt"):
        _run(["label-reports", str(src), "--out", str(tmp_path / "p.csv"), "--workers", "1", "-q"])
    assert not (tmp_path / "p.csv").exists()  # nothing half-written


def test_data_from_reports_one_row_per_image(reports: Path, tmp_path: Path) -> None:
    out = tmp_path / "img.parquet"
    assert _run(["data", "from-reports", str(reports), "--out", str(out), "--workers", "1", "-q"]) == 0
    df = pd.read_parquet(out)
    assert list(df.columns[:2]) == ["image_id", "report_id"]
    assert set(df.loc[df.report_id == "1", "image_id"]) == {"CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"}
    assert (df.loc[df.report_id == "1021", "Pneumothorax"] == 1).all()
    assert df.loc[df.report_id == "1117", "Pneumonia"].iloc[0] == -1
    out2 = tmp_path / "img.csv"
    assert _run(["data", "from-reports", str(reports), "--out", str(out2), "--uncertain", "ignore",
                 "--workers", "1", "-q"]) == 0
    df2 = pd.read_csv(out2, dtype={"report_id": str})
    assert pd.isna(df2.loc[df2.report_id == "1117", "Pneumonia"].iloc[0])


def test_data_from_reports_table_with_image_column(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text('id,text,images\n1,"Large effusion.",a.dcm;b.dcm\n2,"Clear lungs.",\n', encoding="utf-8")
    out = tmp_path / "o.csv"
    assert _run(["data", "from-reports", str(src), "--out", str(out), "--image-col", "images",
                 "--workers", "1", "-q"]) == 0
    df = pd.read_csv(out)
    assert list(df.image_id) == ["a.dcm", "b.dcm"] and (df.Effusion == 1).all()
    with pytest.raises(DataFormatError, match="image column 'imgs'"):
        _run(["data", "from-reports", str(src), "--out", str(out), "--image-col", "imgs", "-q"])


def test_label_reports_refuses_empty_folder_and_images(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "o.csv"
    with pytest.raises(DataFormatError, match="no reports found"):
        _run(["label-reports", str(tmp_path / "empty"), "--out", str(out), "--workers", "1", "-q"])
    assert not out.exists()
    img = tmp_path / "scan.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(DataFormatError, match="not a report file"):
        _run(["label-reports", str(img), "--out", str(out), "--workers", "1", "-q"])
    assert not out.exists()
