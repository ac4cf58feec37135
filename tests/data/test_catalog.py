"""Catalog: Parquet build (atomic), DuckDB queries, CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cxrkit.data.catalog import build_catalog, catalog_schema, query_catalog, write_catalog
from cxrkit.errors import CxrkitError, DataFormatError, UnknownNameError
from cxrkit.service.commands import catalog as catalog_cmd


def main(argv):
    """Run ``cxrkit catalog ...`` through its own parser (the full CLI imports every command, torch included)."""
    import argparse

    parser = argparse.ArgumentParser(prog="cxrkit")
    catalog_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def nih_catalog(fixtures_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cat") / "nih.parquet"
    info = build_catalog("nih", fixtures_dir / "data" / "nih", out)
    return info


def test_build_has_one_row_per_table_row(nih_catalog, fixtures_dir):
    table = pd.read_csv(fixtures_dir / "data/nih/labels/Data_Entry_2017_v2020.csv.gz")
    assert nih_catalog.rows == len(table) and nih_catalog.images_on_disk == 2
    df = pd.read_parquet(nih_catalog.path)
    assert df["image_id"].tolist() == table["Image Index"].tolist()
    for col in ("path", "image_id", "patient_id", "age_years", "sex", "view", "source", "n_boxes", "Cardiomegaly"):
        assert col in df.columns
    assert df["path"].notna().sum() == 2
    assert df.loc[df["image_id"] == "00000732_005.png", "n_boxes"].item() == 2
    schema = catalog_schema(nih_catalog.path)
    assert schema["Cardiomegaly"] == "FLOAT" and schema["n_boxes"] == "INTEGER"


def test_query_where_limit_columns(nih_catalog):
    df = query_catalog(nih_catalog.path, "Cardiomegaly = 1 AND path IS NOT NULL", columns=["image_id", "n_boxes"])
    assert df.to_dict("records") == [{"image_id": "00000732_005.png", "n_boxes": 2}]
    assert len(query_catalog(nih_catalog.path, '"No Finding" = 1', limit=2)) == 2
    n = len(query_catalog(nih_catalog.path, "patient_id = '00000013'"))
    assert n == len(pd.read_parquet(nih_catalog.path).query("patient_id == '00000013'"))


@pytest.mark.parametrize("where,match", [("Cardiomgaly = 1", "Cardiomegaly"), ("1=1; DROP TABLE x", "one expression"),
                                         ("age_years >", "query failed")])
def test_bad_queries(nih_catalog, where, match):
    with pytest.raises(DataFormatError, match=match):
        query_catalog(nih_catalog.path, where)


def test_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        query_catalog(tmp_path / "x.parquet", "1=1")


def test_write_is_atomic_on_failure(tmp_path):
    out = tmp_path / "c.parquet"
    write_catalog(pd.DataFrame({"a": [1, 2]}), out)
    bad = pd.DataFrame({"a": [object(), object()]})  # pyarrow cannot convert these
    with pytest.raises(Exception):  # noqa: B017 - whichever pyarrow error type; the point is the old file
        write_catalog(bad, out)
    assert pd.read_parquet(out)["a"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["c.parquet"]


def test_cli_build_and_query(fixtures_dir, tmp_path, capsys):
    out = tmp_path / "k.parquet"
    assert main(["catalog", "build", "--dataset", "kermany", "--root", str(fixtures_dir / "data/kermany"),
                 "--out", str(out), "--images-only"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["rows"] == 9 and info["images_on_disk"] == 9
    assert main(["catalog", "query", str(out), "Pneumonia = 1 AND pneumonia_type = 'viral'",
                 "--format", "json", "--columns", "image_id,patient_id"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["patient_id"] for r in rows) == ["person1000", "person447"]
    assert main(["catalog", "query", str(out), "--limit", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # header + 1 row
    with pytest.raises(CxrkitError, match="nonexistent"):  # the CLI prints it and exits with 1
        main(["catalog", "query", str(out), "nonexistent = 1"])
    with pytest.raises(UnknownNameError, match="did you mean 'nih'"):
        main(["catalog", "build", "--dataset", "nhi", "--root", ".", "--out", str(out)])


def test_summary_matches_pandas(nih_catalog):
    from cxrkit.data.catalog import catalog_metadata, summarize_catalog

    assert catalog_metadata(nih_catalog.path)["findings"][0] == "Atelectasis"
    df = pd.read_parquet(nih_catalog.path)
    s = summarize_catalog(nih_catalog.path, "age_years >= 50", by="sex")
    sub = df[(df["age_years"] >= 50) & (df["sex"] == "M")]
    row = s[(s["finding"] == "Effusion") & (s["sex"] == "M")].iloc[0]
    assert row["n"] == len(sub) and row["positive"] == (sub["Effusion"] == 1).sum()
    assert row["prevalence"] == pytest.approx((sub["Effusion"] == 1).mean())
    assert s["finding"].iloc[0] == "Atelectasis"
    with pytest.raises(DataFormatError, match="unknown column"):
        summarize_catalog(nih_catalog.path, by="sx")


def test_cli_summary(nih_catalog, capsys):
    assert main(["catalog", "summary", str(nih_catalog.path), "--by", "view", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["view"] for r in rows} == {"PA", "AP"} and len(rows) == 2 * 15


def test_cli_datasets_and_cards(capsys):
    assert main(["catalog", "datasets"]) == 0
    out = capsys.readouterr().out
    assert "nih" in out and "siim_acr" in out and "folder" in out
    assert main(["catalog", "datasets", "jsrt"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["name"] == "jsrt" and "Shiraishi" in card["citation"] and card["cannot_provide"]
    with pytest.raises(UnknownNameError, match="did you mean 'jsrt'"):
        main(["catalog", "datasets", "jsr"])


def test_cli_options(fixtures_dir, tmp_path, capsys):
    out = tmp_path / "c.parquet"
    with pytest.warns(UserWarning, match="missing on disk"):
        assert main(["catalog", "build", "--dataset", "covid_ieee8023", "--root",
                     str(fixtures_dir / "data/covid_ieee8023"), "--out", str(out), "--images-only",
                     "--option", "views=PA,AP", "--option", "masks=none"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 3
    with pytest.raises(DataFormatError, match="--images-only"):
        main(["catalog", "build", "--dataset", "kermany", "--root", ".", "--out", str(out),
              "--option", "images_only=true"])
    with pytest.raises(DataFormatError, match="KEY=VALUE"):
        main(["catalog", "build", "--dataset", "kermany", "--root", ".", "--out", str(out), "--option", "x"])
