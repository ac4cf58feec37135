"""VinDr-CXR (Vingroup Big Data Institute): image labels per radiologist and local boxes.

Root layout (PhysioNet vindr-cxr/1.0.0)::

    annotations/image_labels_train.csv   image_id, rad_id, 28 label columns (0/1), one row per radiologist
    annotations/annotations_train.csv    image_id, rad_id, class_name, x_min, y_min, x_max, y_max
    annotations/image_labels_test.csv    image_id, labels (consensus; no rad_id)
    annotations/annotations_test.csv     image_id, class_name, x_min, y_min, x_max, y_max
    train/<image_id>.dicom, test/<image_id>.dicom   (or .png / .jpg conversions)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data._pixels import image_size
from cxrkit.data.adapters._common import (
    check_no_extra,
    check_options,
    handle_missing,
    read_table,
    require_root,
)
from cxrkit.data.dataset import Dataset, DatasetCard, empty_boxes

NAME = "vindr_cxr"
#: VinDr-CXR label column → canonical finding (several columns may map to one; combined with "any").
VINDR_TO_FINDING: dict[str, str] = {
    "Aortic enlargement": "Aortic Enlargement", "Atelectasis": "Atelectasis", "Calcification": "Calcification",
    "Cardiomegaly": "Cardiomegaly", "Clavicle fracture": "Fracture", "Consolidation": "Consolidation",
    "Edema": "Edema", "Emphysema": "Emphysema", "ILD": "ILD", "Infiltration": "Infiltration",
    "Lung Opacity": "Lung Opacity", "Lung cavity": "Lung Lesion", "Lung cyst": "Lung Lesion",
    "Nodule/Mass": "Lung Lesion", "Pleural effusion": "Effusion", "Pleural thickening": "Pleural_Thickening",
    "Pneumothorax": "Pneumothorax", "Pulmonary fibrosis": "Fibrosis", "Rib fracture": "Fracture",
    "Lung tumor": "Lung Lesion", "Pneumonia": "Pneumonia", "Tuberculosis": "Tuberculosis",
    "No finding": "No Finding",
}
FINDINGS = tuple(dict.fromkeys(VINDR_TO_FINDING.values()))
SPLITS = ("train", "test")
SUFFIXES = (".dicom", ".dcm", ".png", ".jpg", ".jpeg")

CARD = DatasetCard(
    name=NAME,
    title="VinDr-CXR",
    citation=("Nguyen HQ, Lam K, Le LT, et al. VinDr-CXR: An open dataset of chest X-rays with radiologist's "
              "annotations. Scientific Data 2022;9:429."),
    license="PhysioNet Credentialed Health Data License 1.5.0",
    homepage="https://physionet.org/content/vindr-cxr/",
    label_source=("Radiologists: 3 independent readers per training image (aggregated here by majority or "
                  "any), 5-reader consensus for test"),
    cannot_provide=(
        "labels without a canonical name (Enlarged PA, Mediastinal shift, Other lesion, COPD, Other diseases) "
        "are not in the label matrix",
        "boxes are in the pixels of the original DICOM; for converted PNG/JPEG copies they are rescaled only when "
        "meta has original_width/original_height (option sizes_csv)",
        "no age or sex in the label tables (they are in the DICOM headers)",
    ),
)


def load(
    root: str | os.PathLike,
    *,
    split: str = "train",
    aggregate: str = "majority",
    images_only: bool = True,
    sizes_csv: str | os.PathLike | None = None,
    **options: Any,
) -> Dataset:
    """Load VinDr-CXR.

    Args:
        root: folder with ``annotations/`` and ``train/`` / ``test/``.
        split: "train" or "test".
        aggregate: how the train set's 3 readers combine: "majority" (at least 2 of 3) or "any".
        images_only: drop rows whose image is missing (warning with the count).
        sizes_csv: optional CSV ``image_id, width, height`` of the original DICOMs, to scale boxes to resized
            PNG/JPEG copies.

    Returns:
        Dataset with :data:`FINDINGS`; meta adds ``n_readers`` and ``split``; boxes of every reader (column
        ``rad_id``) for mapped classes, in pixels of the image on disk.
    """
    check_no_extra(NAME, options)
    check_options(NAME, "split", split, SPLITS)
    check_options(NAME, "aggregate", aggregate, ("majority", "any"))
    expected = [f"annotations/image_labels_{split}.csv", f"annotations/annotations_{split}.csv", f"{split}/"]
    root = require_root(root, NAME, expected)
    lp = root / "annotations" / f"image_labels_{split}.csv"
    if not lp.is_file():
        from cxrkit.errors import DataFormatError

        raise DataFormatError(f"{NAME}: {lp.relative_to(root)} not found under {root}; expected {expected}")
    cols = [c for c in VINDR_TO_FINDING]
    raw = read_table(lp, NAME, ["image_id", *cols], dtype={"image_id": object})
    votes = raw[cols].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy(dtype=np.float32)
    g = pd.DataFrame(votes, columns=cols)
    g["image_id"] = raw["image_id"].to_numpy()
    per_image = g.groupby("image_id", sort=False)
    n_readers = per_image.size()
    frac = per_image[cols].mean()
    pos = (frac >= 0.5) if aggregate == "majority" and split == "train" else (frac > 0)
    lab = np.zeros((len(frac), len(FINDINGS)), dtype=np.float32)
    for col, name in VINDR_TO_FINDING.items():
        j = FINDINGS.index(name)
        lab[:, j] = np.maximum(lab[:, j], pos[col].to_numpy(dtype=np.float32))
    ids = frac.index.to_numpy(dtype=object)
    paths = pd.Series([_find(root / split, i) for i in ids], dtype=object)
    meta = pd.DataFrame({"path": paths, "image_id": ids, "patient_id": ids, "age_years": np.nan, "sex": None,
                         "view": None, "source": NAME, "n_readers": n_readers.loc[ids].to_numpy(), "split": split})
    keep = handle_missing(NAME, paths, images_only)
    meta, lab = meta[keep].reset_index(drop=True), lab[keep]
    boxes = _boxes(root, split, meta, sizes_csv)
    return Dataset(FINDINGS, lab, meta, boxes=boxes, card=CARD)


def _find(folder: Path, image_id: str) -> str | None:
    for s in SUFFIXES:
        p = folder / f"{image_id}{s}"
        if p.is_file():
            return str(p)
    return None


def _boxes(root: Path, split: str, meta: pd.DataFrame, sizes_csv) -> pd.DataFrame:
    p = root / "annotations" / f"annotations_{split}.csv"
    if not p.is_file() or meta.empty:
        return empty_boxes()
    a = read_table(p, NAME, ["image_id", "class_name", "x_min", "y_min", "x_max", "y_max"], dtype={"image_id": object})
    a = a[a["class_name"].isin(list(VINDR_TO_FINDING)) & a["x_min"].notna()]
    rows = pd.Series(np.arange(len(meta)), index=meta["image_id"])
    a = a[a["image_id"].isin(rows.index)]
    if a.empty:
        return empty_boxes()
    sx = pd.Series(1.0, index=rows.index)
    sy = pd.Series(1.0, index=rows.index)
    if sizes_csv is not None:
        sz = read_table(Path(sizes_csv), NAME, ["image_id", "width", "height"], dtype={"image_id": object})
        sz = sz.drop_duplicates("image_id").set_index("image_id")
        for iid, path in zip(meta["image_id"], meta["path"]):
            if path and iid in sz.index and not str(path).lower().endswith((".dicom", ".dcm")):
                w, h = image_size(path)
                sx[iid], sy[iid] = w / float(sz.at[iid, "width"]), h / float(sz.at[iid, "height"])
    fx, fy = sx.loc[a["image_id"]].to_numpy(), sy.loc[a["image_id"]].to_numpy()
    out = pd.DataFrame({
        "row": rows.loc[a["image_id"]].to_numpy(), "finding": a["class_name"].map(VINDR_TO_FINDING).to_numpy(),
        "x_min": a["x_min"].to_numpy(float) * fx, "y_min": a["y_min"].to_numpy(float) * fy,
        "x_max": a["x_max"].to_numpy(float) * fx, "y_max": a["y_max"].to_numpy(float) * fy,
        "class_name": a["class_name"].to_numpy(), "rad_id": a["rad_id"].to_numpy() if "rad_id" in a else None,
    })
    return out.sort_values("row", kind="stable").reset_index(drop=True)
