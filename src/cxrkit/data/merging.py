"""Merge datasets onto one label vocabulary: ``merge([nih, jsrt, ...], target=None) -> Dataset``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data.dataset import Dataset, DatasetCard, empty_boxes
from cxrkit.errors import DataFormatError
from cxrkit.labels import FINDINGS, canonical

__all__ = ["merge", "union_findings"]

log = logging.getLogger(__name__)


def union_findings(datasets: Sequence[Dataset]) -> list[str]:
    """Union of the datasets' findings, in the canonical order of :data:`cxrkit.labels.FINDINGS`."""
    names = {f for ds in datasets for f in ds.findings}
    return [f for f in FINDINGS if f in names] + sorted(names - set(FINDINGS))


def merge(datasets: Sequence[Dataset], target: Sequence[str] | None = None) -> Dataset:
    """One dataset holding the rows of several, on a shared finding list.

    Args:
        datasets: datasets to concatenate (rows keep their order, dataset after dataset).
        target: the finding list of the result. None: the union of the datasets' findings (a NaN-fill is
            then expected and only logged); given: each dataset lacking some of them warns, naming them.

    Returns:
        A dataset whose ``meta`` is the union of the meta columns (missing ones None/NaN), ``source`` naming
        each row's dataset, boxes renumbered, masks kept (None for rows of datasets without masks). Patient
        keys for splitting are ``(source, patient_id)`` (:func:`cxrkit.data.splits.patient_keys`).
    """
    datasets = list(datasets)
    if not datasets:
        raise DataFormatError("merge needs at least one dataset")
    for d in datasets:
        if not isinstance(d, Dataset):
            raise DataFormatError(f"merge takes Dataset objects; got {type(d).__name__}")
    explicit = target is not None
    findings = [canonical(t) for t in target] if target is not None else union_findings(datasets)
    labels, metas, boxes = [], [], []
    masks: list[dict[str, Any] | None] = []
    any_masks = any(d.masks is not None for d in datasets)
    offset = 0
    for d in datasets:
        missing = [f for f in findings if f not in d.findings]
        if missing and not explicit:
            log.info("%s has no labels for %s; NaN in the merged set", d.name, ", ".join(missing))
        labels.append(d.relabel(findings, warn=explicit).labels)
        m = d.meta.copy()
        m["source"] = m["source"].where(m["source"].notna(), d.name)
        metas.append(m)
        if len(d.boxes):
            b = d.boxes[d.boxes["finding"].isin(findings)]
            boxes.append(b.assign(row=b["row"].to_numpy() + offset))
        if any_masks:
            masks.extend(d.masks if d.masks is not None else [None] * len(d))
        offset += len(d)
    meta = pd.concat(metas, ignore_index=True, sort=False)
    box_df = pd.concat(boxes, ignore_index=True, sort=False) if boxes else empty_boxes()
    names = [d.name for d in datasets]
    card = DatasetCard(
        name="+".join(dict.fromkeys(names)),
        title="Merged: " + ", ".join(dict.fromkeys(d.card.title for d in datasets)),
        citation=" | ".join(dict.fromkeys(d.card.citation for d in datasets)),
        license=" | ".join(f"{d.name}: {d.card.license}" for d in {d.name: d for d in datasets}.values()),
        homepage=" | ".join(dict.fromkeys(d.card.homepage for d in datasets)),
        label_source=" | ".join(f"{d.name}: {d.card.label_source}" for d in {d.name: d for d in datasets}.values()),
        cannot_provide=tuple(dict.fromkeys(f"{d.name}: {c}" for d in datasets for c in d.card.cannot_provide)),
        notes=("labels are NaN where a source has no such finding",),
    )
    return Dataset(findings, np.concatenate(labels, axis=0) if labels else np.zeros((0, len(findings))), meta,
                   boxes=box_df, masks=masks if any_masks else None, card=card)
