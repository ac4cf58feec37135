"""One call from an image to anatomy masks and measurements (what the CLI, the pipeline and the API use)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cxrkit.anatomy.measure import measure
from cxrkit.anatomy.segment import Segmentation, Segmenter, load_segmenter
from cxrkit.types import Image

__all__ = ["AnatomyResult", "analyze_anatomy"]


@dataclass(frozen=True)
class AnatomyResult:
    """Masks and measurements of one radiograph.

    Attributes:
        masks: structure -> boolean ``(H, W)`` at the image's resolution (patient sides).
        measurements: the dict of :func:`cxrkit.anatomy.measure.measure` plus ``confidence`` (structure ->
            mask self-consistency in [0, 1]) and ``model`` (card name and version).
        segmentation: the full :class:`~cxrkit.anatomy.segment.Segmentation` (probability maps at 256 px).
    """

    masks: dict[str, np.ndarray]
    measurements: dict[str, Any]
    segmentation: Segmentation


def analyze_anatomy(
    image: Image | np.ndarray,
    segmenter: Segmenter | None = None,
    *,
    pixel_spacing_mm: float | tuple[float, float] | None = None,
    view: str | None = None,
    age_years: float | None = None,
) -> AnatomyResult:
    """Segment one radiograph and measure it.

    Parameters
    ----------
    image:
        a :class:`cxrkit.types.Image` (spacing and view taken from its metadata unless given) or float32
        ``(H, W)`` pixels in [0, 1].
    segmenter:
        a loaded segmenter; None loads the shipped model (cache it yourself for many images).
    pixel_spacing_mm, view, age_years:
        override / supply what the metadata lacks; see :func:`cxrkit.anatomy.measure.measure`.
    """
    seg = segmenter if segmenter is not None else load_segmenter()
    if isinstance(image, Image):
        pixels = image.pixels
        if pixel_spacing_mm is None:
            pixel_spacing_mm = image.meta.pixel_spacing_mm
        if view is None:
            view = image.meta.view
    else:
        pixels = np.asarray(image)
    result = seg.segment(pixels)
    meas = measure(result.masks, pixel_spacing_mm, view, confidence=result.confidence, age_years=age_years)
    meas["confidence"] = result.confidence
    meas["model"] = {"name": seg.card.name, "version": seg.card.version}
    return AnatomyResult(result.masks, meas, result)
