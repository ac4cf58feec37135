"""Golden tests: refactors must not change what the shipped models output on the bundled examples.

Probabilities within 1e-5, masks identical, CAM block means within 1e-4, analysis results equal (timings and
paths aside, numbers within 1e-4 as rounded in the JSON). Regenerate only for an intended change:
``scripts/make_golden.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from golden_values import compute

GOLDEN = json.loads((Path(__file__).parent / "golden.json").read_text())


@pytest.fixture(scope="module")
def now() -> dict[str, Any]:
    return compute()


def _diff(a: Any, b: Any, path: str, tol: float, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'golden' if k in a else 'now'}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", tol, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", tol, out)
    elif isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, abs_tol=tol)):
            out.append(f"{path}: {a!r} != {b!r}")
    elif a != b:
        out.append(f"{path}: {a!r} != {b!r}")


def test_same_examples(now: dict[str, Any]) -> None:
    assert sorted(now["images"]) == sorted(GOLDEN["images"])
    assert now["classifier_outputs"] == GOLDEN["classifier_outputs"]


@pytest.mark.parametrize("name", sorted(GOLDEN["images"]))
def test_probabilities_within_1e5(now: dict[str, Any], name: str) -> None:
    np.testing.assert_allclose(now["images"][name]["probabilities"], GOLDEN["images"][name]["probabilities"],
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(GOLDEN["images"]))
def test_masks_identical(now: dict[str, Any], name: str) -> None:
    assert now["images"][name]["masks"] == GOLDEN["images"][name]["masks"]


@pytest.mark.parametrize("name", sorted(GOLDEN["images"]))
def test_cams_within_1e4(now: dict[str, Any], name: str) -> None:
    diffs: list[str] = []
    _diff(GOLDEN["images"][name]["cam_blocks"], now["images"][name]["cam_blocks"], "cam", 1e-4, diffs)
    assert not diffs, diffs[:10]


@pytest.mark.parametrize("name", sorted(GOLDEN["images"]))
def test_analysis_result_unchanged(now: dict[str, Any], name: str) -> None:
    diffs: list[str] = []
    _diff(GOLDEN["images"][name]["result"], now["images"][name]["result"], "result", 1e-4, diffs)
    assert not diffs, diffs[:10]
