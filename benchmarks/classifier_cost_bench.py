"""What classifier v2 costs per film next to v1: model-only ONNX Runtime time, 1 thread and all threads.

Interleaved rounds (v1, v2, v1, v2, ...) on the same preprocessed NIH film, median of the rounds; CPU time beside
wall time; the 1-minute load average before and after. A ratio is flagged "not quotable" when the load exceeded
the core count (runtimes slow down differently under load).

    .venv/bin/python benchmarks/classifier_cost_bench.py [--rounds 7] [--reps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

from cxrkit.io import read_image  # noqa: E402
from cxrkit.models.classifier import default_model_path, load_classifier  # noqa: E402

FILM = Path(__file__).resolve().parents[1] / "src" / "cxrkit" / "examples" / "00000002_000.png"


def _time(fn, reps: int) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - w0) / reps * 1e3, (time.process_time() - c0) / reps * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    load0 = os.getloadavg()[0]
    px = read_image(FILM).pixels
    folder = default_model_path().parent
    rows, records = [], []
    for threads in (1, cores):
        models = {n: load_classifier(folder / f"{n}.card.json", threads=threads) for n in ("cxr-default-v1", "cxr-adult-v2")}
        inputs = {n: m.preprocess([px]) for n, m in models.items()}
        runners = {n: (lambda x, m=m: m.run(x)[0]) for n, m in models.items()}
        for n in models:
            runners[n](inputs[n])  # warm-up
        res: dict[str, list[tuple[float, float]]] = {n: [] for n in models}
        for _ in range(a.rounds):
            for n in models:
                res[n].append(_time(lambda n=n: runners[n](inputs[n]), a.reps))
        for n in models:
            wall = statistics.median(r[0] for r in res[n])
            cpu = statistics.median(r[1] for r in res[n])
            rows.append((threads, n, models[n].transform.size, wall, cpu))
            records.append({"threads": threads, "model": n, "size": models[n].transform.size, "wall_ms": round(wall, 2),
                            "cpu_ms": round(cpu, 2)})
    load1 = os.getloadavg()[0]
    quotable = max(load0, load1) < cores
    lines = [f"Model-only ONNX Runtime inference of one preprocessed NIH film (`{FILM.name}`), median of {a.rounds} "
             f"interleaved rounds x {a.reps} runs; 1-minute load {load0:.2f} before, {load1:.2f} after on {cores} cores"
             + ("" if quotable else " — **load above the core count: ratios not quotable**") + ".", "",
             "| threads | model | input px | wall ms / film | CPU ms / film |", "| ---: | --- | ---: | ---: | ---: |"]
    lines += [f"| {t} | {n} | {s} | {w:.1f} | {c:.1f} |" for t, n, s, w, c in rows]
    for t in (1, cores):
        v1 = next(r for r in rows if r[0] == t and r[1] == "cxr-default-v1")
        v2 = next(r for r in rows if r[0] == t and r[1] == "cxr-adult-v2")
        lines.append(f"\n{t} thread(s): v2 / v1 = {v2[3] / v1[3]:.2f}x wall, {v2[4] / v1[4]:.2f}x CPU.")
    md = "\n".join(lines)
    print(md)
    print(machine_line())
    append_jsonl("classifier_cost", [{**r, "load_before": load0, "load_after": load1, "quotable": quotable}
                                     for r in records])
    write_section("classifier-cost", "## Classifier v2 cost per film\n\n" + md, info=machine_info())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
