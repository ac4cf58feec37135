"""RSNA Pneumonia Detection Challenge (2018): lung opacity boxes on NIH ChestX-ray14 images.

Root layout (Kaggle stage 2)::

    stage_2_train_labels.csv          patientId, x, y, width, height, Target (one row per box, or one row
                                       with blank box and Target 0)
    stage_2_detailed_class_info.csv   patientId, class ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")
    stage_2_train_images/<patientId>.dcm   (or .png / .jpg conversions)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data._pixels import image_size
from cxrkit.data.adapters._common import check_no_extra, handle_missing, read_table, require_file, require_root
from cxrkit.data.dataset import Dataset, DatasetCard, empty_boxes
from cxrkit.errors import DataFormatError

NAME = "rsna_pneumonia"
FINDINGS = ("Pneumonia", "Lung Opacity", "No Finding")
LABELS = "stage_2_train_labels.csv"
CLASSES = "stage_2_detailed_class_info.csv"
IMAGES = "stage_2_train_images"
#: The challenge's DICOMs are 1024 x 1024; boxes are in that space.
RSNA_SIZE = 1024
KNOWN_CLASSES = ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")

CARD = DatasetCard(
    name=NAME,
    title="RSNA Pneumonia Detection Challenge",
    citation=("Shih G, Wu CC, Halabi SS, et al. Augmenting the National Institutes of Health Chest Radiograph "
              "Dataset with Expert Annotations of Possible Pneumonia. Radiology: AI 2019;1(1):e180041."),
    license="RSNA challenge terms (non-commercial research); images from NIH ChestX-ray14",
    homepage="https://www.kaggle.com/c/rsna-pneumonia-detection-challenge",
    label_source="Radiologists (RSNA/STR) boxed opacities suspicious for pneumonia on NIH images",
    cannot_provide=("patientId is an image id (one image each): the NIH patient is not given",
                    "age, sex and view are in the DICOM headers, not in the tables",
                    "Pneumonia and Lung Opacity carry the same Target (the challenge did not separate them)"),
)


def load(root: str | os.PathLike, *, images_only: bool = True, **options: Any) -> Dataset:
    """Load the RSNA Pneumonia training set.

    Args:
        root: folder with the stage 2 CSVs and ``stage_2_train_images/``.
        images_only: drop rows whose image is missing (warning with the count).

    Returns:
        Dataset (one row per image) with Pneumonia = Lung Opacity = Target and No Finding = (class ==
        "Normal"); meta adds ``rsna_class``; boxes ``[x, y, width, height]`` → corners, scaled from 1024 px to
        the image on disk.
    """
    check_no_extra(NAME, options)
    expected = [LABELS, CLASSES, f"{IMAGES}/"]
    root = require_root(root, NAME, expected)
    raw = read_table(require_file(root, LABELS, NAME, expected), NAME,
                     ["patientId", "x", "y", "width", "height", "Target"], dtype={"patientId": object})
    tgt = pd.to_numeric(raw["Target"], errors="coerce")
    if tgt.isna().any() or not tgt.isin([0, 1]).all():
        raise DataFormatError(f"{NAME}: Target must be 0 or 1")
    per = raw.assign(Target=tgt).groupby("patientId", sort=False)["Target"].max()
    ids = per.index.to_numpy(dtype=object)
    cls = pd.Series([None] * len(ids), index=ids, dtype=object)
    if (root / CLASSES).is_file():
        c = read_table(root / CLASSES, NAME, ["patientId", "class"], dtype={"patientId": object})
        bad = sorted(set(c["class"]) - set(KNOWN_CLASSES))
        if bad:
            raise DataFormatError(f"{NAME}: unknown classes {bad} in {CLASSES}; expected {list(KNOWN_CLASSES)}")
        c = c.drop_duplicates("patientId").set_index("patientId")["class"]
        cls = pd.Series(c.reindex(ids).to_numpy(dtype=object), index=ids)
    t = per.to_numpy(dtype=np.float32)
    normal = np.where(cls.isna(), np.nan, (cls == "Normal").to_numpy(dtype=np.float32))
    lab = np.stack([t, t, normal], axis=1).astype(np.float32)
    paths = pd.Series([_find(root / IMAGES, i) for i in ids], dtype=object)
    meta = pd.DataFrame({"path": paths, "image_id": ids, "patient_id": ids, "age_years": np.nan, "sex": None,
                         "view": None, "source": NAME, "rsna_class": cls.to_numpy(dtype=object)})
    keep = handle_missing(NAME, paths, images_only)
    meta, lab = meta[keep].reset_index(drop=True), lab[keep]
    return Dataset(FINDINGS, lab, meta, boxes=_boxes(raw, meta), card=CARD)


def _find(folder: Path, pid: str) -> str | None:
    for s in (".dcm", ".png", ".jpg"):
        p = folder / f"{pid}{s}"
        if p.is_file():
            return str(p)
    return None


def _boxes(raw: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    b = raw[raw["x"].notna()]
    rows = pd.Series(np.arange(len(meta)), index=meta["image_id"])
    b = b[b["patientId"].isin(rows.index)]
    if b.empty:
        return empty_boxes()
    scale = {}
    for iid, p in zip(meta["image_id"], meta["path"]):
        if p and not str(p).lower().endswith(".dcm"):
            w, h = image_size(p)
            scale[iid] = (w / RSNA_SIZE, h / RSNA_SIZE)
    f = np.array([scale.get(i, (1.0, 1.0)) for i in b["patientId"]]).reshape(-1, 2)
    x, y, w, h = (b[c].to_numpy(float) for c in ("x", "y", "width", "height"))
    out = pd.DataFrame({"row": rows.loc[b["patientId"]].to_numpy(), "finding": "Lung Opacity",
                        "x_min": x * f[:, 0], "y_min": y * f[:, 1], "x_max": (x + w) * f[:, 0],
                        "y_max": (y + h) * f[:, 1]})
    # the same boxes also locate Pneumonia (same Target)
    both = pd.concat([out, out.assign(finding="Pneumonia")], ignore_index=True)
    return both.sort_values(["row", "finding"], kind="stable").reset_index(drop=True)
