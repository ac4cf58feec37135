"""cxrkit's DenseNet-121 loads TorchXRayVision state dicts with identical outputs (benchmarks/xrv_interop_check.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "xrv_interop_check.py"
BENCH_VENV = Path(os.environ.get("CXRKIT_BENCH_VENV") or ROOT.parent / "benchvenv")  # as benchmarks/run_all.sh
BENCH_PY = BENCH_VENV / "bin" / "python"


def _python() -> str | None:
    if importlib.util.find_spec("torchxrayvision") is not None:
        return sys.executable
    if BENCH_PY.is_file() and (BENCH_PY.parent.parent / ".ready").is_file():
        return str(BENCH_PY)
    return None


@pytest.mark.slow
def test_xrv_densenet_state_dict_gives_identical_outputs():
    py = _python()
    if py is None:
        pytest.skip(f"torchxrayvision not importable and no benchmark venv at {BENCH_VENV} (CXRKIT_BENCH_VENV)")
    res = subprocess.run([py, str(SCRIPT), "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    assert rec["ok"] and rec["max_abs_logit_diff"] < 1e-4 and rec["outputs"] == [2, 18]
