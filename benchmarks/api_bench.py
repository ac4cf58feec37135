"""REST API under load on loopback: requests/s and p50/p99 latency of ``POST /v1/analyze`` at concurrency
1, 4 and 16, measured with wrk (a real HTTP load tool, Debian package ``wrk``) and a Lua script that sends a
multipart upload of a bundled NIH radiograph (512 x 512 PNG, 00001437_012.png).

The server is ``cxrkit serve`` (uvicorn, one process, shipped components, CXRKIT_INFERENCE_THREADS threads)
started by this script on a free 127.0.0.1 port. Each level runs ``--duration`` seconds (default 10) after a
warm-up request. Writes ``benchmarks/results/api.jsonl`` and the "REST API" section of RESULTS.md.

    .venv/bin/python benchmarks/api_bench.py [--duration 10] [--levels 1,4,16]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

IMAGE = Path(str(resources.files("cxrkit").joinpath("examples/00001437_012.png")))
LUA = r"""
local f = io.open("%(image)s", "rb")
local data = f:read("*all")
f:close()
local boundary = "cxrkitbenchboundary"
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n" ..
           "Content-Type: image/png\r\n\r\n" .. data .. "\r\n--" .. boundary .. "--\r\n"
"""


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(out: str) -> dict:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)", out)
    return {"requests_per_s": rps, "p50_ms": p50, "p99_ms": p99, "requests": total,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1).strip() if errors else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per concurrency level")
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--threads", type=int, default=2, help="CXRKIT_INFERENCE_THREADS of the server")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CXRKIT_INFERENCE_THREADS": str(args.threads)}
    server = subprocess.Popen([sys.executable, "-m", "cxrkit.service.cli", "serve", "--port", str(port),
                               "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        health = httpx.get(base + "/healthz").json()
        warm = httpx.post(base + "/v1/analyze", files={"file": ("x.png", IMAGE.read_bytes())}, timeout=120)
        warm.raise_for_status()
        components = {c["name"]: c["status"] for c in warm.json()["components"]}
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(LUA % {"image": IMAGE})
            lua = fh.name
        for c in [int(x) for x in args.levels.split(",")]:
            out = subprocess.run(["wrk", f"-t{min(c, 2)}", f"-c{c}", f"-d{args.duration}s", "--timeout", "60s",
                                  "--latency", "-s", lua, base + "/v1/analyze"],
                                 capture_output=True, text=True, timeout=args.duration + 120).stdout
            r = {"concurrency": c, **parse_wrk(out)}
            rows.append(r)
            print(r, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    info = machine_info()
    append_jsonl("api", [{"bench": "api", "image": IMAGE.name, "duration_s": args.duration,
                          "inference_threads": args.threads, "health": health, "components": components, **r}
                         for r in rows])
    table = "\n".join(f"| {r['concurrency']} | {r['requests']} | {r['requests_per_s']:.2f} | {r['p50_ms']:.0f} | "
                      f"{r['p99_ms']:.0f} | {r['non_2xx']} |" for r in rows)
    md = f"""## REST API

`POST /v1/analyze` of one 512 x 512 NIH PNG (`{IMAGE.name}`, multipart upload) against `cxrkit serve` on
127.0.0.1 (one uvicorn process, {args.threads} inference threads), load from `wrk` ({args.duration} s per level,
`--latency`). Components in this run: {", ".join(f"{k} {v}" for k, v in components.items())}.
Machine: {machine_line(info)}. Rerun: `.venv/bin/python benchmarks/api_bench.py`.

| concurrency | requests | requests/s | p50 ms | p99 ms | non-2xx |
|---:|---:|---:|---:|---:|---:|
{table}
"""
    write_section("api", md, info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
