"""The dataset registry: ``load_dataset(name, root=..., **options)``.

Each name maps to an adapter module in :mod:`cxrkit.data.adapters` with a ``load(root, **options)`` function
and a ``CARD``; modules are imported only when used.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from cxrkit.data.dataset import Dataset, DatasetCard
from cxrkit.errors import unknown_name

__all__ = ["load_dataset", "list_datasets", "dataset_card", "DATASETS"]

#: Registry name → adapter module (under cxrkit.data.adapters).
DATASETS: dict[str, str] = {
    "nih": "nih",
    "kermany": "kermany",
    "covid_ieee8023": "covid_ieee8023",
    "covid_hannover": "covid_hannover",
    "jsrt": "jsrt",
    "openi": "openi",
    "chexpert": "chexpert",
    "mimic_cxr": "mimic_cxr",
    "padchest": "padchest",
    "vindr_cxr": "vindr_cxr",
    "rsna_pneumonia": "rsna_pneumonia",
    "siim_acr": "siim_acr",
    "folder": "folder",
}


def _module(name: str):
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    return importlib.import_module(f"cxrkit.data.adapters.{DATASETS[key]}")


def _available() -> list[str]:
    import pkgutil

    from cxrkit.data import adapters

    mods = {m.name for m in pkgutil.iter_modules(adapters.__path__)}
    return [k for k, v in DATASETS.items() if v in mods]


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset` (those whose adapter is installed)."""
    return _available()


def dataset_card(name: str) -> DatasetCard:
    """The :class:`DatasetCard` of a registered dataset (no data needed)."""
    return _module(name).CARD


def load_dataset(name: str, root: str | os.PathLike | None = None, **options: Any) -> Dataset:
    """Load a public chest X-ray dataset through its adapter.

    Args:
        name: one of :func:`list_datasets` ("nih", "kermany", "covid_ieee8023", "covid_hannover", "jsrt",
            "openi", "chexpert", "mimic_cxr", "padchest", "vindr_cxr", "rsna_pneumonia", "siim_acr"), or
            "folder" for an in-house archive (any tree of DICOM/PNG/JPEG files, optional labels CSV).
        root: the dataset's folder as downloaded (each adapter's docstring gives the expected layout).
        **options: adapter options (``images_only``, ``split``, ``views``... see each adapter's ``load``).

    Returns:
        A :class:`~cxrkit.data.Dataset`.

    Raises:
        UnknownNameError: unknown dataset name or option value (with a did-you-mean hint).
        DataFormatError: missing root or files, wrong table columns.
    """
    module = _module(name)
    return module.load(root, **options)
