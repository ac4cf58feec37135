"""Peak resident memory of the whole CLI (`cxrkit analyze`, shipped models) and of the API server
(`cxrkit serve`, ``POST /v1/analyze``) on large inputs (docs/security.md).

Inputs are made in a temporary folder: a 7000x7000 PNG of a seeded synthetic chest (reduced to 3500x3500 while
decoding), a 4096x4096 PNG of the same (the largest size not reduced; no finding positive) and a 4096x4096
upscale of the bundled NIH film 00001437_012 (four positive findings: CAM heatmaps run). Each run is its own
process; the peak is ``ru_maxrss`` of that child, measured from a fresh wrapper process so that nothing of this
script's own memory is counted.

    .venv/bin/python benchmarks/cli_memory_bench.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

from cxrkit.synthetic import synthetic_chest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("cxrkit"))
WRAP = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_mib(args: list[str]) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", WRAP, *args], capture_output=True, text=True, check=True)
    code, kib = out.stdout.split()
    return int(code), int(kib) / 1024


def server_peak_mib(files: list[Path]) -> list[tuple[str, int, float]]:
    """Start ``cxrkit serve`` (shipped models), POST each file with every viewer layer included, and read the
    server's peak resident memory (``VmHWM``) after each request: ``[(file, status, peak MiB)]``."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = []
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        for f in files:
            with f.open("rb") as fh:
                r = httpx.post(f"{url}/v1/analyze?include=image,heatmaps,masks,overlay",
                               files={"file": (f.name, fh, "image/png")}, timeout=600)
            hwm = next(int(x.split()[1]) for x in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                       if x.startswith("VmHWM"))
            out.append((f.name, r.status_code, hwm / 1024))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main() -> int:
    load0 = os.getloadavg()[0]
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        chest = np.rint(synthetic_chest((1024, 1024), seed=3) * 255).astype(np.uint8)
        PILImage.fromarray(chest).resize((7000, 7000)).save(t / "synthetic_7000.png")
        PILImage.fromarray(chest).resize((4096, 4096)).save(t / "synthetic_4096.png")
        nih = PILImage.open(REPO / "src" / "cxrkit" / "examples" / "00001437_012.png").convert("L")
        nih.resize((4096, 4096)).save(t / "nih_4096.png")
        nih.save(t / "nih_1024.png")
        for name, extra in (("nih_1024.png", []), ("synthetic_7000.png", []), ("synthetic_4096.png", ["--dicom-out"]),
                            ("nih_4096.png", ["--dicom-out"])):
            code, mib = peak_mib([CLI, "analyze", str(t / name), "--out", str(t / f"out_{name}"), *extra])
            res = json.loads(next((t / f"out_{name}").glob("*/result.json")).read_text())
            positives = sum(f["positive"] for f in res["findings"])
            rows.append((name, " ".join(extra), code, mib, positives))
            records.append({"input": name, "options": extra, "exit": code, "peak_mib": round(mib), "positives": positives})
        served = server_peak_mib([t / "nih_1024.png", t / "synthetic_7000.png", t / "nih_4096.png"])
        records += [{"input": n, "door": "POST /v1/analyze", "status": c, "server_peak_mib": round(m)}
                    for n, c, m in served]
    load1 = os.getloadavg()[0]
    lines = [f"`cxrkit analyze` peak resident memory per run (MiB), shipped models; 1-minute load {load0:.2f} before, "
             f"{load1:.2f} after.", "", "| input | options | exit | positive findings | peak MiB |",
             "| --- | --- | ---: | ---: | ---: |"]
    lines += [f"| {n} | {o or '-'} | {c} | {p} | {m:.0f} |" for n, o, c, m, p in rows]
    lines += ["", "`cxrkit serve` (one server process, requests in this order, every viewer layer included: "
              "`?include=image,heatmaps,masks,overlay`): the server's peak resident memory after each request.", "",
              "| input | HTTP status | server peak MiB (cumulative) |", "| --- | ---: | ---: |"]
    lines += [f"| {n} | {c} | {m:.0f} |" for n, c, m in served]
    md = "\n".join(lines)
    print(md)
    print(machine_line())
    append_jsonl("cli_memory", records)
    write_section("cli-memory", "## Whole-CLI memory on large inputs\n\n`benchmarks/cli_memory_bench.py`\n\n" + md,
                  info=machine_info())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
