"""Subgroup audit: AUROC, sensitivity and specificity per subgroup, and tests of the gaps between them.

Subgroup columns: ``sex`` (M / F), ``age`` bands (0-17, 18-39, 40-64, 65+), ``view`` (AP / PA) and every extra
column of the labels CSV (numeric columns with many values are cut into quartiles). Within each source
separately (so that a gap is not a difference between collections), for each finding, each level with at least
:data:`MIN_GROUP` images gets n, positives, AUROC, and sensitivity / specificity at the model card's operating
point, each with a 95% bootstrap CI. Gaps: level A - level B for two levels, each level - the rest for more;
a gap whose CI excludes zero is flagged (no correction for multiple comparisons: read flags as leads).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.audit.stats import auroc_stats, diff_ci, rate_stats
from cxrkit.views import AP, PA, is_ap, view_code

__all__ = ["subgroup_columns", "subgroup_audit", "MIN_GROUP", "AGE_BANDS"]

#: Fewest images for a subgroup level to be analysed.
MIN_GROUP = 10
AGE_BANDS = ((0, 18, "0-17"), (18, 40, "18-39"), (40, 65, "40-64"), (65, 200, "65+"))


def _sex(v: Any) -> str | None:
    s = str(v).strip().upper()[:1] if v is not None and not (isinstance(v, float) and np.isnan(v)) else ""
    return {"M": "M", "F": "F", "W": "F"}.get(s)


def _view(v: Any) -> str | None:
    code = view_code(v)
    if is_ap(code):
        return AP
    if code is not None and code.startswith(PA):
        return PA
    return None


def _age(v: Any) -> str | None:
    try:
        a = float(v)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(a):
        return None
    return next((name for lo, hi, name in AGE_BANDS if lo <= a < hi), None)


def subgroup_columns(meta: pd.DataFrame, extra: Sequence[str] = ()) -> dict[str, pd.Series]:
    """Column name → group label per row (None where unknown)."""
    cols: dict[str, pd.Series] = {}
    if "sex" in meta:
        cols["sex"] = meta["sex"].map(_sex)
    if "age_years" in meta:
        cols["age"] = meta["age_years"].map(_age)
    if "view" in meta:
        cols["view"] = meta["view"].map(_view)
    for c in extra:
        v = meta[c]
        num = pd.to_numeric(v, errors="coerce")
        if num.notna().mean() > 0.9 and num.nunique() > 6:
            cols[c] = pd.qcut(num, 4, duplicates="drop").astype(str).where(num.notna(), None)
        else:
            cols[c] = v.map(lambda x: None if x is None or (isinstance(x, float) and np.isnan(x)) else str(x))
    return cols


def _level_stats(y: np.ndarray, s: np.ndarray, thr: float | None, n_boot: int, seed: int) -> tuple[dict, dict]:
    ok = np.isfinite(y) & np.isfinite(s)
    y, s = y[ok], s[ok]
    auc, auc_rep = auroc_stats(y, s, n_boot=n_boot, seed=seed)
    row: dict[str, Any] = {"n": auc["n"], "positives": auc["positives"], "auroc": auc}
    reps: dict[str, np.ndarray | None] = {"auroc": auc_rep}
    if thr is not None:
        rng = np.random.default_rng(seed + 7)
        pred = s >= thr
        pos, neg = y == 1, y == 0
        row["sensitivity"], reps["sensitivity"] = rate_stats(int(np.sum(pred & pos)), int(pos.sum()), n_boot=n_boot, rng=rng)
        row["specificity"], reps["specificity"] = rate_stats(int(np.sum(~pred & neg)), int(neg.sum()), n_boot=n_boot, rng=rng)
    return row, reps


def _gap(a: dict, ra: dict, b: dict, rb: dict, metric: str) -> dict[str, Any] | None:
    va = a[metric]["auroc"] if metric == "auroc" else a.get(metric, {}).get("value")
    vb = b[metric]["auroc"] if metric == "auroc" else b.get(metric, {}).get("value")
    if va is None or vb is None or ra.get(metric) is None or rb.get(metric) is None:
        return None
    if metric != "auroc" and min(a[metric]["n"], b[metric]["n"]) < 5:
        return None
    return diff_ci(va - vb, ra[metric], rb[metric])


def subgroup_audit(labels: np.ndarray, probs: np.ndarray, findings: Sequence[str], meta: pd.DataFrame, *,
                   extra: Sequence[str] = (), thresholds: Mapping[str, float] | None = None, n_boot: int = 1000,
                   seed: int = 0, min_group: int = MIN_GROUP) -> dict[str, Any]:
    """Subgroup tables and gap tests, within each source.

    Returns:
        ``{"rows": [...], "gaps": [...], "notes": [...]}``: a row per (source, column, level, finding) with n,
        positives, AUROC, sensitivity, specificity (each ``{value/auroc, lo, hi}``); a gap per (source, column,
        comparison, finding, metric) with ``diff``, ``lo``, ``hi``, ``significant``.
    """
    cols = subgroup_columns(meta, extra)
    src = meta["source"].astype(str).to_numpy()
    rows, gaps, notes = [], [], []
    for s in sorted(set(src.tolist())):
        in_s = src == s
        for col, groups in cols.items():
            g = np.array([x if isinstance(x, str) else None for x in groups], dtype=object)
            levels = sorted({x for x in g[in_s] if x is not None})
            if len(levels) < 2:
                continue
            small = [lv for lv in levels if np.sum(in_s & (g == lv)) < min_group]
            for lv in small:
                notes.append(f"{s}: subgroup {col}={lv} has {int(np.sum(in_s & (g == lv)))} images (< {min_group}); "
                             "not analysed")
            levels = [lv for lv in levels if lv not in small]
            if len(levels) < 2:
                continue
            for j, f in enumerate(findings):
                thr = (thresholds or {}).get(f)
                stats = {}
                for k, lv in enumerate(levels):  # independent replicate streams per level
                    m = in_s & (g == lv)
                    r, reps = _level_stats(labels[m, j], probs[m, j], thr, n_boot, seed + 1000 * (k + 1))
                    stats[lv] = (r, reps)
                    if r["positives"] == 0 and r["n"] - r["positives"] == 0:
                        continue
                    rows.append({"source": s, "column": col, "level": lv, "finding": f, "threshold": thr, **r})
                if len(levels) == 2:
                    pairs = [(levels[0], levels[1], stats[levels[0]], stats[levels[1]])]
                else:
                    pairs = []
                    for lv in levels:
                        m = in_s & (g != lv) & np.isin(g, levels)
                        rest = _level_stats(labels[m, j], probs[m, j], thr, n_boot, seed + 999_983)
                        pairs.append((lv, "rest", stats[lv], rest))
                for a, b, (ra, rpa), (rb, rpb) in pairs:
                    for metric in ("auroc", "sensitivity", "specificity"):
                        d = _gap(ra, rpa, rb, rpb, metric)
                        if d is not None:
                            gaps.append({"source": s, "column": col, "a": a, "b": b, "finding": f, "metric": metric,
                                         "n_a": ra["n"], "n_b": rb["n"], **d})
    return {"rows": rows, "gaps": gaps, "notes": notes}
