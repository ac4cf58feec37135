"""DICOM header → :class:`cxrkit.types.ImageMeta`: pixel spacing, view, identifiers (no pixels needed)."""

from __future__ import annotations

import math
import re
from typing import Any

from pydicom.dataset import Dataset

from cxrkit.types import ImageMeta

__all__ = ["build_meta", "pixel_spacing", "view_position", "DICOM_KEYS"]

#: identifiers copied into ``ImageMeta.dicom`` when present.
DICOM_KEYS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
    "PatientID",
    "AccessionNumber",
    "StudyDate",
    "StudyTime",
    "SeriesNumber",
    "InstanceNumber",
    "PatientSex",
    "PatientAge",
    "Manufacturer",
    "ManufacturerModelName",
    "PresentationIntentType",
    "ImageLaterality",
)


def dicom_str(ds: Dataset, keyword: str) -> str:
    """The element's value as a stripped string ("" when absent)."""
    value = ds.get(keyword)
    if value is None:
        return ""
    return str(value).strip()


def _spacing_pair(value: Any) -> tuple[float, float] | None:
    try:
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(pair) != 2 or not all(math.isfinite(v) and v > 0 for v in pair):
        return None
    return (pair[0], pair[1])


def pixel_spacing(ds: Dataset, notes: list[str]) -> tuple[float, float] | None:
    """``(row, column)`` spacing in mm: PixelSpacing, else ImagerPixelSpacing (÷ magnification if given)."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        if keyword not in ds:
            continue
        pair = _spacing_pair(ds[keyword].value)
        if pair is None:
            notes.append(f"{keyword} {ds[keyword].value!r} is zero, missing or malformed: ignored")
            continue
        if keyword == "PixelSpacing":
            notes.append("pixel spacing from PixelSpacing")
            return pair
        magnification = ds.get("EstimatedRadiographicMagnificationFactor")
        try:
            factor = float(magnification) if magnification not in (None, "") else 1.0
        except (TypeError, ValueError):
            factor = 1.0
        if math.isfinite(factor) and factor > 0 and factor != 1.0:
            notes.append(
                f"pixel spacing from ImagerPixelSpacing divided by EstimatedRadiographicMagnificationFactor {factor:g}"
            )
            return (pair[0] / factor, pair[1] / factor)
        notes.append("pixel spacing from ImagerPixelSpacing (detector plane, not corrected for magnification)")
        return pair
    return None


_VIEW_WORDS = (
    ("postero-anterior", "PA"),
    ("posteroanterior", "PA"),
    ("antero-posterior", "AP"),
    ("anteroposterior", "AP"),
    ("left lateral", "LL"),
    ("right lateral", "RL"),
    ("lateral", "LATERAL"),
)


_DESCRIPTION_KEYS = ("SeriesDescription", "ProtocolName", "AcquisitionDeviceProcessingDescription", "StudyDescription")
_DESCRIPTION_TOKENS = {"PA": "PA", "AP": "AP", "LAT": "LATERAL", "LATERAL": "LATERAL", "LL": "LL", "RL": "RL"}


def _view_from_descriptions(ds: Dataset, notes: list[str]) -> str | None:
    """A view named as a whole word in a free-text description ("CHEST PA", "Thorax ap liegend"), if unambiguous."""
    for keyword in _DESCRIPTION_KEYS:
        text = dicom_str(ds, keyword)
        words = set(re.split(r"[^A-Za-z]+", text.upper()))
        found = {_DESCRIPTION_TOKENS[w] for w in words if w in _DESCRIPTION_TOKENS}
        if len(found) == 1:
            view = found.pop()
            notes.append(f"view guessed from {keyword} {text!r}")
            return view
        if len(found) > 1:
            notes.append(f"{keyword} {text!r} names several views: view left unknown")
            return None
    return None


def view_position(ds: Dataset, notes: list[str]) -> str | None:
    """The projection ("PA", "AP", "LL", "RL", "LATERAL", ...), or None when the header does not say.

    From *ViewPosition*; else *ViewCodeSequence*'s meaning; else *PatientOrientation* (only a lateral can be
    told from it: row direction A or P); else one view named as a whole word in the series / protocol /
    study description (noted as a guess).
    """
    view = dicom_str(ds, "ViewPosition").upper()
    if view:
        return view
    seq = ds.get("ViewCodeSequence")
    if seq:
        meaning = str(seq[0].get("CodeMeaning", "")).lower()
        for word, code in _VIEW_WORDS:
            if word in meaning:
                notes.append(f"view from ViewCodeSequence ({meaning!r})")
                return code
    orientation = ds.get("PatientOrientation")
    if orientation and len(orientation) == 2:
        row_dir = str(orientation[0]).upper()
        if row_dir[:1] in ("A", "P"):
            notes.append(f"view from PatientOrientation {list(orientation)} (lateral)")
            return "LATERAL"
    return _view_from_descriptions(ds, notes)


def int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def build_meta(ds: Dataset, source: str, notes: list[str]) -> ImageMeta:
    """ImageMeta from a DICOM header (no pixels needed)."""
    fmeta = getattr(ds, "file_meta", None)
    identifiers = {k: dicom_str(ds, k) for k in DICOM_KEYS if dicom_str(ds, k)}
    if fmeta is not None and fmeta.get("TransferSyntaxUID"):
        identifiers["TransferSyntaxUID"] = str(fmeta.TransferSyntaxUID)
    spacing = pixel_spacing(ds, notes)
    view = view_position(ds, notes)
    return ImageMeta(
        source=source,
        format="dicom",
        original_size=(int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)),
        pixel_spacing_mm=spacing,
        view=view,
        photometric=dicom_str(ds, "PhotometricInterpretation") or None,
        bits_stored=int_or_none(ds.get("BitsStored")),
        modality=dicom_str(ds, "Modality") or None,
        body_part=dicom_str(ds, "BodyPartExamined") or None,
        dicom=identifiers,
        notes=tuple(notes),
    )


