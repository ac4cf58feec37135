"""Catalog benchmark: build the NIH ChestX-ray14 catalog (112,120 rows) and a 1M-row scale-up; query with DuckDB.

What is timed (wall clock and this process's CPU time, median over rounds):

* build: ``cxrkit.data.catalog.build_catalog("nih", root, out)``, i.e. read ``Data_Entry_2017_v2020.csv.gz``, parse
  the labels, find the images on disk, attach boxes and the CheXNet split, write Parquet (zstd) atomically;
* scale-up: the same build on a synthetic root whose label and box tables are the NIH tables replicated 9 times
  (1,009,080 rows; unique image names and patient ids per copy; no images, no split lists);
* queries: ``query_catalog(file, WHERE, ...)`` (DuckDB on the Parquet file, a new connection per query) against the
  peer a pandas user would write: ``pd.read_parquet(file)`` then a boolean filter, on both catalogs.

Usage: ``.venv/bin/python benchmarks/catalog_bench.py [--nih ../shared/data/nih-cxr14] [--rounds 5]``.
Writes ``benchmarks/results/catalog.jsonl`` and the "Catalog" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

from cxrkit.data.catalog import build_catalog, query_catalog  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COPIES = 9

#: (name, SQL WHERE clause, pandas equivalent, columns)
QUERIES: list[tuple[str, str, Callable[[pd.DataFrame], pd.Series], list[str] | None]] = [
    ("cardiomegaly, age > 60", "Cardiomegaly = 1 AND age_years > 60",
     lambda d: (d["Cardiomegaly"] == 1) & (d["age_years"] > 60), ["image_id", "patient_id", "path"]),
    ("normal women, PA view", "\"No Finding\" = 1 AND sex = 'F' AND view = 'PA'",
     lambda d: (d["No Finding"] == 1) & (d["sex"] == "F") & (d["view"] == "PA"), ["image_id", "path"]),
    ("boxed images on disk", "n_boxes > 0 AND path IS NOT NULL",
     lambda d: (d["n_boxes"] > 0) & d["path"].notna(), None),
    ("one patient", "patient_id = '00013118'", lambda d: d["patient_id"] == "00013118", None),
]


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def replicate_root(nih: Path, dest: Path, copies: int) -> Path:
    """A root whose Data_Entry and BBox tables are ``copies`` renamed copies of NIH's (no images)."""
    (dest / "labels").mkdir(parents=True, exist_ok=True)
    table = pd.read_csv(nih / "labels/Data_Entry_2017_v2020.csv.gz", dtype={"Image Index": str})
    boxes = pd.read_csv(nih / "labels/BBox_List_2017.csv.gz", dtype={"Image Index": str})
    parts, bparts = [], []
    for k in range(copies):
        t = table.copy()
        t["Image Index"] = f"r{k}_" + t["Image Index"]
        t["Patient ID"] = t["Patient ID"] + k * 100_000
        parts.append(t)
        b = boxes.copy()
        b["Image Index"] = f"r{k}_" + b["Image Index"]
        bparts.append(b)
    with gzip.open(dest / "labels/Data_Entry_2017_v2020.csv.gz", "wt", compresslevel=6, newline="") as fh:
        pd.concat(parts, ignore_index=True).to_csv(fh, index=False)
    with gzip.open(dest / "labels/BBox_List_2017.csv.gz", "wt", newline="") as fh:
        pd.concat(bparts, ignore_index=True).to_csv(fh, index=False)
    return dest


def bench_build(root: Path, out: Path, rounds: int) -> dict:
    walls, cpus, loads, writes = [], [], [], []
    info = None
    for _ in range(rounds):
        w, c, info = timed(lambda: build_catalog("nih", root, out))
        walls.append(w)
        cpus.append(c)
        loads.append(info.load_seconds)
        writes.append(info.write_seconds)
    return {"rows": info.rows, "images_on_disk": info.images_on_disk, "wall_s": statistics.median(walls),
            "wall_min_s": min(walls), "cpu_s": statistics.median(cpus), "load_s": statistics.median(loads),
            "write_s": statistics.median(writes), "file_mib": out.stat().st_size / 2**20, "rounds": rounds}


