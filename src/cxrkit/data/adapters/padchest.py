"""PadChest (Hospital San Juan, Alicante): labels as Python-list strings of English (UMLS-linked) terms.

Root layout (BIMCV PadChest)::

    PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv[.gz]
        ImageID, ImageDir, StudyDate_DICOM, StudyID, PatientID, PatientBirth, PatientSex_DICOM,
        ViewPosition_DICOM, Projection, MethodProjection, Pediatric, Modality_DICOM, ..., ReportID, Report,
        MethodLabel, Labels, Localizations, LabelsLocalizationsBySentence, labelCUIS, LocalizationsCUIS
    <ImageDir>/<ImageID>.png   (or images/<ImageID>.png, or <ImageID>.png in the root)
"""

from __future__ import annotations

import ast
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data.adapters._common import (
    check_no_extra,
    handle_missing,
    norm_sex,
    read_table,
    require_root,
)
from cxrkit.data.dataset import Dataset, DatasetCard
from cxrkit.errors import DataFormatError

NAME = "padchest"
TABLE = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"
COLUMNS = ["ImageID", "ImageDir", "StudyID", "PatientID", "PatientBirth", "PatientSex_DICOM", "Projection",
           "MethodLabel", "Labels", "StudyDate_DICOM"]
FINDINGS = (
    "Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema", "Fibrosis", "Effusion",
    "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass", "Hernia", "Fracture", "No Finding",
    "Support Devices", "Tuberculosis", "Aortic Enlargement", "Calcification", "ILD",
)
#: PadChest label terms (English, as in its Labels column; and their Spanish report words) → canonical finding.
PADCHEST_TERMS: dict[str, str] = {
    "normal": "No Finding", "atelectasis": "Atelectasis", "laminar atelectasis": "Atelectasis",
    "lobar atelectasis": "Atelectasis", "segmental atelectasis": "Atelectasis",
    "total atelectasis": "Atelectasis", "round atelectasis": "Atelectasis",
    "consolidation": "Consolidation", "infiltrates": "Infiltration", "interstitial pattern": "Infiltration",
    "reticular interstitial pattern": "Infiltration", "reticulonodular interstitial pattern": "Infiltration",
    "pneumothorax": "Pneumothorax", "pulmonary edema": "Edema", "emphysema": "Emphysema",
    "pulmonary fibrosis": "Fibrosis", "post radiotherapy changes": "Fibrosis",
    "pleural effusion": "Effusion", "loculated pleural effusion": "Effusion", "hydropneumothorax": "Effusion",
    "pneumonia": "Pneumonia", "atypical pneumonia": "Pneumonia",
    "pleural thickening": "Pleural_Thickening", "apical pleural thickening": "Pleural_Thickening",
    "cardiomegaly": "Cardiomegaly", "nodule": "Nodule", "multiple nodules": "Nodule", "mass": "Mass",
    "pulmonary mass": "Mass", "lung metastasis": "Mass", "hiatal hernia": "Hernia", "fracture": "Fracture",
    "rib fracture": "Fracture", "clavicle fracture": "Fracture", "humeral fracture": "Fracture",
    "vertebral fracture": "Fracture", "callus rib fracture": "Fracture",
    "pacemaker": "Support Devices", "dual chamber device": "Support Devices",
    "single chamber device": "Support Devices", "endotracheal tube": "Support Devices",
    "nsg tube": "Support Devices", "central venous catheter": "Support Devices",
    "central venous catheter via jugular vein": "Support Devices",
    "central venous catheter via subclavian vein": "Support Devices", "chest drain tube": "Support Devices",
    "tracheostomy tube": "Support Devices", "catheter": "Support Devices",
    "tuberculosis": "Tuberculosis", "tuberculosis sequelae": "Tuberculosis",
    "aortic elongation": "Aortic Enlargement", "aortic aneurysm": "Aortic Enlargement",
    "calcified granuloma": "Calcification", "calcified densities": "Calcification",
    "aortic atheromatosis": "Calcification", "interstitial lung disease": "ILD",
    # Spanish terms (report words; some PadChest releases and derived tables use them)
    "atelectasia": "Atelectasis", "atelectasia laminar": "Atelectasis",
    "consolidación": "Consolidation", "consolidacion": "Consolidation", "infiltrados": "Infiltration",
    "neumotórax": "Pneumothorax", "neumotorax": "Pneumothorax", "edema pulmonar": "Edema",
    "enfisema": "Emphysema", "fibrosis pulmonar": "Fibrosis", "derrame pleural": "Effusion",
    "neumonía": "Pneumonia", "neumonia": "Pneumonia", "engrosamiento pleural": "Pleural_Thickening",
    "cardiomegalia": "Cardiomegaly", "nódulo": "Nodule", "nodulo": "Nodule", "masa": "Mass",
    "hernia de hiato": "Hernia", "fractura": "Fracture", "fractura costal": "Fracture",
    "marcapasos": "Support Devices", "elongación aórtica": "Aortic Enlargement",
    "granuloma calcificado": "Calcification",
}

