"""What an audit runs on: image paths, labels, source and subgroup columns, from a folder + CSV or datasets.

:class:`AuditData` is the one table every audit section reads: ``paths`` ``(N,)``, ``labels`` ``(N, K)`` of
1 / 0 / NaN for ``findings``, ``meta`` (``source``, ``patient_id``, ``sex``, ``age_years``, ``view`` and any extra
subgroup column). Problems that do not stop the audit (unknown finding columns, missing images, constant label
columns) are collected in ``notes`` with a clear message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cxrkit.errors import DataFormatError
from cxrkit.labels import FINDINGS, canonical
from cxrkit.views import is_lateral

__all__ = ["AuditData", "from_folder", "restrict_ids", "from_datasets", "subsample", "DatasetSpec", "parse_dataset_spec"]

log = logging.getLogger(__name__)

#: CSV columns read as metadata (lower-cased name → meta column), never as findings or extra subgroups.
_META_ALIASES = {"sex": "sex", "gender": "sex", "age": "age_years", "age_years": "age_years", "view": "view",
                 "view_position": "view", "site": "source", "source": "source", "hospital": "source",
                 "patient_id": "patient_id", "patient": "patient_id"}
_ID = "image"


@dataclass
class AuditData:
    """Images to audit and their labels.

    Attributes:
        paths: ``(N,)`` image file paths (str).
        findings: K canonical finding names (label columns).
        labels: float ``(N, K)`` 1 / 0 / NaN.
        meta: N rows: ``image_id``, ``source``, ``patient_id``, ``sex``, ``age_years``, ``view`` + ``extra``.
        extra: names of additional subgroup columns in ``meta`` (from the CSV).
        notes: plain-language messages about inputs that were dropped or cannot be audited.
    """

    paths: np.ndarray
    findings: list[str]
    labels: np.ndarray
    meta: pd.DataFrame
    extra: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def sources(self) -> list[str]:
        return sorted(self.meta["source"].astype(str).unique().tolist())

    def take(self, rows: np.ndarray) -> AuditData:
        rows = np.asarray(rows, dtype=np.int64)
        return AuditData(self.paths[rows], list(self.findings), self.labels[rows],
                         self.meta.iloc[rows].reset_index(drop=True), list(self.extra), list(self.notes))


def _note(notes: list[str], msg: str) -> None:
    log.warning(msg)
    notes.append(msg)


def _check_constant(data: AuditData) -> AuditData:
    keep = []
    for j, f in enumerate(data.findings):
        y = data.labels[:, j]
        y = y[np.isfinite(y)]
        if len(y) == 0:
            _note(data.notes, f"finding {f!r}: no labelled image; dropped")
        elif np.all(y == y[0]):
            _note(data.notes, f"finding {f!r}: label is constant ({int(y[0])} for all {len(y)} labelled images); "
                              "AUROC needs both classes, so it is reported per source only where both exist")
            keep.append(j)
        else:
            keep.append(j)
    data.findings = [data.findings[j] for j in keep]
    data.labels = data.labels[:, keep]
    return data


def _sort_columns(df: pd.DataFrame, notes: list[str]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Label CSV columns → findings (canonical name → column), meta columns (role → column) and the rest
    (subgroup columns; a 0/1 column that is not a known finding gets a did-you-mean note)."""
    finding_cols: dict[str, str] = {}
    meta_cols: dict[str, str] = {}
    extra: list[str] = []
    for c in df.columns:
        if c == _ID or str(c).startswith("Unnamed"):
            continue
        key = str(c).strip().lower()
        if key in _META_ALIASES:
            meta_cols[_META_ALIASES[key]] = c
            continue
        f = canonical(str(c), strict=False)
        if f is not None:
            finding_cols[f] = c
            continue
        vals = set(pd.to_numeric(df[c], errors="coerce").dropna().unique().tolist())
        if vals and vals <= {0.0, 1.0}:
            import difflib

            close = difflib.get_close_matches(str(c), FINDINGS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            _note(notes, f"column {c!r} is not a known finding{hint}; audited as a subgroup column")
        extra.append(str(c))
    return finding_cols, meta_cols, extra


def from_folder(images: str | os.PathLike, labels_csv: str | os.PathLike, *, source: str | None = None) -> AuditData:
    """A folder of images + a labels CSV.

    The CSV has ``image`` (file name or path relative to ``images``), one 0/1 column per finding (any spelling
    :func:`cxrkit.labels.canonical` knows; empty = unknown) and optional ``sex``, ``age``, ``view``, ``site``,
    ``patient_id`` columns. Any other column is audited as a subgroup column (with a note naming the closest
    finding, in case it was meant as one).

    Raises:
        DataFormatError: the CSV cannot be read, has no ``image`` column, or no finding column at all.
    """
    root = Path(images)
    if not root.is_dir():
        raise DataFormatError(f"image folder not found: {root}")
    p = Path(labels_csv)
    try:
        df = pd.read_csv(p)
    except FileNotFoundError as exc:
        raise DataFormatError(f"labels CSV not found: {p}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"cannot read {p} as CSV: {exc}") from exc
    if _ID not in df.columns:
        raise DataFormatError(f"{p}: no {_ID!r} column (the image file name); columns are {list(df.columns)}")
    notes: list[str] = []
    finding_cols, meta_cols, extra = _sort_columns(df, notes)
    if not finding_cols:
        raise DataFormatError(f"{p}: no finding column; known findings are {', '.join(FINDINGS)}")
    paths, rows = [], []
    missing = []
    for i, name in enumerate(df[_ID].astype(str)):
        q = Path(name) if Path(name).is_absolute() else root / name
        if q.is_file():
            paths.append(str(q))
            rows.append(i)
        else:
            missing.append(name)
    if missing:
        _note(notes, f"{len(missing)} of {len(df)} images listed in {p.name} are missing in {root} (skipped; "
                     f"first: {missing[0]})")
    if not rows:
        raise DataFormatError(f"none of the {len(df)} images listed in {p} exist in {root}")
    df = df.iloc[rows].reset_index(drop=True)
    findings = list(finding_cols)
    y = np.full((len(df), len(findings)), np.nan)
    for j, f in enumerate(findings):
        col = pd.to_numeric(df[finding_cols[f]], errors="coerce").to_numpy(dtype=float)
        bad = np.isfinite(col) & ~np.isin(col, (0.0, 1.0))
        if bad.any():
            _note(notes, f"finding {f!r}: {int(bad.sum())} values other than 0/1 (e.g. {col[bad][0]:g}) read as unknown")
            col[bad] = np.nan
        y[:, j] = col
    meta = pd.DataFrame({"image_id": df[_ID].astype(str).map(lambda s: Path(s).name)})
    meta["source"] = (df[meta_cols["source"]].astype(str) if "source" in meta_cols
                      else (source or root.name))
    meta["patient_id"] = df[meta_cols["patient_id"]].astype(str) if "patient_id" in meta_cols else meta["image_id"]
    meta["sex"] = df[meta_cols["sex"]] if "sex" in meta_cols else None
    meta["age_years"] = pd.to_numeric(df[meta_cols["age_years"]], errors="coerce") if "age_years" in meta_cols else np.nan
    meta["view"] = df[meta_cols["view"]] if "view" in meta_cols else None
    for c in extra:
        meta[c] = df[c]
    data = AuditData(np.asarray(paths, dtype=object), findings, y, meta, extra, notes)
    return _check_constant(data)


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset to audit: name, root and adapter options."""

    name: str
    root: str
    options: dict


def parse_dataset_spec(spec: str, root: str) -> DatasetSpec:
    """``"nih:images=adult_512,split=val"`` + root → :class:`DatasetSpec`."""
    name, _, opts = spec.partition(":")
    options = {}
    for kv in filter(None, opts.split(",")):
        k, sep, v = kv.partition("=")
        if not sep:
            raise DataFormatError(f"dataset option {kv!r} in {spec!r} is not key=value")
        options[k.strip()] = v.strip()
    return DatasetSpec(name.strip(), root, options)


def _pre_covid() -> frozenset[str]:
    from cxrkit.train.assemble import PRE_COVID_SOURCES

    return PRE_COVID_SOURCES


def from_datasets(specs: Sequence[DatasetSpec], *, findings: Sequence[str] | None = None) -> AuditData:
    """Registered datasets (:func:`cxrkit.data.load_dataset`), one source each, on the union of their findings.

    Lateral views are dropped. ``findings`` restricts the label columns (default: every finding of any dataset).
    """
    from cxrkit.data import load_dataset

    notes: list[str] = []
    parts = []
    for spec in specs:
        ds = load_dataset(spec.name, root=spec.root, **spec.options)
        m = ds.meta.reset_index(drop=True)
        ok = m["path"].notna().to_numpy().copy()
        if "view" in m.columns:
            lat = m["view"].map(is_lateral).astype(bool)
            if lat.any():
                _note(notes, f"{spec.name}: {int(lat.sum())} lateral films dropped (frontal-only models)")
            ok &= ~lat.to_numpy()
        parts.append((spec, ds, np.flatnonzero(ok)))
    names = list(findings) if findings else sorted({f for _, ds, _ in parts for f in ds.findings}, key=FINDINGS.index)
    paths, labels, metas = [], [], []
    for spec, ds, rows in parts:
        m = ds.meta.reset_index(drop=True).iloc[rows].reset_index(drop=True)
        y = np.full((len(rows), len(names)), np.nan)
        for j, f in enumerate(names):
            if f in ds.findings:
                y[:, j] = ds.labels[rows, ds.findings.index(f)]
        y[(y != 0) & (y != 1)] = np.nan  # uncertain -1 → unknown
        key = spec.name.strip().lower().replace("-", "_")
        if "COVID-19" in names and key in _pre_covid():
            j = names.index("COVID-19")
            y[np.isnan(y[:, j]), j] = 0.0
            notes.append(f"{spec.name}: collected before 2020, so COVID-19 = 0 (as in training)")
        meta = pd.DataFrame({"image_id": m["image_id"].astype(str), "source": m["source"].fillna(spec.name).astype(str),
                             "patient_id": m["patient_id"].astype(str), "sex": m["sex"],
                             "age_years": pd.to_numeric(m["age_years"], errors="coerce"), "view": m["view"]})
        paths.append(m["path"].astype(str).to_numpy(dtype=object))
        labels.append(y)
        metas.append(meta)
    data = AuditData(np.concatenate(paths), names, np.concatenate(labels), pd.concat(metas, ignore_index=True), [], notes)
    return _check_constant(data)


def subsample(data: AuditData, limit: int | None, *, seed: int = 0, keep_ids: set[str] | None = None) -> AuditData:
    """At most ``limit`` images per source (seeded random, sorted back into file order); ``keep_ids`` first
    restricts to those image ids (e.g. a model's hold-out list)."""
    rows = np.arange(len(data))
    if keep_ids is not None:
        ids = data.meta["image_id"].astype(str)
        stems = ids.map(lambda s: Path(s).stem)
        rows = np.flatnonzero((ids.isin(keep_ids) | stems.isin(keep_ids)).to_numpy())
        if not len(rows):
            raise DataFormatError("no audited image is in the selected id list (hold-out / split file)")
    if limit:
        rng = np.random.default_rng(seed)
        src = data.meta["source"].astype(str).to_numpy()[rows]
        chosen = []
        for s in np.unique(src):
            r = rows[src == s]
            if len(r) > limit:
                r = np.sort(rng.choice(r, size=limit, replace=False))
                data.notes.append(f"{s}: audited a seeded random sample of {limit} of {int((src == s).sum())} images")
            chosen.append(r)
        rows = np.sort(np.concatenate(chosen))
    return data.take(rows)


def restrict_ids(data: AuditData, table: pd.DataFrame, what: str) -> AuditData:
    """Keep, in each source the id table names, only the listed images (``image_id`` or its file stem).

    Sources with no listed image (or absent from the table's ``source`` column) are kept whole, with a note;
    ``what`` names the list in the notes (e.g. "the model's hold-out list").
    """
    def id_set(t: pd.DataFrame) -> set[str]:
        v = t["image_id"].astype(str)
        return set(v) | {Path(s).stem for s in v}

    meta = data.meta
    src = meta["source"].astype(str).to_numpy()
    iid = meta["image_id"].astype(str)
    stem = iid.map(lambda s: Path(s).stem)
    if "source" in table.columns:  # ids are matched within their own source
        hit = np.zeros(len(data), bool)
        for s, part in table.groupby(table["source"].astype(str)):
            ids = id_set(part)
            hit |= (src == s) & (iid.isin(ids) | stem.isin(ids)).to_numpy()
    else:
        ids = id_set(table)
        hit = (iid.isin(ids) | stem.isin(ids)).to_numpy()
    keep = np.ones(len(data), bool)
    for s in sorted(set(src.tolist())):
        m = src == s
        if "source" in table.columns and s not in set(table["source"].astype(str)) and not hit[m].any():
            data.notes.append(f"{s}: not in {what}; all its images kept")
            continue
        if not hit[m].any():
            data.notes.append(f"{s}: no image in {what}; all its images kept")
            continue
        keep[m] = hit[m]
        data.notes.append(f"{s}: {int(hit[m].sum())} of {int(m.sum())} images selected by {what}")
    return data.take(np.flatnonzero(keep))
