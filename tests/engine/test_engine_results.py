"""The parts of the Ray engine that need no Ray: the results table, address checks, and the promise that
importing cxrkit or running the local engine never imports Ray."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cxrkit.engine.ray_cluster import check_address
from cxrkit.engine.results import RESULTS_FILE, ResultsTableWriter, clean_table_leftovers, error_row, read_results
from cxrkit.errors import ConfigError


def _doc(p: float) -> dict:
    return {"quality": {"usable": True, "reasons": []}, "timings_ms": {"read": 1.5, "total": 9.0},
            "findings": [{"name": "Effusion", "probability": p, "threshold": 0.5, "positive": p >= 0.5}],
            "measurements": [{"name": "cardiothoracic_ratio", "value": 0.52, "unit": "ratio"}]}


def test_table_in_input_order_whatever_the_arrival(tmp_path):
    from cxrkit.engine.results import result_row

    rows = [result_row(i, f"/in/{i}.png", f"n{i}", _doc(i / 4), reused=i == 1, seconds=0.1, worker="w")
            for i in range(4)]
    rows[2] = error_row(2, "/in/2.png", "n2", "InvalidImageError", "truncated")
    with ResultsTableWriter(tmp_path / RESULTS_FILE, 4) as table:
        for i in (3, 0, 2, 1):
            table.add(rows[i])
    df = read_results(tmp_path / RESULTS_FILE)
    assert list(df["index"]) == [0, 1, 2, 3] and list(df.status) == ["done", "done", "error", "done"]
    assert list(df.positive[3]) == ["Effusion"] and list(df.positive[0]) == []
    assert dict(df.timings_ms[0]) == {"read": 1.5, "total": 9.0} and df.reused[1] and not df.reused[0]
    assert df.error_type[2] == "InvalidImageError" and df.measurements[0][0]["value"] == 0.52
    assert [p.name for p in tmp_path.iterdir()] == [RESULTS_FILE]


def test_table_refuses_duplicates_and_never_appears_incomplete(tmp_path):
    out = tmp_path / RESULTS_FILE
    writer = ResultsTableWriter(out, 2)
    writer.add(error_row(0, "a", "a", "E", "m"))
    with pytest.raises(ValueError, match="duplicate"):
        writer.add(error_row(0, "a", "a", "E", "m"))
    with pytest.raises(ValueError, match="1 of 2 results rows are missing"):
        writer.close()
    writer.abort()
    assert not out.exists() and not list(tmp_path.iterdir())
    (tmp_path / f".{RESULTS_FILE}.abcd1234.tmp").write_bytes(b"half")  # left by a killed driver
    assert clean_table_leftovers(tmp_path) == 1 and not list(tmp_path.iterdir())


@pytest.mark.parametrize("address", [None, "auto", "ray://head:10001", "10.0.0.5:6379", "[::1]:6379"])
def test_addresses_accepted(address):
    assert check_address(address) == address


@pytest.mark.parametrize("address", ["head", "ray://head", "http://head:80", "auto ", ""])
def test_bad_address_named(address):
    with pytest.raises(ConfigError, match="--address must be"):
        check_address(address)


def test_local_engine_never_imports_ray(tmp_path, examples):
    code = (
        "import sys\n"
        "from cxrkit.service.cli import main\n"
        "import cxrkit, cxrkit.engine, cxrkit.engine.results, cxrkit.engine.ray_cluster\n"
        f"assert main(['analyze', {str(examples / '00000002_000.png')!r}, '--out', {str(tmp_path / 'o')!r},\n"
        "             '--no-segment', '--no-localize']) == 0\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
