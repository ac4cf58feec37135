"""Regression guard on CPU time per item of the hot paths (issue 16): fails when a path costs > 1.3x the figure
recorded in ``cpu_baseline.json``.

CPU time (``time.process_time``, ONNX Runtime on 1 thread), not wall time, so other jobs on the machine do not
flake it; each figure is the minimum over several repeats. Figures are normalised by a fixed calibration
workload (zlib + numpy, single thread) measured in the same run, so a slower or faster CI machine compares
like with like. Speed figures for docs come from ``benchmarks/``, not from here.

Re-record on a quiet machine after a deliberate change: ``.venv/bin/python tests/perf/test_cpu_guard.py --record``.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

BASELINE = Path(__file__).with_name("cpu_baseline.json")
EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "cxrkit" / "examples"
REPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "text" / "openi"
TOLERANCE = 1.3
REPEATS = 5


def _cpu_min(fn: Callable[[], int], repeats: int = REPEATS) -> float:
    """Minimum over ``repeats`` of CPU ms per item (``fn`` returns how many items it did)."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        n = fn()
        best = min(best, (time.process_time() - c0) * 1000 / n)
    return best


def _calibration() -> int:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, size=(512, 512), dtype=np.uint8)
    for _ in range(4):
        zlib.decompress(zlib.compress(a.tobytes(), 6))
        np.sort(a.astype(np.float32), axis=None)
    return 1


def measure() -> dict[str, float]:
    """CPU ms per item of each hot path, and of the calibration workload."""
    from cxrkit.anatomy.segment import load_segmenter
    from cxrkit.io import read_image
    from cxrkit.models.classifier import load_classifier
    from cxrkit.pipeline import Analyzer
    from cxrkit.text import label_report
    from cxrkit.text.readers import ReportRecord, iter_reports

    images = sorted(EXAMPLES.glob("*.png"))
    clf = load_classifier(threads=1)
    x = clf.preprocess([read_image(images[0]).pixels])
    reports = [r.content for r in iter_reports([REPORTS]) if isinstance(r, ReportRecord)]
    analyzer = Analyzer(clf, load_segmenter(threads=1))

    def decode_preprocess() -> int:
        for p in images:
            clf.preprocess([read_image(p).pixels])
        return len(images)

    def model_run() -> int:
        for _ in range(4):
            clf.run(x)
        return 4

    def labeler() -> int:
        for _ in range(5):
            for r in reports:
                label_report(r)
        return 5 * len(reports)

    def analyze() -> int:
        for p in images:
            analyzer.analyze(p)
        return len(images)

    return {
        "calibration": _cpu_min(_calibration),
        "decode_preprocess": _cpu_min(decode_preprocess),
        "classifier_model_run": _cpu_min(model_run),
        "labeler_per_report": _cpu_min(labeler),
        "analyze": _cpu_min(analyze, repeats=3),
    }


def over_tolerance(recorded: dict[str, float], got: dict[str, float]) -> tuple[float, dict[str, str]]:
    """``(machine scale, {path: why})`` for the paths whose normalised CPU time exceeds TOLERANCE x recorded."""
    scale = got["calibration"] / recorded["calibration"]  # > 1: this machine is slower
    worse = {}
    for name, ref in recorded.items():
        if name == "calibration":
            continue
        normalised = got[name] / scale
        if normalised > TOLERANCE * ref:
            worse[name] = f"{got[name]:.3f} ms CPU ({normalised:.3f} normalised) vs recorded {ref:.3f}"
    return scale, worse


def test_guard_flags_a_slower_path_and_allows_a_slower_machine():
    rec = {"calibration": 10.0, "a": 1.0, "b": 2.0}
    assert over_tolerance(rec, {"calibration": 10.0, "a": 1.2, "b": 2.0})[1] == {}
    assert set(over_tolerance(rec, {"calibration": 10.0, "a": 1.5, "b": 2.0})[1]) == {"a"}
    assert over_tolerance(rec, {"calibration": 20.0, "a": 2.4, "b": 4.0})[1] == {}  # everything 2x: a slower machine


@pytest.mark.slow
def test_hot_paths_cpu_time_within_recorded():
    base = json.loads(BASELINE.read_text(encoding="utf-8"))
    scale, worse = over_tolerance(base["cpu_ms"], measure())
    assert not worse, (f"hot paths over {TOLERANCE}x their recorded CPU time (machine scale {scale:.2f}, "
                       f"recorded on {base['machine']}): {worse}")


def record() -> None:
    """Write ``cpu_baseline.json`` from this machine (run it on a quiet machine)."""
    import os

    figures = measure()
    BASELINE.write_text(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}, load {os.getloadavg()[0]:.2f} when recorded",
        "recorded": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu_ms": {k: round(v, 4) for k, v in figures.items()},
    }, indent=2) + "\n", encoding="utf-8")
    print(BASELINE.read_text(encoding="utf-8"))


if __name__ == "__main__":
    if "--record" in sys.argv:
        record()
    else:
        print(json.dumps(measure(), indent=2))
