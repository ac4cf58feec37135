"""MIMIC-CXR-JPG v2: metadata, CheXpert or NegBio labels joined on (subject_id, study_id), official split.

Root layout (PhysioNet mimic-cxr-jpg/2.0.0 or 2.1.0)::

    mimic-cxr-2.0.0-metadata.csv.gz   dicom_id, subject_id, study_id, ViewPosition, Rows, Columns, StudyDate...
    mimic-cxr-2.0.0-chexpert.csv.gz   subject_id, study_id, 14 labels (1 / 0 / -1 / blank)
    mimic-cxr-2.0.0-negbio.csv.gz     same layout, NegBio labeler
    mimic-cxr-2.0.0-split.csv.gz      dicom_id, study_id, subject_id, split (train / validate / test)
    files/p10/p10000032/s50414267/<dicom_id>.jpg
    patients.csv[.gz]                 optional (MIMIC-IV): subject_id, gender, anchor_age → sex, age_years
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data.adapters._chexpert_labels import CHEXPERT_COLUMNS, CHEXPERT_FINDINGS, chexpert_matrix
from cxrkit.data.adapters._common import (
    as_list,
    check_no_extra,
    check_options,
    handle_missing,
    norm_sex,
    norm_view,
    read_table,
    require_root,
)
from cxrkit.data.dataset import Dataset, DatasetCard
from cxrkit.errors import DataFormatError

NAME = "mimic_cxr"
FINDINGS = CHEXPERT_FINDINGS
PREFIXES = ("mimic-cxr-2.0.0", "mimic-cxr-2.1.0")
META_COLUMNS = ["dicom_id", "subject_id", "study_id", "ViewPosition"]
LABEL_COLUMNS = ["subject_id", "study_id", *CHEXPERT_COLUMNS]
SPLIT_COLUMNS = ["dicom_id", "study_id", "subject_id", "split"]

CARD = DatasetCard(
    name=NAME,
    title="MIMIC-CXR-JPG",
    citation=("Johnson AEW, Pollard TJ, Greenbaum NR, et al. MIMIC-CXR-JPG, a large publicly available database "
              "of labeled chest radiographs. arXiv 1901.07042 (2019); PhysioNet."),
    license="PhysioNet Credentialed Health Data License 1.5.0 (credentialed access, data use agreement)",
    homepage="https://physionet.org/content/mimic-cxr-jpg/",
    label_source="CheXpert or NegBio labeler on the study's report (per study, copied to its images)",
    cannot_provide=("no boxes or masks", "age and sex only with MIMIC-IV patients.csv",
                    "labels are per study, not per image (lateral and frontal share them)"),
)


def _find(root: Path, suffix: str) -> Path | None:
    for pre in PREFIXES:
        for ext in (".csv.gz", ".csv"):
            p = root / f"{pre}-{suffix}{ext}"
            if p.is_file():
                return p
    return None


def load(
    root: str | os.PathLike,
    *,
    labeler: str = "chexpert",
    split: str | None = None,
    uncertain: str = "ignore",
    views: tuple[str, ...] | list[str] | None = None,
    images_only: bool = True,
    **options: Any,
) -> Dataset:
    """Load MIMIC-CXR-JPG.

    Args:
        root: folder with the ``mimic-cxr-2.0.0-*.csv.gz`` tables and ``files/``.
        labeler: "chexpert" or "negbio" label table.
        split: "train", "validate", "test" or None (official split csv; needed when given).
        uncertain: -1 policy: "ignore" (NaN), "zeros", "ones", "keep".
        views: keep only these ViewPosition values ("PA", "AP", "LATERAL", ...).
        images_only: drop rows whose JPEG is missing (warning with the count).

    Returns:
        Dataset with the 14 CheXpert findings; one row per image (dicom_id); meta adds ``subject_id``,
        ``study_id``, ``split``, ``rows``, ``columns``, ``study_date``. Images without a label row get NaN.
    """
    check_no_extra(NAME, options)
    views = as_list(views)
    check_options(NAME, "labeler", labeler, ("chexpert", "negbio"))
    check_options(NAME, "split", split, ("train", "validate", "test", None))
    expected = [f"{PREFIXES[0]}-metadata.csv.gz", f"{PREFIXES[0]}-{labeler}.csv.gz", "files/"]
    root = require_root(root, NAME, expected)
    mp, lp, sp = _find(root, "metadata"), _find(root, labeler), _find(root, "split")
    if mp is None or lp is None:
        raise DataFormatError(f"{NAME}: expected {expected[0]} and {expected[1]} under {root}")
    ids = {"dicom_id": object, "subject_id": "int64", "study_id": "int64"}
    meta_t = read_table(mp, NAME, META_COLUMNS, dtype=ids)
    lab_t = read_table(lp, NAME, LABEL_COLUMNS, dtype={"subject_id": "int64", "study_id": "int64"})
    if lab_t.duplicated(["subject_id", "study_id"]).any():
        raise DataFormatError(f"{NAME}: {lp.name} has more than one row for some (subject_id, study_id)")
    df = meta_t.merge(lab_t, on=["subject_id", "study_id"], how="left", validate="many_to_one")
    if sp is not None:
        split_t = read_table(sp, NAME, SPLIT_COLUMNS, dtype=ids)[["dicom_id", "split"]]
        df = df.merge(split_t, on="dicom_id", how="left", validate="one_to_one")
    elif split is not None:
        raise DataFormatError(f"{NAME}: split={split!r} needs {PREFIXES[0]}-split.csv.gz under {root}")
    else:
        df["split"] = None
    labels = chexpert_matrix(df, uncertain, NAME)
    rel = ("files/p" + df["subject_id"].astype(str).str[:2] + "/p" + df["subject_id"].astype(str) + "/s"
           + df["study_id"].astype(str) + "/" + df["dicom_id"] + ".jpg")
    paths = pd.Series([str(root / r) if (root / r).is_file() else None for r in rel], dtype=object)
    meta = pd.DataFrame({
        "path": paths, "image_id": df["dicom_id"].astype(object), "patient_id": df["subject_id"].astype(str),
        "age_years": np.nan, "sex": None, "view": norm_view(df["ViewPosition"]), "source": NAME,
        "subject_id": df["subject_id"], "study_id": df["study_id"], "split": df["split"].astype(object),
        "rows": pd.to_numeric(df.get("Rows"), errors="coerce") if "Rows" in df else np.nan,
        "columns": pd.to_numeric(df.get("Columns"), errors="coerce") if "Columns" in df else np.nan,
        "study_date": df["StudyDate"].astype(object) if "StudyDate" in df else None,
    })
    _patients(root, meta)
    keep = handle_missing(NAME, paths, images_only)
    if split is not None:
        keep &= (meta["split"] == split).to_numpy()
    if views is not None:
        keep &= meta["view"].isin(list(views)).to_numpy()
    return Dataset(FINDINGS, labels[keep], meta[keep].reset_index(drop=True), card=CARD)


def _patients(root: Path, meta: pd.DataFrame) -> None:
    for name in ("patients.csv.gz", "patients.csv"):
        p = root / name
        if p.is_file():
            pt = read_table(p, NAME, ["subject_id", "gender", "anchor_age"], dtype={"subject_id": "int64"})
            pt = pt.drop_duplicates("subject_id").set_index("subject_id")
            meta["sex"] = norm_sex(meta["subject_id"].map(pt["gender"]))
            meta["age_years"] = meta["subject_id"].map(pt["anchor_age"]).astype(np.float64)
            return
