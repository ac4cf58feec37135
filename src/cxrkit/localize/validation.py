"""Which findings' boxes may be shown: the per-model "localization validated" verdicts.

A finding's localization is **validated** for a classifier when, on held-out NIH box images (``split == "val"``
of ``configs/splits/nih_v2.csv``, patients never used for fitting), all of these hold:

1. its box method's accuracy at T(IoBB) = 0.5 is above the centred-Gaussian control's on the same cases, with a
   one-sided exact McNemar test (paired: same cases) at p < 0.05;
2. its accuracy at T(IoU) = 0.25 is not below the control's (a guard: IoBB alone rewards small boxes);
3. its false boxes per case at T(IoBB) = 0.5 exceed the control's by at most 0.25 (a guard: a box on each side
   of the chest wins on accuracy while showing the reader a wrong-side region on most films);
4. the classifier's card reports the finding (a box for an unvalidated classifier output is never shown).

The verdicts, with the numbers behind them, live in ``src/cxrkit/localize/validated.json`` keyed by model name;
:func:`localization_validated` is what the pipeline asks before drawing a region. A finding that is not
validated is reported without a region ("location not validated").
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.fs import atomic_write_text
from cxrkit.labels import canonical

__all__ = [
    "VALIDATED_FILE", "RULE", "mcnemar_one_sided", "verdicts", "load_validated", "localization_validated",
    "validated_box_method", "write_validated", "accuracy_summary",
]

VALIDATED_FILE = Path(__file__).resolve().parent / "validated.json"
PRIMARY = ("iobb", 0.5)
GUARD = ("iou", 0.25)
ALPHA = 0.05
MAX_EXTRA_FALSE_BOXES = 0.25
RULE = (
    "validated when, on held-out box images, accuracy at T(IoBB)=0.5 beats the centred-Gaussian control "
    "(one-sided exact McNemar on the paired cases, p < 0.05), accuracy at T(IoU)=0.25 is not below the control's, "
    f"false boxes per case at T(IoBB)=0.5 exceed the control's by at most {MAX_EXTRA_FALSE_BOXES}, "
    "and the model card reports the finding"
)


def mcnemar_one_sided(b: int, c: int) -> float:
    """P(X >= b) for X ~ Binomial(b + c, 1/2): the method right where the control is wrong ``b`` times, the
    reverse ``c`` times. 1.0 when there are no discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    return float(sum(math.comb(n, k) for k in range(b, n + 1)) / 2.0**n)


def _correct(cases, source: str, measure: str, t: float) -> np.ndarray:
    from cxrkit.localize.metrics import case_result

    return np.array([case_result(p, g, t, measure)[0] for p, g in zip(cases[source], cases["truth"])], dtype=bool)


def _false_boxes(cases, source: str, measure: str, t: float) -> float:
    from cxrkit.localize.metrics import case_result

    fp = [case_result(p, g, t, measure)[1] for p, g in zip(cases[source], cases["truth"])]
    return float(np.mean(fp)) if fp else math.nan


