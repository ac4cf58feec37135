"""CheXpert (Stanford): train.csv / valid.csv with 14 labeler findings (1 / 0 / -1 / blank).

Root layout (CheXpert-v1.0 or CheXpert-v1.0-small)::

    train.csv, valid.csv   Path, Sex, Age, Frontal/Lateral, AP/PA, 14 label columns
    train/patient00001/study1/view1_frontal.jpg   (Path in the tables starts with the root's folder name,
                                                    e.g. CheXpert-v1.0-small/train/...)
"""

from __future__ import annotations

import os
import re
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
    read_table,
    require_file,
    require_root,
)
from cxrkit.data.dataset import Dataset, DatasetCard

NAME = "chexpert"
FINDINGS = CHEXPERT_FINDINGS
TABLES = {"train": "train.csv", "valid": "valid.csv"}
COLUMNS = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_COLUMNS]
_PATH = re.compile(r"(patient\d+)/(study\d+)/(view\d+)_(frontal|lateral)", re.IGNORECASE)

CARD = DatasetCard(
    name=NAME,
    title="CheXpert",
    citation=("Irvin J, Rajpurkar P, Ko M, et al. CheXpert: A Large Chest Radiograph Dataset with Uncertainty "
              "Labels and Expert Comparison. AAAI 2019."),
    license="Stanford University School of Medicine CheXpert Dataset Research Use Agreement (non-commercial)",
    homepage="https://stanfordmlgroup.github.io/competitions/chexpert/",
    label_source=("CheXpert labeler (rule-based NLP) on the reports for train; 3 radiologists' consensus for "
                  "valid. 1 positive, 0 negative, -1 uncertain, blank not mentioned (NaN)"),
    cannot_provide=("no boxes or masks", "the official test set labels are not in this layout",
                    "blank means 'not mentioned', not negative: it is NaN here"),
)


def load(
    root: str | os.PathLike,
    *,
    split: str | None = "train",
    uncertain: str = "ignore",
    views: tuple[str, ...] | list[str] | None = None,
    images_only: bool = True,
    **options: Any,
) -> Dataset:
    """Load CheXpert.

    Args:
        root: the CheXpert folder (holding train.csv / valid.csv).
        split: "train", "valid" or None (both).
        uncertain: policy for -1: "ignore" (NaN), "zeros", "ones" or "keep".
        views: keep only these views ("PA", "AP", "LATERAL"); None keeps all.
        images_only: drop rows whose image file is missing (warning with the count).

    Returns:
        Dataset with the 14 CheXpert findings (canonical names); meta adds ``study_id``, ``frontal``
        ("Frontal"/"Lateral"), ``split``.
    """
    check_no_extra(NAME, options)
    views = as_list(views)
    check_options(NAME, "split", split, ("train", "valid", None))
    root = require_root(root, NAME, list(TABLES.values()))
    splits = list(TABLES) if split is None else [split]
    frames = []
    for s in splits:
        df = read_table(require_file(root, TABLES[s], NAME, list(TABLES.values())), NAME, COLUMNS,
                        dtype={"Path": object})
        df["split"] = s
        frames.append(df)
    raw = pd.concat(frames, ignore_index=True)
    labels = chexpert_matrix(raw, uncertain, NAME)
    parsed = raw["Path"].str.extract(_PATH)
    frontal = raw["Frontal/Lateral"].astype(str).str.strip().str.capitalize()
    view = raw["AP/PA"].astype(object).where(raw["AP/PA"].notna(), None)
    view = pd.Series(np.where(frontal == "Lateral", "LATERAL", view.astype(str).str.upper()), dtype=object)
    view[(frontal != "Lateral") & raw["AP/PA"].isna()] = None
    paths = pd.Series([_resolve(root, p) for p in raw["Path"]], dtype=object)
    meta = pd.DataFrame({
        "path": paths, "image_id": raw["Path"].astype(object), "patient_id": parsed[0].astype(object),
        "age_years": pd.to_numeric(raw["Age"], errors="coerce").astype(np.float64),
        "sex": norm_sex(raw["Sex"]), "view": view, "source": NAME,
        "study_id": (parsed[0] + "/" + parsed[1]).astype(object), "frontal": frontal.astype(object),
        "split": raw["split"].astype(object),
    })
    keep = handle_missing(NAME, paths, images_only)
    if views is not None:
        keep &= meta["view"].isin(list(views)).to_numpy()
    return Dataset(FINDINGS, labels[keep], meta[keep].reset_index(drop=True), card=CARD)


def _resolve(root: Path, rel: str) -> str | None:
    """Table paths start with the dataset folder's name (CheXpert-v1.0-small/train/...)."""
    rel = str(rel)
    for cand in (root / rel, root.parent / rel, root / Path(*Path(rel).parts[1:]) if len(Path(rel).parts) > 1
                 else root / rel):
        if cand.is_file():
            return str(cand)
    return None
