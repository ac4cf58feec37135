"""kill -9 at random points of ``cxrkit pacs watch`` against a real Orthanc (markers ``orthanc``, ``slow``):
nothing lost, duplicated or half-stored, no retry entry left. ``CXRKIT_FAULT_KILLS`` sets the number of kills
(default 5); see tests/deliver/orthanc_fault_scenario.py for the protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

pytestmark = [pytest.mark.orthanc, pytest.mark.slow]
SCENARIO = Path(__file__).with_name("orthanc_fault_scenario.py")
SIIM = Path(str(resources.files("cxrkit").joinpath("examples/siim_pa_chest.dcm")))


def test_random_kills_of_the_pacs_worker(orthanc_namespace):
    kills = os.environ.get("CXRKIT_FAULT_KILLS", "5")
    seed = os.environ.get("CXRKIT_FAULT_SEED", "0")
    proc = subprocess.run(["unshare", "--net", "--", sys.executable, str(SCENARIO), str(SIIM), kills, seed],
                          capture_output=True, text=True, timeout=1800, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["final_exit"] == 0, res
    assert (res["lost"], res["duplicated"], res["half_written"], res["retry_entries_left"]) == (0, 0, 0, 0), res
