"""Typed values passed between cxrkit's stages.

Conventions (see docs/architecture.md):

* pixels are float32 arrays ``(H, W)`` (rows, columns) in [0, 1] as a radiologist would see them:
  dark lungs, bright bone;
* boxes are ``(x_min, y_min, x_max, y_max)`` in pixels of the original image, floats;
* masks are boolean arrays ``(H, W)`` of the original image's size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["ImageMeta", "Image", "Box", "Finding", "Measurement"]


@dataclass(frozen=True)
class ImageMeta:
    """Metadata of a radiograph as read from its file.

    Attributes:
        source: path of the file it came from ("" for in-memory arrays).
        format: "dicom", "png", "jpeg" or another Pillow format name (lower case).
        original_size: ``(rows, columns)`` of the stored pixel matrix, before any resizing.
        pixel_spacing_mm: ``(row_spacing, column_spacing)`` in millimetres, or None when unknown
            (missing or zero in the file).
        view: "PA", "AP", "LATERAL", "LL", ... or None when unknown.
        photometric: the stored photometric interpretation ("MONOCHROME1", "MONOCHROME2", "RGB", "L", ...).
        bits_stored: bits per sample actually used (8 for 8-bit PNG/JPEG, 12/15/16 for DICOM...).
        modality: DICOM modality ("CR", "DX", ...) or None for non-DICOM files.
        body_part: DICOM BodyPartExamined or None.
        dicom: selected DICOM identifiers (StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID,
            PatientID, ...) needed to write results back into the same study; empty for other files.
        notes: human-readable notes about conversions applied (inversion, RGB to gray, VOI LUT...).
    """

    source: str = ""
    format: str = ""
    original_size: tuple[int, int] = (0, 0)
    pixel_spacing_mm: tuple[float, float] | None = None
    view: str | None = None
    photometric: str | None = None
    bits_stored: int | None = None
    modality: str | None = None
    body_part: str | None = None
    dicom: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["original_size"] = list(self.original_size)
        d["pixel_spacing_mm"] = list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None
        d["notes"] = list(self.notes)
        return d


@dataclass(frozen=True)
class Image:
    """A radiograph ready for display and models.

    Attributes:
        pixels: float32 ``(H, W)`` in [0, 1]; 0 is black (air, lungs), 1 is white (bone, metal).
        meta: where it came from and how it was converted.
    """

    pixels: np.ndarray
    meta: ImageMeta = field(default_factory=ImageMeta)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of :attr:`pixels`."""
        return (int(self.pixels.shape[0]), int(self.pixels.shape[1]))

    def to_uint8(self) -> np.ndarray:
        """Pixels as displayed, uint8 ``(H, W)`` in [0, 255]."""
        return np.clip(np.rint(self.pixels * 255.0), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels of the image as decoded: ``(x_min, y_min, x_max, y_max)``, with a score.

    For an image reduced while decoding (``ImageMeta.original_size`` larger than the pixels), multiply by the
    reduction factor to reach the source grid (DICOM SR and SEG outputs do this).
    """

    x_min: float
    y_min: float
    x_max: float
    y_max: float
    score: float | None = None
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"x_min": self.x_min, "y_min": self.y_min, "x_max": self.x_max, "y_max": self.y_max}
        if self.score is not None:
            d["score"] = self.score
        return d


@dataclass(frozen=True)
class Finding:
    """One finding's result on one image.

    Attributes:
        name: canonical finding name (``cxrkit.labels.FINDINGS``).
        probability: model output in [0, 1] (a probability, not a site-rescaled score).
        threshold: operating point used for the decision, from the model card or the user.
        positive: ``probability >= threshold``.
        boxes: localized regions, if computed.
        basis: what the probability comes from: "classifier", or "classifier+ctr" for a validated fusion
            with the cardiothoracic ratio (:mod:`cxrkit.models.fusion`).
    """

    name: str
    probability: float
    threshold: float
    positive: bool
    boxes: tuple[Box, ...] = ()
    basis: str = "classifier"


@dataclass(frozen=True)
class Measurement:
    """A named measurement with unit ("ratio", "mm", "mm2", "px", "px2") and reliability flags."""

    name: str
    value: float | None
    unit: str
    reliable: bool = True
    flags: tuple[str, ...] = ()
