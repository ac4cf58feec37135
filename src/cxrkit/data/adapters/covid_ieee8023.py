"""COVID-19 image data collection (Cohen et al., ieee8023/covid-chestxray-dataset).

Root layout::

    metadata.csv        patientid, offset, sex, age, finding, view, modality, filename, license, ...
                        (+ shared_file: the image's name in this copy, when images were renamed)
    images/<filename or shared_file>
    annotations/imageannotation_ai_lung_bounding_boxes.json   optional: lung boxes (COCO)
    annotations/semantic_masks_v7labs_lungs.zip               optional: lung masks (V7 Labs)
    annotations/lungVAE-masks/<stem>_mask.png                 optional: predicted lung masks (lungVAE)
    annotations/covid-severity-scores.csv                     optional: geographic extent / opacity scores

``finding`` is either flat ("COVID-19", "Streptococcus", "COVID-19, ARDS") or hierarchical
("Pneumonia/Viral/COVID-19"); both are parsed.
"""

from __future__ import annotations

import json
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data._masks import ZipMember
from cxrkit.data._pixels import image_size
from cxrkit.data.adapters._common import (
    as_list,
    check_no_extra,
    check_options,
    handle_missing,
    norm_sex,
    norm_view,
    read_table,
    require_file,
    require_root,
)
from cxrkit.data.dataset import Dataset, DatasetCard, empty_boxes
from cxrkit.errors import DataFormatError
from cxrkit.views import VIEW_OPTIONS, normalize_view

NAME = "covid_ieee8023"
FINDINGS = ("Pneumonia", "No Finding", "COVID-19", "Tuberculosis")
COLUMNS = ["patientid", "finding", "view", "modality", "sex", "age", "filename"]
EXPECTED = ["metadata.csv", "images/"]
VIEWS = VIEW_OPTIONS  # cxrkit.views: PA, AP, AP SUPINE, LATERAL

#: Organism or disease token → pneumonia type. Tokens not listed here leave Pneumonia unknown.
PNEUMONIA_TYPES: dict[str, str] = {
    "covid-19": "viral", "sars": "viral", "mers": "viral", "mers-cov": "viral", "influenza": "viral",
    "varicella": "viral", "herpes": "viral", "viral": "viral",
    "streptococcus": "bacterial", "klebsiella": "bacterial", "mycoplasma bacterial pneumonia": "bacterial",
    "mycoplasma": "bacterial", "legionella": "bacterial", "e.coli": "bacterial", "chlamydophila": "bacterial",
    "bacterial": "bacterial", "staphylococcus": "bacterial", "staphylococcus/mrsa": "bacterial",
    "nocardia": "bacterial", "pseudomonas": "bacterial",
    "pneumocystis": "fungal", "aspergillosis": "fungal", "fungal": "fungal",
    "lipoid": "lipoid", "aspiration": "aspiration", "pneumonia": "unspecified",
}
#: Known findings that are not a pneumonia type; any other token ("todo", "unknown", a new name) is unknown.
NON_PNEUMONIA = {"ards", "no finding", "tuberculosis"}

CARD = DatasetCard(
    name=NAME,
    title="COVID-19 image data collection (ieee8023)",
    citation=("Cohen JP, Morrison P, Dao L, Roth K, Duong TQ, Ghassemi M. COVID-19 Image Data Collection: "
              "Prospective Predictions Are the Future. MELBA 2020 (arXiv 2006.11988; 2003.11597)."),
    license="per image (meta column 'license'; mostly CC BY-NC-SA or CC BY; blank = unknown); annotations "
            "CC BY 4.0 / CC BY-SA",
    homepage="https://github.com/ieee8023/covid-chestxray-dataset",
    label_source="Diagnosis reported by the publishing source (paper, website); not re-read by radiologists",
    cannot_provide=(
        "many images are figures cropped from papers (arrows, text): do not claim diagnostic accuracy",
        "few negatives (No Finding is rare); pneumonia type only, no other radiological findings",
        "boxes are lung boxes (anatomy, finding 'right_lung'/'left_lung'), not lesion boxes",
        "CT rows are dropped (images here are X-rays only)",
    ),
)


