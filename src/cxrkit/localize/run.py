"""Heatmaps and boxes for a batch of images in one call (what ``cxrkit localize`` and the evaluation run)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cxrkit.explain.heatmaps import DEFAULT_METHOD, explain_batch
from cxrkit.localize.boxes import boxes_from_heatmap
from cxrkit.types import Box, Image

__all__ = ["Localization", "localize", "boxes_json"]


@dataclass(frozen=True)
class Localization:
    """One image's result.

    Attributes:
        maps: finding → float32 ``(H, W)`` heatmap in [0, 1] at the image's resolution.
        probabilities: finding → model probability (not a diagnosis).
        boxes: finding → boxes in original-image pixels, best first (may be empty).
        method: heatmap method; box_method: box method.
    """

    maps: dict[str, np.ndarray]
    probabilities: dict[str, float]
    boxes: dict[str, list[Box]]
    method: str
    box_method: str


def localize(
    classifier: Any,
    images: Sequence[Image | np.ndarray],
    findings: Sequence[str] | None = None,
    *,
    method: str = DEFAULT_METHOD,
    box_method: str = "default",
    batch_size: int = 8,
    **kwargs: Any,
) -> list[Localization]:
    """Heatmaps (:func:`cxrkit.explain.explain_batch`) then boxes (:func:`boxes_from_heatmap`) for each finding.

    Boxes are produced for every requested finding whatever its probability; callers decide what to show.
    ``kwargs`` go to :func:`explain_batch` (``transform``, ``labels`` for a bare module).
    """
    out = []
    for e in explain_batch(classifier, images, findings, method, batch_size=batch_size, **kwargs):
        boxes = {f: boxes_from_heatmap(m, box_method, label=f) for f, m in e.maps.items()}
        out.append(Localization(e.maps, e.probabilities, boxes, e.method, box_method))
    return out


def boxes_json(result: Localization, ndigits: int = 2) -> dict[str, list[dict[str, float]]]:
    """``{"<finding>": [{"x_min", "y_min", "x_max", "y_max", "score"}, ...]}`` with rounded floats."""
    return {
        f: [
            {
                "x_min": round(float(b.x_min), ndigits),
                "y_min": round(float(b.y_min), ndigits),
                "x_max": round(float(b.x_max), ndigits),
                "y_max": round(float(b.y_max), ndigits),
                "score": round(float(b.score if b.score is not None else 0.0), 4),
            }
            for b in boxes
        ]
        for f, boxes in result.boxes.items()
    }
