"""The 14 CheXpert labeler columns shared by CheXpert and MIMIC-CXR-JPG, and their uncertainty handling."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrkit.data.adapters._common import check_options
from cxrkit.errors import DataFormatError
from cxrkit.labels import canonical, uncertain_to_target

#: Label columns as spelled in the CheXpert / MIMIC-CXR tables.
CHEXPERT_COLUMNS: tuple[str, ...] = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices",
)
#: Their canonical names (Pleural Effusion → Effusion).
CHEXPERT_FINDINGS: tuple[str, ...] = tuple(canonical(c) for c in CHEXPERT_COLUMNS)
POLICIES = ("ignore", "zeros", "ones", "keep")


def chexpert_matrix(df: pd.DataFrame, uncertain: str, source: str) -> np.ndarray:
    """``(N, 14)`` float32 from the labeler columns: 1, 0, -1 (uncertain), blank (not mentioned → NaN).

    Args:
        uncertain: "ignore" (-1 → NaN), "zeros" (-1 → 0), "ones" (-1 → 1) via
            :func:`cxrkit.labels.uncertain_to_target`, or "keep" (leave -1).
    """
    check_options(source, "uncertain", uncertain, POLICIES)
    vals = df[list(CHEXPERT_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float32)
    ok = np.isnan(vals) | np.isin(vals, (-1.0, 0.0, 1.0))
    if not ok.all():
        raise DataFormatError(f"{source}: label values must be 1, 0, -1 or blank; found {np.unique(vals[~ok])[:5]}")
    return vals if uncertain == "keep" else uncertain_to_target(vals, uncertain)