def parse_finding(text: object) -> tuple[dict[str, float], str | None]:
    """Labels and pneumonia type from one ``finding`` value.

    Returns:
        ({finding: 1/0/NaN} over :data:`FINDINGS`, pneumonia type or None).

    >>> parse_finding("Pneumonia/Viral/COVID-19")[0]["COVID-19"]
    1.0
    """
    out = {f: np.nan for f in FINDINGS}
    if not isinstance(text, str) or not text.strip():
        return out, None
    s = text.strip()
    tokens = [t.strip().lower() for t in re.split(r"[,/]", s) if t.strip()]
    if s.lower() in PNEUMONIA_TYPES:  # flat names that contain a slash (staphylococcus/mrsa)
        tokens.append(s.lower())
    if not any(t in PNEUMONIA_TYPES or t in NON_PNEUMONIA for t in tokens):
        return out, None  # "todo", "unknown" or a name this adapter does not know: all NaN
    if "no finding" in tokens:
        return {"Pneumonia": 0.0, "No Finding": 1.0, "COVID-19": 0.0, "Tuberculosis": 0.0}, "none"
    types = [PNEUMONIA_TYPES[t] for t in tokens if t in PNEUMONIA_TYPES]
    specific = [t for t in types if t != "unspecified"]
    ptype = specific[-1] if specific else (types[0] if types else None)
    out["No Finding"] = 0.0
    out["COVID-19"] = 1.0 if "covid-19" in tokens else 0.0
    out["Tuberculosis"] = 1.0 if "tuberculosis" in tokens else 0.0
    out["Pneumonia"] = 1.0 if types else np.nan
    return out, ptype


def load(
    root: str | os.PathLike,
    *,
    views: tuple[str, ...] | list[str] | None = None,
    masks: str | None = "v7labs",
    images_only: bool = True,
    **options: Any,
) -> Dataset:
    """Load the ieee8023 COVID-19 image collection (X-ray rows).

    Args:
        root: folder with ``metadata.csv``, ``images/`` and optionally ``annotations/``.
        views: keep only these views ("PA", "AP", "AP SUPINE", "LATERAL"; any spelling
            :func:`cxrkit.views.normalize_view` knows); None keeps all X-ray views.
        masks: "v7labs" (lung masks by annotators, in the zip), "lungvae" (predicted masks) or None. Each
            row's masks are ``{"lungs": ref}`` (both lungs in one mask), resized to the image on read.
        images_only: drop rows whose image is missing (with a warning giving the count).

    Returns:
        Dataset with findings Pneumonia, No Finding, COVID-19, Tuberculosis; meta adds ``finding_raw``,
        ``pneumonia_type``, ``license``, ``offset``, ``survival``, ``intubated``, ``went_icu``, ``modality``,
        ``location``, ``doi``, ``url``, ``filename``, ``geographic_mean`` and ``opacity_mean`` (severity
        scores, NaN where not scored). Boxes: lung boxes (finding ``right_lung`` / ``left_lung``) scaled to
        the image on disk.
    """
    check_no_extra(NAME, options)
    views = as_list(views)
    check_options(NAME, "masks", masks, ("v7labs", "lungvae", None))
    if views is not None:
        for v in views:
            check_options(NAME, "view", normalize_view(v), VIEWS)
    root = require_root(root, NAME, EXPECTED)
    raw = read_table(require_file(root, "metadata.csv", NAME, EXPECTED), NAME, COLUMNS,
                     dtype={"patientid": str})
    raw = raw[raw["modality"].astype(str).str.strip().str.lower().isin(["x-ray", "xray", "cr", "dx"])]
    raw = raw.reset_index(drop=True)
    name_col = "shared_file" if "shared_file" in raw.columns else "filename"
    folder = raw["folder"].astype(str) if "folder" in raw.columns else pd.Series(["images"] * len(raw))
    paths = []
    for f, fold in zip(raw[name_col], folder):
        p = root / "images" / str(f) if isinstance(f, str) else None
        if p is not None and not p.is_file() and fold not in ("images", "nan"):
            p = root / fold / str(f)
        paths.append(str(p) if p is not None and p.is_file() else None)
    paths = pd.Series(paths, dtype=object)
    parsed = [parse_finding(t) for t in raw["finding"]]
    labels = np.array([[d[f] for f in FINDINGS] for d, _ in parsed], dtype=np.float32).reshape(-1, len(FINDINGS))
    meta = pd.DataFrame({
        "path": paths, "image_id": raw[name_col].astype(object), "patient_id": raw["patientid"].astype(object),
        "age_years": pd.to_numeric(raw["age"], errors="coerce").astype(np.float64), "sex": norm_sex(raw["sex"]),
        "view": norm_view(raw["view"]), "source": NAME, "finding_raw": raw["finding"].astype(object),
        "pneumonia_type": pd.Series([t for _, t in parsed], dtype=object),
        "filename": raw["filename"].astype(object),
    })
    for c in ("license", "offset", "survival", "intubated", "went_icu", "modality", "location", "doi", "url"):
        meta[c] = raw[c].to_numpy() if c in raw.columns else None
    meta["license"] = pd.Series([v.strip() if isinstance(v, str) and v.strip() else None for v in meta["license"]],
                                dtype=object)
    _severity(root, meta)
    keep = handle_missing(NAME, paths, images_only)
    if views is not None:
        keep &= meta["view"].isin([normalize_view(v) for v in views]).to_numpy()
    meta, labels = meta[keep].reset_index(drop=True), labels[keep]
    boxes = _lung_boxes(root, meta)
    mask_refs = _masks(root, meta, masks)
    return Dataset(FINDINGS, labels, meta, boxes=boxes, masks=mask_refs, card=CARD)


