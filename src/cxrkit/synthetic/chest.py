"""Seeded synthetic chest-radiograph-like images and DICOM files, for tests and docs.

:func:`synthetic_chest` draws a frontal (PA) chest-like image: air around a torso, dark lung fields with
rib shadows, a bright mediastinum, spine and heart, clavicles, diaphragm domes, a little noise. It is a
test pattern with the geometry and polarity of a radiograph, **not** a realistic simulation (no pathology,
no scatter physics): good for checking that code keeps lungs dark, masks aligned and shapes right.

:func:`synthetic_dicom` writes such an image (or given pixels) as a real DICOM file with pydicom, with the
header features the readers must handle (MONOCHROME1, BitsStored, rescale, windows, VOI LUT and Modality
LUT sequences, pixel spacing tags, multi-frame, compressed transfer syntaxes, no preamble, no pixel data).

Both are deterministic given ``seed``; no global random state is touched.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
from scipy import ndimage

from cxrkit.errors import InvalidImageError, UnsupportedImageError, unknown_name

__all__ = ["synthetic_chest", "synthetic_dicom", "TRANSFER_SYNTAXES"]


def _ellipse(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


@overload
def synthetic_chest(
    shape: tuple[int, int] = ..., *, seed: int, noise: float = ..., return_masks: Literal[False] = ...
) -> np.ndarray: ...


@overload
def synthetic_chest(
    shape: tuple[int, int] = ..., *, seed: int, noise: float = ..., return_masks: Literal[True]
) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...


def synthetic_chest(
    shape: tuple[int, int] = (256, 256),
    *,
    seed: int,
    noise: float = 0.01,
    return_masks: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """A seeded synthetic frontal chest radiograph.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, columns)``, each at least 16.
    seed : int
        Seed of the local generator (anatomy jitter and noise).
    noise : float
        Standard deviation of the added Gaussian noise, in display units.
    return_masks : bool
        Also return the anatomy masks.

    Returns
    -------
    pixels : numpy.ndarray
        float32 ``(rows, columns)`` in [0, 1], displayed polarity (lungs dark, bone bright).
    masks : dict of str to numpy.ndarray, optional
        bool ``(rows, columns)`` arrays ``right_lung`` (image left), ``left_lung`` (image right) and
        ``heart``, in the patient's anatomical convention of a PA view.

    Examples
    --------
    >>> img, masks = synthetic_chest((128, 128), seed=0, return_masks=True)
    >>> img.shape, img.dtype, bool(img[masks["left_lung"]].mean() < img[masks["heart"]].mean())
    ((128, 128), dtype('float32'), True)
    """
    rows, cols = (int(shape[0]), int(shape[1]))
    if rows < 16 or cols < 16:
        raise InvalidImageError(f"shape {shape!r}: expected at least (16, 16)")
    rng = np.random.default_rng(seed)
    j = lambda scale: float(rng.uniform(-scale, scale))  # noqa: E731 - small local jitter helper
    yy, xx = np.meshgrid(
        (np.arange(rows, dtype=np.float32) + 0.5) / rows,
        (np.arange(cols, dtype=np.float32) + 0.5) / cols,
        indexing="ij",
    )
    img = np.full((rows, cols), 0.04, dtype=np.float32)

    # torso (soft tissue), shoulders and neck
    torso = _ellipse(yy, xx, 0.95 + j(0.02), 0.5, 0.9, 0.44 + j(0.02)) | (
        (np.abs(xx - 0.5) < 0.09 + j(0.01)) & (yy < 0.3)
    )
    img[torso] = 0.5 + j(0.04)

    # lungs: ellipses cut below by diaphragm domes
    cx_r, cx_l = 0.31 + j(0.02), 0.69 + j(0.02)
    cy = 0.46 + j(0.02)
    ry, rx = 0.29 + j(0.02), 0.14 + j(0.015)
    dome_r = 0.74 + j(0.02) + 0.12 * ((xx - cx_r) / rx) ** 2
    dome_l = 0.77 + j(0.02) + 0.12 * ((xx - cx_l) / rx) ** 2
    right_lung = _ellipse(yy, xx, cy, cx_r, ry, rx) & (yy < dome_r)
    left_lung = _ellipse(yy, xx, cy + 0.01, cx_l, ry * 0.98, rx * 0.95) & (yy < dome_l)

    # heart: bright, overlapping the left lung field (patient's left = image right)
    h_cy, h_cx, h_ry, h_rx = 0.64 + j(0.02), 0.56 + j(0.015), 0.13 + j(0.01), 0.15 + j(0.015)
    heart = _ellipse(yy, xx, h_cy, h_cx, h_ry, h_rx)
    left_lung &= ~(heart | ((yy > h_cy) & (xx < h_cx + h_rx)))
    right_lung &= ~heart
    lungs = right_lung | left_lung
    lung_value = 0.16 + 0.10 * (yy - 0.2) + j(0.03)  # a little brighter toward the bases
    img = np.where(lungs, lung_value, img).astype(np.float32)

    # ribs: curved periodic bands, visible over the lungs
    n_ribs = 9.0 + j(0.5)
    curve = 0.09 * ((xx - 0.5) / 0.4) ** 2
    ribs = np.sin(2.0 * np.pi * ((yy + curve) * n_ribs + j(1.0))) > 0.55
    img[ribs & lungs] += 0.09

    # mediastinum, spine, heart, clavicles
    mediastinum = (np.abs(xx - 0.5 - j(0.01)) < 0.07) & (yy > 0.12) & torso
    img[mediastinum] = 0.68 + j(0.03)
    spine = (np.abs(xx - 0.5) < 0.035) & torso
    img[spine] = 0.76 + j(0.03)
    img[heart] = 0.7 + j(0.03)
    for side in (-1.0, 1.0):
        clav = np.abs(yy - (0.2 + j(0.01)) + 0.08 * np.abs(xx - 0.5)) < 0.012  # rising laterally
        clav &= (np.abs(xx - 0.5) > 0.04) & (np.abs(xx - 0.5) < 0.32) & (np.sign(xx - 0.5) == side)
        img[clav] = 0.8

    sigma = max(rows, cols) / 256.0 * 1.5
    img = ndimage.gaussian_filter(img, sigma=sigma, mode="nearest")
    if noise > 0:
        img += rng.normal(0.0, noise, size=img.shape).astype(np.float32)
    np.clip(img, 0.0, 1.0, out=img)
    img = img.astype(np.float32, copy=False)
    if not return_masks:
        return img
    return img, {"right_lung": right_lung, "left_lung": left_lung, "heart": heart}


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
    path: str | os.PathLike | None,
    *,
    pixels: np.ndarray | None = None,
    shape: tuple[int, int] = (128, 128),
    seed: int = 0,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    bits_allocated: int | None = None,
    signed: bool = False,
    modality: str = "DX",
    rescale: tuple[float, float] | None = None,
    window: tuple[float, float] | Sequence[tuple[float, float]] | None = None,
    voi_lut_function: str | None = None,
    voi_lut: bool = False,
    modality_lut: bool = False,
    spacing: tuple[float, float] | Sequence[float] | None = (0.2, 0.2),
    imager_spacing: tuple[float, float] | Sequence[float] | None = None,
    view: str | None = "PA",
    frames: int = 1,
    transfer_syntax: str = "explicit",
    pixel_data: bool = True,
    preamble: bool = True,
    presentation_intent: str | None = None,
    high_bit_garbage: bool = False,
    extra: dict[str, Any] | None = None,
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
    voi_lut_function : str, optional
        VOILUTFunction ("LINEAR", "LINEAR_EXACT", "SIGMOID").
    voi_lut : bool
        Add a VOI LUT Sequence (a 12-bit gamma 0.5 curve over the stored range).
    modality_lut : bool
        Add a Modality LUT Sequence (a 16-bit linear ramp ×8 over the stored range).
    spacing, imager_spacing : pair of float, optional
        PixelSpacing and ImagerPixelSpacing in mm (written as given, zeros included).
    frames : int
        NumberOfFrames; frames > 1 repeat the image.
    transfer_syntax : str
        One of :data:`TRANSFER_SYNTAXES`; "jpeg" (baseline, lossy) needs 8-bit data.
    pixel_data : bool
        False writes the header with Rows/Columns but no PixelData.
    preamble : bool
        False writes a bare data set: no 128-byte preamble, no ``DICM``, no file meta.
    high_bit_garbage : bool
        Set the bits above ``bits_stored`` (native 16-bit only) to test masking.
    extra : dict, optional
        Further ``keyword: value`` elements, set last (may override any of the above).

    Returns
    -------
    pathlib.Path or bytes
        The written path, or the bytes when ``path`` is None.
    """
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        JPEGLSLossless,
        RLELossless,
        generate_uid,
    )

    if transfer_syntax not in TRANSFER_SYNTAXES:
        raise unknown_name("transfer_syntax", transfer_syntax, TRANSFER_SYNTAXES)
    if pixels is None:
        pixels = synthetic_chest(shape, seed=seed)
    display = np.asarray(pixels, dtype=np.float32)
    rows, cols = display.shape
    bits_allocated = bits_allocated or (8 if bits_stored <= 8 else 16)
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

    entropy = [str(seed), modality, photometric, str(bits_stored), transfer_syntax]
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
    ds.Rows, ds.Columns = rows, cols
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
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = float(rescale[0]), float(rescale[1])
        ds.RescaleType = "US"
    if modality_lut:
        lo_in = -(1 << (bits_stored - 1)) if signed else 0
        item = Dataset()
        item.LUTDescriptor = [top + 1 if top + 1 < 65536 else 0, lo_in, 16]
        item.LUTData = np.minimum(np.arange(top + 1) * 8, 65535).astype("<u2").tobytes()
        item["LUTData"].VR = "OW"
        item.ModalityLUTType = "US"
        ds.ModalityLUTSequence = [item]
    if window is not None:
        pairs: list[tuple[float, float]] = (
            [window] if np.ndim(window) == 1 else list(window))  # type: ignore[list-item, arg-type]
        ds.WindowCenter = [float(c) for c, _ in pairs] if len(pairs) > 1 else float(pairs[0][0])
        ds.WindowWidth = [float(w) for _, w in pairs] if len(pairs) > 1 else float(pairs[0][1])
    if voi_lut_function:
        ds.VOILUTFunction = voi_lut_function
    if voi_lut:
        lo_in = -(1 << (bits_stored - 1)) if signed else 0
        n = top + 1
        item = Dataset()
        item.LUTDescriptor = [n if n < 65536 else 0, lo_in, 12]
        item.LUTData = np.rint(4095 * np.sqrt(np.arange(n) / (n - 1))).astype("<u2").tobytes()
        item["LUTData"].VR = "OW"
        item.LUTExplanation = "gamma 0.5"
        ds.VOILUTSequence = [item]
    if pixel_data:
        ds.PixelData = arr.tobytes()
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)

    if pixel_data and transfer_syntax in ("rle", "jpeg2000", "jpegls"):
        uid = {"rle": RLELossless, "jpeg2000": JPEG2000Lossless, "jpegls": JPEGLSLossless}[transfer_syntax]
        ds.compress(uid, generate_instance_uid=False)
    elif pixel_data and transfer_syntax == "jpeg":
        if bits_allocated != 8 or color or signed:
            raise UnsupportedImageError("transfer_syntax='jpeg' needs unsigned 8-bit gray data")
        from PIL import Image as PILImage

        encoded = []
        for frame in arr.reshape(-1, rows, cols):
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

    out: Any = io.BytesIO() if path is None else Path(path)
    if preamble:
        pydicom.dcmwrite(out, ds, enforce_file_format=True)
    else:
        implicit = transfer_syntax == "implicit"
        del ds.file_meta
        pydicom.dcmwrite(out, ds, implicit_vr=implicit, little_endian=True)
    return out.getvalue() if path is None else out
