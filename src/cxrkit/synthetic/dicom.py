"""Synthetic radiographs written as real DICOM files with pydicom: :func:`synthetic_dicom` (see
:mod:`cxrkit.synthetic`)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.errors import UnsupportedImageError, unknown_name
from cxrkit.synthetic.chest import synthetic_chest

__all__ = ["synthetic_dicom", "TRANSFER_SYNTAXES"]

#: ``transfer_syntax`` names accepted by :func:`synthetic_dicom`.
TRANSFER_SYNTAXES = ("explicit", "implicit", "deflated", "rle", "jpeg2000", "jpegls", "jpeg")

_SOP_CLASSES = {
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "NM": "1.2.840.10008.5.1.4.1.1.20",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
    "SR": "1.2.840.10008.5.1.4.1.1.88.11",
}


def _stored_values(
    display: np.ndarray, bits_stored: int, photometric: str, signed: bool
) -> tuple[np.ndarray, int]:
    """Display [0, 1] → integer stored values (MONOCHROME1 inverted) and the unsigned max value."""
    top = (1 << bits_stored) - 1
    values = np.rint(np.clip(display, 0.0, 1.0) * top).astype(np.int64)
    if photometric == "MONOCHROME1":
        values = top - values
    if signed:
        values -= 1 << (bits_stored - 1)
    return values, top


def synthetic_dicom(
    path: str | os.PathLike | None, *, pixels: np.ndarray | None = None, shape: tuple[int, int] = (128, 128),
    seed: int = 0, photometric: str = "MONOCHROME2", bits_stored: int = 12, bits_allocated: int | None = None,
    signed: bool = False, modality: str = "DX", rescale: tuple[float, float] | None = None,
    window: tuple[float, float] | Sequence[tuple[float, float]] | None = None, voi_lut_function: str | None = None,
    voi_lut: bool = False, modality_lut: bool = False, spacing: tuple[float, float] | Sequence[float] | None = (0.2, 0.2),
    imager_spacing: tuple[float, float] | Sequence[float] | None = None, view: str | None = "PA", frames: int = 1,
    transfer_syntax: str = "explicit", pixel_data: bool = True, preamble: bool = True,
    presentation_intent: str | None = None, high_bit_garbage: bool = False, extra: dict[str, Any] | None = None,
) -> Path | bytes:
    """Write a synthetic radiograph as a real DICOM file (pydicom), for reader tests.

    The stored values encode ``pixels`` (default: :func:`synthetic_chest` of ``shape`` and ``seed``) so that
    a correct reader shows them again: MONOCHROME1 data is stored inverted, signed data shifted; *Rescale*
    and LUTs describe the stored values' path to display.

    Parameters
    ----------
    path : str, os.PathLike or None
        Where to write; None returns the file's bytes instead.
    pixels : numpy.ndarray, optional
        float ``(H, W)`` in [0, 1] as displayed (lungs dark).
    photometric : str
        "MONOCHROME1", "MONOCHROME2" or "RGB" (the gray image in three equal channels, 8 bits).
    bits_stored : int
        1-16; ``bits_allocated`` defaults to 8 when ``bits_stored <= 8``, else 16.
    rescale : tuple of float, optional
        ``(slope, intercept)`` written as Rescale Slope / Intercept.
    window : tuple or list of tuples, optional
        ``(center, width)`` pairs in modality units (after rescale); several give a multi-valued window.
    voi_lut_function, voi_lut : str, optional; bool
        VOILUTFunction ("LINEAR", "LINEAR_EXACT", "SIGMOID"); add a VOI LUT Sequence (12-bit gamma 0.5 curve).
    modality_lut : bool
        Add a Modality LUT Sequence (a 16-bit linear ramp ×8 over the stored range).
    spacing, imager_spacing : pair of float, optional
        PixelSpacing and ImagerPixelSpacing in mm (written as given, zeros included).
    frames : int
        NumberOfFrames; frames > 1 repeat the image.
    transfer_syntax : str
        One of :data:`TRANSFER_SYNTAXES`; "jpeg" (baseline, lossy) needs 8-bit data.
    pixel_data, preamble : bool
        False: the header with Rows/Columns but no PixelData; a bare data set (no preamble, ``DICM``, file meta).
    high_bit_garbage : bool
        Set the bits above ``bits_stored`` (native 16-bit only) to test masking.
    extra : dict, optional
        Further ``keyword: value`` elements, set last (may override any of the above).

    Returns
    -------
    pathlib.Path or bytes
        The written path, or the bytes when ``path`` is None.
    """
    if transfer_syntax not in TRANSFER_SYNTAXES:
        raise unknown_name("transfer_syntax", transfer_syntax, TRANSFER_SYNTAXES)
    if pixels is None:
        pixels = synthetic_chest(shape, seed=seed)
    display = np.asarray(pixels, dtype=np.float32)
    bits_allocated = bits_allocated or (8 if bits_stored <= 8 else 16)
    color = photometric == "RGB"
    arr, top = _stored_array(display, bits_stored, bits_allocated, photometric, signed, high_bit_garbage, frames)
    ds = _header([str(seed), modality, photometric, str(bits_stored), transfer_syntax], seed, modality, view,
                 presentation_intent)
    _image_module(ds, display.shape, photometric, bits_allocated, bits_stored, signed, frames, spacing,
                  imager_spacing)
    _luts(ds, top, bits_stored, signed, rescale=rescale, modality_lut=modality_lut, window=window,
          voi_lut_function=voi_lut_function, voi_lut=voi_lut)
    if pixel_data:
        ds.PixelData = arr.tobytes()
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    _encode(ds, arr if pixel_data else None, transfer_syntax, bits_allocated=bits_allocated, color=color,
            signed=signed)
    return _write(ds, path, preamble=preamble, implicit=transfer_syntax == "implicit")


def _write(ds: Any, path: str | os.PathLike | None, *, preamble: bool, implicit: bool) -> Path | bytes:
    """Write ``ds`` as a Part 10 file (or, without ``preamble``, a bare data set) to ``path`` or to bytes."""
    import pydicom

    out: Any = io.BytesIO() if path is None else Path(path)
    if preamble:
        pydicom.dcmwrite(out, ds, enforce_file_format=True)
    else:
        del ds.file_meta
        pydicom.dcmwrite(out, ds, implicit_vr=implicit, little_endian=True)
    return out.getvalue() if path is None else out


def _stored_array(display: np.ndarray, bits_stored: int, bits_allocated: int, photometric: str, signed: bool,
                  high_bit_garbage: bool, frames: int) -> tuple[np.ndarray, int]:
    """The stored pixel array (``(frames, )(H, W)(, 3)``) and the unsigned maximum stored value."""
    color = photometric == "RGB"
    values, top = _stored_values(display, bits_stored, "MONOCHROME2" if color else photometric, signed)
    dtype = {8: np.uint8, 16: np.uint16}[bits_allocated]
    if signed:
        dtype = {8: np.int8, 16: np.int16}[bits_allocated]
    arr = values.astype(dtype)
    if high_bit_garbage and bits_allocated == 16 and not signed and bits_stored < 16:
        arr = arr | np.uint16(0xFFFF ^ top)
    if color:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if frames > 1:
        arr = np.repeat(arr[None], frames, axis=0)
    return arr, top


def _header(entropy: list[str], seed: int, modality: str, view: str | None, presentation_intent: str | None) -> Any:
    """A data set with file meta, UIDs derived from ``entropy``, patient, study and acquisition tags."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = _SOP_CLASSES.get(modality.upper(), "1.2.840.10008.5.1.4.1.1.7")
    ds.SOPInstanceUID = generate_uid(entropy_srcs=entropy + ["sop"])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=entropy + ["study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=entropy + ["series"])
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PatientID = f"SYNTH{seed:04d}"
    ds.PatientName = "Synthetic^Chest"
    ds.AccessionNumber = f"ACC{seed:06d}"
    ds.StudyDate = "20240101"
    ds.Manufacturer = "cxrkit synthetic"
    ds.Modality = modality
    ds.BodyPartExamined = "CHEST"
    if view:
        ds.ViewPosition = view
    if presentation_intent:
        ds.PresentationIntentType = presentation_intent
    return ds


def _image_module(ds: Any, shape: tuple[int, ...], photometric: str, bits_allocated: int, bits_stored: int,
                  signed: bool, frames: int, spacing: Sequence[float] | None,
                  imager_spacing: Sequence[float] | None) -> None:
    """Image pixel description: size, samples, bits, frames and pixel spacing tags."""
    color = photometric == "RGB"
    ds.Rows, ds.Columns = int(shape[0]), int(shape[1])
    ds.SamplesPerPixel = 3 if color else 1
    if color:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if spacing is not None:
        ds.PixelSpacing = [float(v) for v in spacing]
    if imager_spacing is not None:
        ds.ImagerPixelSpacing = [float(v) for v in imager_spacing]


def _luts(ds: Any, top: int, bits_stored: int, signed: bool, *, rescale: tuple[float, float] | None,
          modality_lut: bool, window: Any, voi_lut_function: str | None, voi_lut: bool) -> None:
    """Rescale, Modality LUT, window, VOI LUT function and VOI LUT sequence."""
    from pydicom.dataset import Dataset

    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = float(rescale[0]), float(rescale[1])
        ds.RescaleType = "US"
    lo_in = -(1 << (bits_stored - 1)) if signed else 0
    if modality_lut:
        item = Dataset()
        item.LUTDescriptor = [top + 1 if top + 1 < 65536 else 0, lo_in, 16]
        item.LUTData = np.minimum(np.arange(top + 1) * 8, 65535).astype("<u2").tobytes()
        item["LUTData"].VR = "OW"
        item.ModalityLUTType = "US"
        ds.ModalityLUTSequence = [item]
    if window is not None:
        pairs: list[tuple[float, float]] = [window] if np.ndim(window) == 1 else list(window)
        ds.WindowCenter = [float(c) for c, _ in pairs] if len(pairs) > 1 else float(pairs[0][0])
        ds.WindowWidth = [float(w) for _, w in pairs] if len(pairs) > 1 else float(pairs[0][1])
    if voi_lut_function:
        ds.VOILUTFunction = voi_lut_function
    if voi_lut:
        n = top + 1
        item = Dataset()
        item.LUTDescriptor = [n if n < 65536 else 0, lo_in, 12]
        item.LUTData = np.rint(4095 * np.sqrt(np.arange(n) / (n - 1))).astype("<u2").tobytes()
        item["LUTData"].VR = "OW"
        item.LUTExplanation = "gamma 0.5"
        ds.VOILUTSequence = [item]


def _encode(ds: Any, arr: np.ndarray | None, transfer_syntax: str, *, bits_allocated: int, color: bool,
            signed: bool) -> None:
    """Compress the pixel data ``arr`` (RLE, JPEG 2000, JPEG-LS, baseline JPEG; None: the file has none) or
    set the transfer syntax."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        JPEGLSLossless,
        RLELossless,
    )

    if arr is not None and transfer_syntax in ("rle", "jpeg2000", "jpegls"):
        uid = {"rle": RLELossless, "jpeg2000": JPEG2000Lossless, "jpegls": JPEGLSLossless}[transfer_syntax]
        ds.compress(uid, generate_instance_uid=False)
    elif arr is not None and transfer_syntax == "jpeg":
        if bits_allocated != 8 or color or signed:
            raise UnsupportedImageError("transfer_syntax='jpeg' needs unsigned 8-bit gray data")
        from PIL import Image as PILImage

        encoded = []
        for frame in arr.reshape(-1, arr.shape[-2], arr.shape[-1]):
            buf = io.BytesIO()
            PILImage.fromarray(frame, mode="L").save(buf, format="JPEG", quality=95)
            encoded.append(buf.getvalue())
        ds.PixelData = encapsulate(encoded)
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.LossyImageCompression = "01"
    elif transfer_syntax == "implicit":
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    elif transfer_syntax == "deflated":
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
