"""kill -9 at random points of ``cxrkit analyze --dicom-out``: nothing lost, duplicated, half-written or left
behind (issue 11). ``CXRKIT_FAULT_KILLS`` sets the number of kills (default 5; the figure for 20 is in
docs/security.md, from ``tests/deliver/fault_injection.py --kills 20``)."""

from __future__ import annotations

import os

import pytest
from fault_injection import run


@pytest.mark.slow
def test_random_kills_lose_duplicate_and_leave_nothing(tmp_path):
    kills = int(os.environ.get("CXRKIT_FAULT_KILLS", "5"))
    res = run(kills, int(os.environ.get("CXRKIT_FAULT_SEED", "0")), tmp_path)
    assert res["final_exit"] == 0, res
    assert (res["lost"], res["duplicated"], res["half_written"], res["temp_left"]) == (0, 0, 0, 0), res
