"""What the pipeline needs from its components, as ``typing.Protocol`` s (the joins are typed, not ``Any``).

The shipped runtimes (:class:`cxrkit.models.classifier.Classifier`, :class:`cxrkit.anatomy.segment.Segmenter`)
satisfy them; so can a user's own component (tests use small ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Classifier", "Segmenter", "SegmentationLike", "MaskPredictor"]


@runtime_checkable
class Classifier(Protocol):
    """Multi-label finding probabilities.

    ``findings``: the validated output names; ``predict`` maps N float32 ``(H, W)`` images in [0, 1] to
    probabilities ``(N, len(findings))``. Operating points come from ``thresholds`` (finding → probability).
    """

    findings: Sequence[str]

    def predict(self, pixels_list: Sequence[np.ndarray]) -> np.ndarray: ...


class SegmentationLike(Protocol):
    """One image's masks (structure → bool ``(H, W)``) and per-structure confidence in [0, 1]."""

    masks: Mapping[str, np.ndarray]
    confidence: Mapping[str, float]


@runtime_checkable
class Segmenter(Protocol):
    """Anatomy masks at the input's resolution, keyed by structure (patient sides)."""

    def segment(self, pixels: np.ndarray) -> SegmentationLike: ...


@runtime_checkable
class MaskPredictor(Protocol):
    """A bare segmenter: ``predict(pixels) -> {structure: bool (H, W)}`` without confidences."""

    def predict(self, pixels: np.ndarray) -> Mapping[str, np.ndarray]: ...