def verdicts(ev: Any, *, source: str = "anatomy", reported: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """Per finding of a :class:`~cxrkit.localize.evaluate.LocalizationEvaluation`: the numbers and the verdict.

    Args:
        ev: evaluation holding ``source`` and ``control:<source>`` boxes per case.
        source: the box method judged.
        reported: findings the classifier's card reports (others are never validated).
    """
    from cxrkit.localize.evaluate import wilson_interval

    out: dict[str, dict[str, Any]] = {}
    cases = ev.cases
    for f in ev.protocol["evaluable_findings"]:
        sub = cases[cases["finding"] == f]
        n = len(sub)
        rec: dict[str, Any] = {"n_cases": n, "n_boxes": int(sub["n_truth"].sum())}
        ok = True
        for measure, t in (PRIMARY, GUARD):
            m = _correct(sub, source, measure, t)
            c = _correct(sub, f"control:{source}", measure, t)
            key = f"{measure}@{t:g}"
            b_, c_ = int((m & ~c).sum()), int((~m & c).sum())
            p = mcnemar_one_sided(b_, c_)
            rec[key] = {
                "accuracy": round(float(m.mean()), 4) if n else None,
                "ci": [round(x, 4) for x in wilson_interval(int(m.sum()), n)],
                "control_accuracy": round(float(c.mean()), 4) if n else None,
                "control_ci": [round(x, 4) for x in wilson_interval(int(c.sum()), n)],
                "discordant": [b_, c_], "p_one_sided": float(f"{p:.3g}"),
            }
            if n == 0:
                ok = False
            elif (measure, t) == PRIMARY:
                ok &= bool(m.mean() > c.mean() and p < ALPHA)
            else:
                ok &= bool(m.mean() >= c.mean())
        afp, afp_c = _false_boxes(sub, source, *PRIMARY), _false_boxes(sub, f"control:{source}", *PRIMARY)
        rec["false_boxes_per_case@iobb0.5"] = {"method": round(afp, 4) if n else None,
                                               "control": round(afp_c, 4) if n else None}
        ok &= bool(n and afp <= afp_c + MAX_EXTRA_FALSE_BOXES)
        rec["beats_control"] = ok
        rec["reported_by_card"] = f in set(reported)
        rec["validated"] = bool(ok and rec["reported_by_card"])
        out[f] = rec
    return out


def accuracy_summary(ev: Any, source: str = "anatomy") -> dict[str, Any]:
    """Class-mean (unweighted over findings) and per-finding accuracy at T(IoBB) and T(IoU) in {0.1, 0.25, 0.5}."""
    s = ev.scores
    s = s[(s["source"] == source) & (s["finding"] != "all")]
    keys = [(m, t) for m in ("iobb", "iou") for t in (0.1, 0.25, 0.5)]

    def acc(sub, m, t):
        return sub[(sub["measure"] == m) & (sub["threshold"] == t)]["accuracy"]

    return {
        "class_mean_accuracy": {f"{m}@{t:g}": round(float(acc(s, m, t).mean()), 4) for m, t in keys},
        "accuracy": {f: {f"{m}@{t:g}": round(float(acc(s[s["finding"] == f], m, t).iloc[0]), 4) for m, t in keys}
                     for f in sorted(s["finding"].unique())},
    }


@lru_cache(maxsize=4)
def _read(path: str, mtime: float) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def load_validated(path: str | Path | None = None) -> dict[str, Any]:
    """The whole verdict file (``{model: {"box_method", "rule", "evaluation", "findings": {...}}}``); ``{}`` when
    absent."""
    p = Path(path) if path is not None else VALIDATED_FILE
    if not p.is_file():
        return {}
    return _read(str(p), p.stat().st_mtime)


def localization_validated(model: str | None, finding: str, *, path: str | Path | None = None) -> bool:
    """True when ``finding``'s boxes are validated for classifier ``model`` (False for unknown models/findings)."""
    if not model:
        return False
    entry = load_validated(path).get(str(model), {})
    name = canonical(finding, strict=False) or str(finding)
    return bool(entry.get("findings", {}).get(name, {}).get("validated", False))


def validated_box_method(model: str | None, *, path: str | Path | None = None) -> str | None:
    """The box method the verdicts of ``model`` were measured with (None: no verdicts for it)."""
    if not model:
        return None
    return load_validated(path).get(str(model), {}).get("box_method")


def write_validated(model: str, box_method: str, findings: dict[str, dict[str, Any]], evaluation: dict[str, Any],
                    *, path: str | Path | None = None) -> Path:
    """Store (replace) the verdicts of ``model`` in the verdict file, keeping the other models' entries."""
    p = Path(path) if path is not None else VALIDATED_FILE
    data = dict(load_validated(p))
    data[str(model)] = {"box_method": box_method, "rule": RULE, "evaluation": evaluation, "findings": findings}
    atomic_write_text(p, json.dumps(data, indent=2, sort_keys=False) + "\n")
    _read.cache_clear()
    return p
