"""Real Orthanc round trip for ``cxrkit pacs watch`` (marker ``orthanc``).

The scenario (tests/deliver/orthanc_scenario.py) runs under ``unshare --net`` so Orthanc, which listens on
all interfaces, is reachable from loopback only; see that file for the steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

pytestmark = pytest.mark.orthanc
SCENARIO = Path(__file__).with_name("orthanc_scenario.py")
SIIM = Path(str(resources.files("cxrkit").joinpath("examples/siim_pa_chest.dcm")))


@pytest.fixture(scope="module")
def observations(orthanc_namespace):
    proc = subprocess.run(["unshare", "--net", "--", sys.executable, str(SCENARIO), str(SIIM)],
                          capture_output=True, text=True, timeout=400, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _segmenter_shipped() -> bool:
    try:
        from cxrkit.anatomy.segment import load_segmenter

        load_segmenter(None)
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def outputs():
    """Result modalities per analyzed radiograph: SR + SC, and SEG when the shipped segmenter exists."""
    return ["OT", "SEG", "SR"] if _segmenter_shipped() else ["OT", "SR"]


def test_results_are_stored_into_the_same_study(observations, outputs):
    o = observations
    assert o["dicomweb_plugin"]
    assert o["run1_code"] == 0, o["run1_output"]
    assert f"1 analyzed, {len(outputs)} result instances stored" in o["run1_output"]
    modalities = sorted(s["modality"] for s in o["after_run1"])
    assert modalities == sorted(["CR", *outputs]), o["after_run1"]
    assert all("not a diagnosis" in s["description"] for s in o["after_run1"] if s["modality"] in ("SR", "OT"))


def test_second_run_stores_nothing(observations):
    o = observations
    assert o["run2_code"] == 0 and "0 analyzed, 0 result instances stored" in o["run2_output"]
    assert o["after_run2"] == o["after_run1"]


def test_worker_survives_orthanc_outage(observations, outputs):
    o = observations
    assert o["retry_seen_while_down"] and o["worker_alive_while_down"]
    assert "retry" in o["run3_output"]
    assert o["run3_code"] == 0 and f"1 analyzed, {len(outputs)} result instances stored" in o["run3_output"], o["run3_output"]
    counts = sorted((s["modality"], s["instances"]) for s in o["after_run3"])
    # two source radiographs, and exactly one of each result object for each: nothing stored twice
    assert counts == sorted([(m, 1) for m in ["CR", *outputs] * 2]), o["after_run3"]
