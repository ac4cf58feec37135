"""``cxrkit analyze`` speed: in-process per film and whole process with every output written (issue 16).

Data: the 12 NIH ChestX-ray14 1024x1024 PNGs in ``../shared/data/nih-cxr14/images_1024_original``; shipped
models (classifier, segmenter, CAM boxes, QC, measurements, report).

* **in-process**: in a child process with ``CXRKIT_THREADS=T`` (after one warm-up film), every film through
  ``Analyzer.analyze_with_image`` (the analysis) and then ``deliver.batch.write_outputs`` (overlay.png,
  anatomy.png, heatmap PNGs, report.md, result.json); wall and CPU ms per film, median over films and rounds.
* **whole process**: ``cxrkit analyze FILES --out NEW_DIR --workers W`` as a child (Python start, imports,
  model load, 12 films, every output written); films/s = 12 / wall, CPU = the child's user + system time.

Method: ``benchmarks/_method.py`` (interleaved rounds, load before/after each, CPU beside wall).

    .venv/bin/python benchmarks/analyze_bench.py [--rounds 3] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _method import Probe, Round, as_records, cores, load_note, run_child, summarize, thread_env  # noqa: E402
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CXRKIT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "nih-cxr14" / "images_1024_original"


def child(out_dir: str) -> None:
    """Per-film times of analysis and of writing, as JSON on stdout (runs in its own process)."""
    from cxrkit.deliver.batch import write_outputs
    from cxrkit.pipeline import default_analyzer

    paths = sorted(DATA.glob("*.png"))
    an = default_analyzer()
    r, img = an.analyze_with_image(paths[0])  # warm-up: sessions, first-call allocations
    write_outputs(r, img, Path(out_dir) / "warm")
    rows = []
    for i, p in enumerate(paths):
        w0, c0 = time.perf_counter(), time.process_time()
        r, img = an.analyze_with_image(p)
        w1, c1 = time.perf_counter(), time.process_time()
        write_outputs(r, img, Path(out_dir) / f"f{i}")
        w2, c2 = time.perf_counter(), time.process_time()
        rows.append({"analyze_wall": w1 - w0, "analyze_cpu": c1 - c0, "write_wall": w2 - w1, "write_cpu": c2 - c1,
                     "stages_ms": dict(getattr(r, "timings_ms", {}) or {})})
    print(json.dumps(rows))


def _children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def inproc_round(threads: int) -> tuple[Round, list[dict]]:
    out = tempfile.mkdtemp(prefix="analyze_bench_")
    probe, c0, w0 = Probe(), _children_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", out], env={**os.environ, **thread_env(threads)},
                          capture_output=True, text=True)
    child_wall, child_cpu = time.perf_counter() - w0, _children_cpu() - c0
    if proc.returncode != 0:
        raise RuntimeError(f"analyze child failed: {proc.stderr[-2000:]}")
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    wall = sum(r["analyze_wall"] + r["write_wall"] for r in rows)
    cpu = sum(r["analyze_cpu"] + r["write_cpu"] for r in rows)
    # other processes' CPU over the child's whole life (its start and model load are its own, not others')
    whole = probe.round(len(rows), child_wall, cpu, own_cpu_s=child_cpu)
    return Round(len(rows), wall, cpu, whole.load_before, whole.load_after, whole.others_cores), rows


def cli_round(paths: list[Path], threads: int, workers: int) -> Round:
    exe = Path(sys.executable).with_name("cxrkit")
    out = Path(tempfile.mkdtemp(prefix="analyze_bench_cli_")) / "out"
    probe = Probe()
    wall, cpu = run_child([str(exe), "analyze", *map(str, paths), "--out", str(out), "--workers", str(workers)],
                          env=thread_env(threads))
    n = sum(1 for f in out.iterdir() if (f / "result.json").is_file())
    if n != len(paths):
        raise RuntimeError(f"cxrkit analyze wrote {n} of {len(paths)} result folders")
    return probe.round(len(paths), wall, cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--child", metavar="OUT_DIR", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    paths = sorted(DATA.glob("*.png"))
    n = cores()
    threads = sorted({1, n})
    inproc: dict[int, list[Round]] = {t: [] for t in threads}
    per_film: dict[int, list[dict]] = {t: [] for t in threads}
    cli_cfg = [(1, 1), (n, 1), (1, n)]  # (CXRKIT_THREADS, --workers)
    cli: dict[tuple[int, int], list[Round]] = {c: [] for c in cli_cfg}
    for r in range(args.rounds):
        order = [("in", t) for t in threads] + [("cli", c) for c in cli_cfg]
        for kind, key in order if r % 2 == 0 else order[::-1]:
            if kind == "in":
                rnd, rows = inproc_round(key)
                inproc[key].append(rnd)
                per_film[key] += rows
            else:
                cli[key].append(cli_round(paths, *key))
    info = machine_info()
    everything = {**{f"in-process {t}": v for t, v in inproc.items()}, **{f"cli {k}": v for k, v in cli.items()}}
    rows, records = [], []
    stage_lines = []
    for t in threads:
        f = per_film[t]
        med = {k: statistics.median(x[k] for x in f) * 1000 for k in f[0] if k != "stages_ms"}
        names = [k for k in f[0]["stages_ms"] if k != "total"]
        if names:
            stage_lines.append(f"Analysis stages, CXRKIT_THREADS={t} (wall ms, median over films, from the result's "
                               "`timings_ms`): " + ", ".join(
                                   f"{k} {statistics.median(x['stages_ms'].get(k, 0.0) for x in f):.1f}" for k in names)
                               + ".")
        tot_wall = statistics.median(x["analyze_wall"] + x["write_wall"] for x in f) * 1000
        tot_cpu = statistics.median(x["analyze_cpu"] + x["write_cpu"] for x in f) * 1000
        s = summarize(inproc[t])
        rows.append(f"| in-process, CXRKIT_THREADS={t} | {med['analyze_wall']:.1f} / {med['analyze_cpu']:.1f} | "
                    f"{med['write_wall']:.1f} / {med['write_cpu']:.1f} | {tot_wall:.1f} / {tot_cpu:.1f} | "
                    f"{1000 / tot_wall:.1f} | {s['load_max']:.2f} |")
        records.append({"side": f"in-process threads={t}", "median_ms": med, "total_ms_wall": tot_wall,
                        "total_ms_cpu": tot_cpu, "n_films": len(f), **s, "raw": as_records(inproc[t])})
    for (t, w), rs in cli.items():
        s = summarize(rs)
        rows.append(f"| whole process `cxrkit analyze --workers {w}`, CXRKIT_THREADS={t} | - | - | "
                    f"{s['ms_per_item_wall']:.1f} / {s['ms_per_item_cpu']:.1f} | {s['items_per_s_wall']:.2f} | "
                    f"{s['load_max']:.2f} |")
        records.append({"side": f"cli threads={t} workers={w}", **s, "raw": as_records(rs)})
    md = "\n".join([
        "## Analyze",
        "",
        "`cxrkit analyze` per film (issue 16's method: `benchmarks/_method.py`). Data: the 12 NIH ChestX-ray14 "
        "1024x1024 PNGs in `../shared/data/nih-cxr14/images_1024_original`, shipped models (QC, segmenter, "
        "classifier with CAM, boxes, CTR, draft report). In-process: median over films and rounds (after one "
        "warm-up film) of the analysis (`Analyzer.analyze_with_image`) and of writing every output "
        "(`deliver.batch.write_outputs`: overlay, anatomy and heatmap PNGs, report.md, result.json). Whole "
        "process: `cxrkit analyze` on the 12 files into a new folder (start, imports, model load included), "
        f"median of {args.rounds} rounds.",
        f"Machine: {machine_line(info)}; {load_note(everything)}.",
        "Command: `.venv/bin/python benchmarks/analyze_bench.py`.",
        "",
        "| run | analysis ms (wall / CPU) | writing outputs ms (wall / CPU) | per film ms (wall / CPU) | films/s "
        "(wall) | max load |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        *stage_lines,
    ])
    print(md)
    if not args.no_write:
        append_jsonl("analyze", records)
        write_section("analyze", md, info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