def bench_queries(path: Path, rounds: int, label: str) -> list[dict]:
    recs = []
    for name, where, pandas_filter, cols in QUERIES:
        duck, pand, duck_cpu, pand_cpu = [], [], [], []
        n_duck = n_pd = None
        for _ in range(rounds):  # interleaved: DuckDB then pandas, round by round
            w, c, df = timed(lambda: query_catalog(path, where, columns=cols))
            duck.append(w)
            duck_cpu.append(c)
            n_duck = len(df)

            def pandas_way():
                d = pd.read_parquet(path)
                sel = d[pandas_filter(d)]
                return sel[cols] if cols else sel
            w, c, df = timed(pandas_way)
            pand.append(w)
            pand_cpu.append(c)
            n_pd = len(df)
        if n_duck != n_pd:
            raise RuntimeError(f"{name}: DuckDB gave {n_duck} rows, pandas {n_pd}")
        recs.append({"catalog": label, "query": name, "where": where, "rows_matched": n_duck,
                     "duckdb_ms": 1000 * statistics.median(duck), "pandas_ms": 1000 * statistics.median(pand),
                     "duckdb_cpu_ms": 1000 * statistics.median(duck_cpu),
                     "pandas_cpu_ms": 1000 * statistics.median(pand_cpu), "rounds": rounds})
    return recs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nih", type=Path, default=REPO.parent / "shared" / "data" / "nih-cxr14")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big-rounds", type=int, default=2)
    args = ap.parse_args()
    info = machine_info(("numpy", "pandas", "pyarrow", "duckdb"))
    with tempfile.TemporaryDirectory(prefix="cxrkit-catalog-bench-") as tmp:
        tmp = Path(tmp)
        small = bench_build(args.nih, tmp / "nih.parquet", args.rounds)
        big_root = replicate_root(args.nih, tmp / "big", COPIES)
        big = bench_build(big_root, tmp / "big.parquet", args.big_rounds)
        q = bench_queries(tmp / "nih.parquet", args.rounds, "NIH 112,120 rows")
        q += bench_queries(tmp / "big.parquet", args.rounds, f"NIH x{COPIES} ({big['rows']:,} rows)")
    recs = [{"kind": "build", "catalog": "NIH", **small, "machine": info},
            {"kind": "build", "catalog": f"NIH x{COPIES}", **big, "machine": info}]
    recs += [{"kind": "query", **r, "machine": info} for r in q]
    append_jsonl("catalog", recs)
    lines = [
        "## Catalog",
        "",
        "Data: the full NIH ChestX-ray14 label table (`labels/Data_Entry_2017_v2020.csv.gz`, 112,120 rows, with "
        "`BBox_List_2017`, the CheXNet split lists and the 710 PNGs of `images_512/` as paths) from "
        f"`../shared/data/nih-cxr14`; scale-up: the label and box tables replicated {COPIES}x with renamed images and "
        "patients (no images). Build = `build_catalog('nih', root, out)`: read + parse + join + atomic Parquet (zstd) "
        "write. Queries: `query_catalog(file, WHERE)` (DuckDB, new connection each) vs `pd.read_parquet` + boolean "
        "filter; both return the same rows (checked). Median of rounds (build: "
        f"{args.rounds} rounds small, {args.big_rounds} big; queries interleaved).",
        f"Machine: {machine_line(info)}.",
        "Command: `.venv/bin/python benchmarks/catalog_bench.py`.",
        "",
        "| catalog | rows | build wall s (median) | build CPU s | of which read+parse s | write s | Parquet MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in (("NIH", small), (f"NIH x{COPIES}", big)):
        lines.append(f"| {name} | {r['rows']:,} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['load_s']:.2f} | "
                     f"{r['write_s']:.2f} | {r['file_mib']:.1f} |")
    lines += ["", "| catalog | query (WHERE) | rows matched | DuckDB ms wall (CPU) | pandas read+filter ms wall "
              "(CPU) | speed-up wall (CPU) |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in q:
        lines.append(f"| {r['catalog']} | `{r['where']}` | {r['rows_matched']:,} | {r['duckdb_ms']:.0f} "
                     f"({r['duckdb_cpu_ms']:.0f}) | {r['pandas_ms']:.0f} ({r['pandas_cpu_ms']:.0f}) | "
                     f"{r['pandas_ms'] / r['duckdb_ms']:.1f}x ({r['pandas_cpu_ms'] / r['duckdb_cpu_ms']:.1f}x) |")
    lines += ["", "Wall-clock times on this shared machine vary with the other jobs (load average above) and the "
              "script runs under `nice`; CPU time (this process, all threads) is the steadier figure. The NIH label "
              "table is read from gzip CSV; the build's CPU time is what a quiet machine would take."]
    write_section("catalog", "\n".join(lines), info=info)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
