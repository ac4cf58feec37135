"""Assemble a multi-source training table: datasets → one label matrix, a patient-level train/val split.

Each source is loaded with :func:`cxrkit.data.load_dataset`, moved onto the model's finding list
(:func:`cxrkit.labels.relabel`, NaN where the source says nothing) and split by patient with
:func:`cxrkit.data.splits.patient_split` (stratified, seeded, per source). Two source facts are added:

* ``COVID-19`` is 0 (not NaN) for sources collected before 2020 (NIH 1992-2015, JSRT 1998, Kermany
  2018): those patients cannot have had COVID-19.
* NIH images that carry official boxes are *kept in validation* when ``nih_boxes_in_val`` is set, so that
  localization can be evaluated on images the classifier never trained on; with only the 710 local NIH
  images (692 of them boxed) the default recipe instead splits NIH by patient like every other source and
  records, per image, whether it was trained on (the ``split`` column).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrkit.errors import DataFormatError
from cxrkit.fs import atomic_open
from cxrkit.labels import canonical, relabel
from cxrkit.views import is_frontal

__all__ = ["TrainingTable", "assemble", "PRE_COVID_SOURCES", "read_table", "write_table", "read_split_file"]

log = logging.getLogger(__name__)

#: Sources whose images predate COVID-19 (their COVID-19 label is a known 0).
PRE_COVID_SOURCES: frozenset[str] = frozenset({"nih", "jsrt", "kermany", "openi", "chexpert", "padchest"})


@dataclass
class TrainingTable:
    """Rows of every source, aligned.

    Attributes:
        findings: K canonical names.
        labels: float32 ``(N, K)`` with 1 / 0 / NaN.
        meta: N rows with ``path``, ``source``, ``patient_id``, ``image_id``, ``view``, ``split``
            ("train" / "val") and ``has_boxes``.
    """

    findings: list[str]
    labels: np.ndarray
    meta: pd.DataFrame

    def part(self, name: str) -> np.ndarray:
        """Row positions of a split part ("train" or "val")."""
        return np.flatnonzero(self.meta["split"].to_numpy() == name)

    def counts(self) -> pd.DataFrame:
        """Images, positives and negatives per source, split and finding (for the model card)."""
        rows = []
        for (src, split), idx in self.meta.groupby(["source", "split"]).indices.items():
            lab = self.labels[idx]
            row = {"source": src, "split": split, "images": int(len(idx))}
            for j, f in enumerate(self.findings):
                row[f"{f}+"] = int(np.sum(lab[:, j] == 1))
                row[f"{f}-"] = int(np.sum(lab[:, j] == 0))
            rows.append(row)
        return pd.DataFrame(rows)


def _frontal(view: pd.Series) -> np.ndarray:
    v = view.astype(object).where(view.notna(), "").astype(str).str.upper().str.strip()
    # Unknown view (empty) is kept: Kermany files carry no view but are frontal AP/PA by construction.
    return (v.map(is_frontal) | (v == "") | (v == "NONE")).to_numpy(dtype=bool)


def _cap(idx: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    if cap is None or len(idx) <= int(cap):
        return idx
    return np.sort(rng.choice(idx, size=int(cap), replace=False))


def assemble(
    roots: Mapping[str, str],
    findings: Sequence[str],
    *,
    val_fraction: float = 0.2,
    val_fraction_by_source: Mapping[str, float] | None = None,
    max_train_per_source: Mapping[str, int] | None = None,
    max_val_per_source: Mapping[str, int] | None = None,
    frontal_only: bool = True,
    nih_boxes_in_val: bool = False,
    seed: int = 0,
    options: Mapping[str, Mapping[str, object]] | None = None,
    split_files: Mapping[str, str] | None = None,
) -> TrainingTable:
    """Load, relabel and split every source.

    Args:
        roots: dataset name → folder (see :func:`cxrkit.data.load_dataset`).
        findings: the model's canonical finding list.
        val_fraction: fraction of each source's images (by patient) held out for validation.
        val_fraction_by_source: per-source override.
        max_train_per_source / max_val_per_source: optional random caps per source after the split.
        frontal_only: keep PA/AP views (rows with an unknown view are kept).
        nih_boxes_in_val: force NIH images with official boxes (and their patients) into validation.
        seed: seeds the split and the caps.
        options: per-source keyword arguments of :func:`cxrkit.data.load_dataset`.
        split_files: per-source fixed split CSV (``image_id``, ``split``); see :func:`read_split_file`.

    Returns:
        :class:`TrainingTable`.

    Raises:
        DataFormatError: no roots, or nothing left after filtering.
    """
    from cxrkit.data import load_dataset

    if not roots:
        raise DataFormatError("no dataset roots given (data.roots in the config)")
    target = [canonical(f) for f in findings]
    vfr = dict(val_fraction_by_source or {})
    tcap, vcap = dict(max_train_per_source or {}), dict(max_val_per_source or {})
    metas, labels = [], []
    for k, (name, root) in enumerate(sorted(roots.items())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ds = load_dataset(name, root=root, **dict((options or {}).get(name, {})))
            lab = relabel(ds.labels, ds.findings, target, source=name, warn=False)
        meta = ds.meta.reset_index(drop=True).copy()
        meta["source"] = name
        if "COVID-19" in target and name in PRE_COVID_SOURCES:
            lab[:, target.index("COVID-19")] = 0.0
        boxed = np.zeros(len(meta), dtype=bool)
        if ds.boxes is not None and len(ds.boxes):
            boxed[np.unique(ds.boxes["row"].to_numpy(dtype=np.int64))] = True
        meta["has_boxes"] = boxed
        keep = np.array(_frontal(meta["view"]), dtype=bool) if frontal_only else np.ones(len(meta), dtype=bool)
        keep &= ~np.all(np.isnan(lab), axis=1)
        meta, lab = meta[keep].reset_index(drop=True), lab[keep]
        if not len(meta):
            log.warning("source %s has no usable rows for findings %s", name, target)
            continue
        meta, lab, split = _split_source(meta, lab, name, (split_files or {}).get(name),
                                         float(vfr.get(name, val_fraction)), seed + k)
        if nih_boxes_in_val and name == "nih":
            boxed_patients = set(meta.loc[meta["has_boxes"], "patient_id"])
            split[meta["patient_id"].isin(boxed_patients).to_numpy()] = "val"
        rng = np.random.default_rng(seed + 1000 + k)
        tr = _cap(np.flatnonzero(split == "train"), tcap.get(name), rng)
        va = _cap(np.flatnonzero(split == "val"), vcap.get(name), rng)
        rows = np.sort(np.concatenate([tr, va]))
        meta = meta.iloc[rows].reset_index(drop=True)
        meta["split"] = split[rows]
        metas.append(meta[["path", "source", "patient_id", "image_id", "view", "has_boxes", "split"]])
        labels.append(lab[rows])
        log.info("%s: %d train / %d val images", name, len(tr), len(va))
    if not metas:
        raise DataFormatError(f"no training images found under {dict(roots)} for findings {target}")
    return TrainingTable(findings=target, labels=np.concatenate(labels).astype(np.float32),
                         meta=pd.concat(metas, ignore_index=True))


def _split_source(meta: pd.DataFrame, lab: np.ndarray, name: str, fixed: str | None, val_fraction: float,
                  seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """"train" / "val" per row: from a fixed split file (unlisted rows dropped), else by patient at
    ``val_fraction``."""
    from cxrkit.data.splits import patient_split

    if fixed:
        split = read_split_file(fixed).reindex(meta["image_id"].astype(str)).to_numpy(dtype=object)
        listed = np.array([s in ("train", "val") for s in split], dtype=bool)
        if not listed.any():
            raise DataFormatError(f"split file {fixed} lists none of the {len(meta)} {name} images")
        log.info("%s: fixed split %s (%d images not listed are left out)", name, fixed, int((~listed).sum()))
        return meta[listed].reset_index(drop=True), lab[listed], split[listed]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        parts = patient_split(meta, {"train": 1.0 - val_fraction, "val": val_fraction}, seed=seed, labels=lab)
    split = np.empty(len(meta), dtype=object)
    split[parts["train"]] = "train"
    split[parts["val"]] = "val"
    return meta, lab, split


def read_split_file(path: str | Path) -> pd.Series:
    """A fixed split: image_id → "train" / "val" (the ``image_id`` and ``split`` columns of a CSV).

    Raises:
        DataFormatError: missing file or columns, another split name, an image listed twice.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"split file not found: {p}")
    from cxrkit.data.adapters._common import read_table as read_csv_checked

    df = read_csv_checked(p, "split file", ("image_id", "split"), dtype=str)
    bad = sorted(set(df["split"]) - {"train", "val"})
    if bad:
        raise DataFormatError(f"split file {p}: split must be 'train' or 'val', got {bad}")
    if df["image_id"].duplicated().any():
        raise DataFormatError(f"split file {p} lists {df['image_id'][df['image_id'].duplicated()].iloc[0]!r} twice")
    return df.set_index("image_id")["split"]


def write_table(table: TrainingTable, path: str | Path) -> None:
    """Save a table as CSV (meta columns + ``label:<finding>`` columns), atomically."""
    with atomic_open(path, "w", newline="") as fh:
        table.meta.assign(**{f"label:{f}": table.labels[:, j] for j, f in enumerate(table.findings)}).to_csv(
            fh, index=False)


def read_table(path: str | Path, findings: Sequence[str]) -> TrainingTable:
    """Read a table written by :func:`write_table` (the exact split a run used).

    Raises:
        DataFormatError: missing file or label columns.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"training table not found: {p}")
    df = pd.read_csv(p, dtype={"patient_id": str, "image_id": str})
    cols = [f"label:{f}" for f in findings]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataFormatError(f"{p} lacks the label columns {missing}")
    return TrainingTable(findings=list(findings), labels=df[cols].to_numpy(np.float32),
                         meta=df.drop(columns=cols).reset_index(drop=True))
