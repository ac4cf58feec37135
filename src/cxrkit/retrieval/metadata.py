"""The metadata table beside an index: one row per film, and the search filters over it.

Columns (all strings; ``""`` when unknown):

| column | meaning |
| --- | --- |
| ``image_id`` | unique id of the film in the index (file name for files, the dataset's id for datasets) |
| ``patient_id`` | patient identifier (DICOM PatientID or the dataset's); used to exclude the query's patient and for opt-out |
| ``study_date`` | ``YYYY-MM-DD`` (DICOM StudyDate) or ``""`` |
| ``view`` | ``PA`` / ``AP`` / ``AP SUPINE`` / ``LATERAL`` or ``""`` |
| ``labels`` | confirmed findings, ``|``-separated (e.g. ``Effusion|Edema``; ``No Finding``) or ``""`` |
| ``dataset`` | where the film comes from (``nih``, ``files``, a site name...) |
| ``source_path`` | the file the vector was computed from |
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrkit.errors import DataFormatError

__all__ = ["META_COLUMNS", "SearchFilter", "normalize_meta", "meta_from_dataset", "meta_from_files",
           "filter_mask", "normalize_date", "label_set"]

META_COLUMNS = ("image_id", "patient_id", "study_date", "view", "labels", "dataset", "source_path")


def normalize_date(value: object, what: str = "date") -> str:
    """``YYYYMMDD`` / ``YYYY-MM-DD`` (or empty) → ``YYYY-MM-DD`` (or ``""``).

    Raises:
        DataFormatError: anything else (the value is named).
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    s = str(value).strip()
    if not s:
        return ""
    m = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", s)
    if not m or not (1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31):
        raise DataFormatError(f"{what} {value!r}: expected YYYY-MM-DD or YYYYMMDD")
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"


