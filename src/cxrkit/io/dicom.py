"""DICOM radiographs (CR, DX, DR) → displayed gray pixels and metadata, through pydicom 3 + pylibjpeg.

Display pipeline, in the order of DICOM PS3.3 C.11 / PS3.4 N.2.1.1:

1. stored values, high bits above ``BitsStored`` masked (unsigned data);
2. Modality LUT: *Modality LUT Sequence* (pydicom's ``apply_modality_lut``) or *Rescale Slope/Intercept*;
3. VOI: the first item of the *VOI LUT Sequence* (pydicom's ``apply_voi``; output scaled by the LUT's own
   value range), else the first *Window Center/Width* pair with *VOI LUT Function* LINEAR (default),
   LINEAR_EXACT or SIGMOID (the PS3.3 C.11.2.1.2 formulas, evaluated in float32 straight to [0, 1]);
   else no VOI: 8-bit unsigned data is scaled by 255, deeper data by the min-max of its actual values;
   a window that maps the whole image to one value falls back to min-max (noted);
4. MONOCHROME1 inverted, so that lungs are dark (noted).

The header is read and checked (modality, SOP class, frames, photometric, pixel count) before any pixel is
decoded; large element values of files on disk are deferred, so a rejected file's pixel data is not read.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, get_decoder
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from cxrkit.errors import CxrkitError, InvalidImageError, UnsupportedImageError
from cxrkit.io._checks import check_not_constant, check_pixel_count, rgb_to_gray, scale_to_unit
from cxrkit.io.dicom_meta import DICOM_KEYS, build_meta, dicom_str as _str, int_or_none as _int_or_none
from cxrkit.types import ImageMeta

log = logging.getLogger(__name__)

__all__ = [
    "read_dicom",
    "read_dicom_header",
    "window_to_unit",
    "RADIOGRAPH_MODALITIES",
    "LENIENT_MODALITIES",
    "DICOM_KEYS",
]

#: Projection radiography modalities read without comment.
RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "DR", "RG"})
#: Modalities read with a note: secondary captures and vendor variants that often hold radiographs.
LENIENT_MODALITIES = frozenset({"OT", "SC", "XR", ""})
_NON_IMAGE = {
    "SR": "a Structured Report",
    "KO": "a Key Object Selection document",
    "PR": "a Presentation State",
    "DOC": "an encapsulated document",
    "SEG": "a Segmentation",
    "REG": "a Registration",
    "RTSTRUCT": "an RT Structure Set",
    "AU": "an audio waveform",
    "ECG": "an ECG waveform",
}
_DICOMDIR_SOP = "1.2.840.10008.1.3.10"
_MONO = ("MONOCHROME1", "MONOCHROME2")
_COLOR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420", "PALETTE COLOR")
_DEFER = 64 * 1024
_READ_ERRORS = (
    InvalidDicomError,
    BytesLengthException,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    NotImplementedError,
    OverflowError,
    MemoryError,
)
# what pydicom raises on corrupt values, which it parses lazily (on access), and numpy on malformed LUTs
_MALFORMED = (
    BytesLengthException,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    OverflowError,
    struct.error,
    EOFError,
    OSError,
)


# --------------------------------------------------------------------------------------------- reading
def load_dataset(src: str | Path | BinaryIO, source: str, *, header_only: bool, force: bool = False) -> Dataset:
    """``pydicom.dcmread`` with read errors turned into :class:`InvalidImageError`."""
    kwargs: dict[str, Any] = {"force": force}
    if header_only:
        kwargs["stop_before_pixels"] = True
    elif isinstance(src, (str, Path)):
        kwargs["defer_size"] = _DEFER
    try:
        ds = pydicom.dcmread(src, **kwargs)
    except _READ_ERRORS as exc:
        raise InvalidImageError(f"{source}: unreadable or truncated DICOM: {exc}") from exc
    if len(ds) == 0:
        raise InvalidImageError(f"{source}: no DICOM data element could be read (truncated or corrupt file)")
    _infer_transfer_syntax(ds)
    return ds


def _infer_transfer_syntax(ds: Dataset) -> None:
    """Give a preamble-less data set (no file meta) the transfer syntax it was actually read with."""
    fmeta = getattr(ds, "file_meta", None)
    if fmeta is not None and fmeta.get("TransferSyntaxUID"):
        return
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None or little is None:
        return
    if fmeta is None:
        ds.file_meta = FileMetaDataset()
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def check_header(ds: Dataset, source: str, max_pixels: int, notes: list[str]) -> None:
    """Reject what cxrkit cannot read as a chest radiograph, before any pixel is decoded.

    Raises
    ------
    UnsupportedImageError
        DICOMDIR, non-image objects (SR, KO, PR ...), non-radiograph modalities (CT, MR, US, NM, PT ...),
        multi-frame, unhandled photometric interpretation, over ``max_pixels``.
    InvalidImageError
        No Image Pixel module (no Rows/Columns), degenerate size.
    """
    meta = getattr(ds, "file_meta", None)
    sop = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    if sop == _DICOMDIR_SOP or "DirectoryRecordSequence" in ds:
        raise UnsupportedImageError(
            f"{source}: this is a DICOMDIR (a media directory index), not an image; read the files it lists"
        )
    modality = _str(ds, "Modality").upper()
    if modality in _NON_IMAGE:
        raise UnsupportedImageError(
            f"{source}: DICOM object is {_NON_IMAGE[modality]} (Modality {modality}), not an image; "
            "expected a CR/DX radiograph"
        )
    if modality not in RADIOGRAPH_MODALITIES and modality not in LENIENT_MODALITIES:
        raise UnsupportedImageError(
            f"{source}: unsupported DICOM modality {modality!r}; expected a projection radiograph "
            f"({', '.join(sorted(RADIOGRAPH_MODALITIES))})"
        )
    if modality in LENIENT_MODALITIES:
        notes.append(f"modality {modality or 'missing'}: read as a radiograph, not checked to be one")
    if _str(ds, "PresentationIntentType").upper() == "FOR PROCESSING":
        notes.append("warning: FOR PROCESSING image (raw detector data, not meant for display): contrast may look flat")
    frames = ds.get("NumberOfFrames")
    try:
        n_frames = int(frames) if frames not in (None, "") else 1
    except (TypeError, ValueError):
        n_frames = 1
    if n_frames > 1:
        raise UnsupportedImageError(
            f"{source}: multi-frame DICOM ({n_frames} frames, modality {modality or 'unknown'}); "
            "expected a single-frame radiograph"
        )
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if rows is None or cols is None:
        raise InvalidImageError(
            f"{source}: DICOM has no Rows/Columns: not an image object, or the file is truncated"
        )
    photometric = _str(ds, "PhotometricInterpretation").upper()
    if photometric not in _MONO and photometric not in _COLOR:
        raise UnsupportedImageError(
            f"{source}: unsupported PhotometricInterpretation {photometric or 'missing'!r}; "
            "expected MONOCHROME1, MONOCHROME2 or an RGB/YBR/palette color image"
        )
    check_pixel_count(int(rows), int(cols), max_pixels, source)


# --------------------------------------------------------------------------------------------- pixels
def window_to_unit(arr: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """Apply a DICOM window (PS3.3 C.11.2.1.2-3) and return float32 in [0, 1].

    Equals pydicom's ``apply_windowing`` output divided by its output range, computed without float64.

    Parameters
    ----------
    arr : numpy.ndarray
        ``(H, W)`` modality values (any real dtype).
    center, width : float
        Window Center and Window Width, in modality units.
    function : str
        "LINEAR", "LINEAR_EXACT" or "SIGMOID".
    """
    out = arr.astype(np.float32, copy=True)
    if function == "SIGMOID":
        out -= np.float32(center)
        out *= np.float32(-4.0 / width)
        np.exp(out, out=out)
        out += np.float32(1.0)
        np.reciprocal(out, out=out)
        return out
    if function == "LINEAR":
        center, width = center - 0.5, width - 1.0
    if width <= 0:  # LINEAR with width 1: a threshold at center - 0.5
        return (out > np.float32(center)).astype(np.float32)
    out -= np.float32(center)
    out *= np.float32(1.0 / width)
    out += np.float32(0.5)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _first(value: Any) -> float:
    """First value of a possibly multi-valued DS element."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__getitem__"):
        return float(value)
    return float(value[0])