CARD = DatasetCard(
    name=NAME,
    title="PadChest",
    citation=("Bustos A, Pertusa A, Salinas JM, de la Iglesia-Vayá M. PadChest: A large chest x-ray image dataset "
              "with multi-label annotated reports. Medical Image Analysis 2020;66:101797."),
    license="PadChest Dataset Research Use Agreement (BIMCV; non-commercial)",
    homepage="https://bimcv.cipf.es/bimcv-projects/padchest/",
    label_source=("Spanish reports labelled with 174 findings: 27% by physicians (MethodLabel 'Physician'), the "
                  "rest by a recurrent network trained on them; terms not in the canonical vocabulary are kept "
                  "in labels_raw"),
    cannot_provide=("no boxes (only region names in Localizations)", "no masks",
                    "age is the study year minus the birth year (±1 year)"),
)

_TERM_SPACE = re.compile(r"\s+")


def parse_labels(text: object) -> list[str] | None:
    """The Labels column (a Python-list string such as ``"['pleural effusion', 'cardiomegaly']"``) as a
    list of stripped lower-case terms; None for a blank or unparseable value."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        val = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return None
    if not isinstance(val, (list, tuple)):
        return None
    return [_TERM_SPACE.sub(" ", str(t)).strip().lower() for t in val if str(t).strip()]


def load(root: str | os.PathLike, *, physician_only: bool = False, images_only: bool = True,
         **options: Any) -> Dataset:
    """Load PadChest.

    Args:
        root: folder with the PadChest label table and images.
        physician_only: keep only rows labelled by physicians (MethodLabel == "Physician").
        images_only: drop rows whose image is missing (warning with the count).

    Returns:
        Dataset with :data:`FINDINGS`: 1 where a mapped term is listed, 0 otherwise; rows with an unparseable
        or empty Labels value are NaN. Meta adds ``study_id``, ``projection``, ``method_label``,
        ``labels_raw`` ("|"-joined terms) and ``unmapped_terms``.
    """
    check_no_extra(NAME, options)
    root = require_root(root, NAME, [TABLE + "[.gz]", "<ImageDir>/<ImageID>"])
    table = next((root / n for n in (TABLE + ".gz", TABLE) if (root / n).is_file()), None)
    if table is None:
        cands = sorted(root.glob("PADCHEST*.csv*"))
        if not cands:
            raise DataFormatError(f"{NAME}: {TABLE}[.gz] not found under {root}")
        table = cands[0]
    raw = read_table(table, NAME, COLUMNS, dtype={c: object for c in ("ImageID", "ImageDir", "StudyID",
                                                                        "PatientID", "Labels")}, low_memory=False)
    if physician_only:
        raw = raw[raw["MethodLabel"].astype(str).str.strip() == "Physician"].reset_index(drop=True)
    idx = {f: j for j, f in enumerate(FINDINGS)}
    lab = np.zeros((len(raw), len(FINDINGS)), dtype=np.float32)
    raw_terms: list[str | None] = []
    unmapped: list[str | None] = []
    n_bad = 0
    for i, text in enumerate(raw["Labels"]):
        terms = parse_labels(text)
        if not terms:
            lab[i] = np.nan
            n_bad += 1
            raw_terms.append(None)
            unmapped.append(None)
            continue
        miss = []
        for t in terms:
            c = PADCHEST_TERMS.get(t)
            if c is None:
                miss.append(t)
            else:
                lab[i, idx[c]] = 1.0
        raw_terms.append("|".join(terms))
        unmapped.append("|".join(sorted(set(miss))) or None)
    if n_bad:
        warnings.warn(f"{NAME}: {n_bad} rows have an empty or unparseable Labels value; their labels are NaN",
                      UserWarning, stacklevel=2)
    paths = pd.Series([_find(root, d, f) for d, f in zip(raw["ImageDir"], raw["ImageID"])], dtype=object)
    birth = pd.to_numeric(raw["PatientBirth"], errors="coerce")
    year = pd.to_numeric(raw["StudyDate_DICOM"].astype(str).str[:4], errors="coerce")
    proj = raw["Projection"].astype(str).str.strip().str.upper()
    view = proj.map({"PA": "PA", "AP": "AP", "AP_HORIZONTAL": "AP SUPINE", "L": "LATERAL"}).astype(object)
    meta = pd.DataFrame({
        "path": paths, "image_id": raw["ImageID"], "patient_id": raw["PatientID"].astype(object),
        "age_years": (year - birth).astype(np.float64), "sex": norm_sex(raw["PatientSex_DICOM"]),
        "view": view.where(view.notna(), None), "source": NAME, "study_id": raw["StudyID"],
        "projection": raw["Projection"].astype(object), "method_label": raw["MethodLabel"].astype(object),
        "labels_raw": pd.Series(raw_terms, dtype=object), "unmapped_terms": pd.Series(unmapped, dtype=object),
    })
    keep = handle_missing(NAME, paths, images_only)
    return Dataset(FINDINGS, lab[keep], meta[keep].reset_index(drop=True), card=CARD)


def _find(root: Path, image_dir: object, image_id: str) -> str | None:
    cands = [root / "images" / image_id, root / image_id]
    if isinstance(image_dir, str) or (image_dir is not None and not pd.isna(image_dir)):
        d = str(image_dir).strip()
        if d.endswith(".0"):
            d = d[:-2]
        cands.insert(0, root / d / image_id)
    for p in cands:
        if p.is_file():
            return str(p)
    return None
