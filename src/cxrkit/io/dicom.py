"""DICOM radiographs (CR, DX, DR) → displayed gray pixels and metadata, through pydicom 3 + pylibjpeg.

Display pipeline, in the order of DICOM PS3.3 C.11 / PS3.4 N.2.1.1:

1. stored values, high bits above ``BitsStored`` masked (unsigned data);
2. Modality LUT: *Modality LUT Sequence* (pydicom's ``apply_modality_lut``) or *Rescale Slope/Intercept*;
3. VOI: the first item of the *VOI LUT Sequence* (pydicom's ``apply_voi``; output scaled by the LUT's own
   value range), else the first *Window Center/Width* pair with *VOI LUT Function* LINEAR (default),
   LINEAR_EXACT or SIGMOID (the PS3.3 C.11.2.1.2 formulas, evaluated in float32 straight to [0, 1]);
   else no VOI: 8-bit unsigned data is scaled by 255, deeper data by the min-max of its actual values
   (Pixel Padding Value pixels left out); a window that maps the whole image to one value falls back to
   min-max (noted);
4. MONOCHROME1 inverted, so that lungs are dark (noted);
5. color (RGB, YBR, PALETTE COLOR) to gray.

For files on disk the header is read first (``stop_before_pixels``) and checked (DICOMDIR, SOP class,
modality, frames, photometric, pixel count), so a rejected file's pixel data is never read; the full read
then defers large values. pydicom parses values lazily, so errors from corrupt values can surface anywhere:
they all become :class:`~cxrkit.errors.InvalidImageError` (see ``_malformed``). Before pydicom sees a file, its
file meta is checked and a Deflated data set is inflated with a size cap (:mod:`cxrkit.io.dicom_source`);
while it reads, its warnings carry no header values (:mod:`cxrkit.io._pydicom_quiet`). Images over
``max_output_pixels`` are reduced (block mean of the stored values) before the display pipeline, and display
values that are not finite (a Rescale Slope of NaN, inf or 1e308) are refused, never returned.
See ``docs/io.md`` for the full rules.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from cxrkit.errors import CxrkitError, InvalidImageError, UnsupportedImageError
from cxrkit.io._checks import DEFAULT_MAX_INFLATED_BYTES, DEFAULT_MAX_OUTPUT_PIXELS, check_pixel_count, reduce_factor
from cxrkit.io._pydicom_quiet import quiet_pydicom, redact
from cxrkit.io.dicom_display import color_to_display, mono_to_display, window_to_unit
from cxrkit.io.dicom_meta import DICOM_KEYS, build_meta
from cxrkit.io.dicom_meta import dicom_str as _str
from cxrkit.io.dicom_source import MALFORMED_ERRORS, DicomSource, open_dicom
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
_READ_ERRORS = (InvalidDicomError, MemoryError, *MALFORMED_ERRORS)
_MALFORMED = MALFORMED_ERRORS  # what pydicom / numpy raise on corrupt values (see dicom_source)


# --------------------------------------------------------------------------------------------- reading
def load_dataset(
    src: str | Path | BinaryIO | DicomSource, source: str, *, header_only: bool, force: bool = False
) -> Dataset:
    """``pydicom.dcmread`` with read errors turned into :class:`InvalidImageError`.

    ``src`` should come from :func:`~cxrkit.io.dicom_source.open_dicom` (file meta checked, Deflated data
    inflated with a cap); a plain path or stream is opened that way first.
    """
    opened = src if isinstance(src, DicomSource) else _open(src, source, force, DEFAULT_MAX_INFLATED_BYTES)
    stream = opened.rewind()
    kwargs: dict[str, Any] = {"force": force}
    if header_only:
        kwargs["stop_before_pixels"] = True
    elif isinstance(stream, Path):
        kwargs["defer_size"] = _DEFER
    try:
        ds = pydicom.dcmread(stream, **kwargs)
    except _READ_ERRORS as exc:
        raise InvalidImageError(f"{source}: unreadable or truncated DICOM: {redact(str(exc))}") from exc
    if len(ds) == 0:
        raise InvalidImageError(f"{source}: no DICOM data element could be read (truncated or corrupt file)")
    opened.restore_meta(ds)
    with _malformed(source, "file meta (transfer syntax)"):
        _infer_transfer_syntax(ds)
    return ds


def _open(src: str | Path | BinaryIO, source: str, force: bool, max_inflated_bytes: int) -> DicomSource:
    return open_dicom(
        Path(src) if isinstance(src, str) else src, source, force=force, max_inflated_bytes=max_inflated_bytes
    )


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


@contextmanager
def _malformed(source: str, what: str) -> Iterator[None]:
    """Turn the errors pydicom raises on corrupt values (it parses lazily, on access) into InvalidImageError."""
    try:
        yield
    except CxrkitError:
        raise
    except _MALFORMED as exc:
        raise InvalidImageError(
            f"{source}: malformed DICOM {what}: {type(exc).__name__}: {redact(str(exc))}"
        ) from exc


def read_dicom_header(
    src: str | Path | BinaryIO,
    source: str,
    *,
    force: bool = False,
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES,
) -> ImageMeta:
    """Metadata of a DICOM file, read with ``stop_before_pixels`` (no pixel data read or decoded)."""
    with quiet_pydicom():
        ds = load_dataset(_open(src, source, force, max_inflated_bytes), source, header_only=True, force=force)
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
        raise InvalidImageError(f"{source}: could not decode DICOM pixel data ({name}): {redact(str(exc))}") from exc
    expected = (int(ds.Rows), int(ds.Columns))
    if arr.shape[:2] != expected:
        raise InvalidImageError(f"{source}: decoded pixels have shape {arr.shape}; header says {expected}")
    return arr


def read_dicom(
    src: str | Path | BinaryIO,
    source: str,
    *,
    max_pixels: int,
    force: bool = False,
    max_output_pixels: int | None = DEFAULT_MAX_OUTPUT_PIXELS,
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES,
) -> tuple[np.ndarray, ImageMeta]:
    """Decode a DICOM radiograph.

    Returns
    -------
    pixels : numpy.ndarray
        float32 ``(H, W)`` in [0, 1], lungs dark; reduced by an integer factor ``k`` (block mean) when the
        stored matrix has more than ``max_output_pixels`` pixels (noted; pixel spacing multiplied by ``k``).
    meta : ImageMeta
        ``format="dicom"``; ``dicom`` holds the identifiers listed in :data:`DICOM_KEYS`.
    """
    with quiet_pydicom():
        return _read_dicom(src, source, max_pixels, force, max_output_pixels, max_inflated_bytes)


def _read_dicom(
    src: str | Path | BinaryIO,
    source: str,
    max_pixels: int,
    force: bool,
    max_output_pixels: int | None,
    max_inflated_bytes: int,
) -> tuple[np.ndarray, ImageMeta]:
    opened = _open(src, source, force, max_inflated_bytes)
    if isinstance(opened.stream, Path):  # reject early, before reading (possibly huge) pixel data from disk
        header = load_dataset(opened, source, header_only=True, force=force)
        with _malformed(source, "header"):
            check_header(header, source, max_pixels, [])
    ds = load_dataset(opened, source, header_only=False, force=force)
    notes: list[str] = []
    with _malformed(source, "header"):
        check_header(ds, source, max_pixels, notes)
        arr = _decode(ds, source)
        photometric = _str(ds, "PhotometricInterpretation").upper()
    if photometric in _MONO and arr.ndim != 2:
        raise UnsupportedImageError(f"{source}: {photometric} with pixel array shape {arr.shape}; expected (H, W)")
    k = reduce_factor(int(arr.shape[0]), int(arr.shape[1]), max_output_pixels)
    with _malformed(source, "display attributes (rescale, LUT or window values)"):
        if photometric in _MONO:
            pixels = mono_to_display(ds, arr, source, notes, reduce_by=k)
        else:
            pixels = color_to_display(ds, arr, source, notes, reduce_by=k)
    if not np.isfinite(pixels).all():  # a last guard: every known cause is refused earlier, naming the value
        raise InvalidImageError(
            f"{source}: the DICOM display pipeline gave NaN or infinite values ({'; '.join(notes)}); "
            "expected finite pixels"
        )
    with _malformed(source, "header"):
        meta = build_meta(ds, source, notes)
    if k > 1 and meta.pixel_spacing_mm is not None:
        meta = dataclasses.replace(meta, pixel_spacing_mm=(meta.pixel_spacing_mm[0] * k, meta.pixel_spacing_mm[1] * k))
    return np.ascontiguousarray(pixels, dtype=np.float32), meta