def _voi(ds: Dataset, arr: np.ndarray, notes: list[str], full_range: tuple[float, float] | None) -> np.ndarray:
    """Step 3 of the pipeline: modality values → [0, 1] float32."""
    seq = ds.get("VOILUTSequence")
    if seq and seq[0].get("LUTDescriptor") is not None and seq[0].get("LUTData") is not None:
        if arr.dtype.kind == "f":
            arr = np.rint(arr).astype(np.int32)
        n_entries, first_map = int(seq[0].LUTDescriptor[0]) or 65536, int(seq[0].LUTDescriptor[1])
        lut = apply_voi(np.arange(first_map, first_map + n_entries, dtype=np.int32), ds, index=0)
        lo, hi = float(lut.min()), float(lut.max())
        extra = f" (first of {len(seq)})" if len(seq) > 1 else ""
        notes.append(f"VOI LUT Sequence applied{extra}; scaled by the LUT's output range [{lo:g}, {hi:g}]")
        if hi > lo:
            return scale_to_unit(apply_voi(arr, ds, index=0), lo, hi)
        notes.append("VOI LUT is constant: ignored")
    elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        try:
            center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        except (TypeError, ValueError, IndexError):
            center = width = float("nan")
        function = _str(ds, "VOILUTFunction").upper() or "LINEAR"
        if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
            notes.append(f"unknown VOILUTFunction {function!r}: used LINEAR")
            function = "LINEAR"
        valid = math.isfinite(center) and math.isfinite(width) and (width >= 1 if function == "LINEAR" else width > 0)
        if valid:
            out = window_to_unit(arr, center, width, function)
            n_windows = ds["WindowCenter"].VM
            extra = f" (first of {n_windows})" if n_windows > 1 else ""
            notes.append(f"window center {center:g} / width {width:g} ({function}){extra}")
            if float(out.min()) != float(out.max()):
                return out
            notes.append("the window maps every pixel to one value: fell back to min-max")
        else:
            notes.append(f"invalid window center/width {center:g}/{width:g} for {function}: ignored")
    if full_range is not None:
        notes.append(f"no VOI LUT or window: scaled by the stored range [{full_range[0]:g}, {full_range[1]:g}]")
        return scale_to_unit(arr, *full_range)
    lo, hi = float(arr.min()), float(arr.max())
    notes.append(f"no usable VOI LUT or window: min-max of the actual values [{lo:g}, {hi:g}]")
    return scale_to_unit(arr, lo, hi)