def normalize_meta(meta: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce a metadata table: the :data:`META_COLUMNS` (missing optional ones filled with ``""``).

    Raises:
        DataFormatError: no ``image_id`` column, empty or duplicated image ids, or a bad study date.
    """
    if "image_id" not in meta.columns:
        raise DataFormatError(f"metadata needs an 'image_id' column; got {list(meta.columns)}")
    out = pd.DataFrame(index=range(len(meta)))
    for col in META_COLUMNS:
        vals = meta[col].tolist() if col in meta.columns else [""] * len(meta)
        out[col] = pd.Series(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in vals],
                             dtype=object)
    out["study_date"] = pd.Series([normalize_date(v, "study_date") for v in out["study_date"]], dtype=object)
    out["view"] = pd.Series([v.strip().upper() for v in out["view"]], dtype=object)
    if (out["image_id"] == "").any():
        raise DataFormatError("metadata has empty image_id values")
    dup = out["image_id"][out["image_id"].duplicated()].unique().tolist()
    if dup:
        raise DataFormatError(f"duplicate image_id values in the metadata: {dup[:5]}")
    return out


def label_set(labels: str) -> frozenset[str]:
    """``"Effusion|Edema"`` → ``frozenset({"Effusion", "Edema"})`` (empty string → empty set)."""
    return frozenset(s for s in labels.split("|") if s)


def meta_from_dataset(ds, *, dataset: str | None = None) -> pd.DataFrame:
    """Metadata rows of a :class:`cxrkit.data.Dataset` (labels = its positive findings, ``No Finding`` included)."""
    m = ds.meta
    lab = np.asarray(ds.labels)
    labels = ["|".join(f for f, v in zip(ds.findings, row) if v == 1) for row in lab]
    name = dataset or (str(m["source"].iloc[0]) if "source" in m.columns and len(m) else "dataset")
    return normalize_meta(pd.DataFrame({
        "image_id": m["image_id"].astype(str), "patient_id": m["patient_id"].astype(str),
        "study_date": m["study_date"] if "study_date" in m.columns else "",
        "view": m["view"].fillna("") if "view" in m.columns else "", "labels": labels,
        "dataset": m["source"].astype(str) if "source" in m.columns else name,
        "source_path": m["path"].astype(str),
    }))


def meta_from_files(paths: Sequence[str | Path], *, dataset: str = "files",
                    table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Metadata rows of image files: ``image_id`` is the file name; DICOM headers give patient, date and view.

    Args:
        paths: the files.
        dataset: value of the ``dataset`` column.
        table: optional metadata keyed by ``image_id`` (file name) whose non-empty values win (e.g. confirmed
            labels and patient ids for PNGs, which carry none).
    """
    from cxrkit.io import read_header

    rows = []
    for p in map(Path, paths):
        meta = read_header(p)
        d = meta.dicom or {}
        rows.append({"image_id": p.name, "patient_id": d.get("PatientID", ""), "study_date": d.get("StudyDate", ""),
                     "view": meta.view or "", "labels": "", "dataset": dataset, "source_path": str(p)})
    out = pd.DataFrame(rows, columns=list(META_COLUMNS))
    if table is not None and len(out):
        t = normalize_meta(table).set_index("image_id")
        for col in META_COLUMNS[1:]:
            if col in table.columns:
                given = out["image_id"].map(t[col]).fillna("")
                out[col] = np.where(given != "", given, out[col])
    return normalize_meta(out)


@dataclass(frozen=True)
class SearchFilter:
    """Which films a search may return (all conditions together).

    Attributes:
        exclude_patients: patient ids never returned (e.g. the query's own patient).
        views: allowed views (None: any), e.g. ``{"PA"}``.
        date_from / date_to: inclusive study-date range ``YYYY-MM-DD`` (films without a date are excluded when
            either is set).
        datasets: allowed ``dataset`` values (None: any).
        exclude_images: image ids never returned (e.g. the query itself).
    """

    exclude_patients: frozenset[str] = frozenset()
    views: frozenset[str] | None = None
    date_from: str | None = None
    date_to: str | None = None
    datasets: frozenset[str] | None = None
    exclude_images: frozenset[str] = frozenset()

    @classmethod
    def make(cls, *, exclude_patients: Iterable[str] = (), views: Iterable[str] | None = None,
             date_from: str | None = None, date_to: str | None = None, datasets: Iterable[str] | None = None,
             exclude_images: Iterable[str] = ()) -> SearchFilter:
        """Build a filter from plain values (dates checked and normalised, views upper-cased)."""
        df = normalize_date(date_from, "date_from") or None
        dt = normalize_date(date_to, "date_to") or None
        if df and dt and df > dt:
            raise DataFormatError(f"date range is empty: date_from {df} is after date_to {dt}")
        return cls(exclude_patients=frozenset(str(p) for p in exclude_patients if str(p)),
                   views=None if views is None else frozenset(v.strip().upper() for v in views),
                   date_from=df, date_to=dt, datasets=None if datasets is None else frozenset(datasets),
                   exclude_images=frozenset(exclude_images))

    @property
    def is_empty(self) -> bool:
        return not (self.exclude_patients or self.views is not None or self.date_from or self.date_to
                    or self.datasets is not None or self.exclude_images)


def filter_mask(meta: pd.DataFrame, flt: SearchFilter | None) -> np.ndarray:
    """Rows of ``meta`` that ``flt`` allows: bool ``(N,)``."""
    n = len(meta)
    if flt is None or flt.is_empty:
        return np.ones(n, bool)
    ok = np.ones(n, bool)
    if flt.exclude_patients:
        ok &= ~meta["patient_id"].isin(flt.exclude_patients).to_numpy()
    if flt.exclude_images:
        ok &= ~meta["image_id"].isin(flt.exclude_images).to_numpy()
    if flt.views is not None:
        ok &= meta["view"].isin(flt.views).to_numpy()
    if flt.datasets is not None:
        ok &= meta["dataset"].isin(flt.datasets).to_numpy()
    if flt.date_from or flt.date_to:
        d = meta["study_date"].to_numpy(dtype=object)
        has = d != ""
        if flt.date_from:
            has &= d >= flt.date_from
        if flt.date_to:
            has &= d <= flt.date_to
        ok &= has.astype(bool)
    return ok
