"""One entry point for reading radiographs: :func:`read_image` (files or bytes), :func:`image_from_array`.

The format is detected from the file's first bytes, never from its extension: DICOM (``DICM`` at offset 128,
or a preamble-less DICOM data set starting with group 0002/0008 that pydicom can parse), PNG, JPEG, TIFF,
BMP, GIF, WebP, JPEG 2000. Every failure is a :class:`~cxrkit.errors.InvalidImageError` (not an image, or a
broken one) or :class:`~cxrkit.errors.UnsupportedImageError` (a readable image cxrkit does not handle), with
the path and what was expected.
"""

from __future__ import annotations

import io
import os
import string
from pathlib import Path

import numpy as np

from cxrkit.errors import InvalidImageError, unknown_name
from cxrkit.io import raster as _raster
from cxrkit.io._checks import (
    DEFAULT_MAX_INFLATED_BYTES,
    DEFAULT_MAX_OUTPUT_PIXELS,
    DEFAULT_MAX_PIXELS,
    check_not_constant,
    check_pixel_count,
    rgb_to_gray,
    scale_to_unit,
    uint8_to_unit,
    uint16_to_unit,
)
from cxrkit.types import Image, ImageMeta

__all__ = [
    "read_image",
    "read_header",
    "image_from_array",
    "sniff_format",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_OUTPUT_PIXELS",
    "DEFAULT_MAX_INFLATED_BYTES",
]

PathOrBytes = str | os.PathLike | bytes | bytearray | memoryview

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jpeg2000"),
    (b"\xff\x4f\xff\x51", "jpeg2000"),
)
_EXPLICIT_VRS = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB", b"OD", b"OF",
    b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI", b"UL", b"UN",
    b"UR", b"US", b"UT", b"UV",
}
_HEAD = 132
_EXPECTED = "expected a DICOM, PNG, JPEG, TIFF or BMP radiograph"


def _looks_like_raw_dicom(head: bytes) -> bool:
    """A data set without preamble: a first tag in group 0002 or 0008 (little endian), plausible VR/length."""
    if len(head) < 8:
        return False
    group = int.from_bytes(head[0:2], "little")
    element = int.from_bytes(head[2:4], "little")
    if group not in (0x0002, 0x0008) or element > 0x0020:
        return False
    if head[4:6] in _EXPLICIT_VRS:
        return True
    length = int.from_bytes(head[4:8], "little")  # implicit VR: a 4-byte length
    return 0 < length < 1024


def sniff_format(head: bytes) -> str | None:
    """Format name from a file's first 132 bytes ("dicom", "dicom-raw", "png", "jpeg", ...), or None."""
    if len(head) >= _HEAD and head[128:132] == b"DICM":
        return "dicom"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if _looks_like_raw_dicom(head):
        return "dicom-raw"
    if head[:2] == b"BM" and len(head) >= 18:
        return "bmp"
    return None


def _describe_unknown(head: bytes) -> str:
    printable = set(string.printable.encode())
    if head and all(b in printable for b in head):
        return "looks like a text file"
    if b"\x00" not in head:
        for cut in range(4):  # the 132-byte head may end inside a multi-byte UTF-8 character
            try:
                head[: len(head) - cut].decode("utf-8")
                return "looks like a text file"
            except UnicodeDecodeError:
                continue
    return f"unrecognized first bytes {head[:8].hex(' ')}"


