"""An in-house archive: every radiograph under a folder (DICOM, PNG, JPEG), metadata from the file headers,
optional labels from a CSV.

Root layout: any tree of image files (``*.dcm``, ``*.dicom``, ``*.png``, ``*.jpg``, ...). Headers are read with
:func:`cxrkit.io.read_header` (no pixel decoding), in parallel with ``workers > 1``.

Labels CSV (optional, ``labels=PATH``): a ``path`` column (relative to the root, or absolute) or an
``image_id`` column (the path relative to the root, the bare file name, or the file name without its suffix, as
``cxrkit data from-reports`` writes it), then any columns: those whose name
is a finding (:func:`cxrkit.labels.canonical`, e.g. ``Pleural Effusion``) become label columns with values
1 / 0 / -1 / blank; the others are added to ``meta``.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data.adapters._common import check_no_extra, check_options, list_images, norm_sex, norm_view, require_root
from cxrkit.data.dataset import Dataset, DatasetCard
from cxrkit.errors import CxrkitError, DataFormatError
from cxrkit.labels import canonical
from cxrkit.qc import age_in_years

NAME = "folder"

CARD = DatasetCard(
    name=NAME,
    title="Image folder (in-house archive)",
    citation="-",
    license="as set by the data owner",
    homepage="-",
    label_source="the labels CSV given with labels=... (none: no findings)",
    cannot_provide=("labels unless a labels CSV is given", "boxes and masks"),
    notes=("patient_id from the DICOM PatientID (or the parent folder with patient_from='folder')",),
)


def _parse_age(text: object) -> float:
    """DICOM Age String ("068Y", "003M", "010W", "005D") or a plain number → years; NaN otherwise."""
    years = age_in_years(None if text is None else str(text))
    return np.nan if years is None else years


def _header(path: str) -> dict[str, Any]:
    from cxrkit.io import read_header

    try:
        m = read_header(path)
    except CxrkitError as exc:
        return {"path": path, "error": f"{type(exc).__name__}: {exc}"}
    d = m.dicom or {}
    spacing = m.pixel_spacing_mm
    return {
        "path": path, "error": None, "format": m.format, "modality": m.modality, "view_raw": m.view,
        "body_part": m.body_part, "height": m.original_size[0], "width": m.original_size[1],
        "spacing_y_mm": spacing[0] if spacing else np.nan, "spacing_x_mm": spacing[1] if spacing else np.nan,
        "photometric": m.photometric, "bits_stored": m.bits_stored, "dicom_patient_id": d.get("PatientID") or None,
        "sex_raw": d.get("PatientSex"), "age_raw": d.get("PatientAge"), "study_uid": d.get("StudyInstanceUID"),
        "series_uid": d.get("SeriesInstanceUID"), "sop_uid": d.get("SOPInstanceUID"), "study_date": d.get("StudyDate"),
    }


def _headers(paths: list[str], workers: int) -> list[dict[str, Any]]:
    if workers <= 1 or len(paths) < 64:
        return [_header(p) for p in paths]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_header, paths, chunksize=max(16, len(paths) // (workers * 8))))


def load(
    root: str | os.PathLike,
    *,
    labels: str | os.PathLike | None = None,
    patient_from: str = "dicom",
    workers: int = 1,
    images_only: bool = True,
    no_suffix: bool = False,
    **options: Any,
) -> Dataset:
    """Load every readable radiograph under ``root``.

    Args:
        root: the archive folder (searched recursively).
        labels: optional CSV of labels (see the module docstring).
        patient_from: "dicom" (PatientID from the header; None for PNG/JPEG) or "folder" (the parent folder's
            name).
        workers: header-reading processes (1: in this process).
        no_suffix: also try files without a file-name suffix (DICOM files are often stored so).
        images_only: with a labels CSV, drop its rows whose file is missing (warning with the count); False keeps
            them with ``path=None``.

    Returns:
        Dataset whose findings are the labels CSV's finding columns (none without it); meta: ``path``,
        ``image_id`` (path relative to the root), ``patient_id``, ``age_years``, ``sex``, ``view``, ``source``,
        ``format``, ``modality``, ``body_part``, ``width``, ``height``, ``spacing_x_mm``, ``spacing_y_mm``,
        ``photometric``, ``bits_stored``, ``study_uid``, ``series_uid``, ``sop_uid``, ``study_date``. Files that
        cannot be read (not an image, CT/MR, multi-frame...) are skipped with a warning giving the count.
    """
    check_no_extra(NAME, options)
    check_options(NAME, "patient_from", patient_from, ("dicom", "folder"))
    root = require_root(root, NAME, ["image files (*.dcm, *.png, *.jpg) in any sub-folder"])
    files = [str(p) for p in list_images(root)]
    if no_suffix:
        files += [str(p) for p in sorted(root.rglob("*")) if p.is_file() and not p.suffix and not p.name.startswith(".")]
    heads = pd.DataFrame(_headers(files, int(workers))) if files else pd.DataFrame(columns=["path", "error"])
    bad = heads["error"].notna() if len(heads) else pd.Series([], dtype=bool)
    if bad.any():
        first = heads.loc[bad, ["path", "error"]].iloc[0]
        warnings.warn(f"{NAME}: {int(bad.sum())} of {len(heads)} files could not be read and were skipped (e.g. "
                      f"{first['path']}: {first['error']})", UserWarning, stacklevel=2)
    heads = heads[~bad].reset_index(drop=True)
    rel = [Path(p).relative_to(root).as_posix() for p in heads["path"]]
    meta = pd.DataFrame({
        "path": heads["path"].astype(object), "image_id": pd.Series(rel, dtype=object),
        "patient_id": pd.Series([v if isinstance(v, str) and v else None for v in heads["dicom_patient_id"]]
                                if patient_from == "dicom" and len(heads)
                                else [Path(p).parent.name for p in heads["path"]], dtype=object),
        "age_years": [(_parse_age(a)) for a in heads.get("age_raw", [])],
        "sex": norm_sex(heads["sex_raw"]) if len(heads) else None,
        "view": norm_view(heads["view_raw"]) if len(heads) else None, "source": NAME,
    })
    for c in ("format", "modality", "body_part", "width", "height", "spacing_x_mm", "spacing_y_mm", "photometric",
              "bits_stored", "study_uid", "series_uid", "sop_uid", "study_date"):
        meta[c] = heads[c].to_numpy() if c in heads else None
    if meta.empty and not (labels is not None and not images_only):
        raise DataFormatError(f"{NAME}: no readable images under {root}; expected DICOM, PNG or JPEG files"
                              + ("" if no_suffix else " (DICOM files without a suffix need no_suffix=True)"))
    if labels is None:
        return Dataset([], np.zeros((len(meta), 0), np.float32), meta, card=CARD)
    return _with_labels(root, meta, Path(labels), images_only)


def _unique_map(names: list[str]) -> dict[str, int]:
    """name → position, for names that occur once."""
    counts = pd.Series(names).value_counts()
    return {n: i for i, n in enumerate(names) if counts[n] == 1}


def _with_labels(root: Path, meta: pd.DataFrame, path: Path, images_only: bool) -> Dataset:
    if not path.is_file():
        raise DataFormatError(f"{NAME}: labels file {path} not found")
    try:
        t = pd.read_csv(path, dtype={"path": object, "image_id": object})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{NAME}: cannot parse {path}: {exc}") from exc
    key = "path" if "path" in t.columns else "image_id" if "image_id" in t.columns else None
    if key is None:
        raise DataFormatError(f"{NAME}: {path.name} needs a 'path' or 'image_id' column; found {list(t.columns)}")
    named = {c: canonical(c, strict=False) for c in t.columns if c not in ("path", "image_id")}
    finding_cols = {c: f for c, f in named.items() if f is not None}
    if len(set(finding_cols.values())) != len(finding_cols):
        raise DataFormatError(f"{NAME}: several columns of {path.name} name the same finding: {finding_cols}")
    if not finding_cols:
        raise DataFormatError(f"{NAME}: no finding columns in {path.name}; found {list(t.columns)} (finding names: "
                              "cxrkit.labels.FINDINGS and their synonyms)")
    # match each label row to a file: absolute path, path relative to the root, or bare file name
    by_rel = {r: i for i, r in enumerate(meta["image_id"])}
    by_abs = {str(Path(p).resolve()): i for i, p in enumerate(meta["path"])}
    by_name = _unique_map([Path(r).name for r in meta["image_id"]])
    by_stem = _unique_map([Path(r).stem for r in meta["image_id"]])
    rows = []
    for v in t[key].astype(str):
        p = Path(v)
        i = by_abs.get(str(p.resolve())) if p.is_absolute() else by_rel.get(p.as_posix())
        if i is None and key == "image_id":  # a bare file name, or an id without suffix (cxrkit data from-reports)
            i = by_name.get(v, by_stem.get(v))
        rows.append(i)
    found = np.array([r is not None for r in rows])
    vals = t[list(finding_cols)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float32)
    ok = np.isnan(vals) | np.isin(vals, (-1.0, 0.0, 1.0))
    if not ok.all():
        raise DataFormatError(f"{NAME}: label values must be 1, 0, -1 or blank; found {np.unique(vals[~ok])[:5]}")
    extra = [c for c in t.columns if c not in finding_cols and c not in ("path", "image_id")]
    base = pd.DataFrame({c: [None] * len(t) for c in meta.columns}).astype(object)
    base["source"] = NAME
    base["image_id"] = t[key].astype(object)
    idx = np.array([r if r is not None else -1 for r in rows])
    if found.any():
        base.loc[found, list(meta.columns)] = meta.iloc[idx[found]].to_numpy()
    for c in extra:
        base[c if c not in base.columns else f"label_{c}"] = t[c].to_numpy()
    n_missing = int((~found).sum())
    if n_missing:
        action = "dropped" if images_only else "kept with path=None"
        warnings.warn(f"{NAME}: {n_missing} of {len(t)} rows of {path.name} match no readable file ({action})",
                      UserWarning, stacklevel=3)
    keep = found if images_only else np.ones(len(t), dtype=bool)
    return Dataset(list(finding_cols.values()), vals[keep], base[keep].reset_index(drop=True), card=CARD)
