"""PNG output: the displayed image as an 8-bit gray PNG, written atomically (:mod:`cxrkit.fs`)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from cxrkit.errors import InvalidImageError, unknown_name
from cxrkit.fs import atomic_write_bytes
from cxrkit.types import Image

__all__ = ["write_png", "png_bytes"]


#: zlib settings of overlay PNGs, chosen by measurement (benchmarks/png_encode_bench.py, 1024 px RGB overlays
#: of NIH films): level 1 with the run-length strategy after the PNG "Up" row filter encodes about 8x faster
#: than Pillow's default (a filter tried per row, level 6), for files about 1.1x larger. Lossless either way.
OVERLAY_COMPRESS_LEVEL = 1
OVERLAY_COMPRESS_TYPE = zlib.Z_RLE
ENCODERS = ("up", "pillow")
_COLOR_TYPE = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (gray, RGB, RGBA)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _encode_up(a: np.ndarray, level: int, strategy: int) -> bytes:
    """8-bit PNG with every row filtered "Up" (PNG filter type 2: the difference to the row above), computed by
    numpy in one pass, then deflated: Pillow picks a filter per row by trying them all, which costs more than
    the compression at level 1."""
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    rows = a.reshape(h, w * c)
    filtered = np.empty((h, w * c + 1), dtype=np.uint8)
    filtered[:, 0] = 2
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps modulo 256, as PNG wants
    comp = zlib.compressobj(level, zlib.DEFLATED, 15, 8, strategy)
    idat = comp.compress(filtered.data) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPE[c], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_bytes(array: np.ndarray, *, compress_level: int = OVERLAY_COMPRESS_LEVEL,
              compress_type: int = OVERLAY_COMPRESS_TYPE, encoder: str = "up") -> bytes:
    """Encode a uint8 ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` array as PNG bytes (no file).

    ``encoder`` "up" (default: the "Up" row filter + zlib, see :data:`OVERLAY_COMPRESS_LEVEL`) or "pillow"
    (Pillow's encoder: a filter chosen per row). ``compress_level`` (zlib 0-9) and ``compress_type`` (a zlib
    strategy) apply to both; ``encoder="pillow", compress_level=6, compress_type=zlib.Z_DEFAULT_STRATEGY`` is
    Pillow's default.

    Raises:
        InvalidImageError: not uint8, or not 2-D / 3-D with 3 or 4 channels, or empty.
        UnknownNameError: an unknown ``encoder``.
    """
    a = np.ascontiguousarray(array)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise InvalidImageError(f"PNG output needs a non-empty uint8 (H, W), (H, W, 3) or (H, W, 4) array, got "
                                f"{a.dtype} {a.shape}")
    if encoder == "up":
        return _encode_up(a, compress_level, compress_type)
    if encoder != "pillow":
        raise unknown_name("PNG encoder", encoder, ENCODERS)
    buf = io.BytesIO()
    PILImage.fromarray(a).save(buf, format="PNG", optimize=False, compress_level=compress_level,
                               compress_type=compress_type)
    return buf.getvalue()


def write_png(path: str | os.PathLike, image: Image | np.ndarray, *, compress_level: int = 6) -> Path:
    """Write an image as displayed, as an 8-bit gray PNG, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; parent folders are created.
    image : Image or numpy.ndarray
        An :class:`~cxrkit.types.Image`, a float ``(H, W)`` array in [0, 1], or a uint8 ``(H, W)`` array.
    compress_level : int
        zlib level 0-9 (6 = Pillow's default; 1 is faster and larger).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    if isinstance(image, Image):
        pixels = image.to_uint8()
    else:
        arr = np.asarray(image)
        if arr.ndim != 2:
            raise InvalidImageError(f"write_png: array of shape {arr.shape}; expected (H, W)")
        if arr.dtype == np.uint8:
            pixels = arr
        elif arr.dtype.kind == "f":
            if not np.isfinite(arr).all():
                raise InvalidImageError("write_png: array contains NaN or infinite values")
            pixels = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
        else:
            raise InvalidImageError(f"write_png: array of dtype {arr.dtype}; expected float in [0, 1] or uint8")
    buf = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(pixels), mode="L").save(buf, format="PNG", compress_level=compress_level)
    return atomic_write_bytes(path, buf.getvalue())
