"""JSRT chest radiographs with the SCR anatomy masks (lungs, heart, clavicles).

Root layout::

    images/JPC{LN,NN}NNN.{jpg,png,IMG}
    masks/{left_lung,right_lung,heart,left_clavicle,right_clavicle}/JPC*.png   optional (SCR)
    landmarks/{RL,LL,H,RCLA,LCLA}/JPC*.npy                                        optional (HybridGNet)
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data.adapters._common import check_no_extra, list_images, require_root
from cxrkit.data.dataset import Dataset, DatasetCard
from cxrkit.errors import DataFormatError

NAME = "jsrt"
FINDINGS = ("Nodule",)
STRUCTURES = ("left_lung", "right_lung", "heart", "left_clavicle", "right_clavicle")
LANDMARKS = {"RL": "right_lung", "LL": "left_lung", "H": "heart", "RCLA": "right_clavicle", "LCLA": "left_clavicle"}
_ID = re.compile(r"^JPC(LN|NN)(\d+)$", re.IGNORECASE)

CARD = DatasetCard(
    name=NAME,
    title="JSRT database with SCR reference masks",
    citation=("Shiraishi J, Katsuragawa S, Ikezoe J, et al. Development of a digital image database for chest "
              "radiographs with and without a lung nodule. AJR 2000;174:71-74. | van Ginneken B, Stegmann MB, "
              "Loog M. Segmentation of anatomical structures in chest radiographs using supervised methods: a "
              "comparative study on a public database. Medical Image Analysis 2006;10:19-40."),
    license="Research and education use (JSRT; SCR masks from UMC Utrecht); cite both papers; do not redistribute",
    homepage="http://db.jsrt.or.jp/eng.php ; https://www.isi.uu.nl/Research/Databases/SCR/",
    label_source="Nodule present (JPCLN, CT-confirmed) or absent (JPCNN) from the file name; masks drawn by experts",
    cannot_provide=(
        "no nodule position or diagnosis (benign/malignant) here: the JSRT clinical file is not read",
        "no age or sex (in the JSRT clinical file, not in this layout)",
        "one image per patient; all PA film scans",
    ),
    notes=("masks: 'left' is the patient's left (image right)",
           "usual SCR protocol: two folds, odd vs even image numbers (meta column fold)"),
)


def load(root: str | os.PathLike, *, masks: bool = True, images_only: bool = True, **options: Any) -> Dataset:
    """Load JSRT (+ SCR masks when present).

    Args:
        root: folder with ``images/`` (and ``masks/<structure>/``).
        masks: attach the SCR mask paths per structure (rows lacking some structures get the ones found).
        images_only: accepted for a uniform interface; every row is an image file found on disk.

    Returns:
        Dataset with finding Nodule (1 for JPCLN, 0 for JPCNN); ``masks[i]`` maps structure names
        (:data:`STRUCTURES`) to PNG paths; meta adds ``number``, ``fold`` ("odd"/"even") and ``landmarks_dir``.
    """
    check_no_extra(NAME, options)
    root = require_root(root, NAME, ["images/JPC*.jpg", "masks/<structure>/JPC*.png"])
    files = list_images(root / "images")
    if not files:
        raise DataFormatError(f"{NAME}: no images in {root / 'images'}; expected JPCLN*/JPCNN* image files")
    rows, bad = [], []
    for p in files:
        m = _ID.match(p.stem)
        if m is None:
            bad.append(p.name)
            continue
        rows.append((str(p), p.stem.upper(), m.group(1).upper() == "LN", int(m.group(2))))
    if bad:
        warnings.warn(f"{NAME}: {len(bad)} files in images/ are not JPCLN/JPCNN images (e.g. {bad[:3]}); ignored",
                      UserWarning, stacklevel=2)
    df = pd.DataFrame(rows, columns=["path", "image_id", "nodule", "number"])
    meta = pd.DataFrame({
        "path": df["path"].astype(object), "image_id": df["image_id"].astype(object),
        "patient_id": df["image_id"].astype(object), "age_years": np.nan, "sex": None, "view": "PA",
        "source": NAME, "number": df["number"], "fold": np.where(df["number"] % 2 == 1, "odd", "even"),
    })
    mask_refs = None
    if masks and (root / "masks").is_dir():
        mask_refs = []
        for stem in meta["image_id"]:
            ref = {s: str(root / "masks" / s / f"{stem}.png") for s in STRUCTURES
                   if (root / "masks" / s / f"{stem}.png").is_file()}
            mask_refs.append(ref or None)
        n_none = sum(r is None for r in mask_refs)
        if n_none:
            warnings.warn(f"{NAME}: {n_none} images have no SCR masks", UserWarning, stacklevel=2)
    meta["landmarks_dir"] = str(root / "landmarks") if (root / "landmarks").is_dir() else None
    labels = df[["nodule"]].to_numpy(dtype=np.float32)
    return Dataset(FINDINGS, labels, meta, masks=mask_refs, card=CARD)
