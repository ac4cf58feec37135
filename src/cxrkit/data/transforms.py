"""Model input transforms declared by a model card: geometry, intensity convention, channels.

Everything here is arrays in, arrays out. Input pixels follow the :class:`cxrkit.types.Image` convention
(float32 ``(H, W)`` in [0, 1], dark lungs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image as PILImage

from cxrkit.errors import DataFormatError, InvalidImageError, unknown_name

__all__ = ["TransformSpec", "Geometry", "geometry", "resize_geometry", "apply_intensity", "preprocess", "preprocess_batch"]

GEOMETRIES = ("resize", "center_crop", "pad")
INTENSITIES = ("unit", "imagenet", "xrv", "symmetric", "equalized")
RESAMPLES = ("bilinear", "box")
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class TransformSpec:
    """How a model wants its input.

    Attributes:
        size: output side in pixels (square output ``(size, size)``).
        geometry: "resize" (squash to square), "center_crop" (shorter side to ``size``, crop the centre, as
            TorchXRayVision's XRayCenterCrop + resize) or "pad" (longer side to ``size``, pad with black).
        intensity: "unit" ([0, 1]), "symmetric" ([-1, 1]), "xrv" ([-1024, 1024], TorchXRayVision's
            convention), "imagenet" (ImageNet mean/std per channel) or "equalized" (global histogram
            equalization to [0, 1], the anatomy segmenter's input).
        channels: 1 or 3 (gray repeated).
        resample: "bilinear" (Pillow's antialiased bilinear) or "box" (box filter when shrinking both sides,
            bilinear otherwise).
    """

    size: int = 224
    geometry: str = "resize"
    intensity: str = "unit"
    channels: int = 1
    resample: str = "bilinear"

    def __post_init__(self) -> None:
        if self.geometry not in GEOMETRIES:
            raise unknown_name("geometry", self.geometry, GEOMETRIES)
        if self.intensity not in INTENSITIES:
            raise unknown_name("intensity convention", self.intensity, INTENSITIES)
        if self.resample not in RESAMPLES:
            raise unknown_name("resampling filter", self.resample, RESAMPLES)
        # DataFormatError is a ValueError: a bad card is a bad config value.
        if isinstance(self.channels, bool) or self.channels not in (1, 3):
            raise DataFormatError(f"channels must be 1 or 3, got {self.channels!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)) or not 8 <= self.size <= 4096:
            raise DataFormatError(f"size must be an integer in [8, 4096], got {self.size!r}")
        object.__setattr__(self, "size", int(self.size))  # np.int64 -> int, so to_dict() stays JSON-ready

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["resample"] == "bilinear":  # the default: cards written before the field existed stay unchanged
            del d["resample"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TransformSpec:
        return cls(**{k: d[k] for k in ("size", "geometry", "intensity", "channels", "resample") if k in d})


@dataclass(frozen=True)
class Geometry:
    """Maps model-input pixels back to original pixels: ``orig = (model - offset) / scale``.

    Attributes:
        scale_y, scale_x: model pixels per original pixel along rows and columns.
        offset_y, offset_x: model-space position of original pixel (0, 0) (negative when cropped).
    """

    scale_y: float
    scale_x: float
    offset_y: float
    offset_x: float

    def to_original(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple:
        """Model-space ``(x, y)`` → original-image ``(x, y)``."""
        return ((np.asarray(x) - self.offset_x) / self.scale_x, (np.asarray(y) - self.offset_y) / self.scale_y)


_Plan = tuple[tuple[float, float, float, float], tuple[int, int], tuple[int, int]]


def _plan(h: int, w: int, spec: TransformSpec) -> _Plan:
    """Source box ``(left, top, right, bottom)`` in original pixels, resized ``(rows, cols)`` and its
    ``(top, left)`` position on the ``(size, size)`` canvas. The single source of truth for
    :func:`geometry` and :func:`resize_geometry`."""
    s = spec.size
    if spec.geometry == "resize":
        return (0.0, 0.0, float(w), float(h)), (s, s), (0, 0)
    if spec.geometry == "center_crop":
        # Only the central square is resampled (cheaper than resizing everything, then cropping), in
        # continuous coordinates, so the crop offset can be fractional and the mapping stays exact.
        m = min(h, w)
        left, top = (w - m) / 2.0, (h - m) / 2.0
        return (left, top, left + m, top + m), (s, s), (0, 0)
    k = s / max(h, w)
    new_h, new_w = max(1, min(s, round(h * k))), max(1, min(s, round(w * k)))
    return (0.0, 0.0, float(w), float(h)), (new_h, new_w), ((s - new_h) // 2, (s - new_w) // 2)


def geometry(shape: tuple[int, int], spec: TransformSpec) -> Geometry:
    """The :class:`Geometry` that :func:`preprocess` applies to an image of ``shape`` ``(rows, cols)``.

    Coordinates are continuous (pixel ``(r, c)`` covers ``[c, c+1) x [r, r+1)``), so a model pixel
    centre ``(j + 0.5, i + 0.5)`` maps back to the original point it was sampled around.
    """
    h, w = int(shape[0]), int(shape[1])
    (left, top, right, bottom), (new_h, new_w), (pad_top, pad_left) = _plan(h, w, spec)
    sy, sx = new_h / (bottom - top), new_w / (right - left)
    return Geometry(sy, sx, pad_top - top * sy, pad_left - left * sx)


def resize_geometry(pixels: np.ndarray, spec: TransformSpec) -> np.ndarray:
    """Apply the card's geometry: float32 ``(H, W)`` → float32 ``(size, size)``, same intensity scale.

    Resampling is Pillow's antialiased bilinear (triangle filter widened by the reduction factor), on
    float32 data, so no precision is lost to 8-bit rounding.

    Raises:
        InvalidImageError: not a 2-D array of at least 2x2 pixels, or non-finite values (NaN/inf) that
            reach the output.
    """
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise InvalidImageError(f"expected a 2-D image of at least 2x2 pixels, got shape {arr.shape}")
    h, w = arr.shape
    s = spec.size
    box, (new_h, new_w), (top, left) = _plan(h, w, spec)
    # frombuffer with the raw "F" decoder: one copy, about half the cost of fromarray()'s array-interface path
    img = PILImage.frombuffer("F", (w, h), np.ascontiguousarray(arr), "raw", "F", 0, 1)
    shrink = new_h < box[3] - box[1] and new_w < box[2] - box[0]
    filt = PILImage.Resampling.BOX if spec.resample == "box" and shrink else PILImage.Resampling.BILINEAR
    resized = img.resize((new_w, new_h), filt, box=box, reducing_gap=None)
    out = np.asarray(resized, dtype=np.float32)
    if (new_h, new_w) != (s, s):
        canvas = np.zeros((s, s), dtype=np.float32)
        canvas[top : top + new_h, left : left + new_w] = out
        out = canvas
    if not np.isfinite(out).all():
        raise InvalidImageError("image contains NaN or infinite pixel values")
    return out


def apply_intensity(square: np.ndarray, spec: TransformSpec) -> np.ndarray:
    """``(S, S)`` in [0, 1] → ``(C, S, S)`` float32 in the card's intensity convention."""
    x = np.clip(np.asarray(square, dtype=np.float32), 0.0, 1.0)
    if spec.intensity == "equalized":
        x = equalize(x)
    if spec.intensity == "xrv":
        x = x * 2048.0 - 1024.0
    elif spec.intensity == "symmetric":
        x = x * 2.0 - 1.0
    if spec.intensity == "imagenet":
        x3 = np.repeat(x[None], 3, axis=0)
        x3 = (x3 - _IMAGENET_MEAN[:, None, None]) / _IMAGENET_STD[:, None, None]
        return x3 if spec.channels == 3 else x3.mean(axis=0, keepdims=True)
    x = x[None]
    return np.repeat(x, 3, axis=0) if spec.channels == 3 else x


def equalize(arr: np.ndarray, bins: int = 256) -> np.ndarray:
    """Global histogram equalization of a float image in [0, 1]; returns float32 in [0, 1]."""
    a = np.clip(arr, 0.0, 1.0)
    hist, edges = np.histogram(a, bins=bins, range=(0.0, 1.0))
    cdf = np.cumsum(hist).astype(np.float64)
    if cdf[-1] <= 0:
        return a.astype(np.float32)
    cdf /= cdf[-1]
    centers = 0.5 * (edges[:-1] + edges[1:])
    return np.interp(a, centers, cdf).astype(np.float32)


def preprocess(pixels: np.ndarray, spec: TransformSpec) -> np.ndarray:
    """Full transform: float32 ``(H, W)`` in [0, 1] → float32 ``(C, size, size)`` ready for the model."""
    return apply_intensity(resize_geometry(pixels, spec), spec)


def preprocess_batch(images: list[np.ndarray], spec: TransformSpec) -> np.ndarray:
    """Stack of :func:`preprocess` outputs: ``(N, C, size, size)``."""
    return np.stack([preprocess(p, spec) for p in images], axis=0)
