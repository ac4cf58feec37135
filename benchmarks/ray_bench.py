"""`cxrkit analyze`'s local engine vs the Ray engine on real NIH films: throughput, overhead, memory.

Data: the first N (default 1,000) of ``shared/data/nih-cxr14/images_512/*.png`` (710 NIH PNGs, 512x512) then
``images_extra_512/*.jpg`` (NIH films, 512x512 JPEG), sorted by name. Full pipeline with the shipped models
(segment, QC, classify, CAM + boxes, CTR) and all per-image files written, as ``cxrkit analyze`` does.

Each configuration runs in its own fresh process into an empty output folder (removed afterwards):

* ``local wW tT``: the local engine (:func:`cxrkit.deliver.batch.run_batch`) with W threads sharing one
  Analyzer whose ONNX Runtime sessions use T intra-op threads (``CXRKIT_THREADS``), with numpy's BLAS/OpenMP
  threads left at their default (every core) or pinned to 1 (``OMP_NUM_THREADS=1`` ..., what Ray gives a 1-CPU
  actor);
* ``ray wW``: the Ray engine (:func:`cxrkit.engine.ray_analyze.run_ray_batch`) on a local Ray started for the
  job with W CPUs: W actors, one Analyzer and one ONNX Runtime thread each.

Reported: images/s over the whole job (model loading and Ray start-up included), steady images/s (from the
10th percentile of completions to the last), start-up (seconds to the first finished image), the share of the
workers' wall time spent inside the per-image function (the rest is dispatch, idling and Ray), peak resident
memory (the local process; each Ray actor), CPU seconds per image of the whole job (every process: for Ray the
driver, raylet, GCS, helpers and the actors as they report it before they stop; a cost that does not depend much
on the machine's load) and the 1-minute
load average before and after each run.

    .venv/bin/python benchmarks/ray_bench.py [--n 1000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NIH = Path(os.environ.get("CXRKIT_SHARED_DATA", REPO.parent / "shared" / "data")) / "nih-cxr14"
#: (engine, workers, ONNX Runtime threads, BLAS/OpenMP threads pinned to 1 in the local process). Ray already
#: gives each 1-CPU actor OMP_NUM_THREADS=1; the local process otherwise lets numpy's BLAS use every core.
CONFIGS = [("local", 2, 1, True), ("ray", 2, 1, False), ("local", 1, 1, True), ("ray", 1, 1, False),
           ("local", 2, 1, False), ("local", 1, 2, False)]
BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def images(n: int) -> list[Path]:
    files = sorted((NIH / "images_512").glob("*.png")) + sorted((NIH / "images_extra_512").glob("*.jpg"))
    if len(files) < n:
        raise SystemExit(f"only {len(files)} images under {NIH}; asked for {n}")
    return files[:n]


def steady_rate(times: list[float]) -> float:
    """Images per second from the 10th percentile of completion times to the last."""
    times = sorted(times)
    k = len(times) // 10
    return (len(times) - 1 - k) / (times[-1] - times[k]) if times[-1] > times[k] else float("nan")


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_descendants(exclude: set[int]) -> float:
    """CPU seconds of every live descendant process (raylet, GCS, helpers, idle workers) but ``exclude``."""
    import psutil

    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        if proc.pid in exclude:
            continue
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def child(engine: str, workers: int, threads: int, n: int, out: Path) -> dict:
    """One configuration, in this (fresh) process."""
    files = images(n)
    done: list[float] = []
    extra: dict = {}
    t0 = time.perf_counter()
    if engine == "local":
        os.environ["CXRKIT_THREADS"] = str(threads)
        from cxrkit.deliver.batch import run_batch
        from cxrkit.pipeline import Analyzer

        analyzer = Analyzer()
        items = run_batch(analyzer, files, out, workers=workers, progress=lambda _: done.append(time.perf_counter()))
        busy = sum(i.seconds for i in items)
        errors = sum(i.status == "error" for i in items)
        memory = {"process_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        cpu = _cpu_self()
    else:
        from cxrkit.engine.ray_analyze import run_ray_batch
        from cxrkit.engine.ray_cluster import ray_session
        from cxrkit.engine.results import read_results

        with ray_session(None, num_cpus=workers * threads):  # held open to count the CPU of Ray's processes
            summary = run_ray_batch(files, out, workers=workers, threads_per_worker=threads,
                                    progress=lambda _: done.append(time.perf_counter()))
            actors = {w["pid"] for w in summary.pool.final}
            extra["driver_cpu_s"] = round(_cpu_self(), 1)
            extra["actors_cpu_s"] = round(sum(w["cpu_s"] for w in summary.pool.final), 1)
            extra["ray_services_cpu_s"] = round(_cpu_descendants(exclude=actors), 1)
            cpu = extra["driver_cpu_s"] + extra["actors_cpu_s"] + extra["ray_services_cpu_s"]
        table = read_results(summary.results)
        stages: dict[str, list[float]] = {}
        for timings in table.timings_ms:
            for k, v in timings:
                stages.setdefault(k, []).append(v)
        extra["stage_ms_mean"] = {k: round(sum(v) / len(v), 1) for k, v in stages.items()}
        busy = float(table.seconds.sum())
        errors = summary.counts["error"]
        memory = {"driver_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "actor_peak_mib": [round(w.get("peak_rss_mb", float("nan"))) for w in summary.pool.final],
                  "actor_after_load_mib": [round(w.get("rss_mb", float("nan"))) for w in summary.pool.workers]}
    wall = time.perf_counter() - t0
    extra["out_bytes_per_image"] = round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / n)
    extra["in_bytes_per_image"] = round(sum(f.stat().st_size for f in files) / n)
    return {**extra, "cpu_s": round(cpu, 1), "cpu_ms_per_image": round(1e3 * cpu / n, 1), "engine": engine,
            "workers": workers, "threads": threads, "n": n, "errors": errors,
            "wall_s": round(wall, 2), "images_per_s": round(n / wall, 3),
            "steady_images_per_s": round(steady_rate(done), 3), "startup_s": round(min(done) - t0, 2),
            "busy_share": round(busy / (wall * workers), 3), "ms_per_image_in_worker": round(1e3 * busy / n, 1),
            **memory}


def run_config(engine: str, workers: int, threads: int, blas1: bool, n: int, scratch: Path) -> dict:
    out = scratch / f"{engine}-w{workers}-t{threads}"
    shutil.rmtree(out, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in BLAS_ENV}
    if blas1:
        env.update({k: "1" for k in BLAS_ENV})
    load0 = os.getloadavg()[0]
    res = subprocess.run([sys.executable, __file__, "--child", engine, str(workers), str(threads), "--n", str(n),
                          "--scratch", str(out)], capture_output=True, text=True, check=False, env=env)
    shutil.rmtree(out, ignore_errors=True)
    if res.returncode != 0:
        raise SystemExit(f"{engine} w{workers} t{threads} failed:\n{res.stderr[-3000:]}")
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    rec.update(blas_threads_1=blas1, load_before=round(load0, 2), load_after=round(os.getloadavg()[0], 2))
    print(json.dumps(rec), flush=True)
    return rec


def table(records: list[dict]) -> str:
    lines = ["| engine | workers x ORT threads (BLAS) | images/s (job) | images/s (steady) | start-up s | busy share | "
             "ms/image in worker | CPU ms/image (all processes) | peak MiB | load before / after |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in records:
        mem = (f"process {r['process_peak_mib']:.0f}" if r["engine"] == "local" else
               f"driver {r['driver_peak_mib']:.0f}, actors {', '.join(map(str, r['actor_peak_mib']))}")
        blas = "1" if r.get("blas_threads_1") or r["engine"] == "ray" else "all cores"
        lines.append(f"| {r['engine']} | {r['workers']} x {r['threads']} ({blas}) | {r['images_per_s']:.2f} | "
                     f"{r['steady_images_per_s']:.2f} | {r['startup_s']:.1f} | {r['busy_share']:.2f} | "
                     f"{r['ms_per_image_in_worker']:.0f} | {r['cpu_ms_per_image']:.0f} | {mem} | "
                     f"{r['load_before']:.2f} / {r['load_after']:.2f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1, help="run the configurations this many times, interleaved")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/cxrkit-ray-bench"))
    ap.add_argument("--child", nargs=3, metavar=("ENGINE", "WORKERS", "THREADS"), help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    ap.add_argument("--configs", help="ENGINE:WORKERS:THREADS:BLAS1,... instead of the default list, e.g. "
                    "local:2:1:1,ray:2:1:0")
    ap.add_argument("--section", default="ray-engine", help="RESULTS.md section to (re)write")
    args = ap.parse_args()
    if args.child:
        engine, w, t = args.child
        print(json.dumps(child(engine, int(w), int(t), args.n, args.scratch)))
        return 0
    configs = CONFIGS
    if args.configs:
        configs = [(e, int(w), int(t), b == "1") for e, w, t, b in (c.split(":") for c in args.configs.split(","))]
    records = [run_config(e, w, t, b, args.n, args.scratch) for _ in range(args.repeat) for e, w, t, b in configs]
    md = table(records)
    if not any(r["engine"] == "local" for r in records) or not any(r["engine"] == "ray" for r in records):
        print(table(records))
        return 0
    best_local = max((r for r in records if r["engine"] == "local"), key=lambda r: r["images_per_s"])
    ray2 = [r for r in records if r["engine"] == "ray" and r["workers"] == 2]
    ratio = max(r["images_per_s"] for r in ray2) / best_local["images_per_s"] if ray2 else float("nan")
    steady = (max(r["steady_images_per_s"] for r in ray2) / max(r["steady_images_per_s"] for r in records
                                                                  if r["engine"] == "local")) if ray2 else float("nan")
    summary = (f"Ray with 2 workers / the local engine's best configuration (local w{best_local['workers']} "
               f"t{best_local['threads']}): {ratio:.1%} of its whole-job throughput, {steady:.1%} of its best steady "
               "throughput.")
    print(md, summary, machine_line(), sep="\n")
    if not args.no_write:
        append_jsonl("ray_bench", records)
        cmd = " ".join(sys.argv[1:])
        write_section(args.section, f"## Ray engine vs the local engine ({args.section})\n\n`benchmarks/ray_bench.py "
                      f"{cmd}`: first {args.n} NIH films of `nih-cxr14/images_512` + "
                      "`images_extra_512` (512x512), shipped models, full pipeline, all per-image files written; "
                      "each configuration a fresh process.\n\n" + md + "\n\n" + summary + "\n\n" + machine_line(),
                      info=machine_info())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
