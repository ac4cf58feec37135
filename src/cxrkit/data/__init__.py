"""Datasets: one interface over the public chest X-ray datasets, one label vocabulary, patient-level splits.

>>> from cxrkit.data import load_dataset  # doctest: +SKIP
>>> ds = load_dataset("nih", root="../shared/data/nih-cxr14")  # doctest: +SKIP
>>> ds.labels.shape, ds.findings[:2], ds.meta.columns[:3].tolist()  # doctest: +SKIP

The names below are imported on first use (PEP 562), so ``cxrkit.data.transforms``, which inference needs,
does not pull in pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxrkit.data.dataset import Dataset, DatasetCard, Sample
    from cxrkit.data.merging import merge
    from cxrkit.data.registry import dataset_card, list_datasets, load_dataset
    from cxrkit.data.splits import patient_split, split_dataset

_WHERE = {
    "Dataset": "dataset", "DatasetCard": "dataset", "Sample": "dataset", "merge": "merging",
    "dataset_card": "registry", "list_datasets": "registry", "load_dataset": "registry",
    "patient_split": "splits", "split_dataset": "splits",
}

__all__ = [
    "Dataset",
    "DatasetCard",
    "Sample",
    "load_dataset",
    "list_datasets",
    "dataset_card",
    "merge",
    "patient_split",
    "split_dataset",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'cxrkit.data' has no attribute {name!r}")
    try:
        return getattr(importlib.import_module(f"cxrkit.data.{module}"), name)
    except ModuleNotFoundError as exc:
        from cxrkit.extras import missing_extra

        err = missing_extra(exc, f"cxrkit.data.{name}")
        if err is None:
            raise
        raise err from exc
