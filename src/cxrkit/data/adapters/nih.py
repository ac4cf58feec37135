"""NIH ChestX-ray14 (ChestX-ray8): label table, official boxes, CheXNet random split, Google 2019 labels.

Root layout (as released by NIH, plus the copies in ``../shared/data/nih-cxr14``)::

    labels/Data_Entry_2017_v2020.csv.gz   (or Data_Entry_2017.csv[.gz] with table="2017")
    labels/BBox_List_2017.csv.gz          optional: official boxes, [x, y, w, h] in 1024x1024 pixels
    labels/google2019_nih-chest-xray-labels.csv.gz   optional: labels="google2019"
    labels/rsna_pneumonia_boxes_on_nih.csv            optional: labels="rsna"
    splits/chexnet_random/{train,val,test}_list.txt   optional: split="train"|"val"|"test"
    images_512/ | images_1024_original/ | images_64px/ | images/   PNG files named by "Image Index"
    images_extra_512/ + images_extra_manifest.csv     optional: JPEG copies listed by the manifest's ``file``
                                                      column, keyed by its ``image`` column ("Image Index")
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data._pixels import image_size
from cxrkit.data.adapters._common import (
    check_no_extra,
    check_options,
    list_images,
    read_table,
    require_root,
)
from cxrkit.data.adapters._nih_extra import google_labels, rsna_boxes, rsna_labels
from cxrkit.data.dataset import Dataset, DatasetCard, empty_boxes
from cxrkit.data.splits import chexnet_split_of
from cxrkit.errors import DataFormatError
from cxrkit.labels import NIH_FINDINGS, canonical

NAME = "nih"
FINDINGS: tuple[str, ...] = NIH_FINDINGS + ("No Finding",)
TABLES = {"v2020": "labels/Data_Entry_2017_v2020.csv.gz", "2017": "labels/Data_Entry_2017.csv.gz"}
BBOX = "labels/BBox_List_2017.csv.gz"
IMAGE_FOLDERS = ("images_512", "images_1024_original", "images_64px", "images", "images_extra_512")
#: Folders read through a manifest (file name != "Image Index"): folder -> manifest CSV under the root.
MANIFEST_FOLDERS = {"images_extra_512": "images_extra_manifest.csv"}
#: Named unions of folders: every adult 512-px film here (images_512 + the extra JPEGs).
FOLDER_SETS = {"adult_512": ("images_512", "images_extra_512")}
TABLE_COLUMNS = [
    "Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
    "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]",
]
#: Pixel size of the released NIH PNGs, in which the official boxes are given.
NIH_RELEASE_SIZE = 1024

CARD = DatasetCard(
    name=NAME,
    title="NIH ChestX-ray14 (ChestX-ray8)",
    citation=("Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. ChestX-ray8: Hospital-scale chest X-ray "
              "database and benchmarks on weakly-supervised classification and localization of common thorax "
              "diseases. CVPR 2017. Acknowledge the NIH Clinical Center."),
    license="NIH: may be used without restriction; cite Wang et al. 2017 and acknowledge the NIH Clinical Center",
    homepage="https://nihcc.app.box.com/v/ChestXray-NIHCC",
    label_source=("Text-mined from radiology reports by NLP (>90% accurate by NIH's estimate); expect noise. "
                  "Option labels='google2019': adjudicated radiologist labels of Majkowska et al., Radiology "
                  "2019, for 4,376 images and 4 findings."),
    cannot_provide=(
        "no uncertain (-1) labels: every NIH finding is 1 or 0",
        "boxes only for 880 images and 8 findings",
        "no masks",
        "images resized to 1024x1024 by NIH (aspect ratio not kept); original size and spacing in meta",
        "NIH's official train_val/test lists are not read here; the CheXNet random split is",
    ),
)


def load(
    root: str | os.PathLike,
    *,
    images: str = "images_512",
    images_only: bool = True,
    split: str | None = None,
    labels: str = "nih",
    table: str = "v2020",
    read_sizes: bool = True,
    **options: Any,
) -> Dataset:
    """Load NIH ChestX-ray14.

    Args:
        root: folder with ``labels/`` and image folders (see module docstring).
        images: image folder under ``root`` ("images_512", "images_1024_original", "images_64px", "images" —
            the NIH release's folder, also found as ``images_001/images`` ... ``images_012/images`` in the Kaggle
            copy — or "images_extra_512", JPEGs listed by ``images_extra_manifest.csv``'s ``file`` column),
            "adult_512" (images_512 + images_extra_512: every 512-px adult film, one row each), or "all" for
            every one of those present (a row per file; ``folder`` names it).
        images_only: True keeps only rows whose image is on disk; False keeps every row of the label table
            (``path`` None where the image is absent; boxes of such rows stay in 1024-pixel space).
        split: "train", "val" or "test" of the CheXNet random split, or None for all rows. The meta column
            ``chexnet_split`` is filled whenever the split lists are present.
        labels: "nih" (the text-mined 14 findings + No Finding), "google2019" (4 expert findings; rows
            restricted to the 4,376 adjudicated images) or "rsna" (RSNA Pneumonia Challenge labels and boxes of
            the NIH images it re-used, from ``labels/rsna_pneumonia_boxes_on_nih.csv``: Pneumonia = Lung
            Opacity = Target, No Finding = class "Normal").
        table: "v2020" (default; ages in years) or "2017" (the original table).
        read_sizes: read each image's size from its header (needed to scale boxes to the file on disk).

    Returns:
        A :class:`~cxrkit.data.Dataset`; meta adds ``follow_up``, ``original_width``, ``original_height``,
        ``original_spacing_x_mm``, ``original_spacing_y_mm`` (of the original DICOM), ``width``, ``height``,
        ``spacing_x_mm``, ``spacing_y_mm`` (of the file on disk, derived from the original), ``folder``,
        ``chexnet_split`` and ``finding_labels`` (the raw string).
    """
    check_no_extra(NAME, options)
    check_options(NAME, "images", images, (*IMAGE_FOLDERS, *FOLDER_SETS, "all"))
    check_options(NAME, "split", split, ("train", "val", "test", None))
    check_options(NAME, "labels", labels, ("nih", "google2019", "rsna"))
    check_options(NAME, "table", table, tuple(TABLES))
    root = require_root(root, NAME, [TABLES[table], "images_512/ (or another image folder)"])
    df = read_label_table(root, table)
    files = _find_images(root, images)
    # the whole table's labels are parsed (and checked) before rows are selected
    full = nih_label_matrix(df["finding_labels"]) if labels == "nih" else np.zeros((len(df), 0), np.float32)
    df, lab, unlisted = _attach_paths(df, full, files, images_only)
    findings = list(FINDINGS)
    if labels == "google2019":
        findings, lab, df = google_labels(root, df)
    elif labels == "rsna":
        findings, lab, df = rsna_labels(root, df)
    if unlisted:
        warnings.warn(f"{NAME}: {unlisted} image files under {root} are not in the label table; ignored",
                      UserWarning, stacklevel=2)
    chex = chexnet_split_of(root) if (root / "splits" / "chexnet_random").is_dir() else None
    df["chexnet_split"] = pd.Series([chex.get(i) for i in df["image_id"]] if chex is not None else None,
                                    index=df.index, dtype=object)
    if split is not None:
        if chex is None:
            raise DataFormatError(f"{NAME}: split={split!r} needs splits/chexnet_random/ under {root}")
        keep = (df["chexnet_split"] == split).to_numpy()
        df, lab = df[keep].reset_index(drop=True), lab[keep]
    _sizes(df, read_sizes)
    boxes = {"nih": _boxes, "rsna": lambda r, d: rsna_boxes(r, d, NIH_RELEASE_SIZE)}.get(labels, lambda r, d: empty_boxes())(
        root, df)
    if len(df) == 0:
        warnings.warn(f"{NAME}: no rows left (images={images!r}, split={split!r}, images_only={images_only})",
                      UserWarning, stacklevel=2)
    return Dataset(findings, lab, df, boxes=boxes, card=CARD)


def read_label_table(root: Path, table: str = "v2020") -> pd.DataFrame:
    """The Data_Entry table with harmonized meta columns (one row per image, its order)."""
    path = root / TABLES[table]
    if not path.exists() and (root / TABLES[table].removesuffix(".gz")).exists():
        path = root / TABLES[table].removesuffix(".gz")
    if not path.exists():
        raise DataFormatError(f"{NAME}: label table {TABLES[table]} not found under {root}; expected "
                              f"{TABLES[table]} (the NIH Data_Entry table) and image folders")
    text = {c: object for c in ("Image Index", "Finding Labels", "Patient Gender", "View Position")}
    raw = read_table(path, NAME, TABLE_COLUMNS, dtype=text)
    age = raw["Patient Age"]
    if age.dtype == object or str(age.dtype).startswith(("str", "string")):
        # 2017 table: "058Y", "003M", "010D"
        s = age.astype(str).str.strip()
        num = pd.to_numeric(s.str[:-1], errors="coerce")
        unit = s.str[-1].str.upper().map({"Y": 1.0, "M": 1 / 12, "D": 1 / 365.25, "W": 7 / 365.25})
        age_years = num * unit
    else:
        age_years = age.astype(np.float64)
    pid = pd.to_numeric(raw["Patient ID"], errors="coerce")
    if pid.isna().any():
        raise DataFormatError(f"{NAME}: {int(pid.isna().sum())} rows have a non-numeric Patient ID")
    df = pd.DataFrame(
        {
            "path": None,
            "image_id": raw["Image Index"].to_numpy(dtype=object),
            "patient_id": pid.astype(np.int64).astype(str).str.zfill(8),
            "age_years": age_years.astype(np.float64),
            "sex": raw["Patient Gender"].where(raw["Patient Gender"].isin(["M", "F"]), None),
            "view": raw["View Position"].str.upper(),
            "source": NAME,
            "follow_up": pd.to_numeric(raw["Follow-up #"], errors="coerce").astype("Int64"),
            "original_width": raw["OriginalImage[Width"].astype(np.int64),
            "original_height": raw["Height]"].astype(np.int64),
            "original_spacing_x_mm": raw["OriginalImagePixelSpacing[x"].astype(np.float64),
            "original_spacing_y_mm": raw["y]"].astype(np.float64),
            "finding_labels": raw["Finding Labels"].to_numpy(dtype=object),
        }
    )
    if df["image_id"].duplicated().any():
        raise DataFormatError(f"{NAME}: {int(df['image_id'].duplicated().sum())} duplicate Image Index values")
    return df


def nih_label_matrix(finding_labels: pd.Series) -> np.ndarray:
    """``(N, 15)`` float32 0/1 matrix (order of :data:`FINDINGS`) from pipe-separated ``Finding Labels``.

    Vectorized over the unique label strings (a few hundred for the full table). Unknown names raise a
    :class:`DataFormatError` naming them (the NIH table has a fixed vocabulary, so an unknown name means a
    wrong or corrupt file).
    """
    codes, uniq = pd.factorize(finding_labels.to_numpy(dtype=object))
    idx = {f: j for j, f in enumerate(FINDINGS)}
    per_combo = np.zeros((len(uniq), len(FINDINGS)), dtype=np.float32)
    unknown: set[str] = set()
    for u, combo in enumerate(uniq):
        for name in str(combo).split("|"):
            name = name.strip()
            c = canonical(name, strict=False)
            if c in idx:
                per_combo[u, idx[c]] = 1.0
            else:
                unknown.add(name)
    if unknown:
        raise DataFormatError(f"{NAME}: unknown names in Finding Labels: {sorted(unknown)}; expected "
                              f"'|'-separated names from {list(FINDINGS)}")
    return per_combo[codes]


def _find_images(root: Path, images: str) -> pd.DataFrame:
    """Image files on disk: columns image_id, path, folder (+ 64 px split/class folders)."""
    folders = ([f for f in IMAGE_FOLDERS if (root / f).is_dir()] if images == "all"
               else list(FOLDER_SETS.get(images, (images,))))
    bases = []
    rows = []
    for folder in folders:
        if folder in MANIFEST_FOLDERS:
            rows += _manifest_files(root, folder)
            continue
        bases.append((folder, root / folder))
        if folder == "images":  # the Kaggle layout: images_001/images/ ... images_012/images/
            bases += [(folder, b) for b in sorted(root.glob("images_[0-9][0-9][0-9]/images")) if b.is_dir()]
    for folder, base in bases:
        if not base.is_dir():
            continue
        if folder == "images_64px":
            for p in list_images(base):
                rel = p.relative_to(base).parts
                rows.append((p.name, str(p), folder, rel[0] if len(rel) > 2 else None,
                             rel[1] if len(rel) > 2 else None))
        else:
            with os.scandir(base) as it:
                for e in it:
                    if e.is_file() and e.name.lower().endswith(".png"):
                        rows.append((e.name, str(Path(e.path)), folder, None, None))
    out = pd.DataFrame(rows, columns=["image_id", "path", "folder", "folder_split", "folder_class"], dtype=object)
    return out.sort_values(["folder", "image_id"], kind="stable").reset_index(drop=True)


def _manifest_files(root: Path, folder: str) -> list[tuple]:
    """Rows (image_id, path, folder, None, None) of a manifest-listed folder; absent folder → none.

    Raises:
        DataFormatError: the manifest lacks ``image`` / ``file`` columns or names a file outside ``root``.
    """
    if not (root / folder).is_dir():
        return []
    man = root / MANIFEST_FOLDERS[folder]
    if not man.is_file():
        raise DataFormatError(f"{NAME}: {root / folder} needs its manifest {man}")
    df = read_table(man, NAME, ("image", "file"), dtype=str)
    rows = []
    base = root.resolve()
    for image_id, rel in zip(df["image"], df["file"]):
        p = (root / rel).resolve()
        if base not in p.parents:
            raise DataFormatError(f"{NAME}: {man} lists {rel!r}, outside {root}")
        if p.is_file():
            rows.append((str(image_id), str(root / rel), folder, None, None))
    return rows


def _attach_paths(df: pd.DataFrame, lab: np.ndarray, files: pd.DataFrame, images_only: bool):
    pos = pd.Series(np.arange(len(df)), index=df["image_id"])
    listed = files["image_id"].isin(pos.index).to_numpy()
    unlisted = int((~listed).sum())
    files = files[listed]
    rows = pos.loc[files["image_id"]].to_numpy()
    extra_cols = ["folder", "folder_split", "folder_class"]
    if images_only:
        out = df.iloc[rows].reset_index(drop=True)
        out["path"] = files["path"].to_numpy()
        for c in extra_cols:
            out[c] = files[c].to_numpy()
        return out, lab[rows], unlisted
    # every table row; files found more than once (images="all") give one row each
    have = np.zeros(len(df), dtype=bool)
    have[rows] = True
    base = df.iloc[np.flatnonzero(~have)].assign(path=None, folder=None, folder_split=None, folder_class=None)
    found = df.iloc[rows].reset_index(drop=True)
    found["path"] = files["path"].to_numpy()
    for c in extra_cols:
        found[c] = files[c].to_numpy()
    order = np.concatenate([np.flatnonzero(~have), rows])
    out = pd.concat([base, found], ignore_index=True)
    sort = np.argsort(order, kind="stable")
    return out.iloc[sort].reset_index(drop=True), lab[order][sort], unlisted


def _sizes(df: pd.DataFrame, read_sizes: bool) -> None:
    w = np.full(len(df), np.nan)
    h = np.full(len(df), np.nan)
    if read_sizes:
        for i, p in enumerate(df["path"].to_numpy()):
            if p is not None:
                w[i], h[i] = image_size(p)
    df["width"] = w
    df["height"] = h
    df["spacing_x_mm"] = df["original_spacing_x_mm"] * df["original_width"] / df["width"]
    df["spacing_y_mm"] = df["original_spacing_y_mm"] * df["original_height"] / df["height"]


def _boxes(root: Path, df: pd.DataFrame) -> pd.DataFrame:
    path = root / BBOX
    if not path.exists():
        return empty_boxes()
    b = read_box_table(path).astype({"image_id": object})
    rows = pd.Series(np.arange(len(df)), index=df["image_id"])
    b = b[b["image_id"].isin(rows.index)]
    if b.empty:
        return empty_boxes()
    # one box per (row, box) — with images="all" an image id may map to several rows
    m = b.merge(pd.DataFrame({"image_id": df["image_id"], "row": np.arange(len(df))}), on="image_id")
    w = df["width"].to_numpy()[m["row"]]
    h = df["height"].to_numpy()[m["row"]]
    sx = np.where(np.isfinite(w), w / NIH_RELEASE_SIZE, 1.0)
    sy = np.where(np.isfinite(h), h / NIH_RELEASE_SIZE, 1.0)
    out = pd.DataFrame(
        {
            "row": m["row"].astype(np.int64),
            "finding": m["finding"],
            "x_min": m["x"] * sx,
            "y_min": m["y"] * sy,
            "x_max": (m["x"] + m["w"]) * sx,
            "y_max": (m["y"] + m["h"]) * sy,
            "image_id": m["image_id"],
        }
    )
    return out.sort_values(["row"], kind="stable").reset_index(drop=True)


def read_box_table(path: Path) -> pd.DataFrame:
    """BBox_List_2017 as image_id, finding (canonical), x, y, w, h in 1024-pixel space.

    The header is ``Image Index,Finding Label,Bbox [x,y,w,h],,,`` (the box header split over four columns,
    plus trailing empty ones); columns are taken by position after checking the first two names.
    """
    raw = pd.read_csv(path, dtype={"Image Index": object, "Finding Label": object})
    if raw.shape[1] < 6 or list(raw.columns[:2]) != ["Image Index", "Finding Label"]:
        raise DataFormatError(f"{NAME}: {path.name} must start with columns Image Index, Finding Label, "
                              f"Bbox [x,y,w,h]; found {list(raw.columns)}")
    xywh = raw.iloc[:, 2:6].apply(pd.to_numeric, errors="coerce")
    if xywh.isna().any().any():
        raise DataFormatError(f"{NAME}: {path.name} has non-numeric box coordinates")
    names = raw["Finding Label"].astype(str)
    uniq = {n: canonical(n, strict=False) for n in names.unique()}
    bad = [n for n, c in uniq.items() if c is None]
    if bad:
        raise DataFormatError(f"{NAME}: unknown box classes {bad} in {path.name}")
    return pd.DataFrame({"image_id": raw["Image Index"].astype(str).astype(object), "finding": names.map(uniq),
                         "x": xywh.iloc[:, 0], "y": xywh.iloc[:, 1], "w": xywh.iloc[:, 2], "h": xywh.iloc[:, 3]})