def _mono_to_display(ds: Dataset, arr: np.ndarray, source: str, notes: list[str]) -> np.ndarray:
    bits = _int_or_none(ds.get("BitsStored")) or arr.dtype.itemsize * 8
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    if not signed and arr.dtype.kind in "ui" and 0 < bits < arr.dtype.itemsize * 8:
        limit = (1 << bits) - 1
        if int(arr.max()) > limit:
            arr = arr & np.asarray(limit, dtype=arr.dtype)
            notes.append(f"bits above BitsStored={bits} masked")
    check_not_constant(arr, source)
    transformed = False
    if ds.get("ModalityLUTSequence"):
        arr = apply_modality_lut(arr, ds)
        notes.append("Modality LUT Sequence applied")
        transformed = True
    elif ds.get("RescaleSlope") is not None or ds.get("RescaleIntercept") is not None:
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        if (slope, intercept) != (1.0, 0.0):
            arr = arr.astype(np.float32)
            arr *= np.float32(slope)
            arr += np.float32(intercept)
            notes.append(f"rescale slope {slope:g} / intercept {intercept:g} applied")
            transformed = True
    full_range = None
    if not transformed and not signed and bits <= 8:
        full_range = (0.0, float((1 << bits) - 1))
    out = _voi(ds, arr, notes, full_range)
    if _str(ds, "PhotometricInterpretation").upper() == "MONOCHROME1":
        np.subtract(np.float32(1.0), out, out=out)
        notes.append("warning: MONOCHROME1 inverted so that lungs are dark")
    return out


