"""Kermany et al. pediatric pneumonia chest X-rays (Guangzhou Women and Children's Medical Center).

Root layout (Kaggle "chest-xray-pneumonia")::

    {train,test,val}/NORMAL/*.jpeg          IM-0115-0001.jpeg, NORMAL2-IM-0383-0001.jpeg
    {train,test,val}/PNEUMONIA/*.jpeg       person1000_bacteria_2931.jpeg, person1000_virus_1681.jpeg

Labels come from the folder (NORMAL / PNEUMONIA) and the file name (bacteria / virus).
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data.adapters._common import check_no_extra, check_options, list_images, require_root
from cxrkit.data.dataset import Dataset, DatasetCard
from cxrkit.errors import DataFormatError

NAME = "kermany"
FINDINGS = ("Pneumonia", "No Finding")
SPLITS = ("train", "test", "val")
_PNEU = re.compile(r"^(person\d+)_(bacteria|virus)_\d+(?:_\d+)?$", re.IGNORECASE)
_NORM = re.compile(r"^((?:NORMAL2-)?IM-\d+)-\d+(?:-\d+)?$", re.IGNORECASE)

CARD = DatasetCard(
    name=NAME,
    title="Pediatric pneumonia chest X-rays (Kermany et al.)",
    citation=("Kermany DS, Goldbaum M, Cai W, et al. Identifying Medical Diagnoses and Treatable Diseases by "
              "Image-Based Deep Learning. Cell 2018;172(5):1122-1131."),
    license="CC BY 4.0 (Mendeley Data, DOI 10.17632/rscbjbr9sj.2)",
    homepage="https://data.mendeley.com/datasets/rscbjbr9sj/2",
    label_source="Graded by two expert physicians, checked by a third (folder name); bacterial/viral from file name",
    cannot_provide=(
        "children aged 1-5 only: not representative of adults",
        "no age, sex or view per image",
        "only pneumonia vs normal: other findings are unknown (NaN after relabel)",
        "no boxes or masks",
    ),
    notes=(
        "patient id from the file name: person<N> for pneumonia files; IM-<NNNN> (or NORMAL2-IM-<NNNN>) for "
        "normal files, assumed to be one patient per IM number",
        "the local copy may be resized (the shared copy is 224x224 RGB, aspect ratio not kept)",
    ),
)


def load(root: str | os.PathLike, *, split: str | None = None, images_only: bool = True, **options: Any) -> Dataset:
    """Load the Kermany pediatric pneumonia set.

    Args:
        root: folder holding ``train/`` (and optionally ``test/``, ``val/``) with NORMAL and PNEUMONIA folders.
        split: "train", "test" or "val" (the dataset's own folders) or None for all present.
        images_only: accepted for a uniform interface; every row is an image file found on disk.

    Returns:
        Dataset with findings Pneumonia and No Finding; meta adds ``pneumonia_type`` ("bacterial", "viral" or
        "none") and ``split`` (the folder).
    """
    check_no_extra(NAME, options)
    check_options(NAME, "split", split, (*SPLITS, None))
    root = require_root(root, NAME, ["train/NORMAL/", "train/PNEUMONIA/"])
    splits = [s for s in SPLITS if (root / s).is_dir()] if split is None else [split]
    rows = []
    for s in splits:
        for cls in ("NORMAL", "PNEUMONIA"):
            for p in list_images(root / s / cls):
                rows.append((str(p), p.stem, s, cls))
    if not rows:
        raise DataFormatError(f"{NAME}: no images found under {root}; expected "
                              f"{{train,test,val}}/{{NORMAL,PNEUMONIA}}/*.jpeg")
    df = pd.DataFrame(rows, columns=["path", "image_id", "split", "cls"], dtype=object)
    pid, ptype, bad = [], [], 0
    for stem, cls in zip(df["image_id"], df["cls"]):
        m = (_PNEU if cls == "PNEUMONIA" else _NORM).match(stem)
        if m is None:
            bad += 1
            pid.append(stem)
            ptype.append("unknown" if cls == "PNEUMONIA" else "none")
            continue
        pid.append(m.group(1))
        ptype.append({"bacteria": "bacterial", "virus": "viral"}[m.group(2).lower()] if cls == "PNEUMONIA" else "none")
    if bad:
        warnings.warn(f"{NAME}: {bad} file names do not follow person<N>_bacteria|virus_<k> / IM-<N>-<k>; each is "
                      "treated as its own patient", UserWarning, stacklevel=2)
    pneu = (df["cls"] == "PNEUMONIA").to_numpy()
    labels = np.stack([pneu, ~pneu], axis=1).astype(np.float32)
    meta = pd.DataFrame({
        "path": df["path"], "image_id": df["image_id"] + ".jpeg", "patient_id": pd.Series(pid, dtype=object),
        "age_years": np.nan, "sex": None, "view": None, "source": NAME,
        "pneumonia_type": pd.Series(ptype, dtype=object), "split": df["split"],
    })
    return Dataset(FINDINGS, labels, meta, card=CARD)
