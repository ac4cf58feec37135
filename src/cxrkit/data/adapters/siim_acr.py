"""SIIM-ACR Pneumothorax Segmentation (2019): RLE masks on NIH-derived DICOMs.

Root layout (the original Kaggle/SIIM release)::

    train-rle.csv          ImageId, EncodedPixels (header " EncodedPixels" with a leading space in the
                           original; stage_2_train.csv of the 2019 stage 2 release also works); one row per
                           mask, "-1" = no pneumothorax
    dicom-images-train/<study>/<series>/<ImageId>.dcm   (any depth; .png conversions also found)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data._masks import MaskRef, RleMask, load_mask, mask_boxes
from cxrkit.data._pixels import image_size
from cxrkit.data.adapters._common import check_no_extra, handle_missing, list_images, require_file, require_root
from cxrkit.data.dataset import Dataset, DatasetCard, empty_boxes
from cxrkit.errors import DataFormatError

NAME = "siim_acr"
FINDINGS = ("Pneumothorax",)
TABLE = "train-rle.csv"
#: Other names of the same table (the 2019 stage 2 release).
TABLES = (TABLE, "stage_2_train.csv")
IMAGE_DIRS = ("dicom-images-train", "images", "train")
SIIM_SIZE = 1024

CARD = DatasetCard(
    name=NAME,
    title="SIIM-ACR Pneumothorax Segmentation",
    citation=("Zawacki A, Wu C, Shih G, et al. SIIM-ACR Pneumothorax Segmentation. Kaggle 2019; images from "
              "NIH ChestX-ray14 (Wang et al. 2017)."),
    license="SIIM-ACR challenge terms (non-commercial research)",
    homepage="https://www.kaggle.com/c/siim-acr-pneumothorax-segmentation",
    label_source="Radiologists segmented pneumothoraces (RLE masks); no mask = no pneumothorax",
    cannot_provide=("only pneumothorax", "patient ids are not given: ImageId is used (one image each)",
                    "masks assume the challenge's 1024 x 1024 images"),
)


def load(root: str | os.PathLike, *, images_only: bool = True, boxes: bool = False, **options: Any) -> Dataset:
    """Load the SIIM-ACR training set.

    Args:
        root: folder with ``train-rle.csv`` and the DICOM folder.
        images_only: drop rows whose image is missing (warning with the count).
        boxes: also derive Pneumothorax boxes (one per 8-connected mask region) by decoding every mask now
            (a few ms per positive image); scaled to the image on disk for non-DICOM copies.

    Returns:
        Dataset with Pneumothorax (1 if any mask); ``masks[i]`` is ``{"pneumothorax": RleMask}`` for positive
        images (decoded on access to bool 1024 x 1024) and None for negatives; meta adds ``n_masks``.
    """
    check_no_extra(NAME, options)
    expected = [TABLE, "dicom-images-train/"]
    root = require_root(root, NAME, expected)
    p = next((root / t for t in TABLES if (root / t).is_file()), None) or require_file(root, TABLE, NAME, expected)
    try:
        raw = pd.read_csv(p, dtype=object, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(f"{NAME}: cannot parse {p}: {exc}") from exc
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in ("ImageId", "EncodedPixels") if c not in raw.columns]
    if missing:
        raise DataFormatError(f"{NAME}: {TABLE} lacks columns {missing}; found {list(raw.columns)}; expected "
                              "ImageId, EncodedPixels")
    enc = raw["EncodedPixels"].fillna("-1").str.strip()
    raw = raw.assign(EncodedPixels=enc, positive=enc != "-1")
    groups = raw.groupby("ImageId", sort=False)
    ids = np.array(list(groups.groups), dtype=object)
    positive = groups["positive"].any().loc[ids].to_numpy()
    encs = groups["EncodedPixels"].agg(lambda s: tuple(e for e in s if e != "-1")).loc[ids]
    files: dict[str, str] = {}
    for d in IMAGE_DIRS:
        for f in list_images(root / d):
            files.setdefault(f.stem, str(f))
    paths = pd.Series([files.get(i) for i in ids], dtype=object)
    meta = pd.DataFrame({"path": paths, "image_id": ids, "patient_id": ids, "age_years": np.nan, "sex": None,
                         "view": None, "source": NAME, "n_masks": [len(e) for e in encs]})
    masks: list[dict[str, MaskRef] | None] = [
        {"pneumothorax": RleMask(e, SIIM_SIZE, SIIM_SIZE)} if e else None for e in encs]
    keep = handle_missing(NAME, paths, images_only)
    lab = positive.astype(np.float32)[:, None]
    meta = meta[keep].reset_index(drop=True)
    masks = [m for m, k in zip(masks, keep) if k]
    box_df = _boxes(meta, masks) if boxes else empty_boxes()
    return Dataset(FINDINGS, lab[keep], meta, boxes=box_df, masks=masks, card=CARD)


def _boxes(meta: pd.DataFrame, masks: list) -> pd.DataFrame:
    rows = []
    for i, (m, path) in enumerate(zip(masks, meta["path"])):
        if m is None:
            continue
        sx = sy = 1.0
        if path and not str(path).lower().endswith((".dcm", ".dicom")):
            w, h = image_size(path)
            sx, sy = w / SIIM_SIZE, h / SIIM_SIZE
        for x0, y0, x1, y1 in mask_boxes(load_mask(m["pneumothorax"])):
            rows.append((i, "Pneumothorax", x0 * sx, y0 * sy, x1 * sx, y1 * sy))
    if not rows:
        return empty_boxes()
    return pd.DataFrame(rows, columns=["row", "finding", "x_min", "y_min", "x_max", "y_max"])
