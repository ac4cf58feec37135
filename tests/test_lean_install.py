"""The lean profile: ``pip install cxrkit`` (no extras) has no PyTorch, pandas, scikit-learn or matplotlib, and
``cxrkit analyze`` (findings, heatmap boxes, anatomy, DICOM output) works in it, in a fresh virtual environment.

Slow (a venv and a pip install from the package registry or its cache, ~1 min); it runs in CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "cxrkit" / "examples"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_lean_profile_installs_without_torch_and_analyzes(tmp_path: Path) -> None:
    env_dir = tmp_path / "lean"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)], check=True,
                   timeout=840)
    present = subprocess.run(
        [str(py), "-c", "import importlib.util as u; print([m for m in ('torch', 'pandas', 'sklearn', 'matplotlib', "
         "'onnx', 'captum') if u.find_spec(m)])"], check=True, capture_output=True, text=True).stdout.strip()
    assert present == "[]", f"the lean profile pulled in {present}"
    out = tmp_path / "out"
    run = subprocess.run([str(env_dir / "bin" / "cxrkit"), "analyze", str(EXAMPLES / "00000377_004.png"),
                          str(EXAMPLES / "siim_pa_chest.dcm"), "--out", str(out), "--dicom-out"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    results = sorted(out.glob("*/result.json"))
    assert len(results) == 2
    found = json.loads(results[0].read_text() if "00000377" in str(results[0]) else results[1].read_text())
    cardio = next(f for f in found["findings"] if f["name"] == "Cardiomegaly")
    assert cardio["positive"] and cardio["boxes"], ("heatmap boxes need the ONNX features output, not PyTorch: "
                                                    f"{found['components']} {run.stderr[-1500:]}")
    assert any(out.glob("*/*.dcm")), "DICOM output missing"
    # the library refuses what needs an extra with a message naming it
    r = subprocess.run([str(py), "-c", "from cxrkit.data import load_dataset"], capture_output=True, text=True)
    assert r.returncode != 0 and "cxrkit[data]" in r.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
