"""``cxrkit classify --engine ray`` on the real cluster: the local engine's CSV byte for byte, bad files included."""

from __future__ import annotations

import pandas as pd
import pytest

from cxrkit.data.catalog import write_catalog
from cxrkit.deliver.batch import collect_inputs
from cxrkit.service.cli import main

pytestmark = pytest.mark.slow


def test_ray_classify_csv_equals_local(ray_cluster, job_inputs, tmp_path, capsys):
    local, ray_csv, cat_csv = tmp_path / "local.csv", tmp_path / "ray.csv", tmp_path / "cat.csv"
    assert main(["classify", str(job_inputs), "--out", str(local)]) == 0
    assert main(["classify", str(job_inputs), "--out", str(ray_csv), "--engine", "ray", "--address",
                 ray_cluster.address]) == 0
    text = local.read_text()
    assert ray_csv.read_text() == text
    rows = text.splitlines()
    assert len(rows) == 1 + 8 and sum(r.endswith(",") for r in rows[1:]) == 4  # 3 PNGs + the SIIM film scored
    # the same files listed by a catalog: the same rows
    files = [p for p in collect_inputs([job_inputs])]
    catalog = write_catalog(pd.DataFrame({"path": [str(p) for p in files]}), tmp_path / "c.parquet")
    assert main(["classify", "--catalog", str(catalog), "--out", str(cat_csv), "--engine", "ray"]) == 0
    assert sorted(cat_csv.read_text().splitlines()[1:]) == sorted(rows[1:])
    capsys.readouterr()
