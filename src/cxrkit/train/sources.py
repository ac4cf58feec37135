"""Batch sources of :func:`cxrkit.train.loop.fit`: rows with targets (``labels``) → input (and target) batches.

:class:`TensorSource` (in memory), :class:`ImageSource` (uint8 image cache, augmented, in the card's intensity
convention), :class:`FeatureSource` (cached frozen-trunk features); a :class:`PairSource` returns inputs and
targets together (targets transformed with the inputs, e.g. segmentation masks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from cxrkit.data.transforms import TransformSpec
from cxrkit.train.augment import AugmentConfig, augment_batch
from cxrkit.train.cache import intensity_tensor

__all__ = ["BatchSource", "PairSource", "TensorSource", "ImageSource", "FeatureSource", "batch_of"]


class BatchSource(Protocol):
    """Rows with labels; ``get`` turns row indices into a model input batch."""

    labels: np.ndarray

    def get(self, idx: np.ndarray, *, epoch: int, train: bool) -> torch.Tensor: ...


@runtime_checkable
class PairSource(Protocol):
    """A batch source that returns inputs and targets together (targets transformed with the inputs)."""

    labels: np.ndarray

    def get(self, idx: np.ndarray, *, epoch: int, train: bool) -> torch.Tensor: ...

    def get_pair(self, idx: np.ndarray, *, epoch: int, train: bool) -> tuple[torch.Tensor, torch.Tensor]: ...


def batch_of(source: BatchSource, idx: np.ndarray, *, epoch: int, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and float32 targets of rows ``idx``: a :class:`PairSource`'s own pair, else ``get`` + ``labels``."""
    if isinstance(source, PairSource):
        return source.get_pair(idx, epoch=epoch, train=train)
    return (source.get(idx, epoch=epoch, train=train),
            torch.from_numpy(np.asarray(source.labels[idx], dtype=np.float32)))


@dataclass
class TensorSource:
    """In-memory inputs ``x`` ``(N, ...)`` float32 and labels ``(N, K)`` (tests, small data)."""

    x: torch.Tensor
    labels: np.ndarray

    def get(self, idx: np.ndarray, *, epoch: int, train: bool) -> torch.Tensor:
        return self.x[torch.as_tensor(idx, dtype=torch.long)]


@dataclass
class ImageSource:
    """uint8 image cache ``(N, S, S)`` → augmented (train) model inputs in the card's intensity convention."""

    images: np.ndarray
    labels: np.ndarray
    spec: TransformSpec
    seed: int = 0
    aug: AugmentConfig | None = field(default_factory=AugmentConfig)

    def get(self, idx: np.ndarray, *, epoch: int, train: bool) -> torch.Tensor:
        x = torch.from_numpy(np.asarray(self.images[idx])).float()[:, None] / 255.0
        if train and self.aug is not None:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch * 7919 + int(idx[0]))
            x = augment_batch(x, g, self.aug)
        return intensity_tensor(x, self.spec)


@dataclass
class FeatureSource:
    """Cached trunk features: ``views[i]`` lists the feature rows of data row ``i`` (view 0 first)."""

    features: np.ndarray
    views: list[list[int]]
    labels: np.ndarray
    seed: int = 0

    def get(self, idx: np.ndarray, *, epoch: int, train: bool) -> torch.Tensor:
        if train:
            rng = np.random.default_rng([self.seed, epoch, int(idx[0])])
            rows = [self.views[i][int(rng.integers(len(self.views[i])))] for i in idx]
        else:
            rows = [self.views[i][0] for i in idx]
        order = np.argsort(rows)
        feats = np.asarray(self.features[np.asarray(rows)[order]])
        out = np.empty_like(feats)
        out[order] = feats
        return torch.from_numpy(out.astype(np.float32))
