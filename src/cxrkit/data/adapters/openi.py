"""Indiana University chest X-ray collection (Open-i): radiology reports with MeSH codes.

Root layout::

    reports/<n>.xml          one report per file (eCitation XML: AbstractText sections, MeSH, parentImage ids)
    metadata/nlmcxr_dicom_metadata.csv.gz   optional: DICOM header fields per image (view, size, ...)
    images/<image id>.{png,jpg}             optional: the images (CXR1_1_IM-0001-3001.png)

A dataset of reports: one row per report (``rows="reports"``, default) or per listed image
(``rows="images"``). ``path`` is None where the image file is not under ``images/``.
"""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data.adapters._common import check_no_extra, check_options, handle_missing, norm_view, require_root
from cxrkit.data.dataset import Dataset, DatasetCard
from cxrkit.errors import DataFormatError

NAME = "openi"
SECTIONS = ("COMPARISON", "INDICATION", "FINDINGS", "IMPRESSION")
FINDINGS = (
    "Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema", "Fibrosis", "Effusion",
    "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass", "Hernia", "Fracture", "Lung Opacity",
    "No Finding", "Support Devices", "Tuberculosis", "Calcification", "ILD",
)
#: First part of an Open-i MeSH ``major`` term (before "/") → canonical finding.
MESH_TO_FINDING: dict[str, str] = {
    "normal": "No Finding", "opacity": "Lung Opacity", "airspace disease": "Lung Opacity",
    "cardiomegaly": "Cardiomegaly", "pulmonary atelectasis": "Atelectasis", "atelectasis": "Atelectasis",
    "pleural effusion": "Effusion", "nodule": "Nodule", "mass": "Mass", "infiltrate": "Infiltration",
    "emphysema": "Emphysema", "pulmonary emphysema": "Emphysema", "pulmonary edema": "Edema", "edema": "Edema",
    "hernia, hiatal": "Hernia", "consolidation": "Consolidation", "pneumonia": "Pneumonia",
    "pneumothorax": "Pneumothorax", "pulmonary fibrosis": "Fibrosis", "fractures, bone": "Fracture",
    "calcinosis": "Calcification", "lung diseases, interstitial": "ILD", "tuberculosis": "Tuberculosis",
    "catheters, indwelling": "Support Devices", "implanted medical device": "Support Devices",
    "tube, inserted": "Support Devices", "medical device": "Support Devices", "stents": "Support Devices",
}

CARD = DatasetCard(
    name=NAME,
    title="Indiana University chest X-ray collection (Open-i)",
    citation=("Demner-Fushman D, Kohli MD, Rosenman MB, et al. Preparing a collection of radiology examinations "
              "for distribution and retrieval. JAMIA 2016;23(2):304-310."),
    license="CC BY-NC-ND 4.0 (non-commercial, no derivatives of the reports)",
    homepage="https://openi.nlm.nih.gov/faq#collection",
    label_source=("MeSH 'major' codes assigned by human coders from the report (the ground truth ChestX-ray8 "
                  "used for its report labeler); a finding not coded is 0, 'No Indexing' reports are NaN"),
    cannot_provide=(
        "images are not part of this layout unless an images/ folder is given (path is None otherwise)",
        "no patient ids: each report is treated as its own patient (patient_id = report uid)",
        "no boxes or masks; no age or sex",
        "report text is de-identified: 'XXXX' replaces removed words",
    ),
)


