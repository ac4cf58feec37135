"""Audit benchmark: ``cxrkit audit`` on a folder of 800 NIH films + a labels CSV with 3 subgroup columns.

Issue 13's target: such an audit runs in <= 3 minutes on 2 cores with predictions cached. The script links 800
NIH 512-px adult films (``nih`` adapter, ``images=adult_512``, sorted by file name) into a temporary folder, writes
``labels.csv`` (the model's NIH findings as 0/1, ``sex``, ``age``, ``view``), then times two runs of the CLI in a
subprocess with the same output folder: cold (empty cache: every model pass, the segmenter and the probes) and
warm (everything from the cache). Default model, default options (probes on, 150 images per source).

Usage: ``.venv/bin/python benchmarks/audit_bench.py [--nih ../shared/data/nih-cxr14] [--n 800]``.
Writes ``benchmarks/results/audit.jsonl`` and the "Audit" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def build_folder(nih: Path, n: int, out: Path) -> Path:
    from cxrkit.data import load_dataset
    from cxrkit.models.classifier import load_classifier

    ds = load_dataset("nih", root=nih, images="adult_512")
    meta = ds.meta.reset_index(drop=True)
    order = np.argsort(meta["image_id"].astype(str).to_numpy())[:n]
    findings = [f for f in load_classifier().labels if f in ds.findings]
    rows = []
    for i in order:
        src = Path(meta.loc[i, "path"])
        dst = out / f"{meta.loc[i, 'image_id']}{src.suffix if not str(meta.loc[i, 'image_id']).endswith(src.suffix) else ''}"
        os.symlink(src, dst)
        row = {"image": dst.name, "sex": meta.loc[i, "sex"], "age": meta.loc[i, "age_years"], "view": meta.loc[i, "view"]}
        row.update({f: ds.labels[i, ds.findings.index(f)] for f in findings})
        rows.append(row)
    pd.DataFrame(rows).to_csv(out / "labels.csv", index=False)
    return out / "labels.csv"


def run(folder: Path, labels: Path, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cxrkit.service.cli", "audit", "--images", str(folder), "--labels",
                    str(labels), "--out", str(out)], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nih", default=str(REPO.parent / "shared" / "data" / "nih-cxr14"))
    ap.add_argument("--n", type=int, default=800)
    args = ap.parse_args()
    info = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "films"
        folder.mkdir()
        labels = build_folder(Path(args.nih), args.n, folder)
        out = Path(tmp) / "audit"
        cold = run(folder, labels, out)
        warm = run(folder, labels, out)
        load = os.getloadavg()
    rec = {"n_images": args.n, "subgroup_columns": 3, "cold_s": round(cold, 1), "warm_s": round(warm, 1),
           "load_avg_end": [round(x, 2) for x in load], "machine": info}
    append_jsonl("audit", [rec])
    from cxrkit.models.classifier import DEFAULT_MODEL

    md = (f"## Audit\n\n`cxrkit audit --images FOLDER --labels CSV` on {args.n} NIH 512-px adult films (sorted by name) "
          f"with 3 subgroup columns (sex, age, view) and the default model's ({DEFAULT_MODEL}) NIH findings, default "
          "options (occlusion probes on 150 images; one source, so no source-identification probe). Script: "
          "`benchmarks/audit_bench.py`.\n\n"
          "| run | wall time | target |\n| --- | ---: | --- |\n"
          f"| cold (no cache: every model pass, segmenter, probes) | {cold:.1f} s | |\n"
          f"| warm (predictions cached) | {warm:.1f} s | <= 180 s (issue 13) |\n\n"
          f"Machine: {machine_line(info)}; load average at the end {load[0]:.1f}.\n")
    write_section("audit", md, info=info)
    print(md)


if __name__ == "__main__":
    main()
