"""Private helpers: references to masks and their loading (PNG files, members of zip files, RLE strings)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrkit.errors import DataFormatError, InvalidImageError


@dataclass(frozen=True)
class ZipMember:
    """A mask image stored inside a zip archive."""

    archive: str
    member: str


@dataclass(frozen=True)
class RleMask:
    """A run-length encoded mask (SIIM-ACR layout: relative start/length pairs, column-major).

    Attributes:
        encodings: one or more RLE strings; the mask is their union.
        height, width: size of the image the mask belongs to.
    """

    encodings: tuple[str, ...]
    height: int
    width: int


#: What a dataset keeps per mask: a file path, a zip member or an RLE.
MaskRef = str | ZipMember | RleMask


def decode_rle(encoding: str, height: int, width: int) -> np.ndarray:
    """Decode one SIIM-ACR RLE string to a bool ``(height, width)`` mask.

    The SIIM format lists pairs ``start length`` where each start is relative to the end of the previous run,
    over the pixels in column-major (Fortran) order. ``"-1"`` or an empty string is an empty mask.
    """
    text = str(encoding).strip()
    flat = np.zeros(height * width, dtype=bool)
    if text in ("", "-1"):
        return flat.reshape(width, height).T
    try:
        nums = np.array(text.split(), dtype=np.int64)
    except ValueError as exc:
        raise DataFormatError(f"RLE must be integers separated by spaces; got {text[:40]!r}...") from exc
    if len(nums) % 2:
        raise DataFormatError(f"RLE needs start/length pairs; got {len(nums)} numbers")
    starts, lengths = nums[0::2], nums[1::2]
    if (starts < 0).any() or (lengths < 0).any():
        raise DataFormatError("RLE starts and lengths must be non-negative")
    abs_starts = np.cumsum(starts + np.concatenate([[0], lengths[:-1]]))
    ends = abs_starts + lengths
    if len(ends) and ends.max() > flat.size:
        raise DataFormatError(f"RLE runs past the end of a {height}x{width} image")
    for s, e in zip(abs_starts, ends):
        flat[s:e] = True
    return flat.reshape(width, height).T


def mask_boxes(mask: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Boxes ``(x_min, y_min, x_max, y_max)`` (pixel edges, so a one-pixel region is 1 wide) of the
    8-connected regions of a bool mask, in row-major order of their first pixel."""
    from scipy import ndimage

    lab, n = ndimage.label(np.asarray(mask, dtype=bool), structure=np.ones((3, 3), dtype=bool))
    out = []
    for sl in ndimage.find_objects(lab):
        if sl is None:
            continue
        rows, cols = sl
        out.append((float(cols.start), float(rows.start), float(cols.stop), float(rows.stop)))
    return out


def encode_rle(mask: np.ndarray) -> str:
    """Inverse of :func:`decode_rle` ("-1" for an empty mask)."""
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    padded = np.concatenate([[False], flat, [False]])
    change = np.flatnonzero(padded[1:] != padded[:-1])
    if not len(change):
        return "-1"
    starts, ends = change[0::2], change[1::2]
    lengths = ends - starts
    rel = starts - np.concatenate([[0], ends[:-1]])
    return " ".join(f"{s} {n}" for s, n in zip(rel, lengths))


def load_mask(ref: MaskRef, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Load a mask reference as bool ``(H, W)`` (pixels above half intensity are True).

    Args:
        ref: the mask's reference.
        shape: ``(rows, columns)`` of the image the mask belongs to; a mask of another size (drawn on the
            original before the local copy was resized) is resized to it with nearest-neighbour sampling.
    """
    mask = _load(ref)
    if shape is not None and mask.shape != tuple(shape):
        from PIL import Image as PILImage

        im = PILImage.fromarray(mask.astype(np.uint8) * 255)
        mask = np.asarray(im.resize((int(shape[1]), int(shape[0])), PILImage.Resampling.NEAREST)) > 127
    return mask


def _load(ref: MaskRef) -> np.ndarray:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if isinstance(ref, RleMask):
        out = np.zeros((ref.height, ref.width), dtype=bool)
        for enc in ref.encodings:
            out |= decode_rle(enc, ref.height, ref.width)
        return out
    try:
        if isinstance(ref, ZipMember):
            with zipfile.ZipFile(ref.archive) as zf:
                data = zf.read(ref.member)
            with PILImage.open(io.BytesIO(data)) as im:
                return np.asarray(im.convert("L")) > 127
        if not Path(ref).is_file():
            raise InvalidImageError(f"mask file not found: {ref}")
        with PILImage.open(ref) as im:
            return np.asarray(im.convert("L")) > 127
    except (UnidentifiedImageError, OSError, KeyError, zipfile.BadZipFile) as exc:
        raise InvalidImageError(f"cannot read mask {ref}: {exc}") from exc
