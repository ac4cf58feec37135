"""Decoded DICOM pixel values → displayed float32 [0, 1]: modality LUT, VOI (LUT or window), inversion, gray.

The steps and their order are described in :mod:`cxrkit.io.dicom`; this module holds the array work.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi

from cxrkit.errors import InvalidImageError, UnsupportedImageError
from cxrkit.io._checks import block_reduce, check_not_constant, rgb_to_gray, scale_to_unit
from cxrkit.io.dicom_meta import dicom_str as _str
from cxrkit.io.dicom_meta import int_or_none as _int_or_none

__all__ = ["window_to_unit", "mono_to_display", "color_to_display"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


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
        with np.errstate(over="ignore"):  # exp overflow → inf → output 0, which is the right limit
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


def _voi(
    ds: Dataset,
    arr: np.ndarray,
    notes: list[str],
    full_range: tuple[float, float] | None,
    content: np.ndarray | None = None,
) -> np.ndarray:
    """Step 3 of the pipeline: modality values → [0, 1] float32.

    ``content`` (bool, optional) marks the pixels that are not padding; the min-max fallback uses only those.
    """
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
        valid = (
            abs(center) <= _FLOAT32_MAX and abs(width) <= _FLOAT32_MAX  # finite in float32 (NaN fails too)
            and (width >= 1 if function == "LINEAR" else width > 0)
        )
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
    values = arr[content] if content is not None else arr
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        lo, hi = float(arr.min()), float(arr.max())
    notes.append(f"no usable VOI LUT or window: min-max of the actual values [{lo:g}, {hi:g}]")
    return scale_to_unit(arr, lo, hi)


def _content_mask(ds: Dataset, arr: np.ndarray, notes: list[str]) -> np.ndarray | None:
    """Pixels that are not *Pixel Padding Value* (up to *Pixel Padding Range Limit*), or None when no padding."""
    pad = ds.get("PixelPaddingValue")
    if pad is None or isinstance(pad, (bytes, bytearray)):
        return None
    limit = ds.get("PixelPaddingRangeLimit")
    if isinstance(limit, (bytes, bytearray)):
        limit = None
    lo, hi = sorted((int(pad), int(limit if limit is not None else pad)))
    padding = (arr >= lo) & (arr <= hi)
    n_pad = int(padding.sum())
    if n_pad == 0 or n_pad == padding.size:
        return None
    notes.append(f"{n_pad} padding pixels (Pixel Padding Value {lo}..{hi}) left out of any min-max range")
    return ~padding


def _reduce(arr: np.ndarray, k: int, notes: list[str]) -> np.ndarray:
    """Block mean of ``k x k`` stored values (kept integer, so LUTs and padding values still apply); noted."""
    if k <= 1:
        return arr
    out = block_reduce(arr, k)
    notes.append(
        f"reduced {k}x while decoding ({arr.shape[0]}x{arr.shape[1]} -> {out.shape[0]}x{out.shape[1]}, "
        f"block mean) to bound memory; pixel spacing, when known, multiplied by {k}"
    )
    return out


def _rescale_value(ds: Dataset, keyword: str, default: float, source: str) -> float:
    """*Rescale Slope* / *Intercept* as a float: absent or empty gives ``default``; NaN, inf and a zero slope
    are refused (a zero slope would make every pixel equal; pydicom reads them all without complaint)."""
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    number = float(value)
    if not math.isfinite(number) or (keyword == "RescaleSlope" and number == 0.0):
        expected = "a finite, non-zero number" if keyword == "RescaleSlope" else "a finite number"
        raise InvalidImageError(f"{source}: DICOM {keyword} {number!r} is not usable; expected {expected}")
    return number


def mono_to_display(
    ds: Dataset, arr: np.ndarray, source: str, notes: list[str], *, reduce_by: int = 1
) -> np.ndarray:
    """Monochrome stored values → displayed float32 [0, 1] (steps 1-5 of :mod:`cxrkit.io.dicom`).

    ``reduce_by`` > 1 first averages ``k x k`` blocks of the (masked) stored values.

    Raises
    ------
    InvalidImageError
        Constant image; Rescale Slope / Intercept NaN, infinite or (slope) zero, or overflowing float32.
    """
    bits = _int_or_none(ds.get("BitsStored")) or arr.dtype.itemsize * 8
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    if not signed and arr.dtype.kind in "ui" and 0 < bits < arr.dtype.itemsize * 8:
        limit = (1 << bits) - 1
        if int(arr.max()) > limit:
            arr = arr & np.asarray(limit, dtype=arr.dtype)
            notes.append(f"bits above BitsStored={bits} masked")
    arr = _reduce(arr, reduce_by, notes)
    check_not_constant(arr, source)
    content = _content_mask(ds, arr, notes)
    transformed = False
    if ds.get("ModalityLUTSequence"):
        arr = apply_modality_lut(arr, ds)
        notes.append("Modality LUT Sequence applied")
        transformed = True
    elif ds.get("RescaleSlope") is not None or ds.get("RescaleIntercept") is not None:
        slope = _rescale_value(ds, "RescaleSlope", 1.0, source)
        intercept = _rescale_value(ds, "RescaleIntercept", 0.0, source)
        if (slope, intercept) != (1.0, 0.0):
            with np.errstate(over="ignore", invalid="ignore"):
                arr = arr.astype(np.float32)
                arr *= np.float32(slope)
                arr += np.float32(intercept)
            if not np.isfinite(arr).all():
                raise InvalidImageError(
                    f"{source}: DICOM RescaleSlope {slope:g} / RescaleIntercept {intercept:g} overflow float32 "
                    "pixel values (beyond 3.4e38); expected a rescale to physical units"
                )
            notes.append(f"rescale slope {slope:g} / intercept {intercept:g} applied")
            transformed = True
    full_range = None
    if not transformed and not signed and bits <= 8:
        full_range = (0.0, float((1 << bits) - 1))
    out = _voi(ds, arr, notes, full_range, content)
    if _str(ds, "PhotometricInterpretation").upper() == "MONOCHROME1":
        np.subtract(np.float32(1.0), out, out=out)
        notes.append("warning: MONOCHROME1 inverted so that lungs are dark")
    return out


def color_to_display(
    ds: Dataset, arr: np.ndarray, source: str, notes: list[str], *, reduce_by: int = 1
) -> np.ndarray:
    """Color stored values (RGB, YBR as decoded by pydicom, PALETTE COLOR) → gray float32 [0, 1].

    ``reduce_by`` > 1 averages ``k x k`` blocks (after a palette is expanded).
    """
    photometric = _str(ds, "PhotometricInterpretation").upper()
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        notes.append("PALETTE COLOR expanded to RGB")
    arr = _reduce(arr, reduce_by, notes)
    if arr.ndim != 3 or arr.shape[-1] < 3:
        raise UnsupportedImageError(f"{source}: {photometric} pixel data of shape {arr.shape}; expected (H, W, 3)")
    gray = rgb_to_gray(arr, notes, what=f"color DICOM ({photometric})")
    lo, hi = check_not_constant(gray, source)
    top = float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else hi
    bottom = 0.0 if arr.dtype.kind in "ui" else lo
    return scale_to_unit(gray, bottom, top)
