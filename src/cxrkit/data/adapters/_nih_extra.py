"""Other label sources for NIH ChestX-ray14 images: Google 2019 expert labels, RSNA Pneumonia Challenge labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrkit.data.adapters._common import read_table
from cxrkit.data.dataset import empty_boxes
from cxrkit.errors import DataFormatError

NAME = "nih"
GOOGLE = "labels/google2019_nih-chest-xray-labels.csv.gz"
GOOGLE_COLUMNS = {"Fracture": "Fracture", "Pneumothorax": "Pneumothorax", "Airspace opacity": "Lung Opacity",
                  "Nodule or mass": "Lung Lesion"}
RSNA = "labels/rsna_pneumonia_boxes_on_nih.csv"
RSNA_COLUMNS = ["nih_image_index", "rsna_detailed_class", "Target", "x", "y", "width", "height"]
RSNA_FINDINGS = ["Pneumonia", "Lung Opacity", "No Finding"]
RSNA_CLASSES = ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")


def google_labels(root: Path, df: pd.DataFrame) -> tuple[list[str], np.ndarray, pd.DataFrame]:
    """Rows of ``df`` adjudicated by Majkowska et al. 2019, with their 4 expert labels (YES/NO → 1/0)."""
    if not (root / GOOGLE).exists():
        raise DataFormatError(f"{NAME}: labels='google2019' needs {GOOGLE} under {root}")
    g = read_table(root / GOOGLE, NAME, ["Image Index", *GOOGLE_COLUMNS, "Set Id"], dtype={"Image Index": object})
    g = g.drop_duplicates("Image Index").set_index("Image Index")
    df = df[df["image_id"].isin(g.index)].reset_index(drop=True)
    g = g.loc[df["image_id"]]
    lab = np.full((len(df), len(GOOGLE_COLUMNS)), np.nan, dtype=np.float32)
    for j, col in enumerate(GOOGLE_COLUMNS):
        v = g[col].astype(str).str.strip().str.upper()
        bad = ~v.isin(["YES", "NO", "NAN"])
        if bad.any():
            raise DataFormatError(f"{NAME}: {GOOGLE} column {col!r} must be YES/NO; found {sorted(set(v[bad]))[:5]}")
        lab[:, j] = np.where(v == "YES", 1.0, np.where(v == "NO", 0.0, np.nan))
    df["google2019_set"] = g["Set Id"].to_numpy()
    return list(GOOGLE_COLUMNS.values()), lab, df


def read_rsna(root: Path) -> pd.DataFrame:
    """The RSNA Pneumonia Challenge rows matched to NIH images (one row per box, or one box-less row)."""
    if not (root / RSNA).exists():
        raise DataFormatError(f"{NAME}: labels='rsna' needs {RSNA} under {root}")
    r = read_table(root / RSNA, NAME, RSNA_COLUMNS, dtype={"nih_image_index": object})
    bad = sorted(set(r["rsna_detailed_class"].astype(str)) - set(RSNA_CLASSES))
    if bad:
        raise DataFormatError(f"{NAME}: unknown RSNA classes {bad} in {RSNA}; expected {list(RSNA_CLASSES)}")
    if not pd.to_numeric(r["Target"], errors="coerce").isin([0, 1]).all():
        raise DataFormatError(f"{NAME}: RSNA Target must be 0 or 1 in {RSNA}")
    return r


def rsna_labels(root: Path, df: pd.DataFrame) -> tuple[list[str], np.ndarray, pd.DataFrame]:
    """Rows of ``df`` re-used by the RSNA challenge: Pneumonia = Lung Opacity = Target, No Finding = class
    "Normal"; meta adds ``rsna_class``."""
    r = read_rsna(root)
    per = r.groupby("nih_image_index", sort=False).agg(target=("Target", "max"), cls=("rsna_detailed_class", "first"))
    df = df[df["image_id"].isin(per.index)].reset_index(drop=True)
    per = per.loc[df["image_id"]]
    t = per["target"].to_numpy(dtype=np.float32)
    normal = (per["cls"] == "Normal").to_numpy(dtype=np.float32)
    df["rsna_class"] = per["cls"].to_numpy(dtype=object)
    return RSNA_FINDINGS, np.stack([t, t, normal], axis=1), df


def rsna_boxes(root: Path, df: pd.DataFrame, release_size: int) -> pd.DataFrame:
    """RSNA boxes ``[x, y, width, height]`` (1024 px) of ``df``'s images, scaled to the files' ``width`` and
    ``height``; each box is given for Pneumonia and for Lung Opacity."""
    r = read_rsna(root)
    r = r[r["x"].notna()]
    rows = pd.Series(np.arange(len(df)), index=df["image_id"].to_numpy())
    r = r[r["nih_image_index"].isin(rows.index)]
    if r.empty:
        return empty_boxes()
    row = rows.loc[r["nih_image_index"]].to_numpy()
    w, h = df["width"].to_numpy(float)[row], df["height"].to_numpy(float)[row]
    sx = np.where(np.isfinite(w), w / release_size, 1.0)
    sy = np.where(np.isfinite(h), h / release_size, 1.0)
    x, y, bw, bh = (r[c].to_numpy(float) for c in ("x", "y", "width", "height"))
    one = pd.DataFrame({"row": row, "finding": "Lung Opacity", "x_min": x * sx, "y_min": y * sy,
                        "x_max": (x + bw) * sx, "y_max": (y + bh) * sy,
                        "image_id": r["nih_image_index"].to_numpy()})
    both = pd.concat([one.assign(finding="Pneumonia"), one], ignore_index=True)
    return both.sort_values(["row", "finding"], kind="stable").reset_index(drop=True)
