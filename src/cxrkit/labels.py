"""The canonical finding vocabulary and the names each source uses for it.

Values of a label matrix are 1 (present), 0 (absent) and NaN (unknown); report labelers also give -1
(uncertain), turned into training targets with a named policy (:func:`uncertain_to_target`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from typing import Literal, overload

import numpy as np

from cxrkit.errors import DataFormatError, unknown_name

__all__ = [
    "FINDINGS",
    "XRV_FINDINGS",
    "NIH_FINDINGS",
    "SYNONYMS",
    "canonical",
    "harmonize",
    "relabel",
    "uncertain_to_target",
]

#: TorchXRayVision's 18 findings, in its order.
XRV_FINDINGS: tuple[str, ...] = (
    "Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema", "Fibrosis",
    "Effusion", "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass", "Hernia",
    "Lung Lesion", "Fracture", "Lung Opacity", "Enlarged Cardiomediastinum",
)

#: The 14 NIH ChestX-ray14 findings, in the order of the CheXNet split files.
NIH_FINDINGS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)

#: The canonical vocabulary: TorchXRayVision's 18, then No Finding, Support Devices and what other
#: sources add.
FINDINGS: tuple[str, ...] = XRV_FINDINGS + (
    "No Finding", "Support Devices", "Pleural Other", "Tuberculosis", "COVID-19",
    "Aortic Enlargement", "Calcification", "ILD",
)

#: Other spellings → canonical name. Matching is case-, space-, underscore- and hyphen-insensitive.
SYNONYMS: dict[str, str] = {
    "Infiltrate": "Infiltration",
    "Infiltrates": "Infiltration",
    "Pleural Effusion": "Effusion",
    "Pleural effusion": "Effusion",
    "Effusions": "Effusion",
    "Pleural Thickening": "Pleural_Thickening",
    "Pleural thickening": "Pleural_Thickening",
    "Airspace Opacity": "Lung Opacity",
    "Airspace opacity": "Lung Opacity",
    "Lung Opacities": "Lung Opacity",
    "Opacity": "Lung Opacity",
    "Nodule/Mass": "Lung Lesion",
    "Nodule or mass": "Lung Lesion",
    "Normal": "No Finding",
    "No finding": "No Finding",
    "Enlarged Cardiac Silhouette": "Cardiomegaly",
    "Cardiac enlargement": "Cardiomegaly",
    "Cardiomediastinal enlargement": "Enlarged Cardiomediastinum",
    "Covid-19": "COVID-19",
    "COVID19": "COVID-19",
    "Covid": "COVID-19",
    "Pneumonia/Viral/COVID-19": "COVID-19",
    "TB": "Tuberculosis",
    "Interstitial Lung Disease": "ILD",
    "Aortic enlargement": "Aortic Enlargement",
    "Rib Fracture": "Fracture",
    "Pulmonary fibrosis": "Fibrosis",
    "Pulmonary Fibrosis": "Fibrosis",
    "Lung Cyst": "Lung Lesion",
    "Pleural Other": "Pleural Other",
    "Support Device": "Support Devices",
    # MeSH / report wording (added for the report labeler)
    "Pulmonary Atelectasis": "Atelectasis",
    "Pulmonary Edema": "Edema",
    "Pulmonary Emphysema": "Emphysema",
    "Hiatal Hernia": "Hernia",
    "Hernia, Hiatal": "Hernia",
    "Airspace Disease": "Lung Opacity",
    "Enlarged Heart": "Cardiomegaly",
    "Nodules": "Nodule",
    "Masses": "Mass",
    # VinDr-CXR / Open-i MeSH names (added for the dataset adapters)
    "Clavicle fracture": "Fracture",
    "Lung tumor": "Lung Lesion",
    "Lung cavity": "Lung Lesion",
    "Calcinosis": "Calcification",
    "Lung Diseases, Interstitial": "ILD",
}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


_LOOKUP: dict[str, str] = {_key(f): f for f in FINDINGS}
_LOOKUP.update({_key(k): v for k, v in SYNONYMS.items()})


@overload
def canonical(name: str, *, strict: Literal[True] = ...) -> str: ...


@overload
def canonical(name: str, *, strict: bool) -> str | None: ...


def canonical(name: str, *, strict: bool = True) -> str | None:
    """Canonical spelling of a finding name.

    Args:
        name: any known spelling ("Infiltrate", "pleural effusion", "Pleural_Thickening"...).
        strict: raise :class:`~cxrkit.errors.UnknownNameError` for an unknown name; otherwise return None.

    >>> canonical("Infiltrate")
    'Infiltration'
    """
    found = _LOOKUP.get(_key(str(name)))
    if found is None and strict:
        raise unknown_name("finding", name, FINDINGS)
    return found


@overload
def harmonize(names: Iterable[str], *, strict: Literal[True] = ...) -> list[str]: ...


@overload
def harmonize(names: Iterable[str], *, strict: bool) -> list[str | None]: ...


def harmonize(names: Iterable[str], *, strict: bool = True) -> list[str] | list[str | None]:
    """Canonical names for a list of source names (None for unknown ones when ``strict=False``)."""
    return [canonical(n, strict=strict) for n in names]


def relabel(
    labels: np.ndarray,
    findings: Sequence[str],
    target: Sequence[str],
    *,
    source: str = "dataset",
    warn: bool = True,
) -> np.ndarray:
    """Move an ``(N, K)`` label matrix onto a target finding list.

    Columns of ``target`` that ``findings`` lacks are filled with NaN (and named in a warning); columns of
    ``findings`` not in ``target`` are dropped.

    Args:
        labels: float ``(N, K)`` with 1 / 0 / NaN (or -1 for uncertain).
        findings: the K canonical column names of ``labels``.
        target: the wanted canonical names, in the wanted order.
        source: name used in the warning.
        warn: emit a :class:`UserWarning` listing the findings filled with NaN.

    Returns:
        float32 ``(N, len(target))``.
    """
    labels = np.asarray(labels, dtype=np.float32)
    if labels.ndim != 2 or labels.shape[1] != len(findings):
        raise DataFormatError(
            f"labels must be (N, {len(findings)}) to match the findings list; got shape {labels.shape}"
        )
    target_c = [canonical(t) for t in target]
    index = {canonical(f): i for i, f in enumerate(findings)}
    out = np.full((labels.shape[0], len(target_c)), np.nan, dtype=np.float32)
    missing = []
    for j, t in enumerate(target_c):
        if t in index:
            out[:, j] = labels[:, index[t]]
        else:
            missing.append(t)
    if missing and warn:
        warnings.warn(f"{source} has no labels for {', '.join(missing)}; filled with NaN", UserWarning, stacklevel=2)
    return out


def uncertain_to_target(labels: np.ndarray, policy: str = "ignore") -> np.ndarray:
    """Turn -1 (uncertain) values into training targets.

    Args:
        labels: float array with 1 / 0 / -1 / NaN.
        policy: "ignore" (-1 → NaN, masked from the loss), "zeros" (-1 → 0) or "ones" (-1 → 1).
    """
    fill = {"ignore": np.nan, "zeros": 0.0, "ones": 1.0}
    if policy not in fill:
        raise unknown_name("uncertainty policy", policy, fill)
    out = np.array(labels, dtype=np.float32, copy=True)
    out[out == -1] = fill[policy]
    return out
