#!/usr/bin/env bash
# Build the benchmark virtual environment (outside the repo) that holds TorchXRayVision next to cxrkit.
#
# Usage:  bash benchmarks/setup_bench_env.sh [VENV_DIR]     (default: $CXRKIT_BENCH_VENV, else ../benchvenv next to the checkout)
#
# Idempotent: re-running re-checks every step and only installs what is missing. The venv is complete when
# VENV_DIR/.ready exists (written last, after both `torchxrayvision` and `cxrkit` import).
#
# Why a separate venv: TorchXRayVision needs torchvision, which cxrkit itself does not use; the main `.venv`
# stays lean (torch 2.13.0 CPU, no torchvision). Here torch is pinned to 2.14.1 + torchvision 0.29.1 (the
# builds that pip takes from this machine's local wheel store), and cxrkit is installed editable with
# `--no-deps` so that its own `torch>=2.3` requirement can never move that pin.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${CXRKIT_BENCH_VENV:-$(dirname "$REPO")/benchvenv}}"
PY="${PYTHON:-python3}"
TORCH_PIN="torch==2.14.1"
TORCHVISION_PIN="torchvision==0.29.1"

log() { echo "[setup_bench_env] $*" >&2; }

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet)

# 1. torch + torchvision, pinned together.
"${PIP[@]}" "$TORCH_PIN" "$TORCHVISION_PIN"

# 2. TorchXRayVision (brings scikit-image, imageio, requests, tqdm ...), torch pinned so it cannot move.
"${PIP[@]}" torchxrayvision "$TORCH_PIN" "$TORCHVISION_PIN"

# 3. cxrkit's runtime dependencies and every optional extra from pyproject.toml (read now, so new ones are
#    picked up), except torch/torchvision (pinned above) and playwright (browser tests, not benchmarks); plus
#    pyinstrument (`preprocess_bench.py --profile`) and pyspng (libspng PNG decoder: a reference row in that
#    benchmark's stage breakdown, not used by cxrkit).
mapfile -t DEPS < <("$VENV/bin/python" - "$REPO/pyproject.toml" <<'PYEOF'
import re, sys, tomllib
with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)["project"]
deps = list(project.get("dependencies", []))
for extra in project.get("optional-dependencies", {}).values():
    deps += extra
skip = {"torch", "torchvision", "playwright"}
for d in dict.fromkeys(deps):
    name = re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].strip().lower()
    if name not in skip:
        print(d)
PYEOF
)
"${PIP[@]}" "${DEPS[@]}" pyinstrument pyspng "$TORCH_PIN" "$TORCHVISION_PIN"

# 4. cxrkit itself, editable, without letting pip resolve its deps again.
"${PIP[@]}" --no-deps -e "$REPO"

# 5. Verify, then mark ready.
"$VENV/bin/python" - <<'PYEOF'
import torch, torchvision, torchxrayvision, cxrkit
assert torch.__version__.startswith("2.14.1"), torch.__version__
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"torchxrayvision {torchxrayvision.__version__}, cxrkit {cxrkit.__file__}")
PYEOF
touch "$VENV/.ready"
log "ready: $VENV"
