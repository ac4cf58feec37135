"""DDP through torchrun: 2 CPU processes on gloo train a tiny model; weights stay identical across ranks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER), str(tmp_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={"OMP_NUM_THREADS": "1",
                         "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")})
    assert res.returncode == 0, res.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2
    assert r0["steps"] == 3  # 48 training rows / 2 ranks / batch 8
    assert r0["digest"] == pytest.approx(r1["digest"], abs=1e-9)
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "metrics.jsonl").is_file()
    assert not (tmp_path / "rank1").exists()
