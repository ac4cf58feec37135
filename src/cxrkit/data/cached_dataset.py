"""A map-style PyTorch dataset whose pixels come from the on-disk cache (:mod:`cxrkit.data.cache`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from cxrkit.data.cache import PreprocessCache, WarmReport
from cxrkit.errors import DataFormatError

__all__ = ["CachedDataset"]

log = logging.getLogger(__name__)


class CachedDataset:
    """A map-style PyTorch dataset over a :class:`cxrkit.data.Dataset`, with pixels from a cache.

    ``item[i] -> (x, target, mask)``: ``x`` float32 tensor ``(C, S, S)`` in the spec's intensity convention,
    ``target`` float32 ``(K,)`` (1 / 0; unknown set to 0) and ``mask`` float32 ``(K,)`` (1 where the label is
    known, 0 for NaN and for -1 "uncertain": apply an uncertainty policy with ``Dataset.with_labels`` first
    to train on those). Works with ``torch.utils.data.DataLoader`` and any number of workers: the first
    epoch fills the cache (or run :meth:`PreprocessCache.warm` first), later epochs only read it.

    Args:
        dataset: rows with image paths in ``meta["path"]`` and labels ``(N, K)``.
        cache: the :class:`PreprocessCache` for the model's spec.
        augment: optional ``float32 (C, S, S) -> float32 (C, S, S)`` applied after loading (training
            augmentation; it must do its own seeding).

    Raises:
        DataFormatError: a row has no image path.
    """

    def __init__(self, dataset: Any, cache: PreprocessCache, *,
                 augment: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        paths = dataset.meta["path"].tolist()
        missing = [i for i, p in enumerate(paths) if p is None or (isinstance(p, float) and np.isnan(p))]
        if missing:
            raise DataFormatError(f"{len(missing)} rows have no image path (first: row {missing[0]}); "
                                  "subset the dataset to rows with images")
        labels = np.asarray(dataset.labels, dtype=np.float32)
        known = np.isfinite(labels) & (labels != -1)
        if (labels == -1).any():
            log.info("CachedDataset: %d uncertain (-1) labels are masked out", int((labels == -1).sum()))
        self.paths: list[str] = [str(p) for p in paths]
        self.findings: list[str] = list(dataset.findings)
        self.cache = cache
        self.augment = augment
        self._target = np.where(known, labels, 0.0).astype(np.float32)
        self._mask = known.astype(np.float32)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Any, Any, Any]:
        import torch

        x = self.cache.get(self.paths[i])
        if self.augment is not None:
            x = self.augment(x)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(
            self._target[i].copy()), torch.from_numpy(self._mask[i].copy())

    def warm(self, **kwargs: Any) -> WarmReport:
        """:meth:`PreprocessCache.warm` over this dataset's paths."""
        return self.cache.warm(self.paths, **kwargs)

    def indices_excluding(self, exclude: Iterable[str]) -> list[int]:
        """Row indices whose path is not in ``exclude`` (e.g. ``WarmReport.failed``), for a Subset."""
        bad = set(exclude)
        return [i for i, p in enumerate(self.paths) if p not in bad]
