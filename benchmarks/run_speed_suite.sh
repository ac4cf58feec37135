#!/usr/bin/env bash
# Rerun every speed figure that README's "What is measured" table and benchmarks/RESULTS.md quote from issue 16's
# method (benchmarks/_method.py): classification end to end vs TorchXRayVision, decode + preprocess vs its loader,
# the report labeler vs negspacy,
# cxrkit analyze in-process and whole process, overlay PNG encoding, and the CPU-time guard's figures.
#
# Usage:  bash benchmarks/run_speed_suite.sh [--rounds N]      (about 5 minutes on 2 quiet cores)
#
# Needs: the repo's .venv (`make install`), the TorchXRayVision venv ($CXRKIT_BENCH_VENV, default ../benchvenv;
# `bash benchmarks/setup_bench_env.sh`), the negspacy venv ($CXRKIT_LABELER_PEER_PY, default
# ../labelervenv/bin/python; install steps in benchmarks/labeler_bench.py) and ../shared/data.
# Quote figures only from a quiet machine: the script prints the 1-minute load first and every benchmark
# records it per round; ratios from rounds whose load exceeds the core count are refused, not printed.
# Each benchmark rewrites its own section of benchmarks/RESULTS.md; logs go to runs/bench/speed-*.log.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
ROUNDS="${2:-}"
[[ "${1:-}" == "--rounds" && -n "$ROUNDS" ]] || ROUNDS=""
PY="${CXRKIT_PYTHON:-$REPO/.venv/bin/python}"
BENCH_PY="${CXRKIT_BENCH_VENV:-$(dirname "$REPO")/benchvenv}/bin/python"
PEER_PY="${CXRKIT_LABELER_PEER_PY:-$(dirname "$REPO")/labelervenv/bin/python}"
mkdir -p runs/bench

echo "[speed] $(date -u '+%Y-%m-%d %H:%M UTC'); uptime: $(uptime)" >&2
load=$(cut -d' ' -f1 /proc/loadavg)
cores=$(nproc --all)
if awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l > c) }'; then
  echo "[speed] WARNING: 1-minute load $load > $cores cores: figures will be flagged and ratios refused" >&2
fi

run() {  # NAME PYTHON SCRIPT [ARGS...]
  local name="$1" py="$2"; shift 2
  echo "[speed] $name: $py $* (log runs/bench/speed-$name.log)" >&2
  "$py" "$@" ${ROUNDS:+--rounds "$ROUNDS"} >"runs/bench/speed-$name.log" 2>&1 \
    || { echo "[speed] $name FAILED; last lines:" >&2; tail -n 20 "runs/bench/speed-$name.log" >&2; exit 1; }
}

run classify "$BENCH_PY" benchmarks/classify_bench.py
run labeler "$PY" benchmarks/labeler_bench.py --peer-python "$PEER_PY"
run analyze "$PY" benchmarks/analyze_bench.py
run png-encode "$PY" benchmarks/png_encode_bench.py
run preprocess "$BENCH_PY" benchmarks/preprocess_bench.py
echo "[speed] CPU-time guard figures (tests/perf/cpu_baseline.json is re-recorded only by hand):" >&2
"$PY" tests/perf/test_cpu_guard.py >&2
echo "[speed] done; uptime: $(uptime); see benchmarks/RESULTS.md (sections inference, labeler, analyze, png-encode, preprocess)" >&2
