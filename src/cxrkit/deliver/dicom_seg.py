"""DICOM Segmentation (SEG) objects of the anatomy masks, with highdicom, referencing the source radiograph.

One binary segment per structure (lungs, heart, clavicles may overlap, so segments are not exclusive), coded
with SNOMED CT (right lung 3341006, left lung 44029006, heart 80891009, clavicle 51299004 with a laterality
modifier), algorithm type AUTOMATIC, same study / frame of reference as the source image. Masks must have the
source image's size (rows, columns). The SEG is a new series in the source's study.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.errors import DataFormatError, InvalidImageError, UnsupportedImageError
from cxrkit.fs import atomic_open

__all__ = ["build_seg", "write_seg", "SEGMENT_CODES"]

log = logging.getLogger(__name__)

# structure -> (property type (value, scheme, meaning), laterality (value, meaning) or None, label)
SEGMENT_CODES: dict[str, tuple[tuple[str, str, str], tuple[str, str] | None, str]] = {
    "right_lung": (("3341006", "SCT", "Right lung"), None, "Right lung (patient right)"),
    "left_lung": (("44029006", "SCT", "Left lung"), None, "Left lung (patient left)"),
    "heart": (("80891009", "SCT", "Heart"), None, "Heart"),
    "right_clavicle": (("51299004", "SCT", "Clavicle"), ("24028007", "Right"), "Right clavicle (patient right)"),
    "left_clavicle": (("51299004", "SCT", "Clavicle"), ("7771000", "Left"), "Left clavicle (patient left)"),
}


def _load_source(source: Any):
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.errors import InvalidDicomError

    if isinstance(source, Dataset):
        ds = source
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InvalidImageError(f"source image {path} not found")
        try:
            ds = pydicom.dcmread(path)
        except InvalidDicomError as exc:
            raise UnsupportedImageError(
                f"{path} is not a DICOM file: a DICOM SEG must reference a DICOM source image "
                "(for PNG/JPEG inputs write the PNG masks instead)"
            ) from exc
    else:
        raise UnsupportedImageError(
            f"DICOM SEG needs a pydicom Dataset or a path to a DICOM file as source, got {type(source).__name__}"
        )
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "Rows", "Columns"):
        if kw not in ds:
            raise DataFormatError(f"source DICOM lacks {kw}: cannot reference it from a SEG")
    return ds


def build_seg(
    source_dataset_or_path: Any,
    masks: dict[str, np.ndarray],
    *,
    series_number: int = 901,
    model_name: str = "cxrkit-anatomy-unet-256",
    model_version: str = "0.1.0",
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
):
    """Build (not write) a DICOM SEG dataset of ``masks`` referencing the source image.

    Parameters
    ----------
    source_dataset_or_path:
        the source radiograph: a pydicom ``Dataset`` (pixel data needed only for its header) or a DICOM path.
    masks:
        structure -> boolean ``(Rows, Columns)``; names from :data:`SEGMENT_CODES` (patient sides).
        Empty masks are kept as empty segments.
    series_instance_uid, sop_instance_uid:
        UIDs of the SEG (default: new random UIDs); give derived ones to make a rewrite idempotent.

    Returns
    -------
    highdicom.seg.Segmentation
        a pydicom Dataset subclass.

    Raises
    ------
    UnsupportedImageError
        the source is not DICOM.
    InvalidImageError
        a mask's shape differs from the source's (Rows, Columns), or no known structure is given.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    ds = _load_source(source_dataset_or_path)
    names = [n for n in SEGMENT_CODES if n in masks]
    unknown = sorted(set(masks) - set(SEGMENT_CODES))
    if unknown:
        log.warning("DICOM SEG: ignoring unknown structures %s", unknown)
    if not names:
        raise InvalidImageError(f"no known structure among masks {sorted(masks)}; expected {list(SEGMENT_CODES)}")
    pixel_array = _segment_frames(masks, names, (int(ds.Rows), int(ds.Columns)))
    algo = hd.AlgorithmIdentificationSequence(
        name=model_name, version=model_version, family=codes.cid7162.ArtificialIntelligence
    )
    descriptions = []
    for i, n in enumerate(names, start=1):
        (value, scheme, meaning), _, label = SEGMENT_CODES[n]
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=i,
                segment_label=label,
                segmented_property_category=codes.SCT.AnatomicalStructure,
                segmented_property_type=Code(value, scheme, meaning),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algo,
            )
        )
    with warnings.catch_warnings():  # highdicom warns about the source's own PatientName format
        warnings.filterwarnings("ignore", message=".*person name.*", category=UserWarning)
        seg = _segmentation(hd, ds, pixel_array, descriptions, series_number, model_name,
                            series_instance_uid or hd.UID(), sop_instance_uid or hd.UID())
    _add_laterality(seg, names)
    return seg


def _segment_frames(masks: dict[str, np.ndarray], names: list[str], shape: tuple[int, int]) -> np.ndarray:
    """uint8 ``(1, rows, columns, segments)`` of the named masks; each must have the source's shape."""
    arrs = []
    for n in names:
        m = np.asarray(masks[n], dtype=bool)
        if m.shape != shape:
            raise InvalidImageError(f"mask {n!r} is {m.shape}, the source image is {shape} (rows, columns)")
        arrs.append(m)
    return np.stack(arrs, axis=-1)[None].astype(np.uint8)


def _add_laterality(seg: Any, names: list[str]) -> None:
    """Laterality of the clavicles as a property type modifier (DICOM PS3.3 C.8.20.4)."""
    from pydicom.dataset import Dataset

    for item, n in zip(seg.SegmentSequence, names, strict=True):
        lat = SEGMENT_CODES[n][1]
        if lat is not None:
            mod = Dataset()
            mod.CodeValue, mod.CodingSchemeDesignator, mod.CodeMeaning = lat[0], "SCT", lat[1]
            item.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [mod]


def _segmentation(hd, ds, pixel_array, descriptions, series_number, model_name, series_uid, sop_uid):
    import cxrkit

    return hd.seg.Segmentation(
        source_images=[ds],
        pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer="cxrkit",
        manufacturer_model_name=model_name,
        software_versions=f"cxrkit {cxrkit.__version__}",
        device_serial_number="0",
        series_description="cxrkit anatomy segmentation (not for diagnosis)",
        omit_empty_frames=False,
    )


def write_seg(
    source_dataset_or_path: Any,
    masks: dict[str, np.ndarray],
    out_path: str | Path | None = None,
    **kwargs: Any,
):
    """Build a DICOM SEG (see :func:`build_seg`) and, when ``out_path`` is given, write it atomically.

    Returns the SEG dataset. Raises :class:`~cxrkit.errors.UnsupportedImageError` for a non-DICOM source.
    """
    if isinstance(source_dataset_or_path, dict) and not isinstance(masks, dict):
        # tolerate the (masks, source) argument order
        source_dataset_or_path, masks = masks, source_dataset_or_path
    seg = build_seg(source_dataset_or_path, masks, **kwargs)
    if out_path is not None:
        with atomic_open(out_path, "wb") as fh:
            seg.save_as(fh, enforce_file_format=True)
    return seg