def _text(el: ET.Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    t = " ".join(el.text.split())
    return t or None


def parse_report(path: str | os.PathLike) -> dict[str, Any]:
    """One Open-i XML report as a dict: ``uid``, sections (lower-case keys), ``mesh_major`` and
    ``mesh_automatic`` (lists of terms), ``image_ids`` (list).

    Raises:
        DataFormatError: not XML or not an Open-i report.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataFormatError(f"{NAME}: {path} is not valid XML: {exc}") from exc
    if root.tag != "eCitation":
        raise DataFormatError(f"{NAME}: {path} is not an Open-i report (root <{root.tag}>, expected <eCitation>)")
    uid = root.find("uId")
    out: dict[str, Any] = {"uid": uid.get("id") if uid is not None else Path(path).stem}
    for s in SECTIONS:
        out[s.lower()] = None
    for el in root.iter("AbstractText"):
        label = (el.get("Label") or "").upper()
        if label in SECTIONS:
            out[label.lower()] = _text(el)
    mesh = root.find("MeSH")
    out["mesh_major"] = [t for t in (_text(e) for e in mesh.findall("major"))] if mesh is not None else []
    out["mesh_automatic"] = [t for t in (_text(e) for e in mesh.findall("automatic"))] if mesh is not None else []
    out["mesh_major"] = [t for t in out["mesh_major"] if t]
    out["mesh_automatic"] = [t for t in out["mesh_automatic"] if t]
    out["image_ids"] = [e.get("id") for e in root.findall("parentImage") if e.get("id")]
    return out


def mesh_labels(terms: list[str]) -> np.ndarray:
    """``(K,)`` float32 labels (order of :data:`FINDINGS`) from a report's MeSH major terms."""
    lab = np.zeros(len(FINDINGS), dtype=np.float32)
    if not terms or any(t.strip().lower() == "no indexing" for t in terms):
        lab[:] = np.nan
        return lab
    for t in terms:
        parts = [p.strip().lower() for p in t.split("/")]
        name = MESH_TO_FINDING.get(parts[0])
        if name is None and parts[0] == "thickening" and any(p.startswith("pleura") for p in parts[1:]):
            name = "Pleural_Thickening"
        if name is not None:
            lab[FINDINGS.index(name)] = 1.0
    return lab


def load(root: str | os.PathLike, *, rows: str = "reports", images_only: bool = False, **options: Any) -> Dataset:
    """Load the Open-i reports.

    Args:
        root: folder with ``reports/*.xml`` (and optionally ``images/``, ``metadata/``).
        rows: "reports" (one row per report) or "images" (one row per listed image, same labels).
        images_only: with ``rows="images"``, drop rows whose image is not on disk (with a warning); default
            False since this collection is used here as a report dataset.

    Returns:
        Dataset with findings :data:`FINDINGS` from MeSH major codes; meta adds ``comparison``,
        ``indication``, ``findings``, ``impression`` (report text), ``mesh_major`` and ``mesh_automatic``
        ("|"-joined), ``image_ids`` ("|"-joined), ``n_images`` and ``xml_path``.
    """
    check_no_extra(NAME, options)
    check_options(NAME, "rows", rows, ("reports", "images"))
    root = require_root(root, NAME, ["reports/<n>.xml"])
    files = sorted((root / "reports").glob("*.xml"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise DataFormatError(f"{NAME}: no report files in {root / 'reports'}; expected reports/<n>.xml")
    bad: list[str] = []
    recs = []
    for f in files:
        try:
            r = parse_report(f)
        except DataFormatError as exc:
            bad.append(f"{f.name}: {exc}")
            continue
        r["xml_path"] = str(f)
        recs.append(r)
    if bad:
        warnings.warn(f"{NAME}: {len(bad)} unreadable report files skipped (e.g. {bad[0]})", UserWarning,
                      stacklevel=2)
    labels = np.stack([mesh_labels(r["mesh_major"]) for r in recs]) if recs else np.zeros((0, len(FINDINGS)))
    meta = pd.DataFrame({
        "path": None, "image_id": None, "patient_id": [r["uid"] for r in recs], "age_years": np.nan, "sex": None,
        "view": None, "source": NAME, "report_id": [r["uid"] for r in recs],
        **{s.lower(): [r[s.lower()] for r in recs] for s in SECTIONS},
        "mesh_major": ["|".join(r["mesh_major"]) for r in recs],
        "mesh_automatic": ["|".join(r["mesh_automatic"]) for r in recs],
        "image_ids": ["|".join(r["image_ids"]) for r in recs],
        "n_images": [len(r["image_ids"]) for r in recs], "xml_path": [r["xml_path"] for r in recs],
    })
    meta["path"] = meta["path"].astype(object)
    if rows == "images":
        rep = np.repeat(np.arange(len(meta)), meta["n_images"].to_numpy())
        ids = [i for r in recs for i in r["image_ids"]]
        meta = meta.iloc[rep].reset_index(drop=True)
        labels = labels[rep]
        meta["image_id"] = ids
        meta["path"] = pd.Series([_find_image(root, i) for i in ids], dtype=object)
        view = _views(root)
        if view is not None:
            meta["view"] = meta["image_id"].map(view).astype(object)
        keep = handle_missing(NAME, meta["path"], images_only, warn=(root / "images").is_dir() or images_only)
        meta, labels = meta[keep].reset_index(drop=True), labels[keep]
    return Dataset(FINDINGS, labels, meta, card=CARD)


def _find_image(root: Path, image_id: str) -> str | None:
    for ext in (".png", ".jpg", ".jpeg", ".dcm"):
        p = root / "images" / f"{image_id}{ext}"
        if p.is_file():
            return str(p)
    return None


def _views(root: Path) -> dict[str, str] | None:
    """Image id → view from the DICOM metadata table (its ids lack the report-number part: CXR1000_IM-...)."""
    p = root / "metadata" / "nlmcxr_dicom_metadata.csv.gz"
    if not p.is_file():
        return None
    df = pd.read_csv(p, usecols=["imageid", "View Position"], dtype=object)
    return _LongIdMap(zip(df["imageid"], norm_view(df["View Position"])))


class _LongIdMap(dict):
    """Looks up ``CXR1_1_IM-0001-3001`` as ``CXR1_IM-0001-3001`` (the metadata table's spelling)."""

    def __missing__(self, key: str):
        parts = str(key).split("_")
        if len(parts) >= 3:
            short = parts[0] + "_" + "_".join(parts[2:])
            if dict.__contains__(self, short):
                return dict.__getitem__(self, short)
        return None
