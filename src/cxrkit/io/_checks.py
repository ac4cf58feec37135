"""Checks and conversions shared by the readers: size limits, degenerate images, gray conversion.

Internal module: the public entry points are in :mod:`cxrkit.io.read`.
"""

from __future__ import annotations

import math

import numpy as np

from cxrkit.errors import InvalidImageError, UnsupportedImageError

#: Default limit on ``rows * columns`` before decoding (a decompression-bomb guard): larger images are refused.
DEFAULT_MAX_PIXELS = 80_000_000

#: Default largest output: images with more pixels (up to :data:`DEFAULT_MAX_PIXELS`) are reduced by an integer
#: factor while decoding, so that the float32 result and its conversions stay within a bounded memory
#: (4096 x 4096; the largest flat-panel radiographs, 43 cm at 0.1 mm, are 4300 x 4300 and are halved).
DEFAULT_MAX_OUTPUT_PIXELS = 4096 * 4096

#: Default cap on the inflated size of a Deflated DICOM data set (bytes): a 67 M-pixel 16-bit image fits;
#: a deflate bomb stops there instead of inflating without bound.
DEFAULT_MAX_INFLATED_BYTES = 128 * 2**20

#: Smallest accepted side, in pixels. Anything smaller cannot be a radiograph (the NIH 64 px copies pass).
MIN_SIDE = 8

_FLOAT32_MAX = float(np.finfo(np.float32).max)

# ITU-R BT.601 luma weights, the ones Pillow's ``convert("L")`` uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def check_pixel_count(rows: int, cols: int, max_pixels: int, source: str) -> None:
    """Reject a matrix whose size is degenerate or over ``max_pixels``, before anything is decoded.

    Raises
    ------
    InvalidImageError
        ``rows`` or ``cols`` below :data:`MIN_SIDE` (e.g. a 1x1 image).
    UnsupportedImageError
        ``rows * cols > max_pixels``.
    """
    if rows < MIN_SIDE or cols < MIN_SIDE:
        raise InvalidImageError(
            f"{source}: image is {rows}x{cols} pixels; expected at least {MIN_SIDE}x{MIN_SIDE} for a radiograph"
        )
    if rows * cols > max_pixels:
        raise UnsupportedImageError(
            f"{source}: image is {rows}x{cols} = {rows * cols:,} pixels, over the limit of {max_pixels:,} "
            "(max_pixels); refusing to decode it (possible decompression bomb)"
        )


def reduce_factor(rows: int, cols: int, max_output_pixels: int | None) -> int:
    """Smallest integer ``k >= 1`` such that ``ceil(rows / k) * ceil(cols / k) <= max_output_pixels``.

    ``max_output_pixels`` None (or a size already within it) gives 1: no reduction.

    >>> reduce_factor(7000, 7000, 4096 * 4096), reduce_factor(2048, 2048, 4096 * 4096)
    (2, 1)
    """
    if max_output_pixels is None or rows * cols <= max_output_pixels:
        return 1
    if max_output_pixels < 1:
        raise ValueError(f"max_output_pixels must be at least 1 (or None), got {max_output_pixels!r}")
    k = max(2, math.isqrt((rows * cols) // max_output_pixels))
    while -(-rows // k) * -(-cols // k) > max_output_pixels:
        k += 1
    return k


def block_reduce(arr: np.ndarray, k: int) -> np.ndarray:
    """Mean of each ``k x k`` block of ``arr`` (rows/columns beyond the last whole block dropped).

    Works on ``(H, W)`` or ``(H, W, C)`` arrays; integer input gives rounded values of the same dtype (so
    LUTs and masks still apply), float input float32. Memory: one float32 array of the output size.
    """
    h, w = arr.shape[0] // k, arr.shape[1] // k
    acc = np.zeros((h, w) + arr.shape[2:], dtype=np.float32)
    for i in range(k):
        for j in range(k):
            acc += arr[i : h * k : k, j : w * k : k]
    acc *= np.float32(1.0 / (k * k))
    if arr.dtype.kind in "uib":
        if arr.dtype.kind == "b":
            return acc >= np.float32(0.5)
        np.rint(acc, out=acc)
        return acc.astype(arr.dtype)
    return acc


def check_not_constant(arr: np.ndarray, source: str) -> tuple[float, float]:
    """Return ``(min, max)`` of ``arr``; raise :class:`InvalidImageError` when every pixel is equal."""
    lo = float(arr.min())
    hi = float(arr.max())
    if lo == hi:
        raise InvalidImageError(
            f"{source}: constant image (every pixel equals {lo:g}); expected a radiograph with contrast, "
            "windowing a constant image is meaningless"
        )
    return lo, hi


def uint8_to_unit(arr: np.ndarray) -> np.ndarray:
    """uint8 → float32 ``value / 255`` (bit-identical to ``arr.astype(np.float32) / 255``), one pass in place."""
    out = arr.astype(np.float32)
    np.divide(out, np.float32(255.0), out=out)
    return out


def rgb_to_gray(arr: np.ndarray, notes: list[str], what: str = "RGB") -> np.ndarray:
    """Gray ``(H, W)`` from ``(H, W, 3+)`` color; exact copy of one channel when the channels are equal.

    Extra channels (alpha) are ignored. The dtype of a channel copy is kept; a luminance mix is float32.
    """
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    if np.array_equal(r, g) and np.array_equal(r, b):
        notes.append(f"{what} with identical channels: took one channel as gray")
        return np.ascontiguousarray(r)
    notes.append(f"{what} converted to gray by ITU-R BT.601 luminance (0.299 R + 0.587 G + 0.114 B)")
    return np.tensordot(arr[..., :3].astype(np.float32, copy=False), _LUMA, axes=([-1], [0]))


def scale_to_unit(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``(arr - lo) / (hi - lo)`` as float32, clipped to [0, 1] (one float32 copy, then in place)."""
    if lo == 0.0 and arr.dtype == np.uint8 and hi == 255.0:
        return uint8_to_unit(arr)
    span = float(hi) - float(lo)
    if abs(lo) > _FLOAT32_MAX / 2 or abs(hi) > _FLOAT32_MAX / 2:  # float32 arithmetic would overflow to inf/NaN
        wide = (arr.astype(np.float64) - float(lo)) / span
        return np.clip(wide, 0.0, 1.0).astype(np.float32)
    out = arr.astype(np.float32, copy=True)
    if lo != 0.0:
        out -= np.float32(lo)
    np.divide(out, np.float32(span), out=out)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def uint16_to_unit(arr: np.ndarray, notes: list[str], bits: int | None = None) -> tuple[np.ndarray, int]:
    """Scale unsigned 16-bit gray to [0, 1] by ``2**bits - 1``.

    ``bits`` is the declared significant bit depth (PNG ``sBIT``, DICOM BitsStored...). Without it, data whose
    values all fit in 12 bits is taken as 12-bit (how 12-bit detectors are usually stored in 16-bit
    containers) and scaled by 4095; anything else by 65535. The choice is noted.
    """
    if bits is not None and 1 <= bits <= 16:
        notes.append(f"16-bit gray with {bits} significant bits: scaled by {2**bits - 1}")
    elif int(arr.max()) < 4096:
        bits = 12
        notes.append("16-bit gray whose values all fit in 12 bits (no bit depth declared): scaled by 4095")
    else:
        bits = 16
        notes.append("16-bit gray: scaled by 65535")
    return scale_to_unit(arr, 0.0, float(2**bits - 1)), bits
