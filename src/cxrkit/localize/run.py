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
        maps: finding → float32 heatmap in [0, 1] covering the image (``scale`` = original pixels per map pixel).
        probabilities: finding → model probability (not a diagnosis).
        boxes: finding → boxes in original-image pixels, best first (may be empty).
        method: heatmap method; box_method: box method.
    """

    maps: dict[str, np.ndarray]
    probabilities: dict[str, float]
    boxes: dict[str, list[Box]]
    method: str
    box_method: str
    scale: tuple[float, float] = (1.0, 1.0)


def localize(
    classifier: Any,
    images: Sequence[Image | np.ndarray],
    findings: Sequence[str] | None = None,
    *,
    method: str = DEFAULT_METHOD,
    box_method: str = "default",
    batch_size: int = 8,
    max_side: int | None = 512,
    full_maps: bool = False,
    segmenter: Any = None,
    priors: Any = None,
    **kwargs: Any,
) -> list[Localization]:
    """Heatmaps (:func:`cxrkit.explain.explain_batch`) then boxes (:func:`boxes_from_heatmap`) for each finding.

    Boxes are produced for every requested finding whatever its probability; callers decide what to show.
    Maps are sampled on a grid of at most ``max_side`` pixels (same aspect, whole image), boxes are found on it
    (labelled on a grid of at most :data:`cxrkit.localize.boxes.WORK_SIDE` pixels) and scaled to original pixels:
    the maps come from a coarse feature grid (7x7 for a 224 px EfficientNet), so finer sampling would move box
    edges by at most ``H / WORK_SIDE`` pixels while costing time. ``full_maps=True`` also
    returns the maps at the original resolution (``max_side=None`` does both at full resolution).
    ``kwargs`` go to :func:`explain_batch` (``transform``, ``labels`` for a bare module, ``backend``).

    ``box_method="anatomy"`` segments each image (``segmenter``: default the shipped one) and places boxes with the
    learned priors (``priors``: default those shipped for the classifier's card name;
    :mod:`cxrkit.localize.anatomy`).
    """
    anatomy = box_method == "anatomy"
    if anatomy:
        from cxrkit.localize.priors import load_priors

        if segmenter is None:
            from cxrkit.anatomy.segment import load_segmenter

            segmenter = load_segmenter()
        if priors is None:
            priors = load_priors(getattr(getattr(classifier, "card", None), "name", None))
    out = []
    expl = explain_batch(classifier, images, findings, method, batch_size=batch_size, max_side=max_side, **kwargs)
    for image, e in zip(images, expl):
        sy, sx = e.scale
        opts: dict[str, Any] = {}
        if anatomy:
            pixels = image.pixels if isinstance(image, Image) else np.asarray(image)
            opts = {"masks": segmenter.predict(pixels), "priors": priors}
        boxes = {}
        for f, m in e.maps.items():
            # a finding without a learned prior (e.g. "No Finding") falls back to the default boxes
            bm = box_method if not anatomy or f in priors.findings else "default"
            found = boxes_from_heatmap(m, bm, **({**opts, "finding": f} if bm == "anatomy" else {}))
            boxes[f] = [Box(b.x_min * sx, b.y_min * sy, b.x_max * sx, b.y_max * sy, score=b.score, label=f)
                        for b in found]
        out.append(Localization(e.maps, e.probabilities, boxes, e.method, box_method, e.scale))
    if full_maps and max_side is not None:
        fulls = explain_batch(classifier, images, findings, method, batch_size=batch_size, max_side=None, **kwargs)
        out = [Localization(f.maps, r.probabilities, r.boxes, r.method, r.box_method) for r, f in zip(out, fulls)]
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
