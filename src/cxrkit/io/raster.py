"""PNG, JPEG, TIFF, BMP and other Pillow formats → displayed gray pixels.

Rules (each conversion leaves a note in :attr:`cxrkit.types.ImageMeta.notes`):

* 8-bit gray: ``value / 255`` (no windowing: the file is already what a viewer shows).
* 16-bit gray (``I;16``): ``value / (2**bits - 1)`` where ``bits`` comes from the PNG ``sBIT`` chunk when
  present, else 16; when no ``sBIT`` is given and every value is below 4096 the data is taken as 12-bit
  (the usual way 12-bit detectors are stored in 16-bit PNG) and scaled by 4095.
* RGB/RGBA/palette/LA/CMYK: to gray (one channel when all are equal, else BT.601 luminance); alpha ignored.
* 32-bit integer and float images: min-max over the actual values.
* EXIF orientation 2-8: applied (the image is transposed as a viewer would show it).

The pixel count is checked from the header before any pixel is decoded; Pillow's own decompression-bomb
warning and error become :class:`~cxrkit.errors.UnsupportedImageError`; truncated or corrupt files become
:class:`~cxrkit.errors.InvalidImageError`. Images over ``max_output_pixels`` are reduced while decoding: JPEG
by the decoder's DCT scaling (``Image.draft``: the full-size image is never held), the rest by
``Image.reduce`` (box average) right after Pillow's decode, before any numpy or float32 copy.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
import zlib
from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage
from PIL import ImageChops, ImageFile, ImageOps, UnidentifiedImageError

from cxrkit.errors import InvalidImageError, UnsupportedImageError
from cxrkit.io._checks import (
    block_reduce,
    check_not_constant,
    check_pixel_count,
    reduce_factor,
    rgb_to_gray,
    scale_to_unit,
    uint8_to_unit,
    uint16_to_unit,
)
from cxrkit.types import ImageMeta

log = logging.getLogger(__name__)

__all__ = ["read_raster", "read_raster_header", "PIL_FORMATS"]

#: our format name -> Pillow format name (the only decoder Pillow may use for that file).
PIL_FORMATS = {
    "png": "PNG",
    "jpeg": "JPEG",
    "tiff": "TIFF",
    "bmp": "BMP",
    "gif": "GIF",
    "webp": "WEBP",
    "jpeg2000": "JPEG2000",
}

# what Pillow's plugins raise on corrupt or truncated files (they parse headers in Python)
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    zlib.error,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    AttributeError,
    ZeroDivisionError,
    OverflowError,
    NotImplementedError,
)
_EXIF_ORIENTATION = 0x0112


def _open(fp: BinaryIO, fmt: str, source: str, max_pixels: int | None = None) -> PILImage.Image:
    """``PIL.Image.open`` restricted to one format, with bombs and corrupt headers turned into our errors.

    Pillow warns (``DecompressionBombWarning``) above ``PIL.Image.MAX_IMAGE_PIXELS`` and raises above twice
    that. Below Pillow's limit our own ``max_pixels`` check decides; only when ``max_pixels`` is above it is
    Pillow's warning turned into an error, inside ``warnings.catch_warnings`` (process-wide filters, so the
    default path avoids it).
    """
    limit = PILImage.MAX_IMAGE_PIXELS
    try:
        if max_pixels is not None and limit is not None and max_pixels > limit:
            with warnings.catch_warnings():
                warnings.simplefilter("error", PILImage.DecompressionBombWarning)
                return PILImage.open(fp, formats=[PIL_FORMATS[fmt]])
        return PILImage.open(fp, formats=[PIL_FORMATS[fmt]])
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise UnsupportedImageError(f"{source}: {exc}; refusing to decode it (decompression bomb guard)") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError(f"{source}: not a readable {fmt.upper()} file (corrupt or truncated header)") from exc
    except _DECODE_ERRORS as exc:
        raise InvalidImageError(f"{source}: corrupt {fmt.upper()} header: {exc}") from exc


def png_integrity_error(data: bytes) -> str | None:
    """Why a PNG's chunk structure is broken (truncated, CRC mismatch, no IEND), or None when it is intact.

    Pillow neither checks chunk CRCs nor always reaches zlib's checksum when it decodes, so a flipped byte
    in the pixel data can decode to a silently wrong image; this check (about 0.4 ms for 600 KB) catches it.
    """
    view = memoryview(data)
    pos = 8
    while pos + 12 <= len(data):
        length, ctype = struct.unpack(">I4s", view[pos : pos + 8])
        end = pos + 12 + length
        name = ctype.decode("latin-1")
        if end > len(data):
            return f"truncated file: chunk {name!r} runs past the end"
        (crc,) = struct.unpack(">I", view[end - 4 : end])
        if zlib.crc32(view[pos + 4 : end - 4]) != crc:
            return f"CRC mismatch in chunk {name!r} (corrupt data)"
        if ctype == b"IEND":
            return None
        pos = end
    return "truncated file: no IEND chunk"


def _png_sbit(data: bytes) -> tuple[int, ...] | None:
    """Significant bits from a PNG ``sBIT`` chunk (chunks before the first IDAT), or None."""
    pos = 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if ctype in (b"IDAT", b"IEND"):
            return None
        if ctype == b"sBIT":
            return tuple(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return None


def _equal_channels_gray(im: PILImage.Image, notes: list[str]) -> np.ndarray | None:
    """Gray of an RGB/RGBA image whose color channels are all equal (common: NIH, Kermany), else None.

    Checked with Pillow's C band operations, about twice as fast as comparing numpy channel views.
    """
    if im.mode not in ("RGB", "RGBA"):
        return None
    bands = im.split()
    r, g, b = bands[:3]
    if ImageChops.difference(r, g).getbbox() is not None or ImageChops.difference(r, b).getbbox() is not None:
        return None
    if im.mode == "RGBA":
        opaque = bands[3].getextrema() == (255, 255)
        notes.append("opaque alpha channel dropped" if opaque else "alpha channel ignored (image not fully opaque)")
    notes.append(f"{im.mode} with identical channels: took one channel as gray")
    return np.asarray(r)


def _bits_of_mode(mode: str) -> int | None:
    if mode == "1":
        return 1
    if mode.startswith("I;16"):
        return 16
    if mode in ("I", "F"):
        return 32
    return 8


def read_raster_header(data: bytes, fmt: str, source: str) -> ImageMeta:
    """Metadata of a Pillow-readable file without decoding its pixels."""
    im = _open(io.BytesIO(data), fmt, source)
    with im:
        return _meta(im.mode, fmt, source, [], _bits_of_mode(im.mode), int(im.height), int(im.width))


def _reduce_image(im: PILImage.Image, k: int, notes: list[str]) -> tuple[PILImage.Image, int]:
    """``im`` reduced ``k`` times by Pillow (box average), or ``(im, k)`` unchanged when its mode has no
    ``reduce`` (16-bit gray: reduced later on the array). The remaining factor is returned."""
    if k <= 1:
        return im, 1
    if im.mode == "1":
        im = im.convert("L")
    try:
        small = im.reduce(k)
    except ValueError:  # "image has wrong mode" (I;16 ...)
        return im, k
    notes.append(
        f"reduced {k}x while decoding ({im.height}x{im.width} -> {small.height}x{small.width}, box average) "
        "to bound memory"
    )
    im.close()
    return small, 1


def read_raster(
    data: bytes, fmt: str, source: str, *, max_pixels: int, max_output_pixels: int | None = None
) -> tuple[np.ndarray, ImageMeta]:
    """Decode a Pillow-readable file held in ``data``.

    ``max_output_pixels``: larger images are reduced by an integer factor while decoding (noted); None: never.

    Returns
    -------
    pixels : numpy.ndarray
        float32 ``(H, W)`` in [0, 1], dark lungs (raster files are stored as displayed).
    meta : ImageMeta
        ``format`` is ``fmt``; ``photometric`` is the Pillow mode ("L", "I;16", "RGB", ...).
    """
    im = _open(io.BytesIO(data), fmt, source, max_pixels)
    rows, cols = int(im.height), int(im.width)
    check_pixel_count(rows, cols, max_pixels, source)
    if fmt == "png":
        problem = png_integrity_error(data)
        if problem is not None:
            im.close()
            raise InvalidImageError(f"{source}: corrupt PNG: {problem}")
    try:
        n_frames = int(getattr(im, "n_frames", 1))
    except _DECODE_ERRORS as exc:
        im.close()
        raise InvalidImageError(f"{source}: corrupt {fmt.upper()} structure: {exc}") from exc
    if n_frames > 1 and fmt != "png":  # an animated PNG shows its first frame
        im.close()
        raise UnsupportedImageError(f"{source}: {fmt.upper()} with {n_frames} frames; expected a single image")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is enabled in this process: truncated files may pass")
    mode = im.mode
    notes: list[str] = []
    left = 1  # reduction factor still to apply on the array
    try:
        if fmt == "jpeg" and reduce_factor(rows, cols, max_output_pixels) > 1:
            k = reduce_factor(rows, cols, max_output_pixels)
            im.draft(None, (-(-cols // k), -(-rows // k)))  # DCT scaling by 1/2, 1/4 or 1/8, at least that size
            if im.size != (cols, rows):
                notes.append(
                    f"reduced {cols // im.size[0]}x by the JPEG decoder (DCT scaling: {rows}x{cols} -> "
                    f"{im.size[1]}x{im.size[0]}) to bound memory"
                )
        im.load()
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1) if fmt in ("jpeg", "tiff", "png", "webp") else 1
        if orientation in range(2, 9):
            im = ImageOps.exif_transpose(im)
            notes.append(f"EXIF orientation {orientation} applied")
        if mode in ("P", "PA"):
            im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
            notes.append(f"palette image ({mode}) expanded to {im.mode}")
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGB")
            notes.append(f"{mode} converted to RGB")
        im, left = _reduce_image(im, reduce_factor(int(im.height), int(im.width), max_output_pixels), notes)
        arr = _equal_channels_gray(im, notes)
        if arr is None:
            arr = np.asarray(im)
    except _DECODE_ERRORS as exc:
        raise InvalidImageError(f"{source}: truncated or corrupt {fmt.upper()} pixel data: {exc}") from exc
    finally:
        im.close()

    if left > 1:
        reduced = block_reduce(arr, left)
        notes.append(
            f"reduced {left}x while decoding ({arr.shape[0]}x{arr.shape[1]} -> {reduced.shape[0]}x"
            f"{reduced.shape[1]}, block mean) to bound memory"
        )
        arr = reduced
    pixels, bits = _to_unit(arr, mode, im.mode, fmt, data, source, notes)
    if not np.isfinite(pixels).all():  # a last guard: the conversions above keep finite data finite
        raise InvalidImageError(f"{source}: decoding gave NaN or infinite values; expected finite pixels")
    return np.ascontiguousarray(pixels), _meta(mode, fmt, source, notes, bits, rows, cols)


def _to_unit(arr: np.ndarray, mode: str, decoded_mode: str, fmt: str, data: bytes, source: str, notes: list[str]
             ) -> tuple[np.ndarray, int | None]:
    """Decoded array (any Pillow mode's dtype and channels) → float32 ``(H, W)`` in [0, 1] and its bits."""
    bits = _bits_of_mode(mode)
    channels_dtype = arr.dtype if arr.ndim == 3 else None
    if arr.ndim == 3:
        if arr.shape[2] in (2,):  # LA: gray + alpha
            if not (arr[..., 1] == 255).all():
                notes.append("alpha channel ignored (image not fully opaque)")
            arr = np.ascontiguousarray(arr[..., 0])
        else:
            if arr.shape[2] == 4 and not (arr[..., 3] == 255).all():
                notes.append("alpha channel ignored (image not fully opaque)")
            elif arr.shape[2] == 4:
                notes.append("opaque alpha channel dropped")
            arr = rgb_to_gray(arr, notes, what=decoded_mode if decoded_mode in ("RGB", "RGBA") else "color")
    check_not_constant(arr, source)
    if arr.dtype == np.uint8:
        pixels = uint8_to_unit(arr)
    elif arr.dtype == np.bool_:
        pixels = arr.astype(np.float32)
    elif arr.dtype.kind == "u" and arr.dtype.itemsize == 2:
        sbit = _png_sbit(data) if fmt == "png" else None
        pixels, bits = uint16_to_unit(arr, notes, sbit[0] if sbit else None)
    elif arr.dtype.kind == "f" and channels_dtype == np.uint8:
        pixels = scale_to_unit(arr, 0.0, 255.0)  # luminance mix of 8-bit channels
    elif mode == "I" and int(arr.min()) >= 0 and int(arr.max()) <= 65535:  # 16-bit data in a 32-bit mode
        pixels, bits = uint16_to_unit(arr.astype(np.uint16), notes, None)
    else:  # 32-bit int "I" or float "F" images: no declared range
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise InvalidImageError(f"{source}: float image contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        notes.append(f"{mode} image scaled by its actual range [{lo:g}, {hi:g}]")
        pixels = scale_to_unit(arr, lo, hi)
    return pixels, bits


def _meta(
    mode: str, fmt: str, source: str, notes: list[str], bits: int | None, rows: int, cols: int
) -> ImageMeta:
    return ImageMeta(
        source=source,
        format=fmt,
        original_size=(rows, cols),
        photometric=mode,
        bits_stored=bits,
        notes=tuple(notes),
    )
