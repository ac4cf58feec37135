"""Read prediction and label tables and align them by image (the file edge of ``cxrkit evaluate``).

Predictions: a CSV with an id column (``path``, ``image_id``, ``Image Index`` or ``image``) and one
probability column per finding, named ``<finding>`` or ``prob_<finding>`` (any spelling
:func:`cxrkit.labels.canonical` knows). Labels: a CSV with an id column and finding columns of 1 / 0 / NaN
(-1 uncertain is refused), the NIH ``Data_Entry_2017*.csv(.gz)`` table (pipe-separated ``Finding Labels``),
or a CheXNet split list (``*.txt``: image name + 14 values).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrkit.errors import DataFormatError, unknown_name
from cxrkit.labels import FINDINGS, NIH_FINDINGS, canonical

__all__ = ["Aligned", "read_predictions", "read_labels", "align"]

log = logging.getLogger(__name__)

_ID_COLUMNS = ("path", "image_id", "Image Index", "image", "filename", "id")
_NON_FINDING = {"error", "split", "patient_id", "source", "view", "sex", "age", "age_years"}


@dataclass
class Aligned:
    """Rows present in both tables: ids ``(N,)``, labels and probabilities ``(N, K)`` for ``findings``."""

    ids: np.ndarray
    findings: list[str]
    labels: np.ndarray
    probs: np.ndarray
    n_predictions: int
    n_labels: int


def _id_key(v: object) -> str:
    return Path(str(v)).name


def _read_csv(path: str | Path) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"table not found: {p}")
    try:
        return pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"cannot read {p} as CSV: {exc}") from exc


def _id_column(df: pd.DataFrame, path: str | Path) -> str:
    for c in _ID_COLUMNS:
        if c in df.columns:
            return c
    raise DataFormatError(f"{path}: no image id column; expected one of {', '.join(_ID_COLUMNS)}")


def _finding_columns(df: pd.DataFrame, idcol: str, path: str | Path, *, strict: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    skipped: list[str] = []
    for c in df.columns:
        if c == idcol or c in _NON_FINDING or str(c).startswith("Unnamed"):
            continue
        name = str(c)[5:] if str(c).startswith("prob_") else str(c)
        f = canonical(name, strict=strict)  # unknown finding names raise UnknownNameError when strict
        if f is None:
            skipped.append(str(c))
        elif f in out:
            raise DataFormatError(f"{path}: columns {out[f]!r} and {c!r} both name the finding {f!r}")
        else:
            out[f] = c
    if skipped:
        first = skipped[0][5:] if skipped[0].startswith("prob_") else skipped[0]
        hint = str(unknown_name("finding", first, FINDINGS))
        if not out:
            raise DataFormatError(f"{path}: no finding columns; ignored columns {skipped} ({hint})")
        log.warning("%s: ignoring columns that name no known finding: %s (%s)", path, skipped, hint)
    if not out:
        raise DataFormatError(f"{path}: no finding columns (only {list(map(str, df.columns))})")
    return out


def _numeric(df: pd.DataFrame, col: str, path: str | Path) -> np.ndarray:
    """A column as float64; empty cells become NaN, any other non-number is an error (never silently NaN)."""
    raw = df[col]
    v = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
    text = raw.astype(str).str.strip()
    bad = np.isnan(v) & raw.notna().to_numpy() & (text.str.len() > 0).to_numpy()
    bad &= ~text.str.lower().isin(["nan", "na", "n/a"]).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(f"{path}: column {col!r} has {int(bad.sum())} non-numeric value(s), "
                              f"e.g. {raw.iloc[i]!r} on data row {i + 1}; expected numbers")
    return v


def read_predictions(path: str | Path) -> tuple[pd.Series, dict[str, np.ndarray]]:
    """Image ids and finding → probability arrays (rows with an ``error`` are dropped)."""
    df = _read_csv(path)
    idcol = _id_column(df, path)
    if "error" in df.columns:
        df = df[df["error"].isna() | (df["error"].astype(str).str.len() == 0)]
    cols = _finding_columns(df, idcol, path, strict=False)
    probs = {f: _numeric(df, c, path) for f, c in cols.items()}
    bad = [f for f, v in probs.items() if np.any((v < 0) | (v > 1))]
    if bad:
        raise DataFormatError(f"{path}: probabilities outside [0, 1] for {bad}")
    return df[idcol].map(_id_key).reset_index(drop=True), probs


def read_labels(path: str | Path) -> tuple[pd.Series, dict[str, np.ndarray]]:
    """Image ids and finding → label arrays (1 / 0 / NaN). Unknown finding names are errors."""
    p = Path(path)
    if p.suffix == ".txt":
        try:
            df = pd.read_csv(p, sep=r"\s+", header=None, dtype={0: object})
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataFormatError(f"cannot read split list {p}: {exc}") from exc
        if df.shape[1] != 1 + len(NIH_FINDINGS):
            raise DataFormatError(f"{p}: expected an image name and {len(NIH_FINDINGS)} values per line")
        df.columns = ["image_id", *NIH_FINDINGS]
        return df["image_id"].map(_id_key), {f: df[f].to_numpy(np.float64) for f in NIH_FINDINGS}
    df = _read_csv(p)
    idcol = _id_column(df, p)
    if "Finding Labels" in df.columns:  # the NIH Data_Entry table: pipe-separated names, "No Finding"
        names = df["Finding Labels"].astype(str).str.split("|")
        known = [*NIH_FINDINGS, "No Finding"]
        unknown = sorted({n for ns in names for n in ns} - set(known))
        if unknown:
            raise DataFormatError(f"{p}: unknown names in 'Finding Labels': {unknown[:5]}")
        labels = {f: names.map(lambda ns, f=f: float(f in ns)).to_numpy(np.float64) for f in known}
        return df[idcol].map(_id_key).reset_index(drop=True), labels
    cols = _finding_columns(df, idcol, p, strict=True)
    labels = {f: _numeric(df, c, p) for f, c in cols.items()}
    for f, v in labels.items():
        vals = set(np.unique(v[np.isfinite(v)]).tolist()) - {0.0, 1.0}
        if vals:
            raise DataFormatError(f"{p}: labels of {f} must be 1, 0 or empty; found {sorted(vals)[:5]}")
    return df[idcol].map(_id_key).reset_index(drop=True), labels


def align(pred_path: str | Path, label_path: str | Path, findings: list[str] | None = None) -> Aligned:
    """Join predictions and labels on the image file name.

    Args:
        pred_path / label_path: the two tables.
        findings: restrict to these (default: findings present in both).

    Raises:
        DataFormatError: no common images or findings, duplicated ids.
    """
    pid, probs = read_predictions(pred_path)
    lid, labels = read_labels(label_path)
    for ids, name in ((pid, pred_path), (lid, label_path)):
        if ids.duplicated().any():
            raise DataFormatError(f"{name}: duplicated image ids, e.g. {ids[ids.duplicated()].iloc[0]!r}")
    common_f = [f for f in probs if f in labels]
    if findings is not None:
        want = [canonical(f) for f in findings]
        missing = [f for f in want if f not in common_f]
        if missing:
            raise DataFormatError(f"findings {missing} are not in both tables (common: {common_f})")
        common_f = want
    if not common_f:
        raise DataFormatError(f"no finding in common between {pred_path} ({list(probs)}) and {label_path} ({list(labels)})")
    lpos = pd.Series(np.arange(len(lid)), index=lid.to_numpy())
    ppos = pd.Series(np.arange(len(pid)), index=pid.to_numpy())
    ids = np.array(sorted(set(lpos.index) & set(ppos.index)), dtype=object)
    if not len(ids):
        raise DataFormatError(f"no image of {pred_path} appears in {label_path}")
    li, pi = lpos[ids].to_numpy(), ppos[ids].to_numpy()
    y = np.stack([labels[f][li] for f in common_f], axis=1).astype(np.float32)
    p = np.stack([probs[f][pi] for f in common_f], axis=1).astype(np.float32)
    return Aligned(ids, common_f, y, p, len(pid), len(lid))
