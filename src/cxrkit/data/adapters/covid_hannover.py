"""COVID-19 image repository of Hannover Medical School (Winther et al.).

Root layout::

    data.csv            patient_id, image_id, sex, age, modality, projection, admission / ICU / death offsets, labs
    images/<image_id>.jpg
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data.adapters._common import (
    check_no_extra,
    handle_missing,
    norm_sex,
    norm_view,
    read_table,
    require_file,
    require_root,
)
from cxrkit.data.dataset import Dataset, DatasetCard

NAME = "covid_hannover"
FINDINGS = ("COVID-19",)
COLUMNS = ["patient_id", "image_id", "sex", "age", "modality", "projection"]
EXPECTED = ["data.csv", "images/<image_id>.jpg"]

CARD = DatasetCard(
    name=NAME,
    title="COVID-19 image repository, Hannover Medical School",
    citation=("Winther HB, Laser H, Gerbel S, et al. COVID-19 Image Repository. figshare 2020, "
              "DOI 10.6084/m9.figshare.12275009."),
    license="CC BY 3.0",
    homepage="https://github.com/ml-workgroup/covid-19-image-repository",
    label_source="PCR-confirmed COVID-19 patients: every image is COVID-19 positive",
    cannot_provide=(
        "no negative images: COVID-19 is 1 for every row (useless alone for a classifier)",
        "no radiological findings (pneumonia, effusion...): NaN",
        "no boxes or masks; age is blank in the release",
        "images were rescaled and CLAHE-enhanced upstream",
    ),
)


def load(root: str | os.PathLike, *, images_only: bool = True, **options: Any) -> Dataset:
    """Load the Hannover COVID-19 repository.

    Args:
        root: folder with ``data.csv`` and ``images/``.
        images_only: drop table rows whose image file is missing (with a warning giving the count).

    Returns:
        Dataset with the finding COVID-19 (always 1); meta adds ``modality``, ``admission_offset``,
        ``icu_admission_offset``, ``icu_release_offset``, ``death_offset`` (days relative to the image).
    """
    check_no_extra(NAME, options)
    root = require_root(root, NAME, EXPECTED)
    raw = read_table(require_file(root, "data.csv", NAME, EXPECTED), NAME, COLUMNS,
                     dtype={"patient_id": str, "image_id": str})
    paths = pd.Series([str(p) if (p := root / "images" / f"{i}.jpg").is_file() else None
                       for i in raw["image_id"]], dtype=object)
    keep = handle_missing(NAME, paths, images_only)
    meta = pd.DataFrame({
        "path": paths, "image_id": raw["image_id"].astype(object), "patient_id": raw["patient_id"].astype(object),
        "age_years": pd.to_numeric(raw["age"], errors="coerce").astype(np.float64),
        "sex": norm_sex(raw["sex"]), "view": norm_view(raw["projection"]), "source": NAME,
        "modality": raw["modality"].astype(object),
    })
    for c in ("admission_offset", "icu_admission_offset", "icu_release_offset", "death_offset"):
        if c in raw.columns:
            meta[c] = pd.to_numeric(raw[c], errors="coerce")
    meta = meta[keep].reset_index(drop=True)
    return Dataset(FINDINGS, np.ones((len(meta), 1), dtype=np.float32), meta, card=CARD)