def _severity(root: Path, meta: pd.DataFrame) -> None:
    p = root / "annotations" / "covid-severity-scores.csv"
    meta["geographic_mean"] = np.nan
    meta["opacity_mean"] = np.nan
    if not p.is_file():
        return
    s = read_table(p, NAME, ["filename", "geographic_mean", "opacity_mean"], comment="#")
    s = s.drop_duplicates("filename").set_index("filename")
    meta["geographic_mean"] = meta["filename"].map(s["geographic_mean"]).astype(np.float64)
    meta["opacity_mean"] = meta["filename"].map(s["opacity_mean"]).astype(np.float64)


def _lung_boxes(root: Path, meta: pd.DataFrame) -> pd.DataFrame:
    p = root / "annotations" / "imageannotation_ai_lung_bounding_boxes.json"
    if not p.is_file() or meta.empty:
        return empty_boxes()
    with open(p, encoding="utf-8") as fh:
        coco = json.load(fh)
    try:
        images = {im["id"]: im for im in coco["images"]}
        cats = {c["id"]: c["name"].strip().lower().replace(" ", "_") for c in coco["categories"]}
        anns = coco["annotations"]
    except (KeyError, TypeError) as exc:
        raise DataFormatError(f"{NAME}: {p.name} is not COCO JSON with images/categories/annotations") from exc
    rows_of: dict[str, list[int]] = {}
    for i, f in enumerate(meta["filename"]):
        rows_of.setdefault(str(f), []).append(i)
    out = []
    size_cache: dict[int, tuple[int, int] | None] = {}
    for a in anns:
        im = images.get(a.get("image_id"))
        if im is None or im.get("file_name") not in rows_of:
            continue
        bbox = a.get("bbox") or []
        if len(bbox) != 4 or any(v is None for v in bbox):
            continue  # an annotation without a box (segmentation only)
        x, y, w, h = (float(v) for v in bbox)
        for r in rows_of[im["file_name"]]:
            if r not in size_cache:
                path = meta["path"].iat[r]
                size_cache[r] = image_size(path) if path else None
            size = size_cache[r]
            sx = size[0] / float(im["width"]) if size else 1.0
            sy = size[1] / float(im["height"]) if size else 1.0
            out.append((r, cats.get(a["category_id"], str(a["category_id"])), x * sx, y * sy, (x + w) * sx,
                        (y + h) * sy, "anatomy"))
    if not out:
        return empty_boxes()
    df = pd.DataFrame(out, columns=["row", "finding", "x_min", "y_min", "x_max", "y_max", "kind"])
    return df.sort_values("row", kind="stable").reset_index(drop=True)


def _masks(root: Path, meta: pd.DataFrame, which: str | None):
    if which is None:
        return None
    refs: list = [None] * len(meta)
    if which == "v7labs":
        z = root / "annotations" / "semantic_masks_v7labs_lungs.zip"
        if not z.is_file():
            warnings.warn(f"{NAME}: {z} not found; no masks", UserWarning, stacklevel=3)
            return None
        with zipfile.ZipFile(z) as zf:
            members = {Path(n).stem: n for n in zf.namelist() if not n.endswith("/")}
        for i, f in enumerate(meta["filename"]):
            m = members.get(Path(str(f)).stem)
            if m is not None:
                refs[i] = {"lungs": ZipMember(str(z), m)}
    else:
        d = root / "annotations" / "lungVAE-masks"
        if not d.is_dir():
            warnings.warn(f"{NAME}: {d} not found; no masks", UserWarning, stacklevel=3)
            return None
        for i, f in enumerate(meta["filename"]):
            p = d / f"{Path(str(f)).stem}_mask.png"
            if p.is_file():
                refs[i] = {"lungs": str(p)}
    return refs