def _open_source(src: PathOrBytes) -> tuple[str, bytes, Path | None]:
    """``(source name, first bytes, path or None)``; file-system problems become InvalidImageError."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise InvalidImageError(f"<bytes>: empty input (0 bytes); {_EXPECTED}")
        return "<bytes>", data[:_HEAD], None
    if not isinstance(src, (str, os.PathLike)):
        raise TypeError(f"read_image expects a path or bytes, got {type(src).__name__}")
    path = Path(src)
    source = str(path)
    try:
        if path.is_dir():
            raise InvalidImageError(f"{source}: is a directory; {_EXPECTED} file")
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except FileNotFoundError as exc:
        raise InvalidImageError(f"{source}: no such file; {_EXPECTED}") from exc
    except PermissionError as exc:
        raise InvalidImageError(f"{source}: permission denied") from exc
    except OSError as exc:
        raise InvalidImageError(f"{source}: cannot read file: {exc}") from exc
    if not head:
        raise InvalidImageError(f"{source}: empty file (0 bytes); {_EXPECTED}")
    return source, head, path


def _read_all(src: PathOrBytes, path: Path | None, source: str) -> bytes:
    if path is None:
        return bytes(src)  # type: ignore[arg-type]
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidImageError(f"{source}: cannot read file: {exc}") from exc


def _dicom_src(src: PathOrBytes, path: Path | None) -> Path | io.BytesIO:
    return path if path is not None else io.BytesIO(bytes(src))  # type: ignore[arg-type]


def _detect(src: PathOrBytes) -> tuple[str, str, Path | None]:
    source, head, path = _open_source(src)
    fmt = sniff_format(head)
    if fmt is None:
        raise InvalidImageError(f"{source}: not an image ({_describe_unknown(head)}); {_EXPECTED}")
    return source, fmt, path


def read_image(
    src: PathOrBytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_output_pixels: int | None = DEFAULT_MAX_OUTPUT_PIXELS,
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES,
) -> Image:
    """Read a radiograph as a radiologist would see it.

    Parameters
    ----------
    src : str, os.PathLike or bytes
        Path of a DICOM (CR/DX/DR; uncompressed, JPEG, JPEG-LS, JPEG 2000, RLE), PNG, JPEG, TIFF or BMP
        file, or the file's bytes. The format is detected from the content, not the extension.
    max_pixels : int
        Refuse images with more than ``rows * columns`` pixels, checked from the header before decoding.
    max_output_pixels : int or None
        Images with more pixels than this (default 4096 x 4096) are reduced by the smallest integer factor
        ``k`` that fits, while decoding (JPEG: by the decoder's DCT scaling; others: block mean), so that
        memory stays bounded (under 1 GB for any file under 32 MB, measured in ``docs/security.md``).
        ``meta.original_size`` keeps the stored size, ``meta.pixel_spacing_mm`` is multiplied by ``k`` and
        a note says so. None: never reduce.
    max_inflated_bytes : int
        Cap on the inflated size of a Deflated-transfer-syntax DICOM data set (default 128 MiB); a deflate
        bomb is refused there, before pydicom parses anything.

    Returns
    -------
    Image
        ``pixels``: float32 ``(H, W)`` in [0, 1], 0 = black (lungs), 1 = white (bone); DICOM windowing /
        VOI LUT, rescale, MONOCHROME1 inversion and bit-depth scaling applied (see :mod:`cxrkit.io.dicom`
        and :mod:`cxrkit.io.raster` for the exact rules). ``meta``: :class:`~cxrkit.types.ImageMeta`, with
        every conversion listed in ``meta.notes``.

    Raises
    ------
    InvalidImageError
        Missing file, directory, empty, truncated or corrupt file, not an image, DICOM without pixel data,
        image smaller than 8x8, constant image.
    UnsupportedImageError
        CT/MR/US/NM/PT and other non-radiograph modalities, multi-frame, DICOMDIR and SR objects,
        unhandled photometric interpretation or transfer syntax, over ``max_pixels``, a Deflated data set over
        ``max_inflated_bytes``.

    Every exception raised for a bad file is one of these two (both :class:`~cxrkit.errors.CxrkitError`);
    ``tests/io/test_io_fuzz.py`` fuzzes the readers to keep it so. pydicom's warnings are re-emitted without
    header values (no dates, ages or names in logs).

    Examples
    --------
    >>> img = read_image("tests/fixtures/io/RG1_J2KI")  # doctest: +SKIP
    >>> img.pixels.dtype, img.meta.photometric
    (dtype('float32'), 'MONOCHROME1')
    """
    source, fmt, path = _detect(src)
    if fmt in ("dicom", "dicom-raw"):
        from cxrkit.io import dicom as _dicom  # pydicom only when a DICOM comes (0.1-0.2 s of import)

        pixels, meta = _dicom.read_dicom(
            _dicom_src(src, path),
            source,
            max_pixels=max_pixels,
            force=(fmt == "dicom-raw"),
            max_output_pixels=max_output_pixels,
            max_inflated_bytes=max_inflated_bytes,
        )
    else:
        pixels, meta = _raster.read_raster(
            _read_all(src, path, source), fmt, source, max_pixels=max_pixels, max_output_pixels=max_output_pixels
        )
    return Image(pixels=pixels, meta=meta)


def read_header(src: PathOrBytes, *, max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES) -> ImageMeta:
    """Metadata of an image file without decoding its pixels (fast; for catalogs and ``cxrkit info``).

    DICOM headers are checked like :func:`read_image` does (modality, frames, photometric), except for the
    pixel-count limit. Raises the same errors as :func:`read_image` for bad files (a Deflated DICOM must be
    inflated to read its header: the same ``max_inflated_bytes`` cap applies).
    """
    source, fmt, path = _detect(src)
    if fmt in ("dicom", "dicom-raw"):
        from cxrkit.io import dicom as _dicom

        return _dicom.read_dicom_header(
            _dicom_src(src, path), source, force=(fmt == "dicom-raw"), max_inflated_bytes=max_inflated_bytes
        )
    return _raster.read_raster_header(_read_all(src, path, source), fmt, source)


_PHOTOMETRICS = ("MONOCHROME2", "MONOCHROME1", "RGB", "RGBA")


def _gray_2d(a: np.ndarray, photometric: str, name: str, notes: list[str]) -> np.ndarray:
    """``(H, W)`` gray from ``(H, W)``, ``(H, W, 1)`` or (for RGB/RGBA) ``(H, W, 3|4)``."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[2] in (3, 4) and photometric in ("RGB", "RGBA"):
        dtype = a.dtype
        if a.shape[2] == 4:
            notes.append("alpha channel ignored")
        a = rgb_to_gray(a, notes)
        if a.dtype.kind == "f" and dtype.kind in "ui" and dtype.itemsize == 1:
            a = a / np.float32(255.0)  # luminance mix of 8-bit channels, back to [0, 1] floats
    elif a.ndim != 2:
        hint = "; pass photometric='RGB' for color" if a.ndim == 3 and a.shape[2] in (3, 4) else ""
        raise InvalidImageError(f"{name}: array of shape {a.shape}; expected a 2-D (H, W) gray image{hint}")
    return a


def _array_to_unit(a: np.ndarray, lo: float, hi: float, bits_stored: int | None, notes: list[str]
                   ) -> tuple[np.ndarray, int | None]:
    """float32 pixels in [0, 1] and the significant bits, by dtype (see :func:`image_from_array`)."""
    if a.dtype == np.uint8:
        return uint8_to_unit(a), 8
    if a.dtype == np.bool_:
        return a.astype(np.float32), 1
    if a.dtype == np.uint16:
        return uint16_to_unit(a, notes, bits_stored)
    if a.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        return a.astype(np.float32, copy=False), None
    notes.append(f"{a.dtype} array scaled by its actual range [{lo:g}, {hi:g}]")
    return scale_to_unit(a, lo, hi), bits_stored


def image_from_array(
    arr: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    source: str = "",
    bits_stored: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image:
    """Wrap an in-memory array as an :class:`~cxrkit.types.Image` with the same rules as the file readers.

    Parameters
    ----------
    arr : numpy.ndarray
        ``(H, W)`` gray (or ``(H, W, 1)``), or ``(H, W, 3|4)`` when ``photometric`` is "RGB"/"RGBA".
        uint8 is scaled by 255; uint16 by ``2**bits_stored - 1`` (default: 4095 when every value fits in 12
        bits, else 65535); bool as 0/1; float already in [0, 1] is kept (float32 without a copy); other
        floats and signed or 32-bit integers are min-max scaled (noted).
    photometric : str
        "MONOCHROME2" (0 = black), "MONOCHROME1" (0 = white: inverted), "RGB" or "RGBA".
    source : str
        Recorded in ``meta.source``.
    bits_stored : int, optional
        Significant bits of integer data.
    max_pixels : int
        Size limit, as in :func:`read_image`.

    Returns
    -------
    Image
        float32 ``(H, W)`` pixels in [0, 1], ``meta.format == "array"``.

    Raises
    ------
    InvalidImageError
        Wrong number of dimensions, non-numeric dtype, NaN or infinite values, smaller than 8x8, constant.
    UnknownNameError
        ``photometric`` is not one of the four names above.
    """
    name = source or "<array>"
    if photometric not in _PHOTOMETRICS:
        raise unknown_name("photometric interpretation", photometric, _PHOTOMETRICS)
    a = np.asarray(arr)
    if a.dtype.kind not in "biuf":
        raise InvalidImageError(f"{name}: array of dtype {a.dtype}; expected a numeric (bool/int/float) array")
    notes: list[str] = []
    a = _gray_2d(a, photometric, name, notes)
    check_pixel_count(int(a.shape[0]), int(a.shape[1]), max_pixels, name)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InvalidImageError(f"{name}: array contains NaN or infinite values; expected finite pixels")
    lo, hi = check_not_constant(a, name)
    pixels, bits = _array_to_unit(a, lo, hi, bits_stored, notes)
    if photometric == "MONOCHROME1":
        pixels = np.float32(1.0) - pixels
        notes.append("warning: MONOCHROME1 inverted so that lungs are dark")
    meta = ImageMeta(
        source=source,
        format="array",
        original_size=(int(a.shape[0]), int(a.shape[1])),
        photometric=photometric,
        bits_stored=bits,
        notes=tuple(notes),
    )
    return Image(pixels=np.ascontiguousarray(pixels, dtype=np.float32), meta=meta)
