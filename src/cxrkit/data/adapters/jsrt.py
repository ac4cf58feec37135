"""JSRT chest radiographs with the SCR anatomy masks (lungs, heart, clavicles).

Root layout::

    images/JPC{LN,NN}NNN.{jpg,png,IMG}
    masks/{left_lung,right_lung,heart,left_clavicle,right_clavicle}/JPC*.png   optional (SCR)
    landmarks/{RL,LL,H,RCLA,LCLA}/JPC*.npy                                        optional (HybridGNet)

Two splits come with it (every JSRT image is a different patient, so image-level = patient-level):
the SCR protocol's odd/even folds (meta ``fold``) and the anatomy segmenter's seeded held-out fold
(meta ``anatomy_split``, :func:`anatomy_split`): ``test`` (~40 of the 197 images with masks, never used for
training or model selection), ``val`` (~15, checkpoint selection) and ``train``, stratified by nodule
(``JPCLN``) vs no nodule (``JPCNN``) over the complete JSRT id list, so every copy of the data set assigns an
image the same part.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data._masks import MaskRef
from cxrkit.data.adapters._common import check_no_extra, list_images, require_root
from cxrkit.data.dataset import Dataset, DatasetCard
from cxrkit.data.splits import stratified_id_split
from cxrkit.errors import DataFormatError

NAME = "jsrt"
FINDINGS = ("Nodule",)
STRUCTURES = ("left_lung", "right_lung", "heart", "left_clavicle", "right_clavicle")
LANDMARKS = {"RL": "right_lung", "LL": "left_lung", "H": "heart", "RCLA": "right_clavicle", "LCLA": "left_clavicle"}
_ID = re.compile(r"^JPC(LN|NN)(\d+)$", re.IGNORECASE)
#: Every JSRT image id (154 with a nodule, 93 without), whether or not a copy holds it.
ALL_IDS = tuple([f"JPCLN{i:03d}" for i in range(1, 155)] + [f"JPCNN{i:03d}" for i in range(1, 94)])
ANATOMY_SPLIT_SEED = 20261128
ANATOMY_N_TEST = 40
ANATOMY_N_VAL = 15

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


def anatomy_split(ids: list[str], seed: int = ANATOMY_SPLIT_SEED, n_test: int = ANATOMY_N_TEST,
                  n_val: int = ANATOMY_N_VAL) -> dict[str, list[str]]:
    """The anatomy segmenter's held-out fold: ``ids`` → ``{"train", "val", "test"}`` lists (each sorted).

    Drawn by :func:`cxrkit.data.splits.stratified_id_split` over :data:`ALL_IDS` (stratum: JPCLN / JPCNN) with
    ``n_test * 50 / 40`` test and ``n_val * 50 / 40`` validation ids among the 247, which leaves about
    ``n_test`` and ``n_val`` of the 197 images that have SCR masks. Ids outside :data:`ALL_IDS` go to train.
    """
    part = stratified_id_split(ALL_IDS, [c[:5] for c in ALL_IDS],
                               {"test": n_test * 50 / 40, "val": n_val * 50 / 40}, seed=seed)
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for cid in ids:
        out[part.get(cid, "train")].append(cid)
    return {k: sorted(v) for k, v in out.items()}


def load(root: str | os.PathLike, *, masks: bool = True, images_only: bool = True, require_masks: bool = False,
         **options: Any) -> Dataset:
    """Load JSRT (+ SCR masks when present).

    Args:
        root: folder with ``images/`` (and ``masks/<structure>/``).
        masks: attach the SCR mask paths per structure (rows lacking some structures get the ones found).
        images_only: accepted for a uniform interface; every row is an image file found on disk.
        require_masks: keep only images that have all five SCR masks (segmentation training and evaluation).

    Returns:
        Dataset with finding Nodule (1 for JPCLN, 0 for JPCNN), rows sorted by image id; ``masks[i]`` maps
        structure names (:data:`STRUCTURES`) to PNG paths; meta adds ``number``, ``fold`` ("odd"/"even"),
        ``anatomy_split`` ("train"/"val"/"test", :func:`anatomy_split`) and ``landmarks_dir``.

    Raises:
        DataFormatError: no ``images/`` folder or no JSRT image in it; with ``require_masks``, no ``masks/``
            folder or no image with all five masks.
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
    if require_masks:
        if not (root / "masks").is_dir():
            raise DataFormatError(f"{NAME}: {root} has no masks/ folder (expected masks/<structure>/JPC*.png)")
        rows = [r for r in rows if all((root / "masks" / s / f"{r[1]}.png").is_file() for s in STRUCTURES)]
        if not rows:
            raise DataFormatError(f"{NAME}: no image with all five SCR masks under {root}")
    df = pd.DataFrame(sorted(rows, key=lambda r: r[1]), columns=["path", "image_id", "nodule", "number"])
    split = anatomy_split(list(df["image_id"]))
    part_of = {cid: k for k, v in split.items() for cid in v}
    meta = pd.DataFrame({
        "path": df["path"].astype(object), "image_id": df["image_id"].astype(object),
        "patient_id": df["image_id"].astype(object), "age_years": np.nan, "sex": None, "view": "PA",
        "source": NAME, "number": df["number"], "fold": np.where(df["number"] % 2 == 1, "odd", "even"),
        "anatomy_split": [part_of[c] for c in df["image_id"]],
    })
    mask_refs: list[dict[str, MaskRef] | None] | None = None
    if masks and (root / "masks").is_dir():
        mask_refs = []
        for stem in meta["image_id"]:
            ref: dict[str, MaskRef] = {s: str(root / "masks" / s / f"{stem}.png") for s in STRUCTURES
                   if (root / "masks" / s / f"{stem}.png").is_file()}
            mask_refs.append(ref or None)
        n_none = sum(r is None for r in mask_refs)
        if n_none:
            warnings.warn(f"{NAME}: {n_none} images have no SCR masks", UserWarning, stacklevel=2)
    meta["landmarks_dir"] = str(root / "landmarks") if (root / "landmarks").is_dir() else None
    labels = df[["nodule"]].to_numpy(dtype=np.float32)
    return Dataset(FINDINGS, labels, meta, masks=mask_refs, card=CARD)