def _color_to_display(ds: Dataset, arr: np.ndarray, source: str, notes: list[str]) -> np.ndarray:
    photometric = _str(ds, "PhotometricInterpretation").upper()
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        notes.append("PALETTE COLOR expanded to RGB")
    if arr.ndim != 3 or arr.shape[-1] < 3:
        raise UnsupportedImageError(f"{source}: {photometric} pixel data of shape {arr.shape}; expected (H, W, 3)")
    gray = rgb_to_gray(arr, notes, what=f"color DICOM ({photometric})")
    lo, hi = check_not_constant(gray, source)
    top = float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else hi
    bottom = 0.0 if arr.dtype.kind in "ui" else lo
    return scale_to_unit(gray, bottom, top)


@contextmanager
def _malformed(source: str, what: str) -> Iterator[None]:
    """Turn the errors pydicom raises on corrupt values (it parses lazily, on access) into InvalidImageError."""
    try:
        yield
    except CxrkitError:
        raise
    except _MALFORMED as exc:
        raise InvalidImageError(f"{source}: malformed DICOM {what}: {type(exc).__name__}: {exc}") from exc


def read_dicom_header(src: str | Path | BinaryIO, source: str, *, force: bool = False) -> ImageMeta:
    """Metadata of a DICOM file, read with ``stop_before_pixels`` (no pixel data read or decoded)."""
    ds = load_dataset(src, source, header_only=True, force=force)
    notes: list[str] = []
    with _malformed(source, "header"):
        check_header(ds, source, max_pixels=2**62, notes=notes)
        return build_meta(ds, source, notes)


def _decode(ds: Dataset, source: str) -> np.ndarray:
    """The stored pixel values, after checking that a decoder for the transfer syntax is installed."""
    if "PixelData" not in ds:
        other = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds]
        if other:
            raise UnsupportedImageError(f"{source}: DICOM has {other[0]}; expected integer PixelData")
        raise InvalidImageError(f"{source}: DICOM has no PixelData element (header only, no image)")
    fmeta = getattr(ds, "file_meta", None)
    syntax = fmeta.get("TransferSyntaxUID") if fmeta is not None else None
    if syntax is not None and syntax.is_compressed:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError as exc:
            raise UnsupportedImageError(f"{source}: no decoder for transfer syntax {syntax.name} ({syntax})") from exc
        if not decoder.is_available:
            missing = "; ".join(decoder.missing_dependencies)
            raise UnsupportedImageError(f"{source}: cannot decode {syntax.name}; missing plugins: {missing}")
    try:
        arr = ds.pixel_array
    except Exception as exc:  # decoders raise many types (ValueError, RuntimeError, plugin errors)
        name = syntax.name if syntax is not None else "unknown transfer syntax"
        raise InvalidImageError(f"{source}: could not decode DICOM pixel data ({name}): {exc}") from exc
    expected = (int(ds.Rows), int(ds.Columns))
    if arr.shape[:2] != expected:
        raise InvalidImageError(f"{source}: decoded pixels have shape {arr.shape}; header says {expected}")
    return arr


def read_dicom(
    src: str | Path | BinaryIO, source: str, *, max_pixels: int, force: bool = False
) -> tuple[np.ndarray, ImageMeta]:
    """Decode a DICOM radiograph.

    Returns
    -------
    pixels : numpy.ndarray
        float32 ``(H, W)`` in [0, 1], lungs dark.
    meta : ImageMeta
        ``format="dicom"``; ``dicom`` holds the identifiers listed in :data:`DICOM_KEYS`.
    """
    if isinstance(src, (str, Path)):  # reject early, before reading (possibly huge) pixel data from disk
        header = load_dataset(src, source, header_only=True, force=force)
        with _malformed(source, "header"):
            check_header(header, source, max_pixels, [])
    ds = load_dataset(src, source, header_only=False, force=force)
    notes: list[str] = []
    with _malformed(source, "header"):
        check_header(ds, source, max_pixels, notes)
        arr = _decode(ds, source)
        photometric = _str(ds, "PhotometricInterpretation").upper()
    if photometric in _MONO and arr.ndim != 2:
        raise UnsupportedImageError(f"{source}: {photometric} with pixel array shape {arr.shape}; expected (H, W)")
    with _malformed(source, "display attributes (rescale, LUT or window values)"):
        if photometric in _MONO:
            pixels = _mono_to_display(ds, arr, source, notes)
        else:
            pixels = _color_to_display(ds, arr, source, notes)
    with _malformed(source, "header"):
        meta = build_meta(ds, source, notes)
    return np.ascontiguousarray(pixels, dtype=np.float32), meta
