#!/usr/bin/env bash
# Run every benchmarks/*_bench.py with the interpreter it asks for; each script rewrites its own section of
# benchmarks/RESULTS.md (between <!-- section:NAME --> markers, via benchmarks/_results.py) and appends JSON
# lines to benchmarks/results/NAME.jsonl.
#
# Usage:  bash benchmarks/run_all.sh [NAME ...]     e.g. `bash benchmarks/run_all.sh preprocess`
#
# Interpreter: a script whose first 5 lines contain `# bench-env: bench` runs with the benchmark venv
# ($CXRKIT_BENCH_VENV, default ../benchvenv next to the checkout; built by benchmarks/setup_bench_env.sh when missing), which
# holds TorchXRayVision/torchvision next to cxrkit; any other script runs with the repo's .venv
# (`make install`). Logs go to runs/bench/NAME.log. A failing benchmark is reported and the others still run;
# the exit status is non-zero when any failed.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_VENV="${CXRKIT_BENCH_VENV:-$(dirname "$REPO")/benchvenv}"
MAIN_PY="${CXRKIT_PYTHON:-$REPO/.venv/bin/python}"
LOGS="$REPO/runs/bench"
mkdir -p "$LOGS"
cd "$REPO"

scripts=()
if [[ $# -gt 0 ]]; then
  for name in "$@"; do scripts+=("benchmarks/${name%_bench.py}_bench.py"); done
else
  for f in benchmarks/*_bench.py; do [[ -e "$f" ]] && scripts+=("$f"); done
fi

failed=()
for script in "${scripts[@]}"; do
  name="$(basename "$script" _bench.py)"
  if [[ ! -f "$script" ]]; then echo "[run_all] $script: no such benchmark" >&2; failed+=("$name"); continue; fi
  if head -n 5 "$script" | grep -q '^# bench-env: bench'; then
    if [[ ! -f "$BENCH_VENV/.ready" ]]; then
      echo "[run_all] building the benchmark venv $BENCH_VENV (first run: several minutes)" >&2
      bash "$REPO/benchmarks/setup_bench_env.sh" "$BENCH_VENV" || { failed+=("$name"); continue; }
    fi
    py="$BENCH_VENV/bin/python"
  else
    py="$MAIN_PY"
  fi
  echo "[run_all] $name: $py $script (log: runs/bench/$name.log)" >&2
  start=$(date +%s)
  if "$py" "$script" >"$LOGS/$name.log" 2>&1; then
    echo "[run_all] $name: ok in $(( $(date +%s) - start )) s" >&2
  else
    echo "[run_all] $name: FAILED (exit $?); last lines of the log:" >&2
    tail -n 15 "$LOGS/$name.log" >&2
    failed+=("$name")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "[run_all] failed: ${failed[*]}" >&2
  exit 1
fi
echo "[run_all] all ${#scripts[@]} benchmarks done; see benchmarks/RESULTS.md" >&2
