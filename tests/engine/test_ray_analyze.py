"""``cxrkit analyze --engine ray`` on a real two-node Ray cluster: the local engine's files byte for byte, bad
files recorded, reruns reuse and never duplicate, a node killed mid-job and a driver killed mid-job lose nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cxrkit.data.catalog import write_catalog
from cxrkit.deliver.batch import collect_inputs
from cxrkit.deliver.outdir import output_name
from cxrkit.engine.results import RESULTS_FILE, read_results
from cxrkit.service.cli import main

pytestmark = pytest.mark.slow

BAD = {"truncated.png", "truncated.dcm", "text.png"}
_TIMINGS = re.compile(r'"timings_ms": \{[^{}]*\}')


def folders(out: Path) -> dict[str, Path]:
    return {p.name: p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")}


def without_timings(text: str) -> str:
    """result.json with its ``timings_ms`` object blanked: the only bytes that differ between two runs of the
    same engine (they are wall-clock times)."""
    assert len(_TIMINGS.findall(text)) == 1
    return _TIMINGS.sub('"timings_ms": {}', text)


def errors_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]


def check_complete(out: Path, inputs: list[Path], bad: set[str]) -> None:
    """Every good input has one complete folder, every bad one a line in errors.jsonl, the results table one row
    per input in order; no leftovers."""
    names = {output_name(p): p for p in inputs}
    good = {n for n, p in names.items() if p.name not in bad}
    assert set(folders(out)) == good
    for n in good:
        json.loads((out / n / "result.json").read_text())
    errors = errors_of(out)
    assert sorted(e["name"] for e in errors) == sorted(n for n, p in names.items() if p.name in bad)
    table = read_results(out / RESULTS_FILE)
    assert list(table["index"]) == list(range(len(inputs)))
    assert list(table["name"]) == [output_name(p) for p in inputs]
    assert set(table.loc[table.status == "error", "name"]) == set(names) - good
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".cxrkit.lock"]


def test_ray_equals_local_byte_for_byte_with_bad_files(ray_cluster, job_inputs, tmp_path, capsys):
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    assert main(["analyze", str(job_inputs), "--out", str(local)]) == 1  # bad files: exit 1, the job went on
    code = main(["analyze", str(job_inputs), "--out", str(ray_out), "--engine", "ray", "--address",
                 ray_cluster.address])
    text = capsys.readouterr().out
    assert code == 1 and "3 errors" in text and "0 lost and replaced" in text
    inputs = collect_inputs([job_inputs])
    check_complete(ray_out, inputs, BAD)
    assert set(folders(local)) == set(folders(ray_out))
    n_heatmaps = 0
    for name, folder in folders(local).items():
        files = sorted(p.name for p in folder.iterdir())
        assert files == sorted(p.name for p in (ray_out / name).iterdir()), name
        n_heatmaps += sum(f.startswith("heatmap_") for f in files)
        for f in files:
            a, b = (folder / f).read_bytes(), (ray_out / name / f).read_bytes()
            if f == "result.json":
                a, b = without_timings(a.decode()), without_timings(b.decode())
            assert a == b, f"{name}/{f} differs"
    assert n_heatmaps > 0  # localization ran, its PNGs compared too
    strip = lambda es: sorted((e["path"], e["name"], e["error"], e["message"]) for e in es)  # noqa: E731
    assert strip(errors_of(local)) == strip(errors_of(ray_out))
    table = read_results(ray_out / RESULTS_FILE)
    for row in table[table.status == "done"].itertuples():
        doc = json.loads((ray_out / row.name / "result.json").read_text())
        assert [f["name"] for f in row.findings] == [f["name"] for f in doc["findings"]]
        assert [f["probability"] for f in row.findings] == [f["probability"] for f in doc["findings"]]
        assert list(row.positive) == [f["name"] for f in doc["findings"] if f["positive"]]
        assert dict(row.timings_ms) == doc["timings_ms"] and not row.reused
    ct = table[table.path.str.endswith("ct.dcm")].iloc[0]
    assert ct.status == "done" and not ct.usable  # readable, not a radiograph: a result, not an error


def test_rerun_and_catalog_reuse_without_duplicates(ray_cluster, job_inputs, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--out", str(out), "--engine", "ray", "--address", ray_cluster.address, "--no-localize"]
    main(["analyze", str(job_inputs), *args])
    capsys.readouterr()
    inputs = collect_inputs([job_inputs])
    first = {n: (f / "result.json").read_bytes() for n, f in folders(out).items()}
    mtimes = {n: (f / "result.json").stat().st_mtime_ns for n, f in folders(out).items()}
    table1 = read_results(out / RESULTS_FILE)

    # the same job from a catalog (absolute paths + a label row without a file): same names, nothing recomputed
    rows = [{"path": str(p.absolute()), "image_id": p.name} for p in inputs] + [{"path": None, "image_id": "x"}]
    import pandas as pd

    catalog = write_catalog(pd.DataFrame(rows), tmp_path / "cat.parquet")
    assert main(["analyze", "--catalog", str(catalog), *args]) == 1
    text = capsys.readouterr().out
    assert "0 analyzed, 5 already done (skipped), 3 errors" in text and "1 row(s)" in text
    check_complete(out, inputs, BAD)
    assert {n: (f / "result.json").read_bytes() for n, f in folders(out).items()} == first
    assert {n: (f / "result.json").stat().st_mtime_ns for n, f in folders(out).items()} == mtimes
    assert len(errors_of(out)) == len(BAD)  # the retried bad files replaced their lines
    table2 = read_results(out / RESULTS_FILE)
    assert table2.reused[table2.status == "done"].all()
    same = ["index", "name", "status", "usable", "positive", "error_type", "error"]
    assert table1[same].astype(str).equals(table2[same].astype(str))


def test_node_killed_mid_job_loses_nothing(ray_cluster, copies, tmp_path):
    from cxrkit.engine.ray_analyze import run_ray_batch

    src = copies(tmp_path / "in", 24)
    out = tmp_path / "out"
    inputs = collect_inputs([src])
    seen: list[dict] = []
    result: dict = {}

    def job():
        result["summary"] = run_ray_batch(inputs, out, analyzer_options={"localize": False}, workers=2,
                                          batch_size=1, progress=seen.append)

    worker_node = next(n for n in ray_cluster.worker_nodes)
    thread = threading.Thread(target=job)
    thread.start()
    deadline = time.monotonic() + 120
    while len(seen) < 3 and time.monotonic() < deadline:  # both workers up and busy
        time.sleep(0.05)
    assert 3 <= len(seen) < len(inputs), "the job should be running when the node is killed"
    ray_cluster.remove_node(worker_node, allow_graceful=False)
    thread.join(timeout=240)
    ray_cluster.add_node(num_cpus=1, object_store_memory=100 * 1024 * 1024)  # restore for the next tests
    assert not thread.is_alive()
    summary = result["summary"]
    assert summary.pool.actor_failures >= 1 and summary.pool.retried >= 1 and summary.pool.lost == 0
    assert summary.counts == {"done": len(inputs), "reused": 0, "error": 0}
    assert sorted(r["index"] for r in seen) == list(range(len(inputs)))  # each image reported exactly once
    check_complete(out, inputs, set())


def test_driver_killed_then_rerun_resumes(ray_cluster, copies, tmp_path):
    src = copies(tmp_path / "in", 16)
    out = tmp_path / "out"
    inputs = collect_inputs([src])
    cmd = [sys.executable, "-m", "cxrkit.service.cli", "analyze", str(src), "--out", str(out), "--engine", "ray",
           "--address", ray_cluster.address, "--no-localize", "--workers", "2"]
    log = tmp_path / "driver.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and len(folders(out) if out.is_dir() else []) < 2:
        time.sleep(0.05)
    assert proc.poll() is None, f"the driver ended before it could be killed: {log.read_text()[-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {n: (f / "result.json").read_bytes() for n, f in folders(out).items()}
    assert 2 <= len(before) < len(inputs)
    assert not (out / RESULTS_FILE).exists()  # the table appears only complete

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    check_complete(out, inputs, set())
    for n, data in before.items():  # finished before the kill: kept as they were, not recomputed
        assert (out / n / "result.json").read_bytes() == data
    table = read_results(out / RESULTS_FILE)
    assert table.status.eq("done").all() and int(table.reused.sum()) >= len(before)
    assert table.name.is_unique
