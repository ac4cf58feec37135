"""Datasets: one interface over the public chest X-ray datasets, one label vocabulary, patient-level splits.

>>> from cxrkit.data import load_dataset  # doctest: +SKIP
>>> ds = load_dataset("nih", root="../shared/data/nih-cxr14")  # doctest: +SKIP
>>> ds.labels.shape, ds.findings[:2], ds.meta.columns[:3].tolist()  # doctest: +SKIP
"""

from cxrkit.data.dataset import Dataset, DatasetCard, Sample
from cxrkit.data.merge import merge
from cxrkit.data.registry import dataset_card, list_datasets, load_dataset
from cxrkit.data.splits import patient_split, split_dataset

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
